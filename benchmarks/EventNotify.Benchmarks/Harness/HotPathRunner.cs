using System.Diagnostics;
using System.Globalization;

namespace EventNotify.Benchmarks.Harness;

/// <summary>
/// Single-threaded cost of the engine's per-event work outside the pipeline (<c>--hotpath</c>): the in-memory store's
/// three writes per delivered event (append, save routed, record attempt) and the delivery id (the engine's, and the
/// hashed form caller-chosen event ids get). No threads, no
/// queues, so A/B comparisons of hot-path changes are stable on a shared machine.
/// </summary>
internal static class HotPathRunner
{
    public static async Task<int> RunAsync(int events, int rounds)
    {
        var data = new ReadOnlyMemory<byte>(Scenarios.Payload.Utf8);
        var now = DateTimeOffset.UtcNow;
        var ids = Enumerable.Range(0, events).Select(_ => NotificationEvent.NewId()).ToArray();
        for (var r = 0; r < rounds + 1; r++)
        {
            var store = new InMemoryEventStore();
            GC.Collect();
            var allocated = GC.GetTotalAllocatedBytes(precise: true);
            var started = Stopwatch.GetTimestamp();
            for (var i = 0; i < events; i++)
            {
                var e = new NotificationEvent { Id = ids[i], Type = "order.paid", Data = data, Source = "urn:bench", Time = now };
                await store.AppendAsync(e).ConfigureAwait(false);
                var d = new Delivery
                {
                    Id = Delivery.ForSubscription(e.Id, "sub_bench_0"), // the id the engine gives it
                    EventId = e.Id,
                    EventType = e.Type,
                    SubscriptionId = "sub_bench_0",
                    Channel = "bench",
                    Address = "bench-0",
                    CreatedAt = now,
                    NextAttemptAt = now,
                    LeasedUntil = now.AddMinutes(5),
                };
                await store.SaveRoutedAsync(e.Id, [d]).ConfigureAwait(false);
                await store.RecordAttemptAsync(
                    new DeliveryAttempt { DeliveryId = d.Id, AttemptNumber = 1, StartedAt = now, Outcome = AttemptOutcome.Succeeded },
                    new DeliveryUpdate(DeliveryStatus.Succeeded, 1, now, now, null, null)).ConfigureAwait(false);
            }

            var elapsed = Stopwatch.GetElapsedTime(started);
            var bytes = GC.GetTotalAllocatedBytes(precise: true) - allocated;

            var idStarted = Stopwatch.GetTimestamp();
            for (var i = 0; i < events; i++)
            {
                _ = Delivery.ForSubscription(ids[i], "sub_bench_0");
            }

            var idElapsed = Stopwatch.GetElapsedTime(idStarted);
            var hashStarted = Stopwatch.GetTimestamp();
            for (var i = 0; i < events; i++)
            {
                _ = Delivery.CreateId(ids[i], "sub_bench_0"); // the hashed form, as for caller-chosen event ids
            }

            var hashElapsed = Stopwatch.GetElapsedTime(hashStarted);
            if (r > 0)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"hotpath store+id: {elapsed.TotalNanoseconds / events:0} ns/event, {(double)bytes / events:0} B/event; delivery id alone: {idElapsed.TotalNanoseconds / events:0} ns (ForSubscription), {hashElapsed.TotalNanoseconds / events:0} ns (hashed)"));
            }
        }

        return 0;
    }
}
