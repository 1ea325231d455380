using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace EventNotify.Tests.Engine;

public sealed class StoreFailureTests
{
    /// <summary>An in-memory store whose SaveRoutedAsync fails while <see cref="FailRouting"/> is set.</summary>
    private sealed class FlakyStore : IEventStore
    {
        private readonly InMemoryEventStore _inner = new();

        public volatile bool FailRouting;

        public TaskCompletionSource RoutingFailed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ValueTask<bool> SaveRoutedAsync(string eventId, IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken = default)
        {
            if (FailRouting)
            {
                RoutingFailed.TrySetResult();
                throw new IOException("disk I/O error");
            }

            return _inner.SaveRoutedAsync(eventId, deliveries, cancellationToken);
        }

        public ValueTask<bool> AppendAsync(NotificationEvent @event, CancellationToken cancellationToken = default) => _inner.AppendAsync(@event, cancellationToken);
        public ValueTask<bool[]> AppendManyAsync(IReadOnlyList<NotificationEvent> events, CancellationToken cancellationToken = default) => _inner.AppendManyAsync(events, cancellationToken);
        public ValueTask<int> AddDeliveriesAsync(IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken = default) => _inner.AddDeliveriesAsync(deliveries, cancellationToken);
        public ValueTask<IReadOnlyList<NotificationEvent>> GetUnroutedEventsAsync(string? afterId, int max, CancellationToken cancellationToken = default) => _inner.GetUnroutedEventsAsync(afterId, max, cancellationToken);
        public ValueTask<IReadOnlyList<DueDelivery>> ClaimDueDeliveriesAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int max, CancellationToken cancellationToken = default) => _inner.ClaimDueDeliveriesAsync(now, leaseUntil, max, cancellationToken);
        public ValueTask ReleaseAsync(IReadOnlyList<string> deliveryIds, CancellationToken cancellationToken = default) => _inner.ReleaseAsync(deliveryIds, cancellationToken);
        public ValueTask<DateTimeOffset?> GetNextDueTimeAsync(CancellationToken cancellationToken = default) => _inner.GetNextDueTimeAsync(cancellationToken);
        public ValueTask RecordAttemptAsync(DeliveryAttempt attempt, DeliveryUpdate update, CancellationToken cancellationToken = default) => _inner.RecordAttemptAsync(attempt, update, cancellationToken);
        public ValueTask<bool> UpdateDeliveryAsync(string deliveryId, DeliveryUpdate update, CancellationToken cancellationToken = default) => _inner.UpdateDeliveryAsync(deliveryId, update, cancellationToken);
        public ValueTask<NotificationEvent?> GetEventAsync(string eventId, CancellationToken cancellationToken = default) => _inner.GetEventAsync(eventId, cancellationToken);
        public ValueTask<Delivery?> GetDeliveryAsync(string deliveryId, CancellationToken cancellationToken = default) => _inner.GetDeliveryAsync(deliveryId, cancellationToken);
        public ValueTask<IReadOnlyList<DeliveryAttempt>> GetAttemptsAsync(string deliveryId, CancellationToken cancellationToken = default) => _inner.GetAttemptsAsync(deliveryId, cancellationToken);
        public ValueTask<IReadOnlyList<Delivery>> QueryDeliveriesAsync(DeliveryQuery query, CancellationToken cancellationToken = default) => _inner.QueryDeliveriesAsync(query, cancellationToken);
        public ValueTask<long> CountDeliveriesAsync(DeliveryQuery query, CancellationToken cancellationToken = default) => _inner.CountDeliveriesAsync(query, cancellationToken);
        public ValueTask<bool> RedeliverAsync(string deliveryId, DateTimeOffset now, CancellationToken cancellationToken = default) => _inner.RedeliverAsync(deliveryId, now, cancellationToken);
        public ValueTask<IReadOnlyList<NotificationEvent>> GetEventsAsync(DateTimeOffset from, DateTimeOffset to, string? afterId, int max, CancellationToken cancellationToken = default) => _inner.GetEventsAsync(from, to, afterId, max, cancellationToken);
        public ValueTask<int> PurgeAsync(DateTimeOffset completedBefore, CancellationToken cancellationToken = default) => _inner.PurgeAsync(completedBefore, cancellationToken);
    }

    [Fact]
    public async Task RoutingFails_StoreRecovers_EventRoutedAgainAndDelivered()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 3, 0, 0, 0, TimeSpan.Zero));
        var store = new FlakyStore { FailRouting = true };
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier).UseStore(_ => store), o => o.PollInterval = TimeSpan.FromSeconds(1), time);
        await host.SubscribeAsync("test", "*");

        var receipt = await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        (await store.GetEventAsync(receipt.EventId)).Should().NotBeNull("the event was accepted before routing failed");
        await store.RoutingFailed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        (await store.GetUnroutedEventsAsync(null, 10)).Should().ContainSingle("a failed routing leaves the event unrouted in the store");

        store.FailRouting = false;
        var deliveredTask = host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1);
        while (!deliveredTask.IsCompleted)
        {
            time.Advance(TimeSpan.FromSeconds(1)); // the scheduler's next poll starts a recovery pass
            await Task.WhenAny(deliveredTask, Task.Run(() => { }));
        }

        await deliveredTask;
        notifier.Calls.Single().Event.Id.Should().Be(receipt.EventId);
    }
}
