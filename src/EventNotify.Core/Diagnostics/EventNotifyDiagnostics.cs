using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace EventNotify.Diagnostics;

/// <summary>The names of EventNotify's telemetry sources, for OpenTelemetry registration.</summary>
public static class EventNotifyTelemetry
{
    /// <summary>The <see cref="Meter"/> and <see cref="ActivitySource"/> name: <c>EventNotify</c>.</summary>
    public const string Name = "EventNotify";

    internal static readonly ActivitySource ActivitySource = new(Name, typeof(EventNotifyTelemetry).Assembly.GetName().Version?.ToString());
}

/// <summary>The engine's instruments on the <c>EventNotify</c> meter.</summary>
internal sealed class EventNotifyMetrics
{
    private readonly Counter<long> _published;
    private readonly Counter<long> _deliveries;
    private readonly Counter<long> _attempts;
    private readonly Histogram<double> _attemptDuration;
    private readonly Histogram<double> _latency;

    public EventNotifyMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(EventNotifyTelemetry.Name);
        _published = meter.CreateCounter<long>("eventnotify.events.published", "{event}", "Events accepted by the store (outcome: accepted or duplicate).");
        _deliveries = meter.CreateCounter<long>("eventnotify.deliveries", "{delivery}", "Deliveries that reached a final state (outcome: succeeded, dead_lettered, cancelled).");
        _attempts = meter.CreateCounter<long>("eventnotify.delivery.attempts", "{attempt}", "Delivery attempts (outcome: succeeded, transient_failure, permanent_failure).");
        _attemptDuration = meter.CreateHistogram<double>("eventnotify.delivery.duration", "s", "Duration of one delivery attempt.");
        _latency = meter.CreateHistogram<double>("eventnotify.delivery.latency", "s", "Time from the delivery's creation (when its event was routed, or replayed) to its success; a redelivered delivery counts from its first creation.");
        Meter = meter;
    }

    public Meter Meter { get; }

    public void Published(bool duplicate)
    {
        if (_published.Enabled)
        {
            _published.Add(1, new KeyValuePair<string, object?>("outcome", duplicate ? "duplicate" : "accepted"));
        }
    }

    public void Attempt(string channel, AttemptOutcome outcome, TimeSpan duration)
    {
        if (_attempts.Enabled)
        {
            _attempts.Add(1, new("channel", channel), new("outcome", OutcomeTag(outcome)));
        }

        if (_attemptDuration.Enabled)
        {
            _attemptDuration.Record(duration.TotalSeconds, new("channel", channel), new("outcome", OutcomeTag(outcome)));
        }
    }

    public void Final(string channel, DeliveryStatus status, TimeSpan? latency)
    {
        if (_deliveries.Enabled)
        {
            _deliveries.Add(1, new("channel", channel), new("outcome", StatusTag(status)));
        }

        if (latency is { } l && _latency.Enabled)
        {
            _latency.Record(l.TotalSeconds, new KeyValuePair<string, object?>("channel", channel));
        }
    }

    public void ObserveQueues(Func<IEnumerable<Measurement<long>>> observe) =>
        Meter.CreateObservableGauge("eventnotify.queue.depth", observe, "{item}", "Items waiting in the engine's in-memory queues (stage: route, or push with channel).");

    internal static string OutcomeTag(AttemptOutcome o) => o switch
    {
        AttemptOutcome.Succeeded => "succeeded",
        AttemptOutcome.TransientFailure => "transient_failure",
        _ => "permanent_failure",
    };

    private static string StatusTag(DeliveryStatus s) => s switch
    {
        DeliveryStatus.Succeeded => "succeeded",
        DeliveryStatus.DeadLettered => "dead_lettered",
        DeliveryStatus.Cancelled => "cancelled",
        _ => "pending",
    };
}
