namespace EventNotify;

/// <summary>
/// A channel adapter: sends one notification and says how it went. Adapters never retry on their own; the engine
/// does. Exceptions and timeouts are treated as transient failures.
/// </summary>
public interface INotifier
{
    /// <summary>The channel name this adapter serves (lowercase, e.g. <c>webhook</c>).</summary>
    string Channel { get; }

    /// <summary>Sends <paramref name="notification"/>; honour <paramref name="cancellationToken"/> (attempt timeout, shutdown).</summary>
    ValueTask<DeliveryResult> SendAsync(Notification notification, CancellationToken cancellationToken);

    /// <summary>
    /// Whether <see cref="SendAsync"/> always ends promptly once its token is cancelled. When <see langword="false"/>
    /// (the default), the engine guards each attempt: if the send ignores the token, the worker gives up waiting at
    /// the attempt timeout and moves on. Return <see langword="true"/> only when every await in the send honours the
    /// token (as <see cref="System.Net.Http.HttpClient"/> does): the engine then awaits the send directly, which saves
    /// a task and a registration per attempt. If such a send hangs anyway, it holds its worker past the attempt timeout,
    /// and stopping the host waits for it a few seconds past <c>ShutdownTimeout</c>, logs an error and leaves it
    /// behind. The default value is <see langword="false"/>.
    /// </summary>
    bool HonoursCancellation => false;
}

/// <summary>What a notifier is asked to send: one attempt of one delivery.</summary>
public sealed class Notification
{
    internal Notification(Delivery delivery, NotificationEvent @event, Subscription? subscription, string address)
    {
        Delivery = delivery;
        Event = @event;
        Subscription = subscription;
        Address = address;
    }

    /// <summary>The delivery (its <see cref="EventNotify.Delivery.Id"/> is the idempotency key to send to the receiver).</summary>
    public Delivery Delivery { get; }

    /// <summary>The event.</summary>
    public NotificationEvent Event { get; }

    /// <summary>The subscription as it is now, or <see langword="null"/> for an explicit recipient.</summary>
    public Subscription? Subscription { get; }

    /// <summary>The address to send to.</summary>
    public string Address { get; }

    /// <summary>The delivery id, the same on every attempt.</summary>
    public string DeliveryId => Delivery.Id;

    /// <summary>The channel name.</summary>
    public string Channel => Delivery.Channel;

    /// <summary>This attempt's number, from 1.</summary>
    public int AttemptNumber => Delivery.Attempts + 1;
}

/// <summary>How one attempt went, as classified by the notifier.</summary>
public readonly record struct DeliveryResult
{
    private DeliveryResult(AttemptOutcome outcome, string? error, int? statusCode, TimeSpan? retryAfter, string? providerMessageId, bool disableSubscription, string? response, bool deferred = false)
    {
        IsDeferred = deferred;
        Outcome = outcome;
        Error = error;
        StatusCode = statusCode;
        RetryAfter = retryAfter;
        ProviderMessageId = providerMessageId;
        DisableSubscription = disableSubscription;
        Response = response;
    }

    /// <summary>The outcome.</summary>
    public AttemptOutcome Outcome { get; }

    /// <summary>The error (failures).</summary>
    public string? Error { get; }

    /// <summary>The status code, if any.</summary>
    public int? StatusCode { get; }

    /// <summary>The receiver's requested wait before the next attempt (transient failures).</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>The provider's message id (success).</summary>
    public string? ProviderMessageId { get; }

    /// <summary>Whether the subscription must be disabled (e.g. the endpoint answered 410 Gone).</summary>
    public bool DisableSubscription { get; }

    /// <summary>The first few KB of the response, kept in the attempt record.</summary>
    public string? Response { get; }

    /// <summary>
    /// Whether the notifier chose not to attempt at all (e.g. the endpoint's circuit is open): the delivery is
    /// rescheduled without using up an attempt and no attempt is recorded.
    /// </summary>
    public bool IsDeferred { get; }

    /// <summary>Whether the attempt succeeded.</summary>
    public bool IsSuccess => Outcome == AttemptOutcome.Succeeded;

    /// <summary>The receiver accepted the notification.</summary>
    public static DeliveryResult Success(string? providerMessageId = null, int? statusCode = null, string? response = null) =>
        new(AttemptOutcome.Succeeded, null, statusCode, null, providerMessageId, false, response);

    /// <summary>A failure worth retrying; <paramref name="retryAfter"/> is the receiver's requested wait, if it gave one.</summary>
    public static DeliveryResult Transient(string error, int? statusCode = null, TimeSpan? retryAfter = null, string? response = null) =>
        new(AttemptOutcome.TransientFailure, error, statusCode, retryAfter, null, false, response);

    /// <summary>
    /// Not attempted now, by the channel's own choice (an open circuit, a provider quota that resets at a known time):
    /// try again after <paramref name="retryAfter"/> (at least 1 second, at most <see cref="RetryOptions.MaxRetryAfter"/>),
    /// without counting an attempt and whatever the retry schedule says. A channel that defers must eventually attempt
    /// or give up (e.g. disable an endpoint that failed for days), or the delivery waits forever.
    /// </summary>
    public static DeliveryResult Deferred(string reason, TimeSpan retryAfter) =>
        new(AttemptOutcome.TransientFailure, reason, null, retryAfter, null, false, null, deferred: true);

    /// <summary>A failure retrying cannot fix: the delivery is dead-lettered at once.</summary>
    public static DeliveryResult Permanent(string error, int? statusCode = null, bool disableSubscription = false, string? response = null) =>
        new(AttemptOutcome.PermanentFailure, error, statusCode, null, null, disableSubscription, response);
}
