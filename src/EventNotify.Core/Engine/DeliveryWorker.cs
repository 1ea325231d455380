using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using EventNotify.Diagnostics;

namespace EventNotify;

/// <summary>
/// One worker of a channel: takes deliveries from the queue, makes one attempt each, records the outcome and
/// schedules the retry. It never lets an exception escape: a misbehaving notifier or store costs one delivery an
/// attempt (or a lease period), never the worker.
/// </summary>
internal sealed class DeliveryWorker
{
    private readonly EventNotifyEngine _engine;
    private readonly ChannelPool _pool;
    private CancellationTokenSource _attemptCts;

    public DeliveryWorker(EventNotifyEngine engine, ChannelPool pool)
    {
        _engine = engine;
        _pool = pool;
        _attemptCts = NewAttemptCts();
    }

    public async Task RunAsync()
    {
        var reader = _pool.Queue.Reader;
        var abort = _engine.AbortToken;

        // Shutdown deadline: cancel the attempt in progress (registered once, not per attempt).
        using var registration = abort.UnsafeRegister(static s => ((DeliveryWorker)s!).CancelCurrentAttempt(), this);
        try
        {
            // ReadAsync, not WaitToReadAsync: a bounded channel wakes every WaitToReadAsync waiter on each write, so
            // with idle workers one delivery woke all of them (one took it, the rest found nothing and waited again).
            // ReadAsync hands the item to exactly one waiting worker.
            while (!abort.IsCancellationRequested)
            {
                if (!reader.TryRead(out var item))
                {
                    item = await reader.ReadAsync(abort).ConfigureAwait(false);
                }

                _pool.ItemTaken();

                await WaitForRecordingRoomAsync().ConfigureAwait(false);
                await ProcessAsync(item).ConfigureAwait(false);
            }
        }
        catch (ChannelClosedException)
        {
            // Completed and drained: the engine is stopping.
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
            // Whatever is still queued stays leased in _inFlight and is released by StopAsync.
        }
        finally
        {
            // The worker is done only when every outcome it sent is recorded: stopping counts on it.
            await Task.WhenAll(_recordings).ConfigureAwait(false);
            _attemptCts.Dispose();
        }
    }

