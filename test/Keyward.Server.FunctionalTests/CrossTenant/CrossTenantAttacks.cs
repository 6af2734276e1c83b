using System.Text;

namespace Keyward.Server.FunctionalTests.CrossTenant;

/// <summary>Which credential an attempt presents.</summary>
public enum Who
{
    /// <summary>The attacking tenant's admin token.</summary>
    Admin,

    /// <summary>The attacking tenant's orchestrator token (no rules of its own).</summary>
    Orchestrator,

    Root,

    /// <summary>No Authorization header.</summary>
    None,

    /// <summary>The victim's own admin token, minted with ttl 1m and presented after 2m.</summary>
    ExpiredVictimAdmin,

    ExpiredVictimOrchestrator,

    /// <summary><c>Bearer not-a-token</c>.</summary>
    Garbage,

    /// <summary>A well-formed <c>kwa_</c> token that was never minted.</summary>
    UnknownAdminShaped,

    /// <summary>A well-formed <c>kws_</c> token that was never minted.</summary>
    UnknownAgentShaped,

    /// <summary>The victim admin token's random part under the orchestrator prefix.</summary>
    VictimReprefixed,

    /// <summary>The victim admin token minus its last character.</summary>
    VictimTruncated,

    /// <summary>The victim admin token plus one character.</summary>
    VictimAppended,

    /// <summary>The victim admin token with the case of every letter flipped.</summary>
    VictimCaseFlipped,

    /// <summary>A <c>kwa_</c> token of 600 characters.</summary>
    Overlong,

    /// <summary><c>Basic base64(victim admin token)</c>.</summary>
    BasicScheme,

    /// <summary>The victim admin token without a scheme.</summary>
    NoScheme,

    /// <summary>Two Authorization headers: the attacker's admin token and the victim's.</summary>
    TwoHeaders,
}

/// <summary>One attempt and what API.md says must come of it.</summary>
public sealed record Attack(string Name, string Attacker, string Victim, Who Who, string Method, string Target)
{
    public string? Body { get; init; }

    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    /// <summary>Acceptable answers as "status code" (or just "status" for a success).</summary>
    public required IReadOnlyList<string> Allowed { get; init; }

    /// <summary>The operation the audit record must name.</summary>
    public required string Operation { get; init; }

    /// <summary>The tenant the audit record must be attributed to (null: none).</summary>
    public string? AuditTenant { get; init; }

    /// <summary>The secret path whose state, in both tenants, must not change.</summary>
    public string? StatePath { get; init; }

    /// <summary>Both tenants' roles must not change.</summary>
    public bool StateRoles { get; init; }

    /// <summary>A legitimate read of the attacker's own data: the body must hold this canary (tenant:label).</summary>
    public string? OwnCanary { get; init; }

    /// <summary>Literal texts the body must not contain (names of the victim's secrets and roles in listings).</summary>
    public IReadOnlyList<string> MustNotContain { get; init; } = [];

    /// <summary>The body is an audit page: every record in it must belong to the attacker's tenant.</summary>
    public bool AuditPage { get; init; }

    /// <summary>A token sent in the query string: it must never show up in the audit record.</summary>
    public string? QueryToken { get; init; }

    public override string ToString() => Name;
}

/// <summary>
/// The adversarial catalogue: every tenant-scoped route (and the root-only routes that name a tenant) attempted with
/// the other tenant's admin and orchestrator tokens, the root token, no token, expired and forged tokens; trick paths
/// (dot segments, encoded separators, NUL, backslashes, double slashes, look-alike unicode, overlong); tokens in the
/// query string; tenant names in headers, bodies, query parameters and paths.
/// </summary>
public static class CrossTenantAttacks
{
    public const string Acme = "acme";
    public const string Globex = "globex";

    /// <summary>Token placeholders in targets, filled in by the fixture.</summary>
    public const string AttackerAdminTokenPlaceholder = "{attacker-admin-token}";
    public const string VictimAdminTokenPlaceholder = "{victim-admin-token}";
    public const string RootTokenPlaceholder = "{root-token}";

    private static readonly Lazy<IReadOnlyDictionary<string, Attack>> Catalogue = new(Build);

    public static IReadOnlyDictionary<string, Attack> All => Catalogue.Value;

    /// <summary>Every attack but the known bugs.</summary>
    public static TheoryData<string> Names => Data(All.Keys.Where(n => !IsKnownBug(n)));

