using Keyward.Core.Errors;
using Keyward.Core.Validation;

namespace Keyward.Core.Tests.Validation;

public sealed class NamesTests
{
    [Theory]
    [InlineData("a")]
    [InlineData("0")]
    [InlineData("acme")]
    [InlineData("acme-prod-1")]
    [InlineData("a-")]
    public void IsTenantId_Valid_IsTrue(string id)
    {
        Assert.True(Names.IsTenantId(id));
        Assert.Equal(id, Names.RequireTenantId(id));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("-acme")]
    [InlineData("Acme")]
    [InlineData("acme_prod")]
    [InlineData("acme.prod")]
    [InlineData("acme prod")]
    [InlineData("acme/x")]
    [InlineData("\u0430cme")] // Cyrillic 'а'
    [InlineData("\uFF41cme")] // fullwidth 'ａ'
    public void IsTenantId_Invalid_IsFalse(string? id)
    {
        Assert.False(Names.IsTenantId(id));
        var error = Assert.Throws<KeywardException>(() => Names.RequireTenantId(id));
        Assert.Equal("invalid_name", error.Code);
        Assert.Equal(400, error.Status);
    }

    [Fact]
    public void IsTenantId_Length_63AcceptedAnd64Refused()
    {
        Assert.True(Names.IsTenantId(new string('a', 63)));
        Assert.False(Names.IsTenantId(new string('a', 64)));
    }

    [Fact]
    public void IsTenantId_TrailingNewline_IsFalse()
    {
        Assert.False(Names.IsTenantId("acme\n"));
        Assert.False(Names.IsName("agent-1\n"));
    }

    [Theory]
    [InlineData("a")]
    [InlineData("Agent-1")]
    [InlineData("run.2024_01")]
    [InlineData("9lives")]
    public void IsName_Valid_IsTrue(string name)
    {
        Assert.True(Names.IsName(name));
        Assert.Equal(name, Names.RequireName("agent_id", name));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData(".agent")]
    [InlineData("-agent")]
    [InlineData("_agent")]
    [InlineData("agent/1")]
    [InlineData("agent 1")]
    [InlineData("agent:1")]
    [InlineData("\u0430gent")]
    public void IsName_Invalid_IsFalse(string? name)
    {
        Assert.False(Names.IsName(name));
        Assert.Equal("invalid_name", Assert.Throws<KeywardException>(() => Names.RequireName("agent_id", name)).Code);
    }

    [Fact]
    public void IsName_Length_64AcceptedAnd65Refused()
    {
        Assert.True(Names.IsName(new string('a', 64)));
        Assert.False(Names.IsName(new string('a', 65)));
    }

    [Fact]
    public void RequireName_LongValue_IsTruncatedInTheError()
    {
        var value = "-" + new string('x', 500);

        var error = Assert.Throws<KeywardException>(() => Names.RequireName("agent_id", value));

        Assert.DoesNotContain(new string('x', 100), error.Message, StringComparison.Ordinal);
    }
}
