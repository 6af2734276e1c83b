using Keyward.Core.Rotation;
using Keyward.Core.Secrets;

namespace Keyward.Storage.Conformance;

public abstract partial class StoreConformanceTests
{
    private static readonly RotationPolicy Policy = new(TimeSpan.FromHours(6), 50, TimeSpan.FromMinutes(30), new SecretGenerator(40, "abcdef0123456789", ["password"]));

    /// <summary>Versions 1..3 stored; current 2, pending 3, previous 1, due for rotation at <paramref name="due"/>.</summary>
    private static async Task AddStagedSecretAsync(Core.Storage.IKeywardStore store, string uid, string path, DateTimeOffset? due)
    {
        await AddSecretAsync(store, uid, path, 3);
        await WriteAsync(store, s => s.Secrets.UpsertMetadataAsync(Metadata(uid, path, 2) with
        {
            LatestVersion = 3,
            PendingVersion = 3,
            PreviousVersion = 1,
            PreviousSince = T0.AddMinutes(1),
            Epoch = 7,
            Rotation = Policy,
            Uses = 4,
            NextRotationAt = due,
        }));
    }

    [Fact]
    public async Task Rotation_Metadata_RoundTripsEveryLifecycleField()
    {
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        await AddStagedSecretAsync(store, t.Uid, "app/db", T0.AddHours(6));

        var stored = (await ReadAsync(store, s => s.Secrets.GetMetadataAsync(t.Uid, "app/db")))!;

        Assert.Equal((2L, 3L, 3L, 1L, T0.AddMinutes(1), 7L, 4L, T0.AddHours(6)),
            (stored.CurrentVersion, stored.LatestVersion, stored.PendingVersion, stored.PreviousVersion, stored.PreviousSince, stored.Epoch, stored.Uses, stored.NextRotationAt));
        Assert.Equal(Policy.Period, stored.Rotation!.Period);
        Assert.Equal(Policy.MaxUses, stored.Rotation.MaxUses);
        Assert.Equal(Policy.Grace, stored.Rotation.Grace);
        Assert.Equal((40, "abcdef0123456789"), (stored.Rotation.Generator!.Length, stored.Rotation.Generator.Alphabet));
        Assert.Equal(["password"], stored.Rotation.Generator.Fields!);
    }

    [Theory]
    [InlineData(SecretStage.Current, 2L)]
    [InlineData(SecretStage.Pending, 3L)]
    [InlineData(SecretStage.Previous, 1L)]
    public async Task Rotation_ReadByStage_ReturnsTheVersionHoldingIt(SecretStage stage, long expected)
    {
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        await AddStagedSecretAsync(store, t.Uid, "app/db", null);

        var row = await ReadAsync(store, s => s.Secrets.ReadAsync(t.Uid, "app/db", null, stage));

        Assert.Equal(expected, row!.Value.Version!.Version);
        Assert.Equal(Ciphertext("app/db", expected), row.Value.Version.Ciphertext);
    }

    [Fact]
    public async Task Rotation_ReadByStage_NoVersionHoldsIt_MetadataWithoutVersion()
    {
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        await AddSecretAsync(store, t.Uid, "app/db", 2);

        var row = await ReadAsync(store, s => s.Secrets.ReadAsync(t.Uid, "app/db", null, SecretStage.Pending));

        Assert.NotNull(row);
        Assert.Null(row.Value.Version);
    }

    [Fact]
    public async Task Rotation_CountUse_IncrementsPerCallAndIsNullForUnknownPath()
    {
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        await AddStagedSecretAsync(store, t.Uid, "app/db", null);

        Assert.Equal(5L, await WriteAsync(store, s => s.Secrets.CountUseAsync(t.Uid, "app/db")));
        Assert.Equal(6L, await WriteAsync(store, s => s.Secrets.CountUseAsync(t.Uid, "app/db")));
        Assert.Null(await WriteAsync(store, s => s.Secrets.CountUseAsync(t.Uid, "app/missing")));
        Assert.Equal(6L, (await ReadAsync(store, s => s.Secrets.GetMetadataAsync(t.Uid, "app/db")))!.Uses);
    }

