using System.Threading.Channels;
using EventNotify.Diagnostics;

namespace EventNotify;

internal sealed partial class EventNotifyEngine
{
    /// <summary>The most events one router takes from the queue at once and routes concurrently.</summary>
    private const int RouteBatchSize = 64;

    private async Task RouteLoopAsync()
    {
        var reader = _routeQueue.Reader;
        var batch = new List<RouteWork>(RouteBatchSize);
        var routings = new Routing?[RouteBatchSize];
        var pending = new List<(int Index, Task<Routing?> Routing)>(RouteBatchSize);
        try
        {
            while (await reader.WaitToReadAsync(_abort.Token).ConfigureAwait(false))
            {
                // Route what is queued together: a durable store commits the concurrent writes as one group
                // (one fsync for the batch instead of one per event); an in-memory store completes them inline.
                while (batch.Count < RouteBatchSize && reader.TryRead(out var e))
                {
                    batch.Add(e);
                }

                for (var i = 0; i < batch.Count; i++)
                {
                    var routing = PrepareRoutingAsync(batch[i]);
                    if (routing.IsCompletedSuccessfully)
                    {
                        routings[i] = routing.Result;
                    }
                    else
                    {
                        pending.Add((i, routing.AsTask()));
                    }
                }

                foreach (var (index, routing) in pending)
                {
                    routings[index] = await routing.ConfigureAwait(false); // never throws: failures are logged, null
                }

                // Then handed to the workers one after the other, in order. Each of the batch's events waiting on its
                // own for room in a full queue made every hysteresis cycle wake up to a batch of waiters, one
                // thread-pool hand-off each (0.12 router waits per delivered webhook with the default queues, now 0.002).
                for (var i = 0; i < batch.Count; i++)
                {
                    if (routings[i] is { } routing)
                    {
                        await EnqueueRoutedAsync(batch[i].Event, routing).ConfigureAwait(false);
                    }

                    routings[i] = null;
                }

                pending.Clear();
                batch.Clear();
            }
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
            // Shutdown deadline: what is still queued stays unrouted in the store and is recovered on start.
        }
    }

    /// <summary>An event for the router: routed at publish (its deliveries are stored) or still to route (<see cref="Routing"/> is null).</summary>
    private readonly record struct RouteWork(NotificationEvent Event, Routing? Routing);

    /// <summary>The deliveries of one event, and when they are due.</summary>
    private readonly record struct Routing(Delivery[] Deliveries, bool Scheduled, DateTimeOffset Due);

