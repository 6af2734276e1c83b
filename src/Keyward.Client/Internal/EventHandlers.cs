namespace Keyward.Client.Internal;

/// <summary>Raising the SDK's events: each handler runs, and none can break the raiser (a timer callback, the event stream).</summary>
internal static class EventHandlers
{
    public static void RaiseEach<T>(EventHandler<T>? handlers, object sender, T args)
    {
        if (handlers is null)
        {
            return;
        }

        foreach (var handler in handlers.GetInvocationList().Cast<EventHandler<T>>())
        {
            try
            {
                handler(sender, args);
            }
#pragma warning disable CA1031 // A subscriber's exception must never escape into the SDK's own loops.
            catch (Exception)
#pragma warning restore CA1031
            {
            }
        }
    }
}
