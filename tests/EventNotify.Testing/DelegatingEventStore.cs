namespace EventNotify.Testing;

/// <summary>An <see cref="IEventStore"/> that passes every call to an in-memory store; tests override what they change.</summary>
public class DelegatingEventStore : IEventStore
{
    protected InMemoryEventStore Inner { get; } = new(new InMemoryEventStoreOptions { MaxFinishedDeliveries = null });

    public virtual ValueTask<bool> AppendAsync(NotificationEvent @event, CancellationToken cancellationToken = default) => Inner.AppendAsync(@event, cancellationToken);
    public virtual ValueTask<bool[]> AppendManyAsync(IReadOnlyList<NotificationEvent> events, CancellationToken cancellationToken = default) => Inner.AppendManyAsync(events, cancellationToken);
    public virtual ValueTask<bool> SaveRoutedAsync(string eventId, IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken = default) => Inner.SaveRoutedAsync(eventId, deliveries, cancellationToken);
    public virtual ValueTask<int> AddDeliveriesAsync(IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken = default) => Inner.AddDeliveriesAsync(deliveries, cancellationToken);
    public virtual ValueTask<IReadOnlyList<NotificationEvent>> GetUnroutedEventsAsync(string? afterId, int max, CancellationToken cancellationToken = default) => Inner.GetUnroutedEventsAsync(afterId, max, cancellationToken);
    public virtual ValueTask<IReadOnlyList<DueDelivery>> ClaimDueDeliveriesAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int max, CancellationToken cancellationToken = default) => Inner.ClaimDueDeliveriesAsync(now, leaseUntil, max, cancellationToken);
    public virtual ValueTask ReleaseAsync(IReadOnlyList<string> deliveryIds, CancellationToken cancellationToken = default) => Inner.ReleaseAsync(deliveryIds, cancellationToken);
    public virtual ValueTask<DateTimeOffset?> GetNextDueTimeAsync(CancellationToken cancellationToken = default) => Inner.GetNextDueTimeAsync(cancellationToken);
    public virtual ValueTask RecordAttemptAsync(DeliveryAttempt attempt, DeliveryUpdate update, CancellationToken cancellationToken = default) => Inner.RecordAttemptAsync(attempt, update, cancellationToken);
    public virtual ValueTask<bool> UpdateDeliveryAsync(string deliveryId, DeliveryUpdate update, CancellationToken cancellationToken = default) => Inner.UpdateDeliveryAsync(deliveryId, update, cancellationToken);
    public virtual ValueTask<NotificationEvent?> GetEventAsync(string eventId, CancellationToken cancellationToken = default) => Inner.GetEventAsync(eventId, cancellationToken);
    public virtual ValueTask<Delivery?> GetDeliveryAsync(string deliveryId, CancellationToken cancellationToken = default) => Inner.GetDeliveryAsync(deliveryId, cancellationToken);
    public virtual ValueTask<IReadOnlyList<DeliveryAttempt>> GetAttemptsAsync(string deliveryId, CancellationToken cancellationToken = default) => Inner.GetAttemptsAsync(deliveryId, cancellationToken);
    public virtual ValueTask<IReadOnlyList<Delivery>> QueryDeliveriesAsync(DeliveryQuery query, CancellationToken cancellationToken = default) => Inner.QueryDeliveriesAsync(query, cancellationToken);
    public virtual ValueTask<long> CountDeliveriesAsync(DeliveryQuery query, CancellationToken cancellationToken = default) => Inner.CountDeliveriesAsync(query, cancellationToken);
    public virtual ValueTask<bool> RedeliverAsync(string deliveryId, DateTimeOffset now, CancellationToken cancellationToken = default) => Inner.RedeliverAsync(deliveryId, now, cancellationToken);
    public virtual ValueTask<IReadOnlyList<NotificationEvent>> GetEventsAsync(DateTimeOffset from, DateTimeOffset to, string? afterId, int max, CancellationToken cancellationToken = default) => Inner.GetEventsAsync(from, to, afterId, max, cancellationToken);
    public virtual ValueTask<int> PurgeAsync(DateTimeOffset completedBefore, CancellationToken cancellationToken = default) => Inner.PurgeAsync(completedBefore, cancellationToken);
}
