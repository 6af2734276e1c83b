using System.Text.RegularExpressions;
using Keyward.Core.Errors;

namespace Keyward.Core.Validation;

/// <summary>The name grammars of API.md, checked in one place.</summary>
public static partial class Names
{
    // Anchored with \A and \z: "$" would also match before a trailing newline.
    public const string TenantIdPattern = "[a-z0-9][a-z0-9-]{0,62}";
    public const string NamePattern = "[A-Za-z0-9][A-Za-z0-9._-]{0,63}";

    public static bool IsTenantId(string? value) => value is not null && TenantIdRegex().IsMatch(value);

    public static bool IsName(string? value) => value is not null && NameRegex().IsMatch(value);

    public static string RequireTenantId(string? value) =>
        IsTenantId(value) ? value! : throw KeywardErrors.InvalidName("Tenant id", value ?? "", TenantIdPattern);

    /// <summary>Agent ids, run ids, role, integration and engine names.</summary>
    public static string RequireName(string what, string? value) =>
        IsName(value) ? value! : throw KeywardErrors.InvalidName(what, value ?? "", NamePattern);

    [GeneratedRegex(@"\A" + TenantIdPattern + @"\z", RegexOptions.CultureInvariant)]
    private static partial Regex TenantIdRegex();

    [GeneratedRegex(@"\A" + NamePattern + @"\z", RegexOptions.CultureInvariant)]
    private static partial Regex NameRegex();
}