    [Fact]
    public async Task Rotation_Prune_KeepsStagedVersionsBelowTheCap()
    {
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        await AddSecretAsync(store, t.Uid, "app/db", 6);

        Assert.Equal(3, await WriteAsync(store, s => s.Secrets.PruneAsync(t.Uid, "app/db", 5, [2L])));

        Assert.Equal([2L, 5L, 6L], (await ReadAsync(store, s => s.Secrets.ListVersionsAsync(t.Uid, "app/db"))).Select(v => v.Version));
    }

    [Fact]
    public async Task Rotation_Claim_TakesOnlyDueUnclaimedSecretsAndFencesOtherNodes()
    {
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        await AddStagedSecretAsync(store, t.Uid, "app/due", T0);
        await AddStagedSecretAsync(store, t.Uid, "app/later", T0.AddHours(1));
        await AddStagedSecretAsync(store, t.Uid, "app/never", null);
        var until = T0.AddMinutes(1);

        var first = await WriteAsync(store, s => s.Secrets.ClaimDueRotationsAsync(T0, "node-a", until, 10));
        var second = await WriteAsync(store, s => s.Secrets.ClaimDueRotationsAsync(T0.AddSeconds(30), "node-b", T0.AddSeconds(90), 10));

        Assert.Equal([(t.Uid, "app/due")], first);
        Assert.Empty(second);
        Assert.True(await ReadAsync(store, s => s.Secrets.HoldsRotationClaimAsync(t.Uid, "app/due", "node-a", T0.AddSeconds(30))));
        Assert.False(await ReadAsync(store, s => s.Secrets.HoldsRotationClaimAsync(t.Uid, "app/due", "node-b", T0.AddSeconds(30))));
        Assert.False(await ReadAsync(store, s => s.Secrets.HoldsRotationClaimAsync(t.Uid, "app/due", "node-a", until)));
    }

    [Fact]
    public async Task Rotation_Claim_LapsedClaimIsTakenOverAndTheOldHolderLosesIt()
    {
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        await AddStagedSecretAsync(store, t.Uid, "app/due", T0);
        await WriteAsync(store, s => s.Secrets.ClaimDueRotationsAsync(T0, "node-a", T0.AddMinutes(1), 10));

        var takeover = await WriteAsync(store, s => s.Secrets.ClaimDueRotationsAsync(T0.AddMinutes(2), "node-b", T0.AddMinutes(3), 10));

        Assert.Equal([(t.Uid, "app/due")], takeover);
        Assert.False(await ReadAsync(store, s => s.Secrets.HoldsRotationClaimAsync(t.Uid, "app/due", "node-a", T0.AddMinutes(2))));
        Assert.True(await ReadAsync(store, s => s.Secrets.HoldsRotationClaimAsync(t.Uid, "app/due", "node-b", T0.AddMinutes(2))));
    }

    [Fact]
    public async Task Rotation_Release_OnlyTheHolderReleasesAndTheSecretCanBeClaimedAgain()
    {
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        await AddStagedSecretAsync(store, t.Uid, "app/due", T0);
        await WriteAsync(store, s => s.Secrets.ClaimDueRotationsAsync(T0, "node-a", T0.AddMinutes(1), 10));

        await WriteAsync(store, s => s.Secrets.ReleaseRotationClaimAsync(t.Uid, "app/due", "node-b"));
        Assert.Empty(await WriteAsync(store, s => s.Secrets.ClaimDueRotationsAsync(T0, "node-b", T0.AddMinutes(1), 10)));

        await WriteAsync(store, s => s.Secrets.ReleaseRotationClaimAsync(t.Uid, "app/due", "node-a"));
        Assert.Equal([(t.Uid, "app/due")], await WriteAsync(store, s => s.Secrets.ClaimDueRotationsAsync(T0, "node-b", T0.AddMinutes(1), 10)));
    }

    [Fact]
    public async Task Rotation_Claim_HonoursTheLimitOldestDueFirst()
    {
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        await AddStagedSecretAsync(store, t.Uid, "app/b", T0.AddSeconds(-10));
        await AddStagedSecretAsync(store, t.Uid, "app/a", T0.AddSeconds(-20));
        await AddStagedSecretAsync(store, t.Uid, "app/c", T0.AddSeconds(-5));

        var claimed = await WriteAsync(store, s => s.Secrets.ClaimDueRotationsAsync(T0, "node-a", T0.AddMinutes(1), 2));

        Assert.Equal(["app/a", "app/b"], claimed.Select(c => c.Path).Order());
    }
}