    /// <summary>Matches the event's subscriptions and builds its deliveries (leased now unless scheduled for later).</summary>
    private async ValueTask<Routing> BuildRoutingAsync(NotificationEvent e, CancellationToken cancellationToken)
    {
        var subscriptions = await _subscriptions.MatchAsync(e.Type, e.TenantId, cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        var scheduled = e.NotBefore is { } nb && nb > now;
        var due = scheduled ? e.NotBefore!.Value : now;
        DateTimeOffset? lease = scheduled ? null : now + _options.LeaseDuration;

        var deliveries = new Delivery[subscriptions.Count + e.Recipients.Count];
        var n = 0;
        for (var i = 0; i < subscriptions.Count; i++) // not foreach: an interface's enumerator is an allocation per event
        {
            var s = subscriptions[i];
            deliveries[n++] = NewDelivery(e, s.Id, s.Channel, s.Address, Delivery.ForSubscription(e.Id, s.Id), now, due, lease);
        }

        foreach (var r in e.Recipients)
        {
            // A repeated recipient gets one delivery. One also reached by a matching subscription keeps its own: folding
            // it into the subscription's would lose it if that subscription were disabled, removed or moved before the
            // attempt (a trial found exactly that), and a recipient is promised the event whatever subscriptions say.
            var id = Delivery.ForRecipient(e.Id, r);
            if (Array.FindIndex(deliveries, 0, n, d => d.Id == id) < 0)
            {
                deliveries[n++] = NewDelivery(e, null, r.Channel, r.Address, id, now, due, lease);
            }
        }

        if (n < deliveries.Length)
        {
            Array.Resize(ref deliveries, n);
        }

        return new Routing(deliveries, scheduled, due);
    }

    /// <summary>
    /// Routes one event (or takes its routing from publish) and stores it: the deliveries to hand to the workers now,
    /// or <see langword="null"/> when there are none to hand over (scheduled for later, routed before, lease run out, or
    /// a failure, which is logged and leaves the event to the recovery pass).
    /// </summary>
    private async ValueTask<Routing?> PrepareRoutingAsync(RouteWork work)
    {
        var e = work.Event;
        try
        {
            Routing routing;
            if (work.Routing is { } done)
            {
                // Stored together with the event at publish, leased from then on. If that lease ran out while the event
                // waited in the route queue, the scheduler may already have claimed, sent and recorded its deliveries:
                // they are due in the store and the scheduler takes them from there (these copies could send twice).
                var now = _time.GetUtcNow();
                if (!done.Scheduled && done.Due + _options.LeaseDuration <= now)
                {
                    SignalDue(now);
                    return null;
                }

                routing = done;
            }
            else
            {
                routing = await BuildRoutingAsync(e, _abort.Token).ConfigureAwait(false);
                if (!await _store.SaveRoutedAsync(e.Id, routing.Deliveries, _abort.Token).ConfigureAwait(false))
                {
                    return null; // routed before (recovery raced with live traffic): its deliveries are already on their way.
                }
            }

            if (routing.Scheduled)
            {
                SignalDue(routing.Due);
                return null;
            }

            return routing;
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
            return null; // stopping: the event is recovered on the next start
        }
        catch (Exception ex)
        {
            // The event stays unrouted in the store; the scheduler starts a recovery pass that routes it again.
            Log.RoutingFailed(_logger, ex, e.Id);
            Volatile.Write(ref _recoveryRequested, 1);
            return null;
        }
    }

    /// <summary>Hands a routed event's deliveries to their channels' workers, waiting for room (back-pressure).</summary>
    private async ValueTask EnqueueRoutedAsync(NotificationEvent e, Routing routing)
    {
        try
        {
            foreach (var d in routing.Deliveries)
            {
                await EnqueueDeliveryAsync(new DueDelivery(d, e), _abort.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            // Stored and leased: the lease brings the deliveries back to the scheduler.
            Log.RoutingFailed(_logger, ex, e.Id);
            Volatile.Write(ref _recoveryRequested, 1);
        }
    }

    private static Delivery NewDelivery(NotificationEvent e, string? subscriptionId, string channel, string address, string id, DateTimeOffset now, DateTimeOffset due, DateTimeOffset? lease) => new()
    {
        Id = id,
        EventId = e.Id,
        EventType = e.Type,
        SubscriptionId = subscriptionId,
        Channel = channel,
        Address = address,
        TenantId = e.TenantId,
        Status = DeliveryStatus.Pending,
        CreatedAt = now,
        NextAttemptAt = due,
        LeasedUntil = lease,
    };

    /// <summary>Hands a leased delivery to its channel's workers, waiting for room (back-pressure).</summary>
    private ValueTask EnqueueDeliveryAsync(DueDelivery item, CancellationToken cancellationToken) =>
        _inFlight.TryAdd(item.Delivery.Id, 0)
            ? EnqueueTakenAsync(item, cancellationToken)
            : ValueTask.CompletedTask; // already queued or being sent in this process

    /// <summary>As <see cref="EnqueueDeliveryAsync"/> for a delivery the caller already put in flight.</summary>
    private async ValueTask EnqueueTakenAsync(DueDelivery item, CancellationToken cancellationToken)
    {
        if (!_pools.TryGetValue(item.Delivery.Channel, out var pool))
        {
            await CompleteWithoutNotifierAsync(item.Delivery).ConfigureAwait(false);
            return;
        }

        // If this wait is cancelled (shutdown), the id stays in _inFlight and is released in StopAsync.
        if (!pool.Queue.Writer.TryWrite(item))
        {
            await pool.WriteAsync(item, cancellationToken).ConfigureAwait(false);
        }
    }

    private async ValueTask CompleteWithoutNotifierAsync(Delivery d)
    {
        try
        {
            var now = _time.GetUtcNow();
            var error = $"No notifier is registered for channel '{d.Channel}' (registered: {_channelList}).";
            var attempt = new DeliveryAttempt { DeliveryId = d.Id, AttemptNumber = d.Attempts + 1, StartedAt = now, Outcome = AttemptOutcome.PermanentFailure, Error = error };
            var update = new DeliveryUpdate(DeliveryStatus.DeadLettered, d.Attempts + 1, now, now, error, null);
            await _store.RecordAttemptAsync(attempt, update, CancellationToken.None).ConfigureAwait(false);
            Notify(d, update, attempt);
            _metrics.Final(d.Channel, DeliveryStatus.DeadLettered, null);
            Log.DeadLettered(_logger, d.Id, d.Channel, d.Attempts + 1, null, error);
        }
        finally
        {
            _inFlight.TryRemove(d.Id, out _);
        }
    }

    private async Task RecoverUnroutedAsync()
    {
        var recovered = 0;
        try
        {
            string? after = null;
            while (!_abort.IsCancellationRequested)
            {
                var page = await _store.GetUnroutedEventsAsync(after, 256, _abort.Token).ConfigureAwait(false);
                if (page.Count == 0)
                {
                    break;
                }

                foreach (var e in page)
                {
                    await _routeQueue.Writer.WriteAsync(new RouteWork(e, null), _abort.Token).ConfigureAwait(false);
                    recovered++;
                }

                after = page[^1].Id;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
        {
            // Stopping: the rest is recovered on the next start.
        }
        catch (Exception ex)
        {
            Log.RoutingFailed(_logger, ex, "(recovery)");
        }

        if (recovered > 0)
        {
            Log.Recovered(_logger, recovered);
        }
    }
}
