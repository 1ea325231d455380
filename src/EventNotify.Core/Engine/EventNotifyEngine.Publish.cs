using System.Diagnostics;
using System.Threading.Channels;
using EventNotify.Diagnostics;

namespace EventNotify;

internal sealed partial class EventNotifyEngine
{
    public async ValueTask<PublishReceipt> PublishAsync(NotificationEvent @event, CancellationToken cancellationToken = default)
    {
        // Before anything is accepted, whatever the store (one that ignores the token would otherwise store the event).
        cancellationToken.ThrowIfCancellationRequested();

        // Started first, so the trace context the event records (see Prepare) is this span's: the deliveries' spans
        // are its children, not its siblings (or, outside any trace, roots of traces of their own).
        using var activity = StartActivity("eventnotify.publish", ActivityKind.Producer);
        var e = Prepare(@event);
        activity?.SetTag("eventnotify.event.type", e.Type);
        activity?.SetTag("eventnotify.event.id", e.Id);
        ThrowIfNotAccepting();
        await WaitForRoomAsync(1, cancellationToken).ConfigureAwait(false);

        // Routed here, before the store sees the event, so the event and its deliveries are stored in one write (one
        // commit on a durable store instead of two). If matching fails the event is stored unrouted and the router
        // tries again (and after it, the recovery pass).
        // Not before start: the event is then stored unrouted and routed once the subscriptions are in the store.
        var routing = _routeAtPublish && Volatile.Read(ref _subscriptionsStored) ? await TryRouteAtPublishAsync(e, cancellationToken).ConfigureAwait(false) : null;
        bool isNew;
        if (routing is null)
        {
            isNew = await _store.AppendAsync(e, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            try
            {
                isNew = await _store.AppendRoutedAsync(e, routing.Value.Deliveries, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Atomic: nothing of the event is stored. Recovery looks anyway, in case a store got that wrong.
                Volatile.Write(ref _recoveryRequested, 1);
                throw;
            }
        }

        _metrics.Published(!isNew);
        if (isNew)
        {
            await EnqueueForRoutingAsync(new RouteWork(e, routing)).ConfigureAwait(false);
        }

        return new PublishReceipt(e.Id, !isNew);
    }

    public async ValueTask<IReadOnlyList<PublishReceipt>> PublishManyAsync(IEnumerable<NotificationEvent> events, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        cancellationToken.ThrowIfCancellationRequested();
        using var activity = StartActivity("eventnotify.publish", ActivityKind.Producer); // one span for the batch, the parent of its deliveries
        var prepared = events.Select((e, i) => e is null
            ? throw new EventValidationException($"events[{i}] is null: every element of the batch must be an event; nothing of the batch was accepted.", nameof(events))
            : PrepareInBatch(e, i)).ToArray();
        if (prepared.Length == 0)
        {
            return [];
        }

        activity?.SetTag("eventnotify.batch.size", prepared.Length);

        // An id repeated within the batch is idempotent, as across calls: the first occurrence is the event.
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var unique = new List<NotificationEvent>(prepared.Length);
        foreach (var e in prepared)
        {
            if (ids.Add(e.Id))
            {
                unique.Add(e);
            }
        }

        ThrowIfNotAccepting();
        await WaitForRoomAsync(Math.Min(unique.Count, _options.RouteQueueCapacity), cancellationToken).ConfigureAwait(false);
        // As PublishAsync: routed here and stored with their deliveries in one write when the store can; if matching
        // fails for any event, the batch is stored unrouted and the router routes it.
        var routings = _routeManyAtPublish && Volatile.Read(ref _subscriptionsStored) ? await TryRouteAllAtPublishAsync(unique, cancellationToken).ConfigureAwait(false) : null;
        bool[] added;
        if (routings is null)
        {
            added = await _store.AppendManyAsync(unique, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            try
            {
                added = await _store.AppendRoutedManyAsync(unique, routings.Select(r => (IReadOnlyList<Delivery>)r.Deliveries).ToArray(), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Volatile.Write(ref _recoveryRequested, 1);
                throw;
            }
        }

        var isNew = new Dictionary<string, bool>(unique.Count, StringComparer.Ordinal);
        for (var i = 0; i < unique.Count; i++)
        {
            isNew[unique[i].Id] = added[i];
            _metrics.Published(!added[i]);
            if (added[i])
            {
                await EnqueueForRoutingAsync(new RouteWork(unique[i], routings?[i])).ConfigureAwait(false);
            }
        }

        var receipts = new PublishReceipt[prepared.Length];
        for (var i = 0; i < prepared.Length; i++)
        {
            var id = prepared[i].Id;
            var first = isNew[id];
            isNew[id] = false; // later occurrences in the batch are duplicates
            receipts[i] = new PublishReceipt(id, !first);
        }

        return receipts;
    }

    /// <summary>As <see cref="Prepare"/>, with a refusal naming which event of the batch it is about.</summary>
    private NotificationEvent PrepareInBatch(NotificationEvent e, int index)
    {
        try
        {
            return Prepare(e);
        }
        catch (EventValidationException ex)
        {
            // Message without ArgumentException's " (Parameter '...')" suffix, which the new exception adds again.
            var message = ex.Message;
            var suffix = $" (Parameter '{ex.ParamName}')";
            if (message.EndsWith(suffix, StringComparison.Ordinal))
            {
                message = message[..^suffix.Length];
            }

            throw new EventValidationException($"events[{index}] (id '{EventRules.Truncate(e.Id ?? "")}'): {message}", ex.ParamName ?? nameof(NotificationEvent));
        }
    }

    private NotificationEvent Prepare(NotificationEvent e)
    {
        if (e is not null)
        {
            e = Own(e);
        }

        EventRules.ValidateEvent(e!, _options.MaxDataBytes);
        for (var i = 0; i < e!.Recipients.Count; i++)
        {
            if (!_pools.ContainsKey(e.Recipients[i].Channel))
            {
                throw new EventValidationException(
                    $"NotificationEvent.Recipients[{i}].Channel '{e.Recipients[i].Channel}' has no registered notifier (registered: {_channelList}).",
                    nameof(NotificationEvent.Recipients));
            }

            foreach (var validator in _recipientValidators)
            {
                if (validator.Check(e.Recipients[i]) is { } refusal)
                {
                    throw new EventValidationException(
                        $"NotificationEvent.Recipients[{i}].Address is refused for the '{e.Recipients[i].Channel}' channel: {refusal} Nothing of the event was accepted.",
                        nameof(NotificationEvent.Recipients));
                }
            }
        }

        return e;
    }

    /// <summary>
    /// The event as it is validated, stored and delivered: the caller's buffer, recipient list and extension dictionary
    /// copied (so changing them during or after the publish changes nothing, even in the in-memory store, which keeps
    /// this object), the time in UTC, and the source, time and trace context publishing fills in. One copy of the event for all of it.
    /// Whatever is null or over a limit is left as it is, for validation to refuse.
    /// </summary>
    private NotificationEvent Own(NotificationEvent e)
    {
        var copyData = !e.OwnsData && e.Data.Length <= _options.MaxDataBytes;
        // Empty ones too, unless they are the shared immutable empties: the caller could fill its empty list later.
        var copyRecipients = e.Recipients is not null and not Recipient[] { Length: 0 };
        var traceparent = Activity.Current is { } current && e.Extensions is { } extensions && !extensions.ContainsKey("traceparent") ? current.Id : null;
        var copyExtensions = (e.Extensions is not null && !ReferenceEquals(e.Extensions, NotificationEvent.NoExtensions)) || traceparent is not null;
        if (!copyData && !copyRecipients && !copyExtensions && e.Source is not null && e.Time != default && e.Time.Offset == TimeSpan.Zero)
        {
            return e;
        }

        var owned = copyData ? e.Data.ToArray() : null;
        IReadOnlyDictionary<string, string>? ownExtensions = null;
        if (copyExtensions)
        {
            if (e.Extensions!.Count == 0 && traceparent is null)
            {
                ownExtensions = NotificationEvent.NoExtensions;
            }
            else
            {
                var copy = new Dictionary<string, string>(e.Extensions, StringComparer.Ordinal);
                if (traceparent is not null)
                {
                    copy["traceparent"] = traceparent;
                }

                ownExtensions = copy;
            }
        }

        return e with
        {
            Source = e.Source ?? _options.Source,
            // In UTC: a durable store keeps the instant, so every attempt's body says the time the same way.
            Time = e.Time == default ? _time.GetUtcNow() : e.Time.ToUniversalTime(),
            Extensions = ownExtensions ?? e.Extensions!,
            Recipients = copyRecipients ? (e.Recipients!.Count == 0 ? [] : e.Recipients.ToArray()) : e.Recipients!,
            Data = owned ?? e.Data,
            OwnedData = owned ?? e.OwnedData,
        };
    }

    private async ValueTask WaitForRoomAsync(int count, CancellationToken cancellationToken)
    {
        var reader = _routeQueue.Reader;
        if (reader.Count + count <= _options.RouteQueueCapacity)
        {
            return;
        }

        if (_options.QueueFullMode == QueueFullMode.Reject)
        {
            throw new EventQueueFullException(
                $"The routing queue is full ({_options.RouteQueueCapacity} events, EventNotifyOptions.RouteQueueCapacity) and QueueFullMode is Reject: the event was not accepted; retry later.");
        }

        // Back-pressure: wait before the store accepts anything, so a cancelled wait leaves nothing half-done.
        if (!await _routeQueue.Writer.WaitToWriteAsync(cancellationToken).ConfigureAwait(false))
        {
            ThrowIfNotAccepting();
        }
    }

    private async ValueTask<Routing?> TryRouteAtPublishAsync(NotificationEvent e, CancellationToken cancellationToken)
    {
        try
        {
            return await BuildRoutingAsync(e, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.RoutingFailed(_logger, ex, e.Id);
            return null;
        }
    }

    private async ValueTask<Routing[]?> TryRouteAllAtPublishAsync(List<NotificationEvent> events, CancellationToken cancellationToken)
    {
        var routings = new Routing[events.Count];
        for (var i = 0; i < routings.Length; i++)
        {
            if (await TryRouteAtPublishAsync(events[i], cancellationToken).ConfigureAwait(false) is not { } routing)
            {
                return null;
            }

            routings[i] = routing;
        }

        return routings;
    }

    private async ValueTask EnqueueForRoutingAsync(RouteWork e)
    {
        if (!Volatile.Read(ref _subscriptionsStored))
        {
            // Published before start: the start's recovery pass, which reads the store after the flag is set, routes
            // the event. Not queued now: the routers are not running, and a host publishing more than the queue holds
            // from a hosted service's StartAsync would wait for room forever, with the engine never started.
            Interlocked.MemoryBarrier(); // this read must not pass the store write (Dekker with StartAsync)
            if (!Volatile.Read(ref _subscriptionsStored))
            {
                return;
            }
        }

        // The event is already accepted: this write must not be cancelled by the caller, or it would sit unrouted
        // until the next start. If the engine stopped meanwhile, it stays in the store and is recovered on start.
        try
        {
            if (!_routeQueue.Writer.TryWrite(e))
            {
                await _routeQueue.Writer.WriteAsync(e, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (ChannelClosedException)
        {
        }
    }
}
