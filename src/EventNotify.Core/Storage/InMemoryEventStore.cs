namespace EventNotify;

/// <summary>
/// A thread-safe, non-durable <see cref="IEventStore"/> for tests and for hosts that can afford to lose pending
/// work on restart. One lock guards everything; each operation is a few dictionary or sorted-set steps.
/// </summary>
/// <remarks>
/// It keeps the last <see cref="InMemoryEventStoreOptions.MaxFinishedDeliveries"/> succeeded or cancelled deliveries
/// (1,000 by default) and every dead letter; see that option for what it means for duplicate detection.
/// </remarks>
public sealed class InMemoryEventStore : IEventStore
{
    private readonly Lock _lock = new();
    private readonly int? _maxFinished;

    // Succeeded or cancelled deliveries in the order they finished, with the completion time that identifies that
    // finish (a delivery redelivered and finished again is in here twice; the older entry no longer matches).
    private readonly Queue<(DeliveryEntry Entry, long CompletedTicks)> _finished = new();

    // Events routed to no delivery at all, in the order they were routed: bounded by the same limit.
    private readonly Queue<string> _unmatched = new();

    /// <summary>Creates a store with the default <see cref="InMemoryEventStoreOptions"/>.</summary>
    public InMemoryEventStore()
        : this(new InMemoryEventStoreOptions())
    {
    }

