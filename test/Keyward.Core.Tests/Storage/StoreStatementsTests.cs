using Keyward.Core.Storage;

namespace Keyward.Core.Tests.Storage;

public sealed class StoreStatementsTests
{
    [Theory]
    [InlineData("INSERT INTO secret_versions (tenant_uid, path) VALUES ($a, $b)", StoreChanges.SecretRows)]
    [InlineData("UPDATE secrets SET current_version = $v WHERE tenant_uid = $u", StoreChanges.SecretRows)]
    [InlineData("delete from secret_versions where path = @p", StoreChanges.SecretRows)]
    [InlineData("WITH RECURSIVE sub(a) AS (SELECT accessor FROM tokens WHERE accessor = $root UNION ALL SELECT t.accessor FROM tokens t JOIN sub ON t.parent_accessor = sub.a) UPDATE tokens SET revoked_at = $at WHERE accessor IN (SELECT a FROM sub)", StoreChanges.Tokens)]
    [InlineData("INSERT INTO derived_revocations (session_accessor) VALUES (@s) ON CONFLICT (session_accessor, derived_id) DO NOTHING", StoreChanges.Tokens)]
    [InlineData("UPDATE tenants SET state = $s WHERE uid = $u", StoreChanges.Tenants)]
    [InlineData("DELETE FROM tenant_keys WHERE tenant_uid = $u", StoreChanges.KeyRings)]
    [InlineData("INSERT OR IGNORE INTO tokens (accessor) VALUES ($a)", StoreChanges.Tokens)]
    [InlineData("UPDATE \"tokens\" SET used_at = $at", StoreChanges.Tokens)]
    [InlineData("UPDATE tenants SET state = $s; DELETE FROM tenant_keys WHERE tenant_uid = $u", StoreChanges.Tenants | StoreChanges.KeyRings)]
    public void Changes_AWriteOfACachedTable_NamesItsCache(string sql, StoreChanges expected) =>
        Assert.Equal(expected, StoreStatements.Changes(sql));

    [Theory]
    [InlineData("SELECT * FROM secrets WHERE tenant_uid = $u")]
    [InlineData("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")]
    [InlineData("SELECT * FROM secrets WHERE path = @p FOR UPDATE SKIP LOCKED")]
    [InlineData("INSERT INTO leases (lease_id) VALUES ($id)")]
    [InlineData("UPDATE gateway_budgets SET used = used + 1 WHERE run_id = $r")]
    [InlineData("INSERT INTO gateway_budgets (tenant_uid) VALUES (@u) ON CONFLICT (tenant_uid) DO UPDATE SET used = gateway_budgets.used + 1")]
    [InlineData("INSERT INTO audit_log (seq) VALUES ($s)")]
    [InlineData("UPDATE wraps SET payload = NULL WHERE tenant_uid = $u")]
    [InlineData("INSERT INTO events (type) SELECT type FROM tokens")]
    public void Changes_AReadOrAWriteNoCacheHolds_IsNone(string sql) =>
        Assert.Equal(StoreChanges.None, StoreStatements.Changes(sql));
}