    /// <summary>
    /// Attacks the server currently gets wrong: <c>GET /v1/tenants/{id}/rewrap/{jobId}</c> sets the audit record's
    /// tenant from the URL before the root check, so another tenant's token is recorded against the named tenant.
    /// </summary>
    public static TheoryData<string> KnownBugNames => Data(All.Keys.Where(IsKnownBug));

    private static bool IsKnownBug(string name) =>
        All[name] is { Operation: "tenant.rewrap.read", Who: Who.Admin or Who.Orchestrator };

    private static TheoryData<string> Data(IEnumerable<string> names)
    {
        var data = new TheoryData<string>();
        foreach (var name in names)
        {
            data.Add(name);
        }

        return data;
    }

    /// <summary>Paths every tenant's state is tracked on.</summary>
    public static IReadOnlyList<string> TrackedPaths { get; } =
        ["shared/db", $"shared/{Acme}-more", $"shared/{Globex}-more", $"{Acme}-only/key", $"{Globex}-only/key"];

    /// <summary>Every route of the catalogue as (id, method, target, body, operation) for attacker a and victim v.</summary>
    public static IEnumerable<(string Id, string Method, string Target, string? Body, string Operation)> RouteList(string a, string v) =>
        Routes(a, v).Select(r => (r.Id, r.Method, r.Target, r.Body, r.Operation));

    private sealed record Route(string Id, string Method, string Target, string Operation)
    {
        public string? Body { get; init; }

        /// <summary>What the attacker's admin gets (null: a legitimate write in its own tenant, not attempted here).</summary>
        public Expect? Admin { get; init; }

        public required Expect Orchestrator { get; init; }

        /// <summary>Tenant-scoped routes refuse the root token; root-only routes are not attacks for it.</summary>
        public bool TenantScoped { get; init; } = true;

        public string? StatePath { get; init; }

        public bool StateRoles { get; init; }
    }

    private sealed record Expect(params string[] Allowed)
    {
        public string? OwnCanary { get; init; }

        public IReadOnlyList<string> MustNotContain { get; init; } = [];

        public bool AuditPage { get; init; }
    }

