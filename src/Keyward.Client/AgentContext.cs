namespace Keyward.Client;

/// <summary>
/// Which agent the code running now works for: tenant, agent, run and role, flowing with the async control flow
/// (an <see cref="AsyncLocal{T}"/>) into awaits, <see cref="Task.Run(Action)"/> and child tasks started inside, and
/// never into unrelated work. Logs and tools read <see cref="Current"/>; a host running many agents in one process
/// pushes each agent's context around its work.
/// <code>
/// using (AgentContext.Push(session.CreateContext()))
/// {
///     await RunAgentAsync();   // AgentContext.Current is this agent's here and in everything it starts
/// }
/// </code>
/// </summary>
public sealed record AgentContext(string Tenant, string AgentId, string? RunId = null, string? Role = null)
{
    private static readonly AsyncLocal<AgentContext?> Ambient = new();

    /// <summary>The context of the code running now, or null outside any.</summary>
    public static AgentContext? Current => Ambient.Value;

    /// <summary>
    /// Makes <paramref name="context"/> current until the returned scope is disposed, which restores the previous one.
    /// (Changes made inside an async method never leak to its caller either: the runtime restores them when it returns.)
    /// </summary>
    public static Scope Push(AgentContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var previous = Ambient.Value;
        Ambient.Value = context;
        return new Scope(previous);
    }

    /// <summary>Runs <paramref name="body"/> with <paramref name="context"/> current, then restores the previous one.</summary>
    public static T Run<T>(AgentContext context, Func<T> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        using (Push(context))
        {
            return body();
        }
    }

    /// <summary>
    /// Runs <paramref name="body"/> with <paramref name="context"/> current: the task and everything it awaits or starts
    /// see it; the caller's context is unchanged when this returns.
    /// </summary>
    public static async Task RunAsync(AgentContext context, Func<Task> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        using (Push(context))
        {
            await body().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Runs <paramref name="body"/> with <paramref name="context"/> current (see <see cref="RunAsync(AgentContext, Func{Task})"/>).
    /// </summary>
    public static async Task<T> RunAsync<T>(AgentContext context, Func<Task<T>> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        using (Push(context))
        {
            return await body().ConfigureAwait(false);
        }
    }

    /// <summary>Restores the context that was current before <see cref="Push"/>.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly AgentContext? _previous;

        internal Scope(AgentContext? previous)
        {
            _previous = previous;
        }

        public void Dispose() => Ambient.Value = _previous;
    }
}
