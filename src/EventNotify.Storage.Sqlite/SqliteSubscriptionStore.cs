using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EventNotify.Storage.Sqlite;

/// <summary>
/// The durable <see cref="ISubscriptionStore"/> registered by <c>UseSqlite()</c>: subscriptions live in the
/// <c>subscriptions</c> table of the store's file, so those added at run time (and the disabled state the engine sets
/// on a 410 Gone) survive a restart or a crash.
/// </summary>
/// <remarks>
/// <para>Reads and matching are served by an <see cref="InMemorySubscriptionStore"/> (Core's index) that is loaded
/// from the table once, when the host starts (<see cref="SqliteStoreLifecycle"/>, before the engine seeds its
/// configured subscriptions and the scheduler claims the deliveries a previous process left) or on first use.</para>
/// <para>Writes are validated, then stored through the store's group-commit writer, and only after the commit applied
/// to the in-memory index: a caller whose write returned knows it is on disk, and a write that failed changed
/// nothing. One gate orders the writes, so the table and the index always agree.</para>
/// </remarks>
[DebuggerDisplay("SqliteSubscriptionStore {_store.DatabasePath,nq}")]
internal sealed class SqliteSubscriptionStore : ISubscriptionStore
{
    private readonly SqliteEventStore _store;
    private readonly ISubscriptionValidator[] _validators;
    private readonly ILogger _logger;

    // No validators here: this class validates before it writes, and loading must not refuse what was stored (e.g.
    // a subscription whose channel package was removed since: its deliveries are then cancelled by the engine, visibly).
    private readonly InMemorySubscriptionStore _index = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile bool _loaded;

    public SqliteSubscriptionStore(SqliteEventStore store, IEnumerable<ISubscriptionValidator>? validators = null, ILogger<SqliteSubscriptionStore>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _validators = validators?.ToArray() ?? [];
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>Loads the stored subscriptions into the index, once (opens the store if needed).</summary>
    public async ValueTask LoadAsync(CancellationToken cancellationToken = default)
    {
        if (_loaded)
        {
            return;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_loaded)
            {
                await LoadCoreAsync(cancellationToken).ConfigureAwait(false);
                _loaded = true;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private async ValueTask LoadCoreAsync(CancellationToken cancellationToken)
    {
        var rows = await _store.ReadSubscriptionsAsync(cancellationToken).ConfigureAwait(false);
        var loaded = 0;
        foreach (var (id, json) in rows)
        {
            try
            {
                var subscription = JsonSerializer.Deserialize(json, SqliteJsonContext.Default.Subscription)
                    ?? throw new JsonException("The row holds JSON null.");
                await _index.AddAsync(subscription, cancellationToken).ConfigureAwait(false);
                loaded++;
            }
            catch (Exception ex) when (ex is JsonException or SubscriptionValidationException)
            {
                // Only the id and the kind of failure: the row holds secrets and the messages may quote addresses.
                Log.SubscriptionUnreadable(_logger, id, ex.GetType().Name);
            }
        }

        Log.SubscriptionsLoaded(_logger, loaded, _store.DatabasePath);
    }

    /// <inheritdoc />
    public async ValueTask<Subscription> AddAsync(Subscription subscription, CancellationToken cancellationToken = default)
    {
        subscription = SubscriptionRules.Snapshot(subscription);
        Validate(subscription);
        await LoadAsync(cancellationToken).ConfigureAwait(false);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (await _index.GetAsync(subscription.Id, cancellationToken).ConfigureAwait(false) is not null
                || !await _store.InsertSubscriptionAsync(subscription, cancellationToken).ConfigureAwait(false))
            {
                throw new SubscriptionValidationException($"Subscription.Id '{subscription.Id}' already exists: ids must be unique (use UpdateAsync to change it).", nameof(Subscription.Id));
            }

            return await _index.AddAsync(subscription, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask<Subscription> UpdateAsync(Subscription subscription, CancellationToken cancellationToken = default)
    {
        subscription = SubscriptionRules.Snapshot(subscription);
        Validate(subscription);
        await LoadAsync(cancellationToken).ConfigureAwait(false);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (await _index.GetAsync(subscription.Id, cancellationToken).ConfigureAwait(false) is null
                || !await _store.UpdateSubscriptionAsync(subscription, cancellationToken).ConfigureAwait(false))
            {
                throw new KeyNotFoundException($"Subscription '{subscription.Id}' does not exist.");
            }

            return await _index.UpdateAsync(subscription, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> SetEnabledAsync(string id, bool enabled, string? reason = null, CancellationToken cancellationToken = default) =>
        ChangeAsync(id, s => s with { Enabled = enabled, DisabledReason = enabled ? null : reason }, index => index.SetEnabledAsync(id, enabled, reason), cancellationToken);

    /// <inheritdoc />
    public ValueTask<bool> SetFailingSinceAsync(string id, DateTimeOffset? since, CancellationToken cancellationToken = default) =>
        ChangeAsync(id, s => s.FailingSince == since ? s : s with { FailingSince = since }, index => index.SetFailingSinceAsync(id, since), cancellationToken);

    /// <summary>
    /// Changes one stored subscription: the file first, then the in-memory copy (by <paramref name="applyToIndex"/>,
    /// without validating again). A <paramref name="change"/> that returns the subscription itself writes nothing.
    /// </summary>
    private async ValueTask<bool> ChangeAsync(string id, Func<Subscription, Subscription> change, Func<InMemorySubscriptionStore, ValueTask<bool>> applyToIndex, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        await LoadAsync(cancellationToken).ConfigureAwait(false);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (await _index.GetAsync(id, cancellationToken).ConfigureAwait(false) is not { } existing)
            {
                return false;
            }

            var changed = change(existing);
            if (ReferenceEquals(changed, existing))
            {
                return true;
            }

            if (!await _store.UpdateSubscriptionAsync(changed, cancellationToken).ConfigureAwait(false))
            {
                return false;
            }

            return await applyToIndex(_index).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask<bool> RemoveAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        await LoadAsync(cancellationToken).ConfigureAwait(false);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (await _index.GetAsync(id, cancellationToken).ConfigureAwait(false) is null)
            {
                return false;
            }

            await _store.DeleteSubscriptionAsync(id, cancellationToken).ConfigureAwait(false);
            return await _index.RemoveAsync(id, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask<Subscription?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        await LoadAsync(cancellationToken).ConfigureAwait(false);
        return await _index.GetAsync(id, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Subscription>> ListAsync(CancellationToken cancellationToken = default)
    {
        await LoadAsync(cancellationToken).ConfigureAwait(false);
        return await _index.ListAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Subscription>> MatchAsync(string eventType, string? tenantId, CancellationToken cancellationToken = default)
    {
        await LoadAsync(cancellationToken).ConfigureAwait(false);
        return await _index.MatchAsync(eventType, tenantId, cancellationToken).ConfigureAwait(false);
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
