using System.Collections.Concurrent;
using EventNotify.Diagnostics;
using Microsoft.Extensions.Logging;

namespace EventNotify;

internal sealed partial class EventNotifyEngine
{
    internal EventNotifyOptions Options => _options;

    internal TimeProvider Time => _time;

    internal ILogger Logger => _logger;

    internal ISubscriptionStore Subscriptions => _subscriptions;

    internal CancellationToken AbortToken => _abort.Token;

    /// <summary>The jitter source for retry delays; tests replace it to make backoff exact.</summary>
    internal Func<double>? Randomizer { get; set; }

    internal void InFlightDone(string deliveryId)
    {
        _inFlight.TryRemove(deliveryId, out _);
        if (Volatile.Read(ref _claimedWhileInFlightCount) > 0 && _claimedWhileInFlight.TryRemove(deliveryId, out _))
        {
            // A claim leased this delivery while this copy was still in flight, and left it to this copy. If this copy's
            // outcome was stored before that lease, the lease would hold a retry back a whole LeaseDuration: the
            // scheduler gives it back (harmless when the outcome came after the lease, which it then cleared).
            Interlocked.Decrement(ref _claimedWhileInFlightCount);
            _releaseLater.Enqueue(deliveryId);
            SignalDue(DateTimeOffset.MinValue);
        }
    }

    // Deliveries a claim found in flight (see ScheduleLoopAsync), and those to give back once their copy is done.
    private readonly ConcurrentDictionary<string, byte> _claimedWhileInFlight = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _releaseLater = new();
    private int _claimedWhileInFlightCount;

    /// <summary>
    /// Non-zero while the scheduler claims due deliveries and takes them into "in flight". Outcomes stored meanwhile
    /// are noted in <see cref="_storedDuringClaim"/>: the claim may have read those deliveries before the outcome was
    /// written, and such a stale copy must not be sent (see ScheduleLoopAsync). Outside claims this costs one read.
    /// </summary>
    private int _claiming;

    private readonly ConcurrentDictionary<string, byte> _storedDuringClaim = new(StringComparer.Ordinal);

    /// <summary>Called after a delivery's new state is stored and before it leaves "in flight".</summary>
    private void NoteStored(string deliveryId)
    {
        if (Volatile.Read(ref _claiming) != 0)
        {
            _storedDuringClaim[deliveryId] = 0;
        }
    }

    /// <summary>How many deliveries wait in <paramref name="channel"/>'s queue (tests).</summary>
    internal int QueueDepth(string channel) => _pools[channel].QueueDepth;

    /// <summary>How many times routers have waited for room in <paramref name="channel"/>'s full queue (tests).</summary>
    internal int WriterWaits(string channel) => _pools[channel].WriterWaits;

    /// <summary>Completes once a router has waited for room in <paramref name="channel"/>'s full queue (tests).</summary>
    internal Task WriterWaitedAsync(string channel) => _pools[channel].WriterWaited.Task;

    /// <summary>
    /// Decides the delivery's next state from one attempt's result, and records both. Ends the delivery's time in
    /// flight in this process (always, once): right after the store write, before anyone is told, because from then on
    /// the scheduler may claim the retry, and a claim of a delivery still marked in flight is dropped (its lease would
    /// then hold the retry back a whole lease period).
    /// </summary>
    internal async ValueTask RecordOutcomeAsync(ChannelPool pool, Delivery d, DeliveryResult result, DateTimeOffset startedAt, TimeSpan duration)
    {
        var now = _time.GetUtcNow();
        if (result.IsDeferred)
        {
            await DeferAsync(pool, d, result, now).ConfigureAwait(false);
            return;
        }

        DeliveryUpdate update;
        DeliveryAttempt attempt;
        Delivery? stored = null;
        var attempts = d.Attempts + 1;
        try
        {
            (update, attempt) = Decide(pool, d, result, startedAt, duration, now, attempts);
            if (_memoryStore is { } memory)
            {
                stored = memory.RecordAttempt(attempt, update); // synchronous, and observers get the stored record
            }
            else
            {
                await _store.RecordAttemptAsync(attempt, update, CancellationToken.None).ConfigureAwait(false);
            }

            NoteStored(d.Id);
        }
        finally
        {
            InFlightDone(d.Id); // stored, or not (then the lease brings the delivery back later)
        }

        await AfterRecordedAsync(d, result, duration, now, attempts, update, attempt, stored).ConfigureAwait(false);
    }

