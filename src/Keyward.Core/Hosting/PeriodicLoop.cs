namespace Keyward.Core.Hosting;

/// <summary>
/// Work run on the thread pool every interval until disposed: the one shape of the core's background loops (the
/// sweeper, the rotation scheduler, node coherence, the store probe). A pass that throws is handed to
/// <c>failed</c> and the loop goes on; disposal cancels the wait and the running pass, and waits for the loop to end.
/// </summary>
public sealed class PeriodicLoop : IAsyncDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private Task? _loop;

    /// <summary>
    /// Starts the loop (once; later calls change nothing): <paramref name="pass"/> every <paramref name="interval"/> of
    /// <paramref name="time"/>, the first one at once when <paramref name="passFirst"/>. Without <paramref name="failed"/>,
    /// a pass that throws ends the loop (and disposal rethrows it).
    /// </summary>
    public void Start(TimeSpan interval, TimeProvider time, Func<CancellationToken, Task> pass, Action<Exception>? failed = null, bool passFirst = false)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(pass);
        _loop ??= Task.Run(() => RunAsync(interval, time, pass, failed, passFirst));
    }

    private async Task RunAsync(TimeSpan interval, TimeProvider time, Func<CancellationToken, Task> pass, Action<Exception>? failed, bool passFirst)
    {
        try
        {
            using var timer = new PeriodicTimer(interval, time);
            if (passFirst)
            {
                await PassAsync(pass, failed);
            }

            while (await timer.WaitForNextTickAsync(_stopping.Token))
            {
                await PassAsync(pass, failed);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
    }

    private async Task PassAsync(Func<CancellationToken, Task> pass, Action<Exception>? failed)
    {
        try
        {
            await pass(_stopping.Token);
        }
        catch (Exception error) when (failed is not null && error is not OperationCanceledException)
        {
            failed(error);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        if (_loop is not null)
        {
            await _loop;
        }

        _stopping.Dispose();
    }
}
