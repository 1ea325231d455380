using System.Collections.Frozen;

namespace EventNotify;

/// <summary>
/// A thread-safe in-memory <see cref="ISubscriptionStore"/>. Reads by id (from a concurrent dictionary) and matching
/// (over an immutable index by tenant and pattern) take no lock, except the first match after a change, which rebuilds
/// the index under the write lock; <see cref="ListAsync"/> takes that lock for a consistent list. Matching costs a
/// few dictionary look-ups (one per segment of the event type, for the event's tenant and for subscriptions of no
/// tenant), however many subscriptions and tenants there are.
/// </summary>
public sealed class InMemorySubscriptionStore : ISubscriptionStore
{
    private readonly ISubscriptionValidator[] _validators;
    private readonly Lock _writeLock = new();

    // Written under _writeLock (so a rebuild sees one consistent state), read without it.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Subscription> _byId = new(StringComparer.Ordinal);

    // Rebuilt lazily on the first read after a change, so adding thousands of subscriptions costs one rebuild.
    private volatile SubscriptionIndex? _index = SubscriptionIndex.Empty;

    /// <summary>Creates an empty store that validates with <paramref name="validators"/>.</summary>
    public InMemorySubscriptionStore(IEnumerable<ISubscriptionValidator>? validators = null)
    {
        _validators = validators?.ToArray() ?? [];
    }

    /// <inheritdoc />
    public ValueTask<Subscription> AddAsync(Subscription subscription, CancellationToken cancellationToken = default)
    {
        subscription = SubscriptionRules.Snapshot(subscription);
        Validate(subscription);
        lock (_writeLock)
        {
            if (!_byId.TryAdd(subscription.Id, subscription))
            {
                throw new SubscriptionValidationException($"Subscription.Id '{subscription.Id}' already exists: ids must be unique (use UpdateAsync to change it).", nameof(Subscription.Id));
            }

            _index = null;
        }

        return ValueTask.FromResult(subscription);
    }

    /// <inheritdoc />
    public ValueTask<Subscription> UpdateAsync(Subscription subscription, CancellationToken cancellationToken = default)
    {
        subscription = SubscriptionRules.Snapshot(subscription);
        Validate(subscription);
        lock (_writeLock)
        {
            if (!_byId.ContainsKey(subscription.Id))
            {
                throw new KeyNotFoundException($"Subscription '{subscription.Id}' does not exist.");
            }

            _byId[subscription.Id] = subscription;
            _index = null;
        }

        return ValueTask.FromResult(subscription);
    }

    /// <inheritdoc />
    public ValueTask<bool> SetEnabledAsync(string id, bool enabled, string? reason = null, CancellationToken cancellationToken = default)
    {
        lock (_writeLock)
        {
            if (!_byId.TryGetValue(id, out var existing))
            {
                return ValueTask.FromResult(false);
            }

            _byId[id] = existing with { Enabled = enabled, DisabledReason = enabled ? null : reason };
            _index = null;
        }

        return ValueTask.FromResult(true);
    }

    /// <inheritdoc />
    public ValueTask<bool> SetFailingSinceAsync(string id, DateTimeOffset? since, CancellationToken cancellationToken = default)
    {
        lock (_writeLock)
        {
            if (!_byId.TryGetValue(id, out var existing))
            {
                return ValueTask.FromResult(false);
            }

            if (existing.FailingSince != since)
            {
                // The index holds the subscription objects: rebuilt on next use (a failure streak starts or ends rarely).
                _byId[id] = existing with { FailingSince = since };
                _index = null;
            }
        }

        return ValueTask.FromResult(true);
    }

    /// <inheritdoc />
    public ValueTask<bool> RemoveAsync(string id, CancellationToken cancellationToken = default)
    {
        lock (_writeLock)
        {
            if (!_byId.TryRemove(id, out _))
            {
                return ValueTask.FromResult(false);
            }

            _index = null;
        }

        return ValueTask.FromResult(true);
    }