    private static IReadOnlyList<Route> Routes(string a, string v)
    {
        var denied = new Expect("403 permission_denied");
        var adminOnly = new Expect("403 admin_token_required");
        var rootOnly = new Expect("403 root_token_required");
        var notFound = new Expect("404 secret_not_found");
        var ownListing = new Expect("200") { MustNotContain = [$"{v}-only"] };
        return
        [
            new("secret.read.other", "GET", $"/v1/secrets/{v}-only/key", "secret.read") { Admin = notFound, Orchestrator = denied },
            new("secret.read.other.version", "GET", $"/v1/secrets/{v}-only/key?version=1", "secret.read") { Admin = notFound, Orchestrator = denied },
            new("secret.read.same", "GET", "/v1/secrets/shared/db", "secret.read")
            {
                Admin = new Expect("200") { OwnCanary = $"{a}:db" }, Orchestrator = denied,
            },
            new("secret.read.same.version-only-victim-has", "GET", $"/v1/secrets/shared/{v}-more?version=3", "secret.read")
            {
                Admin = new Expect("404 version_not_found"), Orchestrator = denied,
            },
            new("secret.read.same.version-victim-deleted", "GET", $"/v1/secrets/shared/{v}-more?version=1", "secret.read")
            {
                Admin = new Expect("200") { OwnCanary = $"{a}:other-more" }, Orchestrator = denied,
            },
            new("secret.list.prefix", "GET", $"/v1/secrets?prefix={v}-only", "secret.list") { Admin = ownListing, Orchestrator = ownListing },
            new("secret.list.all", "GET", "/v1/secrets", "secret.list") { Admin = ownListing, Orchestrator = ownListing },
            new("secret.write.other", "PUT", $"/v1/secrets/{v}-only/key", "secret.write")
            {
                Body = """{"data":{"token":"attacker-write"},"cas":1}""", Admin = new Expect("409 cas_mismatch"), Orchestrator = denied,
                StatePath = $"{v}-only/key",
            },
            new("secret.write.same", "PUT", $"/v1/secrets/shared/{v}-more", "secret.write")
            {
                Body = """{"data":{"n":"attacker-write"},"cas":3}""", Admin = new Expect("409 cas_mismatch"), Orchestrator = denied,
                StatePath = $"shared/{v}-more",
            },
            new("secret.delete.other", "DELETE", $"/v1/secrets/{v}-only/key", "secret.delete")
            {
                Admin = notFound, Orchestrator = denied, StatePath = $"{v}-only/key",
            },
            new("secret.delete.other.versions", "DELETE", $"/v1/secrets/{v}-only/key?versions=1", "secret.delete")
            {
                Admin = notFound, Orchestrator = denied, StatePath = $"{v}-only/key",
            },

            // The attacker holds the same path with fewer versions: in its own tenant that version does not exist
            // (404 version_not_found, nothing changed), and the victim's version of that number is never touched.
            new("secret.delete.same.versions", "DELETE", $"/v1/secrets/shared/{v}-more?versions=2", "secret.delete")
            {
                Admin = new Expect("404 version_not_found"), Orchestrator = denied, StatePath = $"shared/{v}-more",
            },
            new("secret.undelete.other", "POST", $"/v1/secrets/{v}-only/key/undelete", "secret.undelete")
            {
                Body = """{"versions":[1]}""", Admin = notFound, Orchestrator = denied, StatePath = $"{v}-only/key",
            },
            new("secret.undelete.same", "POST", $"/v1/secrets/shared/{v}-more/undelete", "secret.undelete")
            {
                Body = """{"versions":[1]}""", Admin = new Expect("204"), Orchestrator = denied, StatePath = $"shared/{v}-more",
            },
            new("secret.destroy.other", "POST", $"/v1/secrets/{v}-only/key/destroy", "secret.destroy")
            {
                Body = """{"versions":[1]}""", Admin = notFound, Orchestrator = denied, StatePath = $"{v}-only/key",
            },
            new("secret.destroy.same", "POST", $"/v1/secrets/shared/{v}-more/destroy", "secret.destroy")
            {
                Body = """{"versions":[3]}""", Admin = new Expect("404 version_not_found"), Orchestrator = denied, StatePath = $"shared/{v}-more",
            },
            new("metadata.read.other", "GET", $"/v1/secret-metadata/{v}-only/key", "secret.metadata.read") { Admin = notFound, Orchestrator = denied },
            new("metadata.read.same", "GET", "/v1/secret-metadata/shared/db", "secret.metadata.read")
            {
                Admin = new Expect("200") { OwnCanary = $"{a}:meta" }, Orchestrator = denied,
            },
            new("metadata.write.other", "PUT", $"/v1/secret-metadata/{v}-only/key", "secret.metadata.write")
            {
                Body = """{"max_versions":1}""", Orchestrator = denied, StatePath = $"{v}-only/key",
            },
            new("metadata.write.same", "PUT", "/v1/secret-metadata/shared/db", "secret.metadata.write")
            {
                Body = """{"custom_metadata":{"owner":"attacker"}}""", Orchestrator = denied, StatePath = "shared/db",
            },
            new("metadata.delete.other", "DELETE", $"/v1/secret-metadata/{v}-only/key", "secret.metadata.delete")
            {
                Admin = notFound, Orchestrator = denied, StatePath = $"{v}-only/key",
            },
            new("role.read.other", "GET", $"/v1/roles/{v}-role", "role.read") { Admin = new Expect("404 role_not_found"), Orchestrator = adminOnly },
            new("role.read.same", "GET", "/v1/roles/shared-role", "role.read")
            {
                Admin = new Expect("200") { OwnCanary = $"{a}:shared-role" }, Orchestrator = adminOnly,
            },
            new("role.list", "GET", "/v1/roles", "role.list") { Admin = new Expect("200") { MustNotContain = [$"{v}-role"] }, Orchestrator = adminOnly },
            new("role.write.other", "PUT", $"/v1/roles/{v}-role", "role.write")
            {
                Body = """{"rules":[{"path":"**","capabilities":["read"]}],"max_ttl":"1h"}""", Orchestrator = adminOnly, StateRoles = true,
            },
            new("role.write.same", "PUT", "/v1/roles/shared-role", "role.write")
            {
                Body = """{"rules":[{"path":"**","capabilities":["read"]}],"max_ttl":"1h"}""", Orchestrator = adminOnly, StateRoles = true,
            },
            new("role.delete.other", "DELETE", $"/v1/roles/{v}-role", "role.delete")
            {
                Admin = new Expect("404 role_not_found"), Orchestrator = adminOnly, StateRoles = true,
            },
            new("audit.read", "GET", "/v1/audit", "audit.read") { Admin = new Expect("200") { AuditPage = true }, Orchestrator = adminOnly },
            new("audit.read.tenant-param", "GET", $"/v1/audit?tenant={v}", "audit.read")
            {
                Admin = new Expect("200") { AuditPage = true }, Orchestrator = adminOnly,
            },
            new("audit.read.path-param", "GET", $"/v1/audit?path={v}-only/key&after=0", "audit.read")
            {
                Admin = new Expect("200") { AuditPage = true }, Orchestrator = adminOnly,
            },
            new("tenant.list", "GET", "/v1/tenants", "tenant.list") { Admin = rootOnly, Orchestrator = rootOnly, TenantScoped = false },
            new("tenant.read", "GET", $"/v1/tenants/{v}", "tenant.read") { Admin = rootOnly, Orchestrator = rootOnly, TenantScoped = false },
            new("tenant.token", "POST", $"/v1/tenants/{v}/tokens", "tenant.token.create")
            {
                Body = """{"kind":"admin","ttl":"1h"}""", Admin = rootOnly, Orchestrator = rootOnly, TenantScoped = false,
            },
            new("tenant.rotate-key", "POST", $"/v1/tenants/{v}/rotate-key", "tenant.key.rotate")
            {
                Admin = rootOnly, Orchestrator = rootOnly, TenantScoped = false, StatePath = $"{v}-only/key",
            },
            new("tenant.rewrap", "POST", $"/v1/tenants/{v}/rewrap", "tenant.rewrap") { Admin = rootOnly, Orchestrator = rootOnly, TenantScoped = false },
            new("tenant.rewrap.read", "GET", $"/v1/tenants/{v}/rewrap/job-1", "tenant.rewrap.read")
            {
                Admin = rootOnly, Orchestrator = rootOnly, TenantScoped = false,
            },
            new("tenant.delete", "DELETE", $"/v1/tenants/{v}", "tenant.delete")
            {
                Admin = rootOnly, Orchestrator = rootOnly, TenantScoped = false, StatePath = $"{v}-only/key",
            },
            new("sys.audit", "GET", $"/v1/sys/audit?tenant={v}", "sys.audit.read") { Admin = rootOnly, Orchestrator = rootOnly, TenantScoped = false },
        ];
    }

