using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Keyward.Tests.Common;

/// <summary>How tests start the built <c>keyward</c> executable (<c>dotnet keyward.dll ...</c>) as a child process.</summary>
public static class KeywardExecutable
{
    /// <summary>The executable next to the test assembly (test projects that start it reference src/Keyward).</summary>
    public static string DllPath
    {
        get
        {
            var path = Path.Combine(AppContext.BaseDirectory, "keyward.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("keyward.dll is not next to the test assembly; reference src/Keyward from the test project.", path);
        }
    }

    public static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    /// <summary>A start description with output redirected, KEYWARD_* cleared, then <paramref name="environment"/> applied.</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var info = new ProcessStartInfo(DotnetHost)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        info.ArgumentList.Add(DllPath);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment.Remove("KEYWARD_ADDR");
        info.Environment.Remove("KEYWARD_TOKEN");
        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                info.Environment.Remove(name);
            }
            else
            {
                info.Environment[name] = value;
            }
        }

        return info;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
