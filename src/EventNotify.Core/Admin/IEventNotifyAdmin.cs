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
    /// Redelivers every delivery matching <paramref name="query"/> when called, whose <see cref="DeliveryQuery.Status"/>
    /// must name a finished status (typically <see cref="DeliveryStatus.DeadLettered"/>); its Skip and Take are
    /// ignored. Each is redelivered once: one that fails again during the call is not taken a second time. Returns how
    /// many. The matching ids are read first (kept in memory, about 100 bytes each), then redelivered.
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
        cancellationToken.ThrowIfCancellationRequested(); // whatever the store (the in-memory one never looks)
        return store.QueryDeliveriesAsync(query, cancellationToken);
    }

    public ValueTask<long> CountDeliveriesAsync(DeliveryQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        query.ValidateFilters();
        cancellationToken.ThrowIfCancellationRequested();
        return store.CountDeliveriesAsync(query, cancellationToken);
    }

    public ValueTask<Delivery?> GetDeliveryAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(deliveryId);
        return store.GetDeliveryAsync(deliveryId, cancellationToken);
    }

    public ValueTask<IReadOnlyList<DeliveryAttempt>> GetAttemptsAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(deliveryId);
        return store.GetAttemptsAsync(deliveryId, cancellationToken);
    }

    public async ValueTask<bool> RedeliverAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(deliveryId);
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

        query.ValidateFilters();

        // The set is read first, then redelivered. Redelivering while paging let the scheduler send a delivery, see it
        // fail again and put it back among the pages still to read: it was sent again, and the call could go on for as
        // long as the deliveries kept failing. Newest first, new matches arrive in front of the pages, so none of the
        // deliveries matching at the start is missed; the set drops any seen twice.
        var ids = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var page = query with { Skip = 0, Take = 1000 };
        while (true)
        {
            var batch = await store.QueryDeliveriesAsync(page, cancellationToken).ConfigureAwait(false);
            foreach (var d in batch)
            {
                if (seen.Add(d.Id))
                {
                    ids.Add(d.Id);
                }
            }

            if (batch.Count < page.Take)
            {
                break;
            }

            page = page with { Skip = page.Skip + batch.Count };
        }

        var now = time.GetUtcNow();
        var count = 0;
        foreach (var id in ids)
        {
            if (await store.RedeliverAsync(id, now, cancellationToken).ConfigureAwait(false))
            {
                count++;
            }
        }

        if (count > 0)
        {
            engine.SignalDue(now);
        }

        return count;
    }

    public async ValueTask<int> ReplayAsync(string subscriptionId, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(subscriptionId);
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
