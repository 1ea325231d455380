namespace EventNotify;

/// <summary>
/// Keeps subscriptions and answers "who wants this event?" quickly. The default implementation is
/// <see cref="InMemorySubscriptionStore"/>.
/// </summary>
public interface ISubscriptionStore
{
    /// <summary>Adds a subscription after validating it. Throws <see cref="SubscriptionValidationException"/> for bad input or a duplicate id.</summary>
    ValueTask<Subscription> AddAsync(Subscription subscription, CancellationToken cancellationToken = default);

    /// <summary>Replaces an existing subscription (same id) after validating it. Throws <see cref="KeyNotFoundException"/> when it does not exist.</summary>
    ValueTask<Subscription> UpdateAsync(Subscription subscription, CancellationToken cancellationToken = default);

    /// <summary>Enables or disables a subscription, keeping <paramref name="reason"/>. Returns <see langword="false"/> when it does not exist.</summary>
    ValueTask<bool> SetEnabledAsync(string id, bool enabled, string? reason = null, CancellationToken cancellationToken = default);

    /// <summary>Removes a subscription. Returns <see langword="false"/> when it did not exist.</summary>
    ValueTask<bool> RemoveAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Returns the subscription with <paramref name="id"/>, or <see langword="null"/>.</summary>
    ValueTask<Subscription?> GetAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>
    /// Sets <see cref="Subscription.FailingSince"/> of subscription <paramref name="id"/> (<see langword="null"/>
    /// clears it), leaving every other field as stored; returns <see langword="false"/> if there is no such
    /// subscription. The default implementation reads and updates the subscription; stores override it to do both
    /// in one step, so a concurrent update by the host is not overwritten.
    /// </summary>
    async ValueTask<bool> SetFailingSinceAsync(string id, DateTimeOffset? since, CancellationToken cancellationToken = default)
    {
        if (await GetAsync(id, cancellationToken).ConfigureAwait(false) is not { } existing)
        {
            return false;
        }

        if (existing.FailingSince != since)
        {
            await UpdateAsync(existing with { FailingSince = since }, cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>Lists every subscription.</summary>
    ValueTask<IReadOnlyList<Subscription>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Returns the enabled subscriptions whose patterns match <paramref name="eventType"/> and whose tenant is
    /// <paramref name="tenantId"/> or none. Each subscription appears once.
    /// </summary>
    ValueTask<IReadOnlyList<Subscription>> MatchAsync(string eventType, string? tenantId, CancellationToken cancellationToken = default);
}

/// <summary>
/// Validates subscriptions before they are stored. Channel packages register one to check their addresses and
/// secrets (e.g. the webhook channel refuses private-network URLs). Throw <see cref="SubscriptionValidationException"/>.
/// </summary>
public interface ISubscriptionValidator
{
    /// <summary>Validates <paramref name="subscription"/>; called for every subscription whatever its channel.</summary>
    void Validate(Subscription subscription);
}