    private static readonly Who[] Forged =
        [Who.Garbage, Who.UnknownAdminShaped, Who.VictimReprefixed, Who.BasicScheme, Who.TwoHeaders];

    private static readonly Who[] MoreForged =
        [Who.UnknownAgentShaped, Who.VictimTruncated, Who.VictimAppended, Who.VictimCaseFlipped, Who.Overlong, Who.NoScheme];

    private static IReadOnlyDictionary<string, Attack> Build()
    {
        var attacks = new Dictionary<string, Attack>(StringComparer.Ordinal);
        void Add(Attack attack) => attacks.Add(attack.Name, attack);

        // 1. Every route with the other tenant's admin and orchestrator tokens, in both directions.
        foreach (var (a, v) in new[] { (Globex, Acme), (Acme, Globex) })
        {
            foreach (var route in Routes(a, v))
            {
                if (route.Admin is { } admin)
                {
                    Add(FromRoute($"{a}-admin/{route.Id}", a, v, Who.Admin, route, admin, a));
                }

                Add(FromRoute($"{a}-orchestrator/{route.Id}", a, v, Who.Orchestrator, route, route.Orchestrator, a));
            }
        }

        // 2. Root, no token, expired and forged tokens on every route (globex attacking acme's names).
        foreach (var route in Routes(Globex, Acme))
        {
            if (route.TenantScoped)
            {
                Add(FromRoute($"root/{route.Id}", Globex, Acme, Who.Root, route, new Expect("403 tenant_token_required"), null));
            }

            Add(FromRoute($"no-token/{route.Id}", Globex, Acme, Who.None, route, new Expect("401 missing_token"), null));
            // An expired token is still known: the attempt is audited under the tenant that token belonged to.
            Add(FromRoute($"expired-admin/{route.Id}", Globex, Acme, Who.ExpiredVictimAdmin, route, new Expect("401 token_expired"), Acme));
            Add(FromRoute($"expired-orchestrator/{route.Id}", Globex, Acme, Who.ExpiredVictimOrchestrator, route, new Expect("401 token_expired"), Acme));
            foreach (var who in Forged)
            {
                Add(FromRoute($"{Kebab(who)}/{route.Id}", Globex, Acme, who, route, new Expect("401 invalid_token"), null));
            }

            if (route.Id is "secret.read.other" or "secret.write.other" or "audit.read" or "role.delete.other")
            {
                foreach (var who in MoreForged)
                {
                    Add(FromRoute($"{Kebab(who)}/{route.Id}", Globex, Acme, who, route, new Expect("401 invalid_token"), null));
                }
            }
        }

        // 3. Trick paths for acme's secret with globex's admin token.
        foreach (var attack in TrickPaths())
        {
            Add(attack);
        }

        // 4. Tokens in the query string: refused before routing, attributed to the header's tenant.
        foreach (var route in Routes(Globex, Acme))
        {
            var separator = route.Target.Contains('?', StringComparison.Ordinal) ? "&" : "?";
            Add(new Attack($"query-token/{route.Id}", Globex, Acme, Who.Admin, route.Method, route.Target + separator + "token=" + AttackerAdminTokenPlaceholder)
            {
                Body = route.Body,
                Allowed = ["400 token_in_query"],
                Operation = "request.rejected",
                AuditTenant = Globex,
                StatePath = route.StatePath,
                StateRoles = route.StateRoles,
                QueryToken = AttackerAdminTokenPlaceholder,
            });
        }

        (string Id, string Query, Who Who, string? Tenant, string? Token)[] queryVariants =
        [
            ("only-credential", "?token=" + VictimAdminTokenPlaceholder, Who.None, null, VictimAdminTokenPlaceholder),
            ("victim-access_token", "?access_token=" + VictimAdminTokenPlaceholder, Who.Admin, Globex, VictimAdminTokenPlaceholder),
            ("value-carries-prefix", "?x=" + VictimAdminTokenPlaceholder, Who.Admin, Globex, VictimAdminTokenPlaceholder),
            ("root-token", "?token=" + RootTokenPlaceholder, Who.Admin, Globex, RootTokenPlaceholder),
            ("uppercase-name", "?TOKEN=abc", Who.Admin, Globex, null),
            ("encoded-name", "?%74oken=abc", Who.Admin, Globex, null),
            ("encoded-prefix", "?q=%6Bwa_abcdefghijklmnopqrstuvwxyz", Who.Admin, Globex, null),
            ("apikey", "?api_key=abc", Who.Admin, Globex, null),
            ("authorization", "?authorization=Bearer%20abc", Who.Admin, Globex, null),
            ("bearer", "?bearer=abc", Who.Admin, Globex, null),
            ("after-version", "?version=1&token=" + VictimAdminTokenPlaceholder, Who.Admin, Globex, VictimAdminTokenPlaceholder),
            ("root-header", "?token=" + VictimAdminTokenPlaceholder, Who.Root, null, VictimAdminTokenPlaceholder),
        ];
        foreach (var (id, query, who, tenant, token) in queryVariants)
        {
            Add(new Attack($"query-token/{id}", Globex, Acme, who, "GET", $"/v1/secrets/{Acme}-only/key{query}")
            {
                Allowed = ["400 token_in_query"],
                Operation = "request.rejected",
                AuditTenant = tenant,
                QueryToken = token,
            });
        }

        // 5. The other tenant named in a header, the body, a query parameter or the path: ignored or refused.
        foreach (var route in Routes(Globex, Acme))
        {
            if (route.Admin is not { } admin || !route.TenantScoped)
            {
                continue;
            }

            Add(FromRoute($"header-x-keyward-tenant/{route.Id}", Globex, Acme, Who.Admin, route, admin, Globex) with
            {
                Headers = [new("X-Keyward-Tenant", Acme)],
            });
            Add(FromRoute($"header-host/{route.Id}", Globex, Acme, Who.Admin, route, admin, Globex) with
            {
                Headers = [new("Host", Acme + ".keyward.test")],
            });
        }

        foreach (var (id, name, value) in new[]
        {
            ("x-forwarded-host", "X-Forwarded-Host", Acme),
            ("x-tenant-id", "X-Tenant-Id", Acme),
            ("forwarded", "Forwarded", "host=" + Acme),
            ("x-keyward-tenant-uppercase", "X-KEYWARD-TENANT", Acme.ToUpperInvariant()),
        })
        {
            foreach (var route in Routes(Globex, Acme).Where(r => r.Id is "secret.read.same" or "secret.list.all" or "secret.read.other"))
            {
                Add(FromRoute($"header-{id}/{route.Id}", Globex, Acme, Who.Admin, route, route.Admin!, Globex) with { Headers = [new(name, value)] });
            }
        }

        foreach (var method in new[] { "DELETE", "PUT" })
        {
            var route = Routes(Globex, Acme).Single(r => r.Id == "secret.read.other");
            Add(FromRoute($"header-method-override-{method.ToLowerInvariant()}/{route.Id}", Globex, Acme, Who.Admin, route, route.Admin!, Globex) with
            {
                Headers = [new("X-HTTP-Method-Override", method), new("X-Method-Override", method)],
                StatePath = $"{Acme}-only/key",
            });
        }

        (string Id, string Method, string Target, string Body, string Operation, string? StatePath, bool Roles)[] bodies =
        [
            ("secret.write", "PUT", $"/v1/secrets/{Acme}-only/key", $$"""{"data":{"token":"attacker"},"tenant":"{{Acme}}"}""", "secret.write", $"{Acme}-only/key", false),
            ("secret.write.tenant_id", "PUT", "/v1/secrets/shared/db", $$"""{"data":{"token":"attacker"},"tenant_id":"{{Acme}}"}""", "secret.write", "shared/db", false),
            ("secret.undelete", "POST", $"/v1/secrets/shared/{Acme}-more/undelete", $$"""{"versions":[1],"tenant":"{{Acme}}"}""", "secret.undelete", $"shared/{Acme}-more", false),
            ("metadata.write", "PUT", "/v1/secret-metadata/shared/db", $$"""{"max_versions":2,"tenant":"{{Acme}}"}""", "secret.metadata.write", "shared/db", false),
            ("role.write", "PUT", $"/v1/roles/{Acme}-role", $$"""{"rules":[],"max_ttl":"1h","tenant":"{{Acme}}"}""", "role.write", null, true),
        ];
        foreach (var (id, method, target, body, operation, statePath, roles) in bodies)
        {
            Add(new Attack($"body-tenant/{id}", Globex, Acme, Who.Admin, method, target)
            {
                Body = body,
                Allowed = ["400 unknown_field"],
                Operation = operation,
                AuditTenant = Globex,
                StatePath = statePath,
                StateRoles = roles,
            });
        }

        Add(new Attack("query-tenant/secret.read.same", Globex, Acme, Who.Admin, "GET", $"/v1/secrets/shared/db?tenant={Acme}")
        {
            Allowed = ["200"], Operation = "secret.read", AuditTenant = Globex, OwnCanary = $"{Globex}:db",
        });
        Add(new Attack("query-tenant/secret.write.other", Globex, Acme, Who.Admin, "PUT", $"/v1/secrets/{Acme}-only/key?tenant={Acme}")
        {
            Body = """{"data":{"token":"attacker"},"cas":1}""", Allowed = ["409 cas_mismatch"], Operation = "secret.write", AuditTenant = Globex,
            StatePath = $"{Acme}-only/key",
        });
        Add(new Attack("query-tenant/secret.list", Globex, Acme, Who.Admin, "GET", $"/v1/secrets?prefix={Acme}-only&tenant={Acme}")
        {
            Allowed = ["200"], Operation = "secret.list", AuditTenant = Globex, MustNotContain = [$"{Acme}-only"],
        });
        Add(new Attack("path-tenant/secret.read", Globex, Acme, Who.Admin, "GET", $"/v1/secrets/{Acme}/shared/db")
        {
            Allowed = ["404 secret_not_found"], Operation = "secret.read", AuditTenant = Globex,
        });
        Add(new Attack("path-tenant/secret.list", Globex, Acme, Who.Admin, "GET", $"/v1/secrets?prefix={Acme}")
        {
            Allowed = ["200"], Operation = "secret.list", AuditTenant = Globex, MustNotContain = [$"{Acme}-only"],
        });

        return attacks;
    }

