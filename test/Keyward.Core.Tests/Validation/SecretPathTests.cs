using Keyward.Core.Errors;
using Keyward.Core.Validation;

namespace Keyward.Core.Tests.Validation;

public sealed class SecretPathTests
{
    [Theory]
    [InlineData("a")]
    [InlineData("app/db")]
    [InlineData("app/db/password")]
    [InlineData("A-Z_a.z-0/9")]
    [InlineData("...")]
    [InlineData("..a/a..")]
    [InlineData(".hidden/x")]
    [InlineData("-/_/.-")]
    [InlineData("app/creds/sys")]
    public void TryValidate_ValidPath_IsAccepted(string path)
    {
        Assert.True(SecretPath.TryValidate(path, out var reason), reason);
        Assert.Equal(path, SecretPath.Require(path));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("/", "empty segment")]
    [InlineData("/app", "empty segment")]
    [InlineData("app/", "empty segment")]
    [InlineData("app//db", "empty segment")]
    [InlineData(".", "'.' or '..'")]
    [InlineData("..", "'.' or '..'")]
    [InlineData("app/./db", "'.' or '..'")]
    [InlineData("app/../db", "'.' or '..'")]
    [InlineData("app/..", "'.' or '..'")]
    [InlineData("../app", "'.' or '..'")]
    [InlineData("app/db%2Fx", "only")]
    [InlineData("app%2e%2e", "only")]
    [InlineData("app\\db", "only")]
    [InlineData("app db", "only")]
    [InlineData("app\0db", "only")]
    [InlineData("app?x=1", "only")]
    [InlineData("app#x", "only")]
    [InlineData("app:db", "only")]
    [InlineData("app+db", "only")]
    [InlineData("app*", "only")]
    [InlineData("\uFF41pp", "only")] // fullwidth 'ａ'
    [InlineData("\u0430pp", "only")] // Cyrillic 'а'
    [InlineData("app/d\u0431", "only")]
    [InlineData("caf\u00e9", "only")]
    [InlineData("app\u200b", "only")] // zero-width space
    [InlineData("app\n", "only")]
    public void TryValidate_InvalidPath_IsRefusedAsInvalidPath(string path, string reasonPart)
    {
        Assert.False(SecretPath.TryValidate(path, out var reason));
        Assert.Contains(reasonPart, reason, StringComparison.Ordinal);
        var error = Assert.Throws<KeywardException>(() => SecretPath.Require(path));
        Assert.Equal("invalid_path", error.Code);
        Assert.Equal(400, error.Status);
    }

    [Fact]
    public void TryValidate_Null_IsRefused()
    {
        Assert.False(SecretPath.TryValidate(null, out var reason));
        Assert.NotNull(reason);
    }

    [Fact]
    public void TryValidate_Length_512BytesAcceptedAndLongerRefused()
    {
        var exactly512 = string.Join('/', Enumerable.Repeat(new string('a', 63), 7)) + "/" + new string('b', 64);
        Assert.Equal(512, exactly512.Length);

        Assert.True(SecretPath.TryValidate(exactly512, out _));
        Assert.False(SecretPath.TryValidate(exactly512 + "c", out var reason));
        Assert.Contains("512", reason, StringComparison.Ordinal);
        Assert.False(SecretPath.TryValidate(new string('a', 4096), out _));
    }

    [Fact]
    public void TryValidate_MultiByteOverLength_RefusedOnBytes()
    {
        // 300 characters of a two-byte character: within 512 characters but 600 bytes.
        Assert.False(SecretPath.TryValidate(new string('\u00e9', 300), out var reason));
        Assert.Contains("512", reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("app/undelete")]
    [InlineData("app/db/destroy")]
    [InlineData("rotate")]
    [InlineData("a/promote")]
    [InlineData("a/b/c/rollback")]
    [InlineData("creds/db")]
    [InlineData("creds")]
    [InlineData("sys/x")]
    [InlineData("sys")]
    [InlineData("sys/a/b")]
    public void RequireWritable_ReservedPath_IsRefused(string path)
    {
        var error = Assert.Throws<KeywardException>(() => SecretPath.RequireWritable(path));

        Assert.Equal("reserved_path", error.Code);
        Assert.Equal(400, error.Status);
    }

    [Theory]
    [InlineData("app/rotate/x")]
    [InlineData("app/creds")]
    [InlineData("app/sys/db")]
    [InlineData("system/db")]
    [InlineData("credsx/db")]
    [InlineData("app/destroyed")]
    [InlineData("app/undelete-me")]
    public void RequireWritable_NearMissOfReserved_IsAccepted(string path)
    {
        Assert.Equal(path, SecretPath.RequireWritable(path));
    }

    [Fact]
    public void RequireWritable_InvalidPath_IsInvalidPathNotReserved()
    {
        Assert.Equal("invalid_path", Assert.Throws<KeywardException>(() => SecretPath.RequireWritable("sys/../x")).Code);
    }

    [Theory]
    [InlineData(null, "")]
    [InlineData("", "")]
    [InlineData("app", "app")]
    [InlineData("app/", "app")]
    [InlineData("app/db/", "app/db")]
    public void RequirePrefix_Normalizes(string? prefix, string expected)
    {
        Assert.Equal(expected, SecretPath.RequirePrefix(prefix));
    }

    [Theory]
    [InlineData("app//")]
    [InlineData("/app")]
    [InlineData("app/../x")]
    [InlineData("app/%2F")]
    public void RequirePrefix_Invalid_Throws(string prefix)
    {
        Assert.Equal("invalid_path", Assert.Throws<KeywardException>(() => SecretPath.RequirePrefix(prefix)).Code);
    }

    [Theory]
    [InlineData("app/db", "app", true)]
    [InlineData("app", "app", true)]
    [InlineData("app/db/x", "app/db", true)]
    [InlineData("app/db", "", true)]
    [InlineData("apple", "app", false)]
    [InlineData("apple/db", "app", false)]
    [InlineData("app-x/db", "app", false)]
    [InlineData("app.x", "app", false)]
    [InlineData("ap", "app", false)]
    [InlineData("app", "app/db", false)]
    [InlineData("App/db", "app", false)]
    [InlineData("x/app/db", "app", false)]
    public void IsUnder_WholeSegments(string path, string prefix, bool expected)
    {
        Assert.Equal(expected, SecretPath.IsUnder(path, prefix));
    }
}