    private static (DeliveryUpdate Update, DeliveryAttempt Attempt) Decide(ChannelPool pool, Delivery d, DeliveryResult result, DateTimeOffset startedAt, TimeSpan duration, DateTimeOffset now, int attempts)
    {
        DeliveryUpdate update;
        switch (result.Outcome)
        {
            case AttemptOutcome.Succeeded:
                update = new DeliveryUpdate(DeliveryStatus.Succeeded, attempts, now, now, null, result.StatusCode);
                break;
            case AttemptOutcome.TransientFailure when attempts < pool.Retry.MaxAttempts:
                var next = now + pool.Retry.GetDelay(attempts, result.RetryAfter);
                update = new DeliveryUpdate(DeliveryStatus.Pending, attempts, next, null, result.Error, result.StatusCode);
                break;
            default:
                update = new DeliveryUpdate(DeliveryStatus.DeadLettered, attempts, now, now, result.Error ?? "Failed.", result.StatusCode);
                break;
        }

        var attempt = new DeliveryAttempt
        {
            DeliveryId = d.Id,
            AttemptNumber = attempts,
            StartedAt = startedAt,
            Duration = duration,
            Outcome = result.Outcome,
            StatusCode = result.StatusCode,
            Error = result.Error,
            Response = result.Response,
            ProviderMessageId = result.ProviderMessageId,
        };

        return (update, attempt);
    }

    private async ValueTask AfterRecordedAsync(Delivery d, DeliveryResult result, TimeSpan duration, DateTimeOffset now, int attempts, DeliveryUpdate update, DeliveryAttempt attempt, Delivery? stored)
    {
        _metrics.Attempt(d.Channel, result.Outcome, duration);

        switch (update.Status)
        {
            case DeliveryStatus.Succeeded:
                _metrics.Final(d.Channel, DeliveryStatus.Succeeded, now - d.CreatedAt);
                Log.Delivered(_logger, d.Id, d.EventId, d.Channel, duration.TotalMilliseconds, attempts);
                break;
            case DeliveryStatus.Pending:
                Log.RetryScheduled(_logger, d.Id, d.Channel, attempts, result.StatusCode, result.Error, update.NextAttemptAt);
                SignalDue(update.NextAttemptAt);
                break;
            default:
                _metrics.Final(d.Channel, DeliveryStatus.DeadLettered, null);
                Log.DeadLettered(_logger, d.Id, d.Channel, attempts, result.StatusCode, result.Error);
                break;
        }

        if (result.DisableSubscription && d.SubscriptionId is not null)
        {
            var reason = $"Disabled by the {d.Channel} channel after delivery {d.Id}: {result.Error}";
            await _subscriptions.SetEnabledAsync(d.SubscriptionId, false, reason, CancellationToken.None).ConfigureAwait(false);
            Log.SubscriptionDisabled(_logger, d.SubscriptionId, reason);
        }

        // Last, so an observer sees every consequence of the outcome (a disabled subscription included).
        Notify(d, update, attempt, stored);
    }

    /// <summary>
    /// Reschedules a delivery the channel chose not to attempt: no attempt is recorded or counted. The wait is the
    /// channel's, but never shorter than the schedule's delay for the attempts made so far, so deferrals stay spread.
    /// </summary>
    private async ValueTask DeferAsync(ChannelPool pool, Delivery d, DeliveryResult result, DateTimeOffset now)
    {
        // In flight until the store write, as in RecordOutcomeAsync (a throw before it releases too).
        DateTimeOffset next;
        DeliveryUpdate update;
        try
        {
            next = now + pool.Retry.GetDeferral(result.RetryAfter);
            update = new DeliveryUpdate(DeliveryStatus.Pending, d.Attempts, next, null, result.Error, d.LastStatusCode);
            await _store.UpdateDeliveryAsync(d.Id, update, CancellationToken.None).ConfigureAwait(false);
            NoteStored(d.Id);
        }
        finally
        {
            InFlightDone(d.Id);
        }

        Log.Deferred(_logger, d.Id, d.Channel, result.Error, next);
        SignalDue(next);
        Notify(d, update, null);
    }

    /// <param name="d">The delivery before the update.</param>
    /// <param name="update">What was stored.</param>
    /// <param name="attempt">The attempt recorded with it, if any.</param>
    /// <param name="stored">The delivery as the store now holds it, when the store returned it (else made from <paramref name="d"/>).</param>
    internal void Notify(Delivery d, DeliveryUpdate update, DeliveryAttempt? attempt, Delivery? stored = null)
    {
        if (_observers.Length == 0)
        {
            return;
        }

        var updated = stored ?? InMemoryEventStore.Apply(d, update);
        foreach (var observer in _observers)
        {
            try
            {
                observer.OnDeliveryUpdated(updated, attempt);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // An observer's fault must not affect delivery.
            }
        }
    }

    internal async ValueTask CancelDeliveryAsync(Delivery d, string reason = "The subscription is disabled or removed.")
    {
        var now = _time.GetUtcNow();
        var update = new DeliveryUpdate(DeliveryStatus.Cancelled, d.Attempts, now, now, reason, null);
        await _store.UpdateDeliveryAsync(d.Id, update, CancellationToken.None).ConfigureAwait(false);
        _metrics.Final(d.Channel, DeliveryStatus.Cancelled, null);
        Notify(d, update, null);
        Log.Cancelled(_logger, d.Id, d.SubscriptionId ?? "");
    }
}