    private static Attack FromRoute(string name, string attacker, string victim, Who who, Route route, Expect expect, string? auditTenant) =>
        new(name, attacker, victim, who, route.Method, route.Target)
        {
            Body = route.Body,
            Allowed = expect.Allowed,
            Operation = route.Operation,
            AuditTenant = auditTenant,
            StatePath = route.StatePath,
            StateRoles = route.StateRoles,
            OwnCanary = expect.OwnCanary,
            MustNotContain = expect.MustNotContain,
            AuditPage = expect.AuditPage,
        };

    /// <summary>
    /// Raw paths standing for acme's <c>acme-only/key</c> (or its role), sent with globex's admin token. Those the
    /// raw-target guard must refuse (encoded separators, NUL, backslashes, dot segments) are audited as
    /// <c>request.rejected</c>; the rest reach their route and fail path or name validation there.
    /// </summary>
    private static IEnumerable<Attack> TrickPaths()
    {
        const string Key = Acme + "-only/key";
        var overlong = Key + "/" + new string('a', 513 - Key.Length - 1);
        (string Id, string Path, bool Guard)[] tricks =
        [
            ("dotdot", "x/../" + Key, true),
            ("dotdot-escape", "../../v1/secrets/" + Key, true),
            ("dotdot-trailing", Key + "/..", true),
            ("dot-leading", "./" + Key, true),
            ("dot-inner", Acme + "-only/./key", true),
            ("encoded-dotdot-upper", "%2E%2E/" + Key, true),
            ("encoded-dotdot-lower", "x/%2e%2e/" + Key, true),
            ("encoded-dotdot-mixed", "x/.%2E/" + Key, true),
            ("encoded-dot", "%2E/" + Key, true),
            ("encoded-slash-upper", Acme + "-only%2Fkey", true),
            ("encoded-slash-lower", Acme + "-only%2fkey", true),
            ("encoded-slash-traversal", "x%2F..%2F..%2F" + Key, true),
            ("encoded-backslash-upper", Acme + "-only%5Ckey", true),
            ("encoded-backslash-lower", Acme + "-only%5ckey", true),
            ("encoded-nul-trailing", Key + "%00", true),
            ("encoded-nul-inner", Acme + "-only%00/key", true),
            ("backslash", Acme + "-only\\key", true),
            ("backslash-dotdot", "x\\..\\" + Key, true),
            ("double-slash-inner", Acme + "-only//key", false),
            ("double-slash-leading", "/" + Key, false),
            ("trailing-slash", Key + "/", false),
            ("double-encoded-dotdot", "%252E%252E/" + Key, false),
            ("encoded-plain-letter", "%61cme-only/key", false),
            ("fullwidth-a-encoded", "%EF%BD%81cme-only/key", false),
            ("fullwidth-a-raw", "\uFF41cme-only/key", false),
            ("cyrillic-a-encoded", "%D0%B0cme-only/key", false),
            ("cyrillic-a-raw", "\u0430cme-only/key", false),
            ("combining-mark-encoded", Key + "%CC%81", false),
            ("combining-mark-raw", Key + "\u0301", false),
            ("encoded-space", Key + "%20", false),
            ("encoded-crlf", Key + "%0D%0AX-Injected:%201", false),
            ("semicolon", Acme + "-only;/key", false),
            ("overlong-513-bytes", overlong, false),
        ];

        (string Id, string Method, string Prefix, string Suffix, string Operation, string? Body)[] routes =
        [
            ("secret.read", "GET", "/v1/secrets/", "", "secret.read", null),
            ("secret.read.version", "GET", "/v1/secrets/", "?version=1", "secret.read", null),
            ("secret.write", "PUT", "/v1/secrets/", "", "secret.write", """{"data":{"token":"attacker-write"}}"""),
            ("secret.delete", "DELETE", "/v1/secrets/", "", "secret.delete", null),
            ("secret.undelete", "POST", "/v1/secrets/", "/undelete", "secret.undelete", """{"versions":[1]}"""),
            ("secret.destroy", "POST", "/v1/secrets/", "/destroy", "secret.destroy", """{"versions":[1]}"""),
            ("metadata.read", "GET", "/v1/secret-metadata/", "", "secret.metadata.read", null),
            ("metadata.write", "PUT", "/v1/secret-metadata/", "", "secret.metadata.write", """{"max_versions":1}"""),
            ("metadata.delete", "DELETE", "/v1/secret-metadata/", "", "secret.metadata.delete", null),
        ];

        foreach (var (trick, path, guard) in tricks)
        {
            foreach (var (id, method, prefix, suffix, operation, body) in routes)
            {
                var mutates = method != "GET";
                yield return new Attack($"path-{trick}/{id}", Globex, Acme, Who.Admin, method, prefix + path + suffix)
                {
                    Body = body,
                    Allowed = ["400 invalid_path"],
                    Operation = guard ? "request.rejected" : operation,
                    AuditTenant = Globex,
                    StatePath = mutates ? Key : null,
                };
            }
        }

        const string Role = Acme + "-role";
        (string Id, string Name, bool Guard)[] roleTricks =
        [
            ("dotdot", "../roles/" + Role, true),
            ("encoded-dotdot", "%2E%2E/roles/" + Role, true),
            ("encoded-slash", Role + "%2F..", true),
            ("encoded-nul", Role + "%00", true),
            ("encoded-backslash", Role + "%5C", true),
            ("backslash", Role + "\\", true),
            ("fullwidth-a-encoded", "%EF%BD%81cme-role", false),
            ("fullwidth-a-raw", "\uFF41cme-role", false),
            ("cyrillic-a-encoded", "%D0%B0cme-role", false),
            ("cyrillic-a-raw", "\u0430cme-role", false),
            ("combining-mark-raw", Role + "\u0301", false),
            ("overlong-65", Role + new string('a', 65 - Role.Length), false),
        ];
        foreach (var (trick, name, guard) in roleTricks)
        {
            // A name that can never exist is simply not found when read or deleted; writing it is an invalid name.
            string[] lookup = guard ? ["400 invalid_path"] : ["404 role_not_found", "400 invalid_name"];
            string[] write = guard ? ["400 invalid_path"] : ["400 invalid_name"];
            foreach (var (id, method, operation, allowed, body) in new[]
            {
                ("role.read", "GET", "role.read", lookup, (string?)null),
                ("role.delete", "DELETE", "role.delete", lookup, null),
                ("role.write", "PUT", "role.write", write, """{"rules":[{"path":"**","capabilities":["read"]}],"max_ttl":"1h"}"""),
            })
            {
                yield return new Attack($"role-{trick}/{id}", Globex, Acme, Who.Admin, method, "/v1/roles/" + name)
                {
                    Body = body,
                    Allowed = allowed,
                    Operation = guard ? "request.rejected" : operation,
                    AuditTenant = Globex,
                    StateRoles = method != "GET",
                };
            }
        }

        foreach (var (trick, query) in new[]
        {
            ("dotdot", "../" + Acme + "-only"),
            ("encoded-dotdot", "%2E%2E%2F" + Acme + "-only"),
            ("leading-slash", "/" + Acme + "-only"),
            ("double-slash", Acme + "-only//key"),
            ("encoded-nul", Acme + "-only%00"),
            ("backslash-encoded", Acme + "-only%5Ckey"),
            ("fullwidth-a", "%EF%BD%81cme-only"),
        })
        {
            yield return new Attack($"list-prefix-{trick}/secret.list", Globex, Acme, Who.Admin, "GET", "/v1/secrets?prefix=" + query)
            {
                Allowed = ["400 invalid_path"], Operation = "secret.list", AuditTenant = Globex,
            };
        }

        yield return new Attack("list-prefix-twice/secret.list", Globex, Acme, Who.Admin, "GET", $"/v1/secrets?prefix={Acme}-only&prefix={Globex}-only")
        {
            Allowed = ["400 invalid_field"], Operation = "secret.list", AuditTenant = Globex,
        };
        yield return new Attack("audit-dotdot/sys.audit", Globex, Acme, Who.Admin, "GET", "/v1/audit/../sys/audit")
        {
            Allowed = ["400 invalid_path"], Operation = "request.rejected", AuditTenant = Globex,
        };
        yield return new Attack("audit-encoded-dotdot/sys.audit", Globex, Acme, Who.Admin, "GET", "/v1/audit/%2e%2e/sys/audit?tenant=" + Acme)
        {
            Allowed = ["400 invalid_path"], Operation = "request.rejected", AuditTenant = Globex,
        };
        yield return new Attack("tenant-dotdot/tenant.token", Globex, Acme, Who.Admin, "POST", $"/v1/secrets/../tenants/{Acme}/tokens")
        {
            Body = """{"kind":"admin","ttl":"1h"}""", Allowed = ["400 invalid_path"], Operation = "request.rejected", AuditTenant = Globex,
        };
    }

    private static string Kebab(Who who)
    {
        var text = new StringBuilder();
        foreach (var c in who.ToString())
        {
            if (char.IsUpper(c) && text.Length > 0)
            {
                text.Append('-');
            }

            text.Append(char.ToLowerInvariant(c));
        }

        return text.ToString();
    }
}
