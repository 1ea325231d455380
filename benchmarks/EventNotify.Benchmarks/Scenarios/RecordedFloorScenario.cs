namespace EventNotify.Benchmarks.Scenarios;

/// <summary>
/// Not a product: the least any engine must do for what EventNotify promises, on <see cref="ChannelBaselineScenario"/>'s
/// two hand-offs (<c>--scenarios recorded-floor</c>; not in the default run). Per event: a new id and an owned copy of
/// the data; the event recorded under a lock; the delivery's stable id (<see cref="Delivery.CreateId(string, string)"/>)
/// and the delivery recorded under a lock; after the (instant) send, the attempt recorded and the delivery marked done
/// under a lock, then event and delivery dropped. No validation, subscription matching, retry schedule, leases,
/// observers or metrics, and a dictionary per record type with its own lock. Its rate bounds from above what a
/// publish → delivered pipeline that records every attempt can reach on this machine, so engine-memory/recorded-floor
/// is the engine's own overhead and recorded-floor/channel-baseline the price of recording.
/// </summary>
/// <param name="hashedId">
/// <see langword="true"/> (<c>recorded-floor</c>): the delivery id the engine makes, a SHA-256 of event and
/// subscription id. <see langword="false"/> (<c>recorded-floor-concat-id</c>): the cheapest stable, collision-free id,
/// the two ids joined by a <c>.</c> (event ids cannot contain one), which is unbounded in length and shows the
/// subscription id to the receiver; it shows what the hash costs.
/// </param>
internal sealed class RecordedFloorScenario(bool hashedId) : IScenario
{
    private sealed record Event(string Id, ReadOnlyMemory<byte> Data);

    private sealed record Route(Event Event, string DeliveryId);

    private sealed record Attempt(string DeliveryId, int Number, DateTimeOffset StartedAt, bool Succeeded);

    private readonly Completion _completion = new();
    private readonly Dictionary<string, Event> _events = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string EventId, bool Done)> _deliveries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Attempt> _attempts = new(StringComparer.Ordinal);
    private readonly Lock _eventsLock = new();
    private readonly Lock _deliveriesLock = new();
    private TwoStagePipeline<Event, Route> _pipeline = null!;

    public string Name => hashedId ? "recorded-floor" : "recorded-floor-concat-id";

    public Task<string?> SetupAsync()
    {
        _pipeline = new TwoStagePipeline<Event, Route>(RouteAsync, PushAsync);
        return Task.FromResult<string?>(null);
    }

    public async Task RunAsync(int events)
    {
        _completion.Reset(events);
        var writer = _pipeline.Route.Writer;
        var data = new ReadOnlyMemory<byte>(Payload.Utf8);
        for (var i = 0; i < events; i++)
        {
            var e = new Event(NotificationEvent.NewId(), data.ToArray());
            lock (_eventsLock)
            {
                _events.Add(e.Id, e);
            }

            if (!writer.TryWrite(e))
            {
                await writer.WriteAsync(e).ConfigureAwait(false);
            }
        }

        await _completion.WaitAsync(events).ConfigureAwait(false);
    }

    private async Task RouteAsync(TwoStagePipeline<Event, Route> pipeline)
    {
        var reader = pipeline.Route.Reader;
        var writer = pipeline.Push.Writer;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var e))
            {
                var route = new Route(e, hashedId ? Delivery.CreateId(e.Id, "sub_bench_0") : string.Concat(e.Id, ".sub_bench_0"));
                lock (_deliveriesLock)
                {
                    _deliveries.Add(route.DeliveryId, (e.Id, false));
                }

                if (!writer.TryWrite(route))
                {
                    await writer.WriteAsync(route).ConfigureAwait(false);
                }
            }
        }
    }

    private async Task PushAsync(TwoStagePipeline<Event, Route> pipeline)
    {
        var reader = pipeline.Push.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var route))
            {
                var attempt = new Attempt(route.DeliveryId, 1, DateTimeOffset.UtcNow, Succeeded: true);
                lock (_deliveriesLock)
                {
                    _attempts.Add(attempt.DeliveryId, attempt);
                    _deliveries[route.DeliveryId] = (route.Event.Id, true);
                    _attempts.Remove(attempt.DeliveryId);
                    _deliveries.Remove(route.DeliveryId);
                }

                lock (_eventsLock)
                {
                    _events.Remove(route.Event.Id);
                }

                _completion.Signal();
            }
        }
    }

    public ValueTask DisposeAsync() => _pipeline.DisposeAsync();
}
