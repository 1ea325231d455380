namespace EventNotify;

/// <summary>
/// The persistence behind the engine. <see cref="AppendAsync"/> is the durable point: an event is accepted once it
/// returns. Implementations: <see cref="InMemoryEventStore"/> (not durable) and the SQLite package
/// (<c>UseSqlite</c>); the contract is written so that a shared server store (PostgreSQL is planned) fits too.
/// Every method is safe to call concurrently; durable implementations are expected to batch concurrent writes.
/// </summary>
public interface IEventStore
{
    /// <summary>Stores a new, not yet routed event. Returns <see langword="false"/> when an event with that id exists (nothing changes).</summary>
    ValueTask<bool> AppendAsync(NotificationEvent @event, CancellationToken cancellationToken = default);

    /// <summary>Stores several events atomically; element <c>i</c> of the result says whether event <c>i</c> was new.</summary>
    ValueTask<bool[]> AppendManyAsync(IReadOnlyList<NotificationEvent> events, CancellationToken cancellationToken = default);

    /// <summary>
    /// Stores a new event as already routed together with its deliveries: what the engine does at publish, when it
    /// routes the event before storing it. Returns <see langword="false"/> when an event with that id exists (nothing
    /// changes). A durable store must do both in one transaction (one commit per published event instead of two).
    /// </summary>
    /// <remarks>
    /// The default implementation is not atomic: it calls <see cref="AppendAsync"/>, then <see cref="SaveRoutedAsync"/>.
    /// If the second call fails the event stays stored unrouted, and the engine's recovery pass routes it.
    /// </remarks>
    async ValueTask<bool> AppendRoutedAsync(NotificationEvent @event, IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(@event);
        ArgumentNullException.ThrowIfNull(deliveries);
        if (!await AppendAsync(@event, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        // The event is accepted from here on: the routing must not be abandoned because the caller gave up.
        await SaveRoutedAsync(@event.Id, deliveries, CancellationToken.None).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Stores several new events as already routed, each with its deliveries (<paramref name="deliveries"/>[i] belongs
    /// to <paramref name="events"/>[i]), atomically; element <c>i</c> of the result says whether event <c>i</c> was new.
    /// An event whose id exists changes nothing, its deliveries included. What <c>PublishManyAsync</c> uses when the
    /// store implements it itself.
    /// </summary>
    /// <remarks>
    /// The default implementation is not atomic: <see cref="AppendManyAsync"/>, then <see cref="SaveRoutedAsync"/> per new
    /// event; an event left unrouted by a failure between them is routed by the engine's recovery pass.
    /// </remarks>
    async ValueTask<bool[]> AppendRoutedManyAsync(IReadOnlyList<NotificationEvent> events, IReadOnlyList<IReadOnlyList<Delivery>> deliveries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(deliveries);
        if (deliveries.Count != events.Count)
        {
            throw new ArgumentException($"deliveries has {deliveries.Count} lists for {events.Count} events: one list per event.", nameof(deliveries));
        }

        var added = await AppendManyAsync(events, cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < added.Length; i++)
        {
            if (added[i])
            {
                await SaveRoutedAsync(events[i].Id, deliveries[i], CancellationToken.None).ConfigureAwait(false);
            }
        }

        return added;
    }

    /// <summary>
    /// Marks an event routed and stores its deliveries, atomically. Returns <see langword="false"/> (and stores nothing)
    /// when the event was already routed.
    /// </summary>
    ValueTask<bool> SaveRoutedAsync(string eventId, IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken = default);

    /// <summary>Stores extra deliveries (replay); deliveries whose id exists are left alone. Returns how many were new.</summary>
    ValueTask<int> AddDeliveriesAsync(IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken = default);

    /// <summary>Reads up to <paramref name="max"/> events that were accepted but not routed, ordered by id, after <paramref name="afterId"/>.</summary>
    ValueTask<IReadOnlyList<NotificationEvent>> GetUnroutedEventsAsync(string? afterId, int max, CancellationToken cancellationToken = default);

    /// <summary>
    /// Takes up to <paramref name="max"/> pending deliveries due at <paramref name="now"/> that no one holds, and holds
    /// them until <paramref name="leaseUntil"/> so no other reader takes them meanwhile. Returns them with their events.
    /// </summary>
    ValueTask<IReadOnlyList<DueDelivery>> ClaimDueDeliveriesAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int max, CancellationToken cancellationToken = default);

    /// <summary>Releases held deliveries unattempted (graceful shutdown) so they are due again at once.</summary>
    ValueTask ReleaseAsync(IReadOnlyList<string> deliveryIds, CancellationToken cancellationToken = default);

    /// <summary>
    /// Returns the earliest time a pending delivery becomes claimable (its next attempt or the end of its lease),
    /// or <see langword="null"/> when none is pending.
    /// </summary>
    ValueTask<DateTimeOffset?> GetNextDueTimeAsync(CancellationToken cancellationToken = default);

    /// <summary>Records one attempt and the delivery's new state (status, attempts, next attempt, last error), atomically; the lease ends.</summary>
    ValueTask RecordAttemptAsync(DeliveryAttempt attempt, DeliveryUpdate update, CancellationToken cancellationToken = default);

    /// <summary>Changes a delivery's state without an attempt (e.g. cancelled because its subscription was removed); the lease ends. Returns <see langword="false"/> when it does not exist.</summary>
    ValueTask<bool> UpdateDeliveryAsync(string deliveryId, DeliveryUpdate update, CancellationToken cancellationToken = default);

    /// <summary>Returns the event, or <see langword="null"/>.</summary>
    ValueTask<NotificationEvent?> GetEventAsync(string eventId, CancellationToken cancellationToken = default);

    /// <summary>Returns the delivery, or <see langword="null"/>.</summary>
    ValueTask<Delivery?> GetDeliveryAsync(string deliveryId, CancellationToken cancellationToken = default);

    /// <summary>Returns the attempts of a delivery, oldest first.</summary>
    ValueTask<IReadOnlyList<DeliveryAttempt>> GetAttemptsAsync(string deliveryId, CancellationToken cancellationToken = default);

    /// <summary>Returns one page of deliveries matching <paramref name="query"/>, newest first.</summary>
    ValueTask<IReadOnlyList<Delivery>> QueryDeliveriesAsync(DeliveryQuery query, CancellationToken cancellationToken = default);

    /// <summary>Counts deliveries matching <paramref name="query"/> (paging ignored).</summary>
    ValueTask<long> CountDeliveriesAsync(DeliveryQuery query, CancellationToken cancellationToken = default);

    /// <summary>
    /// Makes a finished delivery (dead-lettered, cancelled or succeeded) pending again, due at <paramref name="now"/>,
    /// with a fresh attempt budget. Returns <see langword="false"/> when it does not exist or is still pending.
    /// </summary>
    ValueTask<bool> RedeliverAsync(string deliveryId, DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>Reads up to <paramref name="max"/> events whose <see cref="NotificationEvent.Time"/> is in [<paramref name="from"/>, <paramref name="to"/>), ordered by id, after <paramref name="afterId"/>.</summary>
    ValueTask<IReadOnlyList<NotificationEvent>> GetEventsAsync(DateTimeOffset from, DateTimeOffset to, string? afterId, int max, CancellationToken cancellationToken = default);

    /// <summary>Deletes finished deliveries completed before <paramref name="completedBefore"/> (with their attempts), and events left with no delivery. Returns the deliveries deleted.</summary>
    ValueTask<int> PurgeAsync(DateTimeOffset completedBefore, CancellationToken cancellationToken = default);
}

/// <summary>A claimed delivery with its event.</summary>
/// <param name="Delivery">The delivery.</param>
/// <param name="Event">Its event.</param>
public readonly record struct DueDelivery(Delivery Delivery, NotificationEvent Event);

/// <summary>The new state of a delivery after an attempt.</summary>
/// <param name="Status">The new status.</param>
/// <param name="Attempts">The attempt count including this attempt.</param>
/// <param name="NextAttemptAt">When the next attempt is due (pending).</param>
/// <param name="CompletedAt">When it finished (final statuses).</param>
/// <param name="LastError">The error of this attempt, if it failed.</param>
/// <param name="LastStatusCode">The status code of this attempt, if any.</param>
public readonly record struct DeliveryUpdate(
    DeliveryStatus Status,
    int Attempts,
    DateTimeOffset NextAttemptAt,
    DateTimeOffset? CompletedAt,
    string? LastError,
    int? LastStatusCode);

/// <summary>A filter and page over deliveries, for the admin API.</summary>
public sealed record DeliveryQuery
{
    /// <summary>Only this status. The default value is <see langword="null"/> (any).</summary>
    public DeliveryStatus? Status { get; init; }

    /// <summary>Only this exact event type. The default value is <see langword="null"/> (any).</summary>
    public string? EventType { get; init; }

    /// <summary>Only this subscription. The default value is <see langword="null"/> (any).</summary>
    public string? SubscriptionId { get; init; }

    /// <summary>Only this channel. The default value is <see langword="null"/> (any).</summary>
    public string? Channel { get; init; }

    /// <summary>Only deliveries created at or after this time. The default value is <see langword="null"/>.</summary>
    public DateTimeOffset? CreatedFrom { get; init; }

    /// <summary>Only deliveries created before this time. The default value is <see langword="null"/>.</summary>
    public DateTimeOffset? CreatedTo { get; init; }

    /// <summary>How many to skip. The default value is 0.</summary>
    public int Skip { get; init; }

    /// <summary>Page size, 1 to 1000. The default value is 100.</summary>
    public int Take { get; init; } = 100;

    internal bool Matches(Delivery d) =>
        (Status is null || d.Status == Status) &&
        (EventType is null || d.EventType == EventType) &&
        (SubscriptionId is null || d.SubscriptionId == SubscriptionId) &&
        (Channel is null || d.Channel == Channel) &&
        (CreatedFrom is null || d.CreatedAt >= CreatedFrom) &&
        (CreatedTo is null || d.CreatedAt < CreatedTo);

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the field when paging or a filter is out of range (an undefined status, CreatedTo before CreatedFrom).</summary>
    public void Validate()
    {
        if (Skip < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Skip), Skip, "DeliveryQuery.Skip must be 0 or more.");
        }

        if (Take is < 1 or > 1000)
        {
            throw new ArgumentOutOfRangeException(nameof(Take), Take, "DeliveryQuery.Take must be between 1 and 1000.");
        }

        ValidateFilters();
    }

    /// <summary>Checks the filters alone (what counting and bulk redelivery use): a defined status, an ordered time range.</summary>
    internal void ValidateFilters()
    {
        if (Status is { } status && !Enum.IsDefined(status))
        {
            throw new ArgumentOutOfRangeException(nameof(Status), status, "DeliveryQuery.Status must be a defined DeliveryStatus or null.");
        }

        if (CreatedFrom is { } from && CreatedTo is { } to && to < from)
        {
            throw new ArgumentOutOfRangeException(nameof(CreatedTo), to, $"DeliveryQuery.CreatedTo ({to:O}) must not be before CreatedFrom ({from:O}).");
        }
    }
}