    /// <summary>Creates a store with the given options.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="InMemoryEventStoreOptions.MaxFinishedDeliveries"/> is negative.</exception>
    public InMemoryEventStore(InMemoryEventStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxFinishedDeliveries < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxFinishedDeliveries,
                "InMemoryEventStoreOptions.MaxFinishedDeliveries must be 0 or more, or null for no limit.");
        }

        _maxFinished = options.MaxFinishedDeliveries;
    }

    private readonly Dictionary<string, EventEntry> _events = new(StringComparer.Ordinal);

    // One entry per delivery holding its current state, its attempts and its event's entry: an outcome is one lookup
    // here instead of one per dictionary (deliveries, attempts, events), each a likely cache miss on a busy host.
    private readonly Dictionary<string, DeliveryEntry> _deliveries = new(StringComparer.Ordinal);

    // Pending deliveries by the time they become claimable: max(NextAttemptAt, LeasedUntil), then id ordinally (the
    // tuple's default comparer would compare ids with the current culture, ICU on Linux). A binary heap with lazy
    // deletion: a delivery whose state changes gets a new entry and its old one goes stale, dropped when it reaches the
    // top or when stale entries outnumber live ones. A sorted set paid a tree removal (and a node allocation per add)
    // on every outcome; the heap's add is a sift in one array and nothing is removed on the hot path.
    private readonly PriorityQueue<DeliveryEntry, (long Due, string Id)> _due = new(DueOrder.Instance);

    // Deliveries now Pending: the live entries of _due (every other entry is stale).
    private int _pendingCount;

    /// <inheritdoc />
    public ValueTask<bool> AppendAsync(NotificationEvent @event, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return ValueTask.FromResult(AppendLocked(@event));
        }
    }

    /// <inheritdoc />
    public ValueTask<bool[]> AppendManyAsync(IReadOnlyList<NotificationEvent> events, CancellationToken cancellationToken = default)
    {
        var result = new bool[events.Count];
        lock (_lock)
        {
            for (var i = 0; i < events.Count; i++)
            {
                result[i] = AppendLocked(events[i]);
            }
        }

        return ValueTask.FromResult(result);
    }

    // AppendRoutedAsync is deliberately left to the interface's default: the engine routes at publish only for a
    // store that implements it itself. Here nothing is saved by one write instead of two, and routing on the
    // router lets one publisher and the router use two cores (routing at publish halved engine-memory's rate).

    private bool AppendLocked(NotificationEvent e)
    {
        // Unrouted events are found by their Routed flag (GetUnroutedEventsAsync, at start): no ordered index to
        // maintain on every publish and route.
        return _events.TryAdd(e.Id, new EventEntry(e));
    }

    /// <inheritdoc />
    public ValueTask<bool> SaveRoutedAsync(string eventId, IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (!_events.TryGetValue(eventId, out var entry) || entry.Routed)
            {
                return ValueTask.FromResult(false);
            }

            entry.Routed = true;
            for (var i = 0; i < deliveries.Count; i++) // not foreach: an interface's enumerator is an allocation per event
            {
                var d = deliveries[i];
                // Added to the count, not set: a replay may have given the event deliveries before it was routed.
                if (AddDeliveryLocked(d, entry))
                {
                    entry.DeliveryCount++;
                }
            }

            if (entry.DeliveryCount == 0 && _maxFinished is { } max)
            {
                _unmatched.Enqueue(eventId);
                while (_unmatched.Count > max)
                {
                    var id = _unmatched.Dequeue();
                    if (_events.TryGetValue(id, out var old) && old.Routed && old.DeliveryCount <= 0)
                    {
                        _events.Remove(id);
                    }
                }
            }
        }

        return ValueTask.FromResult(true);
    }

    /// <inheritdoc />
    public ValueTask<int> AddDeliveriesAsync(IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken = default)
    {
        var added = 0;
        lock (_lock)
        {
            foreach (var d in deliveries)
            {
                var entry = _events.GetValueOrDefault(d.EventId);
                if (AddDeliveryLocked(d, entry))
                {
                    added++;
                    if (entry is not null)
                    {
                        entry.DeliveryCount++;
                    }
                }
            }
        }

        return ValueTask.FromResult(added);
    }

    private bool AddDeliveryLocked(Delivery d, EventEntry? e)
    {
        var entry = new DeliveryEntry(d, e);
        if (!_deliveries.TryAdd(d.Id, entry))
        {
            return false;
        }

        if (d.Status == DeliveryStatus.Pending)
        {
            AddDueLocked(entry);
        }

        return true;
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<NotificationEvent>> GetUnroutedEventsAsync(string? afterId, int max, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            var page = new List<NotificationEvent>();
            foreach (var entry in _events.Values)
            {
                if (!entry.Routed && (afterId is null || string.CompareOrdinal(entry.Event.Id, afterId) > 0))
                {
                    page.Add(entry.Event);
                }
            }

            page.Sort(static (a, b) => string.CompareOrdinal(a.Id, b.Id));
            return ValueTask.FromResult<IReadOnlyList<NotificationEvent>>(page.Take(max).ToArray());
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DueDelivery>> ClaimDueDeliveriesAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int max, CancellationToken cancellationToken = default)
    {
        List<DueDelivery>? claimed = null;
        lock (_lock)
        {
            var nowTicks = now.UtcTicks;
            while ((claimed?.Count ?? 0) < max && PeekDueLocked() is { } first)
            {
                if (first.Due > nowTicks)
                {
                    break;
                }

                _due.Dequeue();
                var entry = first.Entry;
                var d = entry.Delivery with { LeasedUntil = leaseUntil };
                entry.Delivery = d;
                _due.Enqueue(entry, (DueTicks(d), d.Id)); // still pending (now leased): the count stays
                (claimed ??= []).Add(new DueDelivery(d, (EventOf(entry) ?? throw new KeyNotFoundException($"Event '{d.EventId}' of delivery '{d.Id}' does not exist.")).Event));
            }
        }

        return ValueTask.FromResult<IReadOnlyList<DueDelivery>>(claimed ?? (IReadOnlyList<DueDelivery>)[]);
    }

    /// <inheritdoc />
    public ValueTask ReleaseAsync(IReadOnlyList<string> deliveryIds, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            foreach (var id in deliveryIds)
            {
                if (_deliveries.TryGetValue(id, out var entry) && entry.Delivery.Status == DeliveryStatus.Pending)
                {
                    ReplaceLocked(entry, entry.Delivery with { LeasedUntil = null });
                }
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<DateTimeOffset?> GetNextDueTimeAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return ValueTask.FromResult<DateTimeOffset?>(PeekDueLocked() is { } first ? new DateTimeOffset(first.Due, TimeSpan.Zero) : null);
        }
    }

    /// <inheritdoc />
    public ValueTask RecordAttemptAsync(DeliveryAttempt attempt, DeliveryUpdate update, CancellationToken cancellationToken = default)
    {
        RecordAttempt(attempt, update);
        return ValueTask.CompletedTask;
    }

    /// <summary>As <see cref="RecordAttemptAsync"/>, returning the delivery as now stored (the engine hands it to observers instead of a copy of its own).</summary>
    internal Delivery RecordAttempt(DeliveryAttempt attempt, DeliveryUpdate update)
    {
        lock (_lock)
        {
            if (!_deliveries.TryGetValue(attempt.DeliveryId, out var entry))
            {
                throw new KeyNotFoundException($"Delivery '{attempt.DeliveryId}' does not exist.");
            }

            entry.Attempts = entry.Attempts switch
            {
                null => attempt,
                List<DeliveryAttempt> list => Add(list, attempt),
                var one => new List<DeliveryAttempt>(4) { (DeliveryAttempt)one, attempt },
            };
            ReplaceLocked(entry, Apply(entry.Delivery, update));
            return entry.Delivery;
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> UpdateDeliveryAsync(string deliveryId, DeliveryUpdate update, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (!_deliveries.TryGetValue(deliveryId, out var entry))
            {
                return ValueTask.FromResult(false);
            }

            ReplaceLocked(entry, Apply(entry.Delivery, update));
            return ValueTask.FromResult(true);
        }
    }

    internal static Delivery Apply(Delivery d, DeliveryUpdate u) => d with
    {
        Status = u.Status,
        Attempts = u.Attempts,
        NextAttemptAt = u.NextAttemptAt,
        CompletedAt = u.CompletedAt,
        LastError = u.LastError ?? (u.Status == DeliveryStatus.Succeeded ? null : d.LastError),
        LastStatusCode = u.LastStatusCode,
        LeasedUntil = null,
    };

    /// <inheritdoc />
    public ValueTask<NotificationEvent?> GetEventAsync(string eventId, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return ValueTask.FromResult(_events.TryGetValue(eventId, out var e) ? e.Event : null);
        }
    }

    /// <inheritdoc />
    public ValueTask<Delivery?> GetDeliveryAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return ValueTask.FromResult(_deliveries.GetValueOrDefault(deliveryId)?.Delivery);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DeliveryAttempt>> GetAttemptsAsync(string deliveryId, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return ValueTask.FromResult<IReadOnlyList<DeliveryAttempt>>(_deliveries.GetValueOrDefault(deliveryId)?.Attempts switch
            {
                List<DeliveryAttempt> list => list.ToArray(),
                DeliveryAttempt one => [one],
                _ => [],
            });
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Delivery>> QueryDeliveriesAsync(DeliveryQuery query, CancellationToken cancellationToken = default)
    {
        query.Validate();
        lock (_lock)
        {
            return ValueTask.FromResult<IReadOnlyList<Delivery>>(_deliveries.Values.Select(e => e.Delivery).Where(query.Matches)
                .OrderByDescending(d => d.CreatedAt).ThenBy(d => d.Id, StringComparer.Ordinal)
                .Skip(query.Skip).Take(query.Take).ToArray());
        }
    }

    /// <inheritdoc />
    public ValueTask<long> CountDeliveriesAsync(DeliveryQuery query, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return ValueTask.FromResult((long)_deliveries.Values.Count(e => query.Matches(e.Delivery)));
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> RedeliverAsync(string deliveryId, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (!_deliveries.TryGetValue(deliveryId, out var entry) || entry.Delivery.Status == DeliveryStatus.Pending)
            {
                return ValueTask.FromResult(false);
            }

            ReplaceLocked(entry, entry.Delivery with { Status = DeliveryStatus.Pending, Attempts = 0, NextAttemptAt = now, LeasedUntil = null, CompletedAt = null });
            return ValueTask.FromResult(true);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<NotificationEvent>> GetEventsAsync(DateTimeOffset from, DateTimeOffset to, string? afterId, int max, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return ValueTask.FromResult<IReadOnlyList<NotificationEvent>>(_events.Values
                .Select(e => e.Event)
                .Where(e => e.Time >= from && e.Time < to && (afterId is null || string.CompareOrdinal(e.Id, afterId) > 0))
                .OrderBy(e => e.Id, StringComparer.Ordinal)
                .Take(max)
                .ToArray());
        }
    }

    /// <inheritdoc />
    public ValueTask<int> PurgeAsync(DateTimeOffset completedBefore, CancellationToken cancellationToken = default)
    {
        var purged = 0;
        lock (_lock)
        {
            foreach (var entry in _deliveries.Values.Where(e => e.Delivery.Status != DeliveryStatus.Pending && e.Delivery.CompletedAt < completedBefore).ToArray())
            {
                RemoveLocked(entry);
                purged++;
            }

            // Routed events that never had a delivery are finished too once they are old enough.
            foreach (var entry in _events.Values.Where(e => e.Routed && e.DeliveryCount <= 0 && e.Event.Time < completedBefore).ToArray())
            {
                _events.Remove(entry.Event.Id);
            }
        }

        return ValueTask.FromResult(purged);
    }

    private void ReplaceLocked(DeliveryEntry entry, Delivery updated)
    {
        if (entry.Delivery.Status == DeliveryStatus.Pending)
        {
            _pendingCount--; // its entry in _due is stale from now on
        }

        entry.Delivery = updated;
        if (updated.Status == DeliveryStatus.Pending)
        {
            AddDueLocked(entry);
            return;
        }

        if (_maxFinished is { } max && updated.Status is DeliveryStatus.Succeeded or DeliveryStatus.Cancelled)
        {
            _finished.Enqueue((entry, updated.CompletedAt?.UtcTicks ?? 0));
            while (_finished.Count > max)
            {
                DropFinishedLocked(_finished.Dequeue());
            }
        }

        CompactDueLocked();
    }

    /// <summary>Drops a finished delivery past the limit, its attempts, and its event once nothing of it is left.</summary>
    private void DropFinishedLocked((DeliveryEntry Entry, long CompletedTicks) finished)
    {
        var (entry, ticks) = finished;
        var d = entry.Delivery;
        if (entry.Removed
            || d.Status is not (DeliveryStatus.Succeeded or DeliveryStatus.Cancelled)
            || (d.CompletedAt?.UtcTicks ?? 0) != ticks)
        {
            return; // purged, or redelivered since (its newer finish has its own entry)
        }

        RemoveLocked(entry);
    }

    /// <summary>Removes a delivery with its attempts, and its event once nothing of it is left.</summary>
    private void RemoveLocked(DeliveryEntry entry)
    {
        var d = entry.Delivery;
        _deliveries.Remove(d.Id);
        entry.Removed = true;
        var e = EventOf(entry);
        if (e is not null && --e.DeliveryCount <= 0 && e.Routed && _events.Remove(d.EventId, out var removed) && !ReferenceEquals(removed, e))
        {
            _events[d.EventId] = removed; // another event stored under the id since (never expected): keep it
        }
    }

    /// <summary>The entry of <paramref name="entry"/>'s event: the one it was stored with, else the one stored now.</summary>
    private EventEntry? EventOf(DeliveryEntry entry) =>
        entry.Event ??= _events.GetValueOrDefault(entry.Delivery.EventId);

    private void AddDueLocked(DeliveryEntry entry)
    {
        _pendingCount++;
        var d = entry.Delivery;
        _due.Enqueue(entry, (DueTicks(d), d.Id));
        CompactDueLocked();
    }

    private static List<DeliveryAttempt> Add(List<DeliveryAttempt> list, DeliveryAttempt attempt)
    {
        list.Add(attempt);
        return list;
    }

    /// <summary>The earliest live entry of <see cref="_due"/> (stale entries on top are dropped), or null when none is pending.</summary>
    private (long Due, DeliveryEntry Entry)? PeekDueLocked()
    {
        while (_due.TryPeek(out var entry, out var key))
        {
            if (IsLive(entry, key.Due))
            {
                return (key.Due, entry);
            }

            _due.Dequeue(); // stale: the delivery finished, was purged, or has a newer entry
        }

        return null;
    }

    /// <summary>Rebuilds <see cref="_due"/> from its live entries once stale ones outnumber them (amortised O(1) per change).</summary>
    private void CompactDueLocked()
    {
        if (_due.Count <= (2 * _pendingCount) + 1024)
        {
            return;
        }

        var live = new List<(DeliveryEntry, (long, string))>(_pendingCount);
        var seen = new HashSet<DeliveryEntry>(_pendingCount, ReferenceEqualityComparer.Instance);
        foreach (var (entry, key) in _due.UnorderedItems)
        {
            if (IsLive(entry, key.Due) && seen.Add(entry))
            {
                live.Add((entry, key));
            }
        }

        _due.Clear();
        _due.EnqueueRange(live);
    }

    /// <summary>Whether a heap entry is the current one of a delivery still stored and pending.</summary>
    private static bool IsLive(DeliveryEntry entry, long due) =>
        !entry.Removed && entry.Delivery.Status == DeliveryStatus.Pending && DueTicks(entry.Delivery) == due;

    private static long DueTicks(Delivery d) =>
        d.LeasedUntil is { } lease && lease > d.NextAttemptAt ? lease.UtcTicks : d.NextAttemptAt.UtcTicks;

    private sealed class DueOrder : IComparer<(long Due, string Id)>
    {
        public static readonly DueOrder Instance = new();

        public int Compare((long Due, string Id) x, (long Due, string Id) y)
        {
            var byTime = x.Due.CompareTo(y.Due);
            return byTime != 0 ? byTime : string.CompareOrdinal(x.Id, y.Id);
        }
    }

    private sealed class DeliveryEntry(Delivery delivery, EventEntry? e)
    {
        public Delivery Delivery { get; set; } = delivery;

        /// <summary>Its one <see cref="DeliveryAttempt"/>, or a <c>List&lt;DeliveryAttempt&gt;</c> once it has several (most deliveries succeed at the first).</summary>
        public object? Attempts { get; set; }

        /// <summary>Its event's entry, once known (a replayed delivery may be stored before its event).</summary>
        public EventEntry? Event { get; set; } = e;

        /// <summary>Removed from the store (purged or dropped): its entries in the due heap are stale.</summary>
        public bool Removed { get; set; }
    }

    private sealed class EventEntry(NotificationEvent e)
    {
        public NotificationEvent Event { get; } = e;

        public bool Routed { get; set; }

        public int DeliveryCount { get; set; }
    }
}
