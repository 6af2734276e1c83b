namespace Keyward.Client.Tests;

public sealed class AgentContextTests
{
    [Fact]
    public void Push_Dispose_RestoresThePreviousContext()
    {
        var outer = new AgentContext("acme", "planner", "run-1", "worker");
        var inner = new AgentContext("acme", "helper", "run-1", "helper");

        Assert.Null(AgentContext.Current);
        using (AgentContext.Push(outer))
        {
            Assert.Same(outer, AgentContext.Current);
            Assert.Equal("helper", AgentContext.Run(inner, () => AgentContext.Current!.AgentId));
            Assert.Same(outer, AgentContext.Current);
        }

        Assert.Null(AgentContext.Current);
    }

    [Fact]
    public async Task FiveHundredInterleavedTasks_EachSeesOnlyItsOwnContext_IncludingChildTasks()
    {
        var random = new Random(20261122);
        var delays = Enumerable.Range(0, 500).Select(_ => Enumerable.Range(0, 20).Select(_ => random.Next(0, 4)).ToArray()).ToArray();
        var mismatches = 0;
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        async Task AgentAsync(int n)
        {
            var mine = new AgentContext("tenant-" + (n % 7), "agent-" + n, "run-" + (n % 13), "role");
            await AgentContext.RunAsync(mine, async () =>
            {
                await start.Task;
                foreach (var step in delays[n])
                {
                    if (step == 0)
                    {
                        await Task.Yield();
                    }
                    else
                    {
                        await Task.Delay(step - 1);
                    }

                    if (!ReferenceEquals(AgentContext.Current, mine))
                    {
                        Interlocked.Increment(ref mismatches);
                    }
                }

                // Children started inside inherit it, also when they push their own for a while.
                var children = Enumerable.Range(0, 3).Select(c => Task.Run(async () =>
                {
                    await Task.Yield();
                    var seen = AgentContext.Current;
                    using (AgentContext.Push(mine with { AgentId = mine.AgentId + "-child-" + c }))
                    {
                        await Task.Delay(1);
                    }

                    return ReferenceEquals(seen, mine) && ReferenceEquals(AgentContext.Current, mine);
                }));
                if ((await Task.WhenAll(children)).Contains(false))
                {
                    Interlocked.Increment(ref mismatches);
                }

                if (!ReferenceEquals(AgentContext.Current, mine))
                {
                    Interlocked.Increment(ref mismatches);
                }
            });
        }

        var agents = Enumerable.Range(0, 500).Select(n => Task.Run(() => AgentAsync(n))).ToArray();
        start.SetResult();
        await Task.WhenAll(agents).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(0, mismatches);
        Assert.Null(AgentContext.Current);
    }
}
