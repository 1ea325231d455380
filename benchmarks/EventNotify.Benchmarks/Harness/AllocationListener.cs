using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace EventNotify.Benchmarks.Harness;

/// <summary>
/// Diagnostic aid for <c>--quick</c> with <c>BENCH_ALLOC=1</c>: samples the runtime's allocation ticks (one per
/// ~100 KB allocated) by type and counts collections by generation and reason while a scenario's rounds run, then
/// prints the top types. Sampled, so figures are estimates; it slows the run and is off by default.
/// </summary>
internal sealed class AllocationListener : EventListener
{
    private readonly ConcurrentDictionary<(string Type, bool Large), long> _bytes = new();
    private readonly ConcurrentDictionary<string, int> _collections = new();
    private volatile bool _active;

    public static AllocationListener? CreateIfRequested() =>
        Environment.GetEnvironmentVariable("BENCH_ALLOC") == "1" ? new AllocationListener() : null;

    public void Start()
    {
        _bytes.Clear();
        _collections.Clear();
        _active = true;
    }

    public void Report(string scenario, long events)
    {
        _active = false;
        var total = _bytes.Values.Sum();
        Console.WriteLine($"#   {scenario} allocations (sampled): {total / Math.Max(1, events)} B/event; collections: {string.Join(", ", _collections.OrderBy(c => c.Key).Select(c => $"{c.Key} x{c.Value}"))}");
        foreach (var ((type, large), bytes) in _bytes.OrderByDescending(b => b.Value).Take(25))
        {
            Console.WriteLine($"#     {(double)bytes / events,8:F1} B/event {(large ? "LOH " : "")}{type}");
        }
    }

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(eventSource, EventLevel.Verbose, (EventKeywords)0x1);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (!_active || e.Payload is null)
        {
            return;
        }

        if (e.EventName == "GCAllocationTick_V4" || e.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) == true)
        {
            var type = e.PayloadNames!.IndexOf("TypeName") is var t and >= 0 ? e.Payload[t] as string ?? "?" : "?";
            var kind = e.PayloadNames.IndexOf("AllocationKind") is var k and >= 0 ? Convert.ToInt32(e.Payload[k]) : 0;
            var amount = e.PayloadNames.IndexOf("AllocationAmount64") is var a and >= 0 ? Convert.ToInt64(e.Payload[a]) : 100_000;
            _bytes.AddOrUpdate((type, kind == 1), amount, (_, v) => v + amount);
        }
        else if (e.EventName?.StartsWith("GCStart", StringComparison.Ordinal) == true)
        {
            var depth = e.PayloadNames!.IndexOf("Depth") is var d and >= 0 ? Convert.ToInt32(e.Payload[d]) : -1;
            var reason = e.PayloadNames.IndexOf("Reason") is var r and >= 0 ? Convert.ToInt32(e.Payload[r]) : -1;
            _collections.AddOrUpdate($"gen{depth}/reason{reason}", 1, (_, v) => v + 1);
        }
    }
}
