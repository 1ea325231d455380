namespace EventNotify.Webhooks.Tests.Infrastructure;

/// <summary>
/// The in-memory subscription store, plus a signal when a subscription is disabled: the engine disables a
/// subscription after it reports the outcome, so tests await this instead of polling.
/// </summary>
public sealed class SignallingSubscriptionStore(IEnumerable<ISubscriptionValidator> validators) : ISubscriptionStore
{
    private readonly InMemorySubscriptionStore _inner = new(validators);
    private readonly TaskCompletionSource<string> _disabled = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes with the id of the first subscription disabled.</summary>
    public Task<string> FirstDisabled => _disabled.Task;

    public ValueTask<Subscription> AddAsync(Subscription subscription, CancellationToken cancellationToken = default) => _inner.AddAsync(subscription, cancellationToken);

    public ValueTask<Subscription> UpdateAsync(Subscription subscription, CancellationToken cancellationToken = default) => _inner.UpdateAsync(subscription, cancellationToken);

    public async ValueTask<bool> SetEnabledAsync(string id, bool enabled, string? reason = null, CancellationToken cancellationToken = default)
    {
        var found = await _inner.SetEnabledAsync(id, enabled, reason, cancellationToken);
        if (found && !enabled)
        {
            _disabled.TrySetResult(id);
        }

        return found;
    }

    public ValueTask<bool> RemoveAsync(string id, CancellationToken cancellationToken = default) => _inner.RemoveAsync(id, cancellationToken);

    public ValueTask<Subscription?> GetAsync(string id, CancellationToken cancellationToken = default) => _inner.GetAsync(id, cancellationToken);

    public ValueTask<IReadOnlyList<Subscription>> ListAsync(CancellationToken cancellationToken = default) => _inner.ListAsync(cancellationToken);

    public ValueTask<IReadOnlyList<Subscription>> MatchAsync(string eventType, string? tenantId, CancellationToken cancellationToken = default) => _inner.MatchAsync(eventType, tenantId, cancellationToken);
}
