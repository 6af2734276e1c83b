using Keyward.Core.Agents;
using Keyward.Core.Tenants;
using Keyward.Server.Http;

namespace Keyward.Server.Endpoints;

public sealed class DenyThresholdBody
{
    public int? Count { get; init; }

    public Duration? Window { get; init; }
}

public sealed class AnomalySettingsBody
{
    public bool? LockdownOnBootstrapReplay { get; init; }

    public DenyThresholdBody? DenyThreshold { get; init; }

    public bool? RotateExposed { get; init; }

    /// <summary><c>"token"</c> (default) or <c>"session"</c>: what a deny threshold reached through a derived token locks.</summary>
    public string? DerivedDenialsLock { get; init; }

    public DerivedDenialsLock ParseDerivedDenialsLock() => DerivedDenialsLock switch
    {
        null or "token" => Keyward.Core.Tenants.DerivedDenialsLock.Token,
        "session" => Keyward.Core.Tenants.DerivedDenialsLock.Session,
        _ => throw Keyward.Core.Errors.KeywardErrors.InvalidField("derived_denials_lock", "\"token\" or \"session\""),
    };
}

public sealed record DenyThresholdResponse(int Count, long Window);

public sealed record AnomalySettingsResponse(bool LockdownOnBootstrapReplay, DenyThresholdResponse? DenyThreshold, bool RotateExposed, string DerivedDenialsLock)
{
    public static AnomalySettingsResponse From(AnomalySettings s) =>
        new(s.LockdownOnBootstrapReplay, s.DenyThreshold is { } t ? new DenyThresholdResponse(t.Count, (long)t.Window.TotalSeconds) : null, s.RotateExposed,
            s.DerivedDenialsLock == Keyward.Core.Tenants.DerivedDenialsLock.Session ? "session" : "token");
}

/// <summary>Tenant settings (tenant admin token): automatic responses to anomalies.</summary>
public static class SettingsEndpoints
{
    public static IEndpointRouteBuilder MapSettingsEndpoints(this IEndpointRouteBuilder routes)
    {
        var settings = routes.MapGroup("/settings").WithTags("Tenant settings");

        settings.MapGet("/anomalies", async (RequestContext ctx, Anomalies anomalies) =>
                TypedResults.Ok(AnomalySettingsResponse.From(await anomalies.GetSettingsAsync(ctx.Caller))))
            .Audited("settings.anomalies.read")
            .WithSummary("The tenant's automatic anomaly responses (tenant admin token).");

        settings.MapPut("/anomalies", async (RequestContext ctx, Anomalies anomalies) =>
            {
                var body = await ctx.BodyAsync<AnomalySettingsBody>();
                var threshold = body.DenyThreshold is { } t ? DenyThreshold.Create(t.Count, t.Window?.Value) : null;
                var stored = await anomalies.PutSettingsAsync(ctx.Caller, new AnomalySettings(body.LockdownOnBootstrapReplay ?? false, threshold, body.RotateExposed ?? false, body.ParseDerivedDenialsLock()), ctx.Audit);
                return TypedResults.Ok(AnomalySettingsResponse.From(stored));
            })
            .Audited("settings.anomalies.write")
            .WithSummary("Turn bootstrap replay and 'count denied requests within window' into an automatic lockdown of the offending subtree, and with rotate_exposed also rotate every secret with a generator those tokens could read (tenant admin token).")
            .WithJsonBody<AnomalySettingsBody>().ProducesProblem(400);

        return routes;
    }
}
