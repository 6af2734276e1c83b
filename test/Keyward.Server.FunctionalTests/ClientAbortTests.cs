using Keyward.Server.Http;
using Keyward.Tests.Common;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Keyward.Server.FunctionalTests;

/// <summary>A client that goes away mid-request is not an error of the server's.</summary>
public sealed class ClientAbortTests
{
    [Fact]
    public async Task RequestGuard_CancellationAfterTheClientAborted_IsNeitherLoggedNorAnswered()
    {
        var (http, logs) = NewContext();
        using var aborted = new CancellationTokenSource();
        http.RequestAborted = aborted.Token;
        await aborted.CancelAsync();

        await RequestGuards.RequestIdAndErrorsAsync(http, _ => throw new OperationCanceledException(aborted.Token));

        Assert.Equal(StatusCodes.Status200OK, http.Response.StatusCode);
        Assert.Empty(logs.Lines);
    }

    [Fact]
    public async Task RequestGuard_CancellationWhileTheClientIsStillThere_IsA500AndLogged()
    {
        var (http, logs) = NewContext();

        await RequestGuards.RequestIdAndErrorsAsync(http, _ => throw new OperationCanceledException());

        Assert.Equal(StatusCodes.Status500InternalServerError, http.Response.StatusCode);
        Assert.Contains(logs.Lines, line => line.Contains("[5001]", StringComparison.Ordinal));
    }

    private static (DefaultHttpContext Http, LogCapture Logs) NewContext()
    {
        var logs = new LogCapture();
        var services = new ServiceCollection().AddLogging(b => b.AddProvider(logs)).BuildServiceProvider();
        var http = new DefaultHttpContext { RequestServices = services };
        http.Response.Body = new MemoryStream();
        return (http, logs);
    }
}
