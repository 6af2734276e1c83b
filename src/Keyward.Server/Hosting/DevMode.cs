using Keyward.Core.Audit;
using Keyward.Core.Seal;

namespace Keyward.Server.Hosting;

/// <summary>
/// <c>keyward server --dev</c>: initializes with one share kept in <c>DIR/dev-unseal.key</c> (mode 0600), unseals
/// itself on every start, and installs a root token (the one given, or a new random one) before the listener
/// opens. Anyone who can read the data directory can unseal it: development only.
/// </summary>
public static class DevMode
{
    public static async Task<string> BootstrapAsync(SealService seal, KeyHierarchy keys, string dataDirectory, string? rootToken)
    {
        var keyFile = Path.Combine(dataDirectory, UnsealKeyFile.DevFileName);
        if (keys.State == SealState.Uninitialized)
        {
            // Before initializing: the key share must have somewhere to go (with PostgreSQL the store does not create
            // the directory), or the store would be initialized with its only share lost.
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(dataDirectory);
            }
            else
            {
                Directory.CreateDirectory(dataDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }

            var result = await seal.InitializeAsync(1, 1, Draft("sys.init"), rootToken);
            UnsealKeyFile.Write(keyFile, result.Keys, "Keyward dev mode unseal key. Anyone who can read this file can unseal this store: development only.");
            return result.RootToken;
        }

        if (!File.Exists(keyFile))
        {
            throw new ServerStartupException(
                $"{dataDirectory} was initialized without --dev (it has no {UnsealKeyFile.DevFileName}); start it without --dev and unseal it with its key shares.");
        }

        await seal.UnsealWithSharesAsync(UnsealKeyFile.Read(keyFile), Draft("sys.unseal"));
        return await seal.ReplaceRootTokenAsync(Draft("sys.dev.root_token"), rootToken);
    }

    private static AuditDraft Draft(string operation) =>
        new(Core.Ids.NewRequestId(), operation) { Actor = new AuditActor("dev-mode") };
}