    private void CancelCurrentAttempt()
    {
        try
        {
            Volatile.Read(ref _attemptCts).Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private CancellationTokenSource NewAttemptCts() => new(System.Threading.Timeout.InfiniteTimeSpan, _engine.Time);

    // Pooled state machines: one delivery's processing and attempt would otherwise allocate a box each time they wait.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ProcessAsync(DueDelivery item)
    {
        var d = item.Delivery;
        var interrupted = false;
        var handedOff = false;
        try
        {
            Subscription? subscription = null;
            var address = d.Address;
            if (d.SubscriptionId is not null)
            {
                subscription = await _engine.Subscriptions.GetAsync(d.SubscriptionId, CancellationToken.None).ConfigureAwait(false);
                if (subscription is not { Enabled: true })
                {
                    await _engine.CancelDeliveryAsync(d).ConfigureAwait(false);
                    return;
                }

                if (!StillMatches(subscription, d.EventType, item.Event.TenantId))
                {
                    // Changed since routing (another tenant, other patterns): this event is no longer its to receive,
                    // and its current address may now belong to someone else.
                    await _engine.CancelDeliveryAsync(d, "The subscription no longer matches this event: its TenantId or EventTypes changed after the delivery was created.").ConfigureAwait(false);
                    return;
                }

                if (!string.Equals(subscription.Channel, d.Channel, StringComparison.Ordinal))
                {
                    // Moved to another channel: its address is now for that channel (a URL sent to an SMS provider, a
                    // phone number to a webhook client), and this channel's delivery has no one left to go to.
                    await _engine.CancelDeliveryAsync(d, $"The subscription moved from the '{d.Channel}' channel to '{subscription.Channel}' after the delivery was created.").ConfigureAwait(false);
                    return;
                }

                address = subscription.Address;
            }

            var notification = new Notification(d, item.Event, subscription, address);
            var time = _engine.Time;
            var startedAt = time.GetUtcNow();
            var started = time.GetTimestamp();
            DeliveryResult result;
            using (var activity = StartSendActivity(item))
            {
                result = await AttemptAsync(notification).ConfigureAwait(false);
                // The metrics' values (succeeded, transient_failure, permanent_failure), and "deferred" for a delivery
                // the channel put off: not an attempt, so not an error either.
                activity?.SetTag("eventnotify.outcome", result.IsDeferred ? "deferred" : EventNotifyMetrics.OutcomeTag(result.Outcome));
                if (!result.IsSuccess && !result.IsDeferred)
                {
                    activity?.SetStatus(ActivityStatusCode.Error, result.Error);
                }
            }

            if (_engine.AbortToken.IsCancellationRequested && !result.IsSuccess)
            {
                // Interrupted by the shutdown deadline: not the receiver's fault, so not counted as an attempt.
                interrupted = true;
                return;
            }

            // From here RecordOutcomeAsync ends the delivery's time in flight, whatever happens.
            handedOff = true;
            var recording = _engine.RecordOutcomeAsync(_pool, d, result, startedAt, time.GetElapsedTime(started));
            if (recording.IsCompletedSuccessfully)
            {
                return;
            }

            // A durable store commits outcomes in groups; waiting for each commit before the next send would cap a
            // worker at one delivery per commit. The worker goes on while the outcome is written; the delivery stays
            // in flight (not claimable again) until it is recorded, and a crash before that re-sends it with the same id.
            TrackRecording(FinishRecordingAsync(recording, d.Id));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Log.ProcessingFailed(_engine.Logger, ex, d.Id);
        }
        finally
        {
            if (!interrupted && !handedOff)
            {
                _engine.InFlightDone(d.Id);
            }
        }
    }

    /// <summary>
    /// The most outcome writes one worker leaves outstanding before it waits for the oldest. 32 rather than 8: with
    /// the SQLite store committing event and deliveries in one write, 8 left the workers waiting on commits while
    /// deliveries queued (engine-sqlite/sqlite-baseline 0.43–0.51 with 8, 0.54–0.64 with 32, no better with 64). A
    /// crash can re-send, with the same delivery id, what was sent but not yet recorded: at most this many per worker.
    /// </summary>
    private const int MaxOutstandingRecordings = 32;

    private readonly Queue<Task> _recordings = new();

    private void TrackRecording(Task recording)
    {
        while (_recordings.TryPeek(out var oldest) && oldest.IsCompleted)
        {
            _recordings.Dequeue();
        }

        _recordings.Enqueue(recording);
    }

    private async Task FinishRecordingAsync(ValueTask recording, string deliveryId)
    {
        try
        {
            await recording.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Log.ProcessingFailed(_engine.Logger, ex, deliveryId);
        }
    }

    /// <summary>Bounds the outstanding outcome writes (memory, and how much a crash can make re-send).</summary>
    private Task WaitForRecordingRoomAsync() =>
        _recordings.Count >= MaxOutstandingRecordings ? _recordings.Dequeue() : Task.CompletedTask;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<DeliveryResult> AttemptAsync(Notification notification)
    {
        var timeout = _pool.Timeout;
        var cts = _attemptCts;
        if (timeout != System.Threading.Timeout.InfiniteTimeSpan)
        {
            cts.CancelAfter(timeout);
        }

        Task<DeliveryResult>? sending = null;
        try
        {
            var pending = _pool.Notifier.SendAsync(notification, cts.Token);
            if (pending.IsCompletedSuccessfully)
            {
                return Checked(pending.Result);
            }

            if (_pool.HonoursCancellation)
            {
                // The notifier ends its send when the token fires (timeout or shutdown): no guard needed.
                return Checked(await pending.ConfigureAwait(false));
            }

            // WaitAsync also bounds a notifier that ignores its token: the worker moves on, the send is abandoned.
            // The attempt's token already fires at the timeout (CancelAfter above) and at the shutdown deadline (the
            // registration in RunAsync), so waiting on it needs no second timer per attempt.
            sending = pending.AsTask();
            return Checked(await sending.WaitAsync(cts.Token).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (_engine.AbortToken.IsCancellationRequested && sending is { IsCompletedSuccessfully: true })
        {
            // The send finished as the shutdown deadline struck: its result stands (recording it avoids a re-send).
            return Checked(sending.Result);
        }
        catch (TimeoutException)
        {
            return DeliveryResult.Transient($"Timed out after {timeout.TotalSeconds:0.###} s.");
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested && !_engine.AbortToken.IsCancellationRequested)
        {
            return DeliveryResult.Transient($"Timed out after {timeout.TotalSeconds:0.###} s.");
        }
        catch (OperationCanceledException) when (_engine.AbortToken.IsCancellationRequested)
        {
            return DeliveryResult.Transient("Interrupted by shutdown.");
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return DeliveryResult.Transient($"{ex.GetType().Name}: {ex.Message}");
        }
        finally
        {
            if (!cts.TryReset())
            {
                var fresh = NewAttemptCts();
                Volatile.Write(ref _attemptCts, fresh);
                cts.Dispose();
                if (_engine.AbortToken.IsCancellationRequested)
                {
                    fresh.Cancel();
                }
            }
        }
    }

    private static bool StillMatches(Subscription subscription, string eventType, string? tenantId)
    {
        if (subscription.TenantId is { } tenant && !string.Equals(tenant, tenantId, StringComparison.Ordinal))
        {
            return false;
        }

        for (var i = 0; i < subscription.EventTypes.Count; i++)
        {
            if (EventTypePattern.MatchesValidated(subscription.EventTypes[i], eventType))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A <c>default(DeliveryResult)</c> (no outcome) is a notifier bug, never a success.</summary>
    private DeliveryResult Checked(DeliveryResult result) =>
        Enum.IsDefined(result.Outcome)
            ? result
            : DeliveryResult.Transient($"Notifier {_pool.Notifier.GetType().Name} returned an empty DeliveryResult; use DeliveryResult.Success(), Transient() or Permanent().");

    private static Activity? StartSendActivity(DueDelivery item)
    {
        if (!EventNotifyTelemetry.ActivitySource.HasListeners())
        {
            return null;
        }

        ActivityContext parent = default;
        if (item.Event.Extensions.TryGetValue("traceparent", out var traceparent))
        {
            ActivityContext.TryParse(traceparent, null, out parent);
        }

        var activity = EventNotifyTelemetry.ActivitySource.StartActivity("eventnotify.deliver " + item.Delivery.Channel, ActivityKind.Client, parent);
        activity?.SetTag("eventnotify.delivery.id", item.Delivery.Id);
        activity?.SetTag("eventnotify.event.type", item.Delivery.EventType);
        activity?.SetTag("eventnotify.channel", item.Delivery.Channel);
        return activity;
    }
}
