using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Keyward.Core.Audit;
using Keyward.Core.Engines;
using Keyward.Core.Errors;
using Keyward.Core.Rotation;
using Keyward.Core.Storage;
using Keyward.Core.Tokens;
using Keyward.Core.Validation;

namespace Keyward.Engines.Postgres;

/// <summary>A static role as reads return it: which login, which secret holds its password, how often it changes.</summary>
public sealed record PostgresStaticRoleView(
    string Connection, string Name, string Username, string SecretPath, long RotationPeriod, long Grace, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>A static role (item <c>static/NAME</c>): an existing login whose password Keyward owns, and the secret that holds it.</summary>
internal sealed record PostgresStaticRoleSettings(
    [property: JsonPropertyName("username")] string Username,
    [property: JsonPropertyName("secret_path")] string SecretPath,
    [property: JsonPropertyName("rotation_period")] long RotationPeriodSeconds,
    [property: JsonPropertyName("grace")] long? GraceSeconds);

/// <summary>
/// Static roles: Keyward owns an existing login's password and rotates it through the rotation lifecycle. The password
/// lives in an ordinary secret (<c>{"username", "password"}</c>) whose policy names this engine (<c>managed_by</c>
/// <c>postgres/NAME/ROLE</c>): every promotion of it — the first one here, <c>POST …/promote</c>, the scheduler's — first
/// sets the pending password on the database (<see cref="IPromotionGuard.BeforePromoteAsync"/>), outside any
/// transaction; every other way of changing its current version is refused.
/// </summary>
public sealed partial class PostgresEngine
{
    private const string StaticItemPrefix = "static/";

    /// <summary>The generator of a static login's next password: 40 of [A-Za-z0-9] in "password" (the username is carried over).</summary>
    private static readonly SecretGenerator StaticGenerator = new(PasswordLength, null, ["password"]);

    public async Task<PostgresStaticRoleView> PutStaticRoleAsync(
        Principal caller, string? name, string? role, string? username, string? secretPath, TimeSpan? rotationPeriod, TimeSpan? grace, AuditDraft audit,
        CancellationToken cancellationToken)
    {
        var tenant = caller.RequireAdmin();
        name = Names.RequireName("Connection name", name);
        role = Names.RequireName("Role name", role);
        audit.Path = $"engines/postgres/{name}/static-roles/{role}";
        if (string.IsNullOrEmpty(username) || username.Length > 63 || username.Any(char.IsControl))
        {
            throw username is null ? KeywardErrors.MissingField("username") : KeywardErrors.InvalidField("username", "1 to 63 characters, no control characters.");
        }

        if (username.StartsWith("kw_", StringComparison.Ordinal))
        {
            throw KeywardErrors.InvalidField("username", "logins named kw_… are Keyward's dynamic logins.");
        }

        var path = SecretPath.RequireWritable(secretPath ?? throw KeywardErrors.MissingField("secret_path"));
        if (rotationPeriod is not { } period)
        {
            throw KeywardErrors.MissingField("rotation_period");
        }

        if (period < RotationPolicy.MinPeriod || period > Durations.Max)
        {
            throw KeywardErrors.InvalidField("rotation_period", $"at least {Durations.Format(RotationPolicy.MinPeriod)} and at most {Durations.Format(Durations.Max)}.");
        }

        if (grace is { } g && (g < TimeSpan.Zero || g > Durations.Max))
        {
            throw KeywardErrors.InvalidField("grace", $"at most {Durations.Format(Durations.Max)}.");
        }

        var managedBy = $"{EngineName}/{name}/{role}";
        var policy = RotationPolicy.Create(period, null, grace, StaticGenerator) with { ManagedBy = managedBy };
        var loaded = await LoadAsync(tenant.Uid, name, cancellationToken);
        if (string.Equals(username, loaded.Settings.Username, StringComparison.Ordinal))
        {
            throw KeywardErrors.InvalidField("username", "Keyward's own login on this connection changes its password with rotate-root.");
        }

        var exists = false;
        await OnTargetAsync(loaded, async connection => exists = await PostgresTargets.ExistsAsync(connection, username, cancellationToken), cancellationToken);
        if (!exists)
        {
            throw KeywardErrors.StaticLoginNotFound(name, username);
        }

        var uid = tenant.Uid;
        var ring = await _rings.GetAsync(uid, cancellationToken);
        var settings = new PostgresStaticRoleSettings(username, path, (long)period.TotalSeconds, grace is { } kept ? (long)kept.TotalSeconds : null);
        var password = RandomNumberGenerator.GetString(PasswordAlphabet, PasswordLength);
        var value = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["username"] = username, ["password"] = password });
        try
        {
            var (config, staged) = await _committer.ExecuteAsync(null, async session =>
            {
                var now = _time.GetUtcNow();
                _ = await session.Engines.GetAsync(uid, EngineName, name, "") ?? throw KeywardErrors.EngineNotFound(name);
                var existing = await session.Engines.GetAsync(uid, EngineName, name, StaticItemPrefix + role);
                if (existing is not null && EngineJson.Read<PostgresStaticRoleSettings>(existing.Settings).SecretPath is var before && before != path)
                {
                    // Moved to another secret: the old one keeps its versions but no longer rotates.
                    await RotationService.ReleaseAsync(session, uid, before, managedBy, now);
                }

                var item = new EngineConfig(uid, EngineName, name, StaticItemPrefix + role, EngineJson.Write(settings), 0, null,
                    (existing?.Version ?? 0) + 1, existing?.CreatedAt ?? now, now);
                await session.Engines.UpsertAsync(item);
                return (item, await RotationService.AdoptAsync(session, ring, uid, path, policy, value, now));
            }, caller.Gate);

            // Outside any transaction: the login gets the new password, then the version holding it becomes current. If the
            // database cannot be reached, the pending version stays and the scheduler sets it within a few minutes.
            await OnTargetAsync(loaded, connection => PostgresTargets.SetLoginPasswordAsync(connection, name, username, password, cancellationToken), cancellationToken);
            var (version, epoch) = await _committer.ExecuteAsync(audit, session =>
                RotationService.PromoteManagedAsync(session, uid, path, staged, _time.GetUtcNow()));
            audit.AddDetail("username", username);
            audit.AddDetail("secret_path", path);
            audit.AddDetail("version", version);
            audit.AddDetail("epoch", epoch);
            return StaticView(config, settings);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(value);
        }
    }

    public async Task<PostgresStaticRoleView> GetStaticRoleAsync(Principal caller, string? name, string? role, AuditDraft audit, CancellationToken cancellationToken)
    {
        var config = await GetItemAsync(caller, name, role, StaticItemPrefix, "static-roles", audit, cancellationToken);
        return StaticView(config, EngineJson.Read<PostgresStaticRoleSettings>(config.Settings));
    }

    public async Task<IReadOnlyList<PostgresStaticRoleView>> ListStaticRolesAsync(Principal caller, string? name, CancellationToken cancellationToken)
    {
        var items = await ListItemsAsync(caller, name, StaticItemPrefix, cancellationToken);
        return [.. items.Select(i => StaticView(i, EngineJson.Read<PostgresStaticRoleSettings>(i.Settings)))];
    }

    /// <summary>Removes the static role and the secret's <c>managed_by</c> mark: the secret and the login stay, the password no longer rotates.</summary>
    public async Task DeleteStaticRoleAsync(Principal caller, string? name, string? role, AuditDraft audit)
    {
        var tenant = caller.RequireAdmin();
        name = Names.RequireName("Connection name", name);
        role = Names.RequireName("Role name", role);
        audit.Path = $"engines/postgres/{name}/static-roles/{role}";
        await _committer.ExecuteAsync(audit, async session =>
        {
            if (await ReleaseStaticRolesAsync(session, tenant.Uid, name, role) == 0)
            {
                throw KeywardErrors.EngineRoleNotFound(name, role);
            }

            await session.Engines.DeleteAsync(tenant.Uid, EngineName, name, StaticItemPrefix + role);
        });
    }

    /// <summary>The promotion guard of the secrets static roles manage: sets the pending password on the login first.</summary>
    async Task IPromotionGuard.BeforePromoteAsync(string tenantUid, string path, string managedBy, ReadOnlyMemory<byte> pending, CancellationToken cancellationToken)
    {
        var parts = managedBy.Split('/');
        if (parts.Length != 3 || parts[0] != EngineName)
        {
            throw KeywardErrors.ManagedByEngine(path, managedBy, "the mark is not one of the PostgreSQL engine's.");
        }

        var (name, role) = (parts[1], parts[2]);
        EngineConfig? item;
        await using (var session = await _store.ReadAsync(cancellationToken))
        {
            item = await session.Engines.GetAsync(tenantUid, EngineName, name, StaticItemPrefix + role, cancellationToken);
        }

        var settings = item is null ? null : EngineJson.Read<PostgresStaticRoleSettings>(item.Settings);
        if (settings is null || settings.SecretPath != path)
        {
            throw KeywardErrors.ManagedByEngine(path, managedBy, "that static role no longer manages it.");
        }

        var (username, password) = ReadStaticValue(pending.Span);
        if (username != settings.Username || password is null)
        {
            throw KeywardErrors.ManagedByEngine(path, managedBy,
                "the pending version does not hold the login's username and a generated password; stage one with rotate (without data).");
        }

        var loaded = await LoadAsync(tenantUid, name, cancellationToken);
        await OnTargetAsync(loaded, connection => PostgresTargets.SetLoginPasswordAsync(connection, name, username, password, cancellationToken), cancellationToken);
    }

    string IPromotionGuard.Engine => EngineName;

    /// <summary>Username and password of a static role's secret value; the password only if it is one the generator could have made.</summary>
    private static (string? Username, string? Password) ReadStaticValue(ReadOnlySpan<byte> value)
    {
        try
        {
            var reader = new Utf8JsonReader(value);
            using var document = JsonDocument.ParseValue(ref reader);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return (null, null);
            }

            var username = document.RootElement.TryGetProperty("username", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null;
            var password = document.RootElement.TryGetProperty("password", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;

            // Only [A-Za-z0-9] reaches the SQL literal: nothing to escape.
            return (username, password is { Length: >= SecretGenerator.MinLength } && password.All(char.IsAsciiLetterOrDigit) ? password : null);
        }
        catch (JsonException)
        {
            return (null, null);
        }
    }

    /// <summary>Inside a transaction: removes the <c>managed_by</c> marks of a connection's static roles (one, or all with <paramref name="role"/> null).</summary>
    private async Task<int> ReleaseStaticRolesAsync(IWriteSession session, string tenantUid, string name, string? role)
    {
        var released = 0;
        foreach (var item in await session.Engines.ListAsync(tenantUid, EngineName, name))
        {
            if (!item.Item.StartsWith(StaticItemPrefix, StringComparison.Ordinal) || (role is not null && item.Item != StaticItemPrefix + role))
            {
                continue;
            }

            var settings = EngineJson.Read<PostgresStaticRoleSettings>(item.Settings);
            await RotationService.ReleaseAsync(session, tenantUid, settings.SecretPath, $"{EngineName}/{name}/{item.Item[StaticItemPrefix.Length..]}", _time.GetUtcNow());
            released++;
        }

        return released;
    }

    private static PostgresStaticRoleView StaticView(EngineConfig config, PostgresStaticRoleSettings settings) =>
        new(config.Name, config.Item[StaticItemPrefix.Length..], settings.Username, settings.SecretPath, settings.RotationPeriodSeconds,
            (long)(settings.GraceSeconds is { } g ? TimeSpan.FromSeconds(g) : RotationPolicy.DefaultGrace).TotalSeconds, config.CreatedAt, config.UpdatedAt);
}
