using System.Security.Cryptography;
using System.Text;

namespace Keyward.Engines.Postgres;

/// <summary>
/// The SCRAM-SHA-256 verifier PostgreSQL stores for a password (<c>SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey</c>,
/// RFC 5802/7677), computed here so that the password itself never reaches the database: <c>CREATE ROLE … PASSWORD
/// '&lt;verifier&gt;'</c> stores it as given (PostgreSQL 10+), and the login then authenticates with the password — while
/// the server's statement log, <c>pg_stat_statements</c> and replicas only ever see the verifier. Passwords here are
/// ASCII letters and digits, which SASLprep leaves unchanged.
/// </summary>
internal static class ScramVerifier
{
    public const int Iterations = 4096;

    public static string Create(string password)
    {
        if (password.Any(c => !char.IsAsciiLetterOrDigit(c)))
        {
            throw new ArgumentException("Only ASCII letters and digits (no SASLprep needed).", nameof(password));
        }

        var salt = RandomNumberGenerator.GetBytes(16);
        var secret = Encoding.ASCII.GetBytes(password);
        var salted = Rfc2898DeriveBytes.Pbkdf2(secret, salt, Iterations, HashAlgorithmName.SHA256, 32);
        var clientKey = HMACSHA256.HashData(salted, "Client Key"u8);
        try
        {
            var storedKey = SHA256.HashData(clientKey);
            var serverKey = HMACSHA256.HashData(salted, "Server Key"u8);
            return $"SCRAM-SHA-256${Iterations}:{Convert.ToBase64String(salt)}${Convert.ToBase64String(storedKey)}:{Convert.ToBase64String(serverKey)}";
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
            CryptographicOperations.ZeroMemory(salted);
            CryptographicOperations.ZeroMemory(clientKey);
        }
    }
}
