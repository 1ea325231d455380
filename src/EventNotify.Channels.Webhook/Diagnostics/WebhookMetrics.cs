using System.Diagnostics.Metrics;

namespace EventNotify.Webhooks.Diagnostics;

/// <summary>
/// The webhook channel's instruments, on the shared <c>EventNotify</c> meter (attempt counts and durations per
/// outcome are recorded by the engine for every channel; these add what only the webhook channel knows).
/// </summary>
internal sealed class WebhookMetrics
{
    public const string RefusalsName = "eventnotify.webhook.refusals";
    public const string CircuitOpenedName = "eventnotify.webhook.circuit.opened";

    private readonly Counter<long> _refusals;
    private readonly Counter<long> _circuitOpened;

    public WebhookMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create("EventNotify");
        _refusals = meter.CreateCounter<long>(
            RefusalsName,
            unit: "{attempt}",
            description: "Webhook attempts not sent: refused by the SSRF guard (reason=ssrf), nothing to sign with (reason=unsigned), the endpoint's circuit is open (reason=circuit_open), or its host already has MaxConcurrencyPerEndpoint attempts in flight (reason=endpoint_busy).");
        _circuitOpened = meter.CreateCounter<long>(
            CircuitOpenedName,
            unit: "{circuit}",
            description: "Times an endpoint's circuit opened after consecutive failures.");
    }

    public void Refused(string reason) => _refusals.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void CircuitOpened() => _circuitOpened.Add(1);
}
