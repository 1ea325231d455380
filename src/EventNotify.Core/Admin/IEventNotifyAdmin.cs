namespace EventNotify;

/// <summary>
/// Operations on what the engine did, whatever the store: list and count deliveries (dead letters, pending), read
/// a delivery's attempts, redeliver, replay a time range to a subscription. Registered by <c>AddEventNotify()</c>.
/// </summary>
public interface IEventNotifyAdmin
{
    /// <summary>Returns one page of deliveries matching <paramref name="query"/>, newest first.</summary>
    ValueTask<IReadOnlyList<Delivery>> ListDeliveriesAsync(DeliveryQuery query, CancellationToken cancellationToken = default);

    /// <summary>Counts deliveries matching <paramref name="query"/>.</summary>
    ValueTask<long> CountDeliveriesAsync(DeliveryQuery query, CancellationToken cancellationToken = default);

    /// <summary>Returns the delivery, or <see langword="null"/>.</summary>
    ValueTask<Delivery?> GetDeliveryAsync(string deliveryId, CancellationToken cancellationToken = default);

    /// <summary>Returns every attempt of a delivery, oldest first.</summary>
    ValueTask<IReadOnlyList<DeliveryAttempt>> GetAttemptsAsync(string deliveryId, CancellationToken cancellationToken = default);

    /// <summary>Makes a finished delivery pending again (same id, fresh attempt budget), due now. Returns <see langword="false"/> when it does not exist or is still pending.</summary>
    ValueTask<bool> RedeliverAsync(string deliveryId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Redelivers every delivery matching <paramref name="query"/>, whose <see cref="DeliveryQuery.Status"/> must name a
    /// finished status (typically <see cref="DeliveryStatus.DeadLettered"/>). Returns how many.
    /// </summary>
    ValueTask<int> RedeliverAsync(DeliveryQuery query, CancellationToken cancellationToken = default);

    /// <summary>
    /// Sends again every event whose time is in [<paramref name="from"/>, <paramref name="to"/>) and which the
    /// subscription's patterns match, as new deliveries (new ids, so receivers see them as new). Returns how many.
    /// </summary>
    ValueTask<int> ReplayAsync(string subscriptionId, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default);
}

/// <summary>The store-agnostic admin API over <see cref="IEventStore"/>.</summary>
internal sealed class EventNotifyAdmin(IEventStore store, ISubscriptionStore subscriptions, EventNotifyEngine engine, TimeProvider time) : IEventNotifyAdmin
{
    public ValueTask<IReadOnlyList<Delivery>> ListDeliveriesAsync(DeliveryQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        query.Validate();
        return store.QueryDeliveriesAsync(query, cancellationToken);
    }

    public ValueTask<long> CountDeliveriesAsync(DeliveryQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        return store.CountDeliveriesAsync(query, cancellationToken);
    }

    public ValueTask<Delivery?> GetDeliveryAsync(string deliveryId, CancellationToken cancellationToken = default) =>
        store.GetDeliveryAsync(deliveryId, cancellationToken);

    public ValueTask<IReadOnlyList<DeliveryAttempt>> GetAttemptsAsync(string deliveryId, CancellationToken cancellationToken = default) =>
        store.GetAttemptsAsync(deliveryId, cancellationToken);

    public async ValueTask<bool> RedeliverAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var done = await store.RedeliverAsync(deliveryId, now, cancellationToken).ConfigureAwait(false);
        if (done)
        {
            engine.SignalDue(now);
        }

        return done;
    }

    public async ValueTask<int> RedeliverAsync(DeliveryQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Status is null or DeliveryStatus.Pending)
        {
            throw new ArgumentException(
                "DeliveryQuery.Status must be DeadLettered, Cancelled or Succeeded for a bulk redelivery (was " + (query.Status?.ToString() ?? "null") + "): say which finished deliveries to send again.",
                nameof(query));
        }

        var now = time.GetUtcNow();
        var count = 0;
        var page = query with { Skip = 0, Take = 500 };
        while (true)
        {
            // Redelivered ones become Pending and drop out of a status-filtered query, so page by skipping the others.
            var batch = await store.QueryDeliveriesAsync(page, cancellationToken).ConfigureAwait(false);
            var skipped = 0;
            foreach (var d in batch)
            {
                if (d.Status != DeliveryStatus.Pending && await store.RedeliverAsync(d.Id, now, cancellationToken).ConfigureAwait(false))
                {
                    count++;
                }
                else
                {
                    skipped++;
                }
            }

            if (batch.Count < page.Take)
            {
                break;
            }

            page = page with { Skip = page.Skip + skipped };
        }

        if (count > 0)
        {
            engine.SignalDue(now);
        }

        return count;
    }

    public async ValueTask<int> ReplayAsync(string subscriptionId, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default)
    {
        var subscription = await subscriptions.GetAsync(subscriptionId, cancellationToken).ConfigureAwait(false)
            ?? throw new KeyNotFoundException($"Subscription '{subscriptionId}' does not exist.");
        if (to <= from)
        {
            throw new ArgumentOutOfRangeException(nameof(to), to, "ReplayAsync: 'to' must be after 'from'.");
        }

        var now = time.GetUtcNow();
        var replayId = Guid.CreateVersion7().ToString("N");
        var count = 0;
        string? after = null;
        while (true)
        {
            var events = await store.GetEventsAsync(from, to, after, 500, cancellationToken).ConfigureAwait(false);
            if (events.Count == 0)
            {
                break;
            }

            var deliveries = events
                .Where(e => subscription.Matches(e.Type) && (subscription.TenantId is null || subscription.TenantId == e.TenantId))
                .Select(e => new Delivery
                {
                    Id = Delivery.CreateId(e.Id, $"replay:{replayId}:{subscription.Id}"),
                    EventId = e.Id,
                    EventType = e.Type,
                    SubscriptionId = subscription.Id,
                    Channel = subscription.Channel,
                    Address = subscription.Address,
                    TenantId = e.TenantId,
                    Status = DeliveryStatus.Pending,
                    CreatedAt = now,
                    NextAttemptAt = now,
                })
                .ToArray();
            count += await store.AddDeliveriesAsync(deliveries, cancellationToken).ConfigureAwait(false);
            after = events[^1].Id;
        }

        if (count > 0)
        {
            engine.SignalDue(now);
        }

        return count;
    }
}