    /// <inheritdoc />
    public ValueTask<Subscription?> GetAsync(string id, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(_byId.GetValueOrDefault(id)); // not through the index: a change followed by reads by id rebuilds nothing

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Subscription>> ListAsync(CancellationToken cancellationToken = default)
    {
        lock (_writeLock)
        {
            return ValueTask.FromResult<IReadOnlyList<Subscription>>(_byId.Values.ToArray());
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Subscription>> MatchAsync(string eventType, string? tenantId, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Index.Match(eventType, tenantId));

    private SubscriptionIndex Index
    {
        get
        {
            var index = _index;
            if (index is not null)
            {
                return index;
            }

            lock (_writeLock)
            {
                return _index ??= new SubscriptionIndex(_byId.Values);
            }
        }
    }

    private void Validate(Subscription subscription)
    {
        SubscriptionRules.Validate(subscription);
        foreach (var validator in _validators)
        {
            validator.Validate(subscription);
        }
    }
}

/// <summary>Validation shared by every subscription store.</summary>
public static class SubscriptionRules
{
    /// <summary>
    /// Returns a copy of <paramref name="subscription"/> that owns its lists, so a caller changing its own list after
    /// adding the subscription cannot change (or break) what the store holds.
    /// </summary>
    public static Subscription Snapshot(Subscription subscription)
    {
        ArgumentNullException.ThrowIfNull(subscription);
        return subscription with
        {
            EventTypes = subscription.EventTypes?.ToArray()!,
            Secrets = subscription.Secrets?.ToArray()!,
            Metadata = subscription.Metadata is null ? null! : new Dictionary<string, string>(subscription.Metadata, StringComparer.Ordinal),
        };
    }

    /// <summary>Validates the channel-independent fields of <paramref name="subscription"/>.</summary>
    public static void Validate(Subscription subscription)
    {
        ArgumentNullException.ThrowIfNull(subscription);
        if (!EventRules.IsValidId(subscription.Id))
        {
            throw new SubscriptionValidationException($"Subscription.Id '{EventRules.Truncate(subscription.Id)}' is invalid: it must be 1 to 256 characters with no '.', whitespace or control characters.", nameof(Subscription.Id));
        }

        if (subscription.EventTypes is null || subscription.EventTypes.Count == 0)
        {
            throw new SubscriptionValidationException("Subscription.EventTypes is required: give at least one pattern ('order.paid', 'order.*' or '*').", nameof(Subscription.EventTypes));
        }

        foreach (var pattern in subscription.EventTypes)
        {
            EventTypePattern.Parse(pattern);
        }

        if (!EventRules.IsValidChannelName(subscription.Channel))
        {
            throw new SubscriptionValidationException($"Subscription.Channel '{subscription.Channel}' is invalid: it must be a channel name of lowercase letters, digits, '_' and '-'.", nameof(Subscription.Channel));
        }

        if (string.IsNullOrWhiteSpace(subscription.Address) || subscription.Address.Length > 2048 || EventRules.HasControlCharacters(subscription.Address))
        {
            throw new SubscriptionValidationException(
                string.IsNullOrWhiteSpace(subscription.Address)
                    ? "Subscription.Address is required."
                    : "Subscription.Address is invalid: it must be at most 2048 characters with no control characters (CR/LF injection is refused).",
                nameof(Subscription.Address));
        }

        if (subscription.TenantId is not null && !EventRules.IsValidId(subscription.TenantId))
        {
            throw new SubscriptionValidationException("Subscription.TenantId is invalid: it must be 1 to 256 characters with no '.', whitespace or control characters.", nameof(Subscription.TenantId));
        }

        if (subscription.Secrets is null)
        {
            throw new SubscriptionValidationException("Subscription.Secrets must not be null (use an empty list).", nameof(Subscription.Secrets));
        }
    }
}

/// <summary>
/// An immutable index of the enabled subscriptions: those of no tenant, and those of each tenant, each by exact type,
/// by prefix and for <c>*</c>. An event's match is its tenant's entries plus the tenantless ones, never a scan of other
/// tenants' subscriptions.
/// </summary>
internal sealed class SubscriptionIndex
{
    public static readonly SubscriptionIndex Empty = new([]);

    private readonly PatternIndex _tenantless;
    private readonly Dictionary<string, PatternIndex> _byTenant;

    public SubscriptionIndex(IEnumerable<Subscription> subscriptions)
    {
        var tenantless = new PatternIndex.Builder();
        var byTenant = new Dictionary<string, PatternIndex.Builder>(StringComparer.Ordinal);
        foreach (var s in subscriptions)
        {
            if (!s.Enabled)
            {
                continue;
            }

            var builder = tenantless;
            if (s.TenantId is { } tenant && !byTenant.TryGetValue(tenant, out builder))
            {
                byTenant[tenant] = builder = new PatternIndex.Builder();
            }

            builder.Add(s);
        }

        _tenantless = tenantless.Build();
        _byTenant = byTenant.ToDictionary(kv => kv.Key, kv => kv.Value.Build(), StringComparer.Ordinal);
    }

    public IReadOnlyList<Subscription> Match(string eventType, string? tenantId)
    {
        var tenantless = _tenantless.Match(eventType);
        if (tenantId is null || !_byTenant.TryGetValue(tenantId, out var index))
        {
            return tenantless;
        }

        var own = index.Match(eventType);
        if (own.Count == 0 || tenantless.Count == 0)
        {
            return own.Count == 0 ? tenantless : own;
        }

        // Disjoint: a subscription has one tenant or none.
        var both = new Subscription[tenantless.Count + own.Count];
        for (var i = 0; i < tenantless.Count; i++)
        {
            both[i] = tenantless[i];
        }

        for (var i = 0; i < own.Count; i++)
        {
            both[tenantless.Count + i] = own[i];
        }

        return both;
    }

    /// <summary>The subscriptions of one tenant (or of none) by exact type, by prefix and for <c>*</c>.</summary>
    private sealed class PatternIndex
    {
        private readonly FrozenDictionary<string, Subscription[]> _exact;
        private readonly FrozenDictionary<string, Subscription[]> _prefix;
        private readonly Subscription[] _all;

        private PatternIndex(FrozenDictionary<string, Subscription[]> exact, FrozenDictionary<string, Subscription[]> prefix, Subscription[] all)
        {
            _exact = exact;
            _prefix = prefix;
            _all = all;
        }

        public IReadOnlyList<Subscription> Match(string eventType)
        {
            // Collect candidates: the exact type, each proper prefix ("a.b.c" → "a.b", "a"), and "*". No lambda or
            // capturing local function here: the compiler would allocate their shared closure on every call, fast path
            // included (72 B per published event in the allocation profile).
            List<Subscription>? result = null;
            Subscription[]? single = null;
            var sources = 0;

            Add(_exact.GetValueOrDefault(eventType), ref single, ref result, ref sources);
            var end = eventType.LastIndexOf('.');
            var lookup = _prefix.GetAlternateLookup<ReadOnlySpan<char>>();
            while (end > 0)
            {
                if (lookup.TryGetValue(eventType.AsSpan(0, end), out var byPrefix))
                {
                    Add(byPrefix, ref single, ref result, ref sources);
                }

                end = eventType.LastIndexOf('.', end - 1);
            }

            Add(_all, ref single, ref result, ref sources);

            if (sources == 0)
            {
                return [];
            }

            // One source: the shared array as is (no allocation).
            if (sources == 1 && result is null && single is not null)
            {
                return single;
            }

            result ??= [];
            if (single is not null)
            {
                result.InsertRange(0, single);
            }

            return Deduplicated(result);

            static void Add(Subscription[]? subs, ref Subscription[]? single, ref List<Subscription>? result, ref int sources)
            {
                if (subs is null || subs.Length == 0)
                {
                    return;
                }

                sources++;
                if (single is null && result is null)
                {
                    single = subs;
                    return;
                }

                result ??= [];
                result.AddRange(subs);
            }
        }

        /// <summary>
        /// One listing overlapping patterns ('order.*' and 'order.paid') must appear once. A method of its own: a lambda
        /// capturing a local of <see cref="Match"/> would allocate its closure on every call, fast path included.
        /// </summary>
        private static List<Subscription> Deduplicated(List<Subscription> result)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            result.RemoveAll(s => !seen.Add(s.Id));
            return result;
        }

        public sealed class Builder
        {
            private readonly Dictionary<string, List<Subscription>> _exact = new(StringComparer.Ordinal);
            private readonly Dictionary<string, List<Subscription>> _prefix = new(StringComparer.Ordinal);
            private readonly List<Subscription> _all = [];

            public void Add(Subscription s)
            {
                foreach (var raw in s.EventTypes.Distinct(StringComparer.Ordinal))
                {
                    var p = EventTypePattern.Parse(raw);
                    var list = p.Kind switch
                    {
                        EventTypePatternKind.All => _all,
                        EventTypePatternKind.Exact => GetList(_exact, p.Value),
                        _ => GetList(_prefix, p.Value),
                    };
                    list.Add(s);
                }
            }

            public PatternIndex Build() => new(
                _exact.ToFrozenDictionary(kv => kv.Key, kv => kv.Value.ToArray(), StringComparer.Ordinal),
                _prefix.ToFrozenDictionary(kv => kv.Key, kv => kv.Value.ToArray(), StringComparer.Ordinal),
                _all.ToArray());

            private static List<Subscription> GetList(Dictionary<string, List<Subscription>> d, string key)
            {
                if (!d.TryGetValue(key, out var list))
                {
                    d[key] = list = [];
                }

                return list;
            }
        }
    }
}
