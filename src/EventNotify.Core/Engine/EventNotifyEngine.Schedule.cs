using EventNotify.Diagnostics;

namespace EventNotify;

internal sealed partial class EventNotifyEngine
{
    /// <summary>
    /// Tells the scheduler a delivery becomes due at <paramref name="due"/>. Wakes it only when that is earlier than
    /// the wake-up it planned, so a burst of retries costs one store query, not one per retry.
    /// </summary>
    internal void SignalDue(DateTimeOffset due)
    {
        if (due.UtcTicks < Volatile.Read(ref _plannedWakeTicks))
        {
            Volatile.Read(ref _schedulerSignal).TrySetResult();
        }
    }

    /// <summary>
    /// Purges finished deliveries, their attempts and events older than <see cref="EventNotifyOptions.RetentionPeriod"/>
    /// every <see cref="EventNotifyOptions.PurgeInterval"/>, whatever the store, so history does not grow without bound.
    /// The first purge runs at start: a host restarted more often than the interval (deploys, autoscaling, a crash
    /// loop) would otherwise never purge.
    /// </summary>
    private async Task RetentionLoopAsync()
    {
        if (_options.RetentionPeriod == Timeout.InfiniteTimeSpan)
        {
            return;
        }

        var ct = _stopScheduling.Token;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var purged = await _store.PurgeAsync(_time.GetUtcNow() - _options.RetentionPeriod, ct).ConfigureAwait(false);
                if (purged > 0)
                {
                    Log.Purged(_logger, purged, _options.RetentionPeriod);
                }

                await Task.Delay(_options.PurgeInterval, _time, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Log.PurgeFailed(_logger, ex);
                try
                {
                    await Task.Delay(_options.PurgeInterval, _time, ct).ConfigureAwait(false); // not a hot loop on a failing store
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    break;
                }
            }
        }
    }

    /// <summary>
    /// Reads due deliveries (retries, scheduled events, deliveries whose lease ended) from the store and hands them to
    /// the channel workers. One loop, one timer: the backlog lives in the store, not in memory.
    /// </summary>
    private async Task ScheduleLoopAsync()
    {
        var ct = _stopScheduling.Token;
        while (!ct.IsCancellationRequested)
        {
            // Awake: any signal from now on must make the next wait return at once (it may concern a due time
            // the query below has already passed), so the planned wake is "never" until we plan again.
            Volatile.Write(ref _plannedWakeTicks, long.MaxValue);
            var signal = _schedulerSignal;
            if (signal.Task.IsCompleted)
            {
                Interlocked.CompareExchange(ref _schedulerSignal, NewSignal(), signal);
                signal = _schedulerSignal;
            }

            if (_recovery.IsCompleted && Interlocked.Exchange(ref _recoveryRequested, 0) == 1)
            {
                _recovery = Task.Run(RecoverUnroutedAsync, CancellationToken.None);
            }

            try
            {
                // Leases written by claims that found the delivery in flight, whose copy has finished since.
                if (!_releaseLater.IsEmpty)
                {
                    var later = new List<string>();
                    while (_releaseLater.TryDequeue(out var id))
                    {
                        later.Add(id);
                    }

                    await _store.ReleaseAsync(later, CancellationToken.None).ConfigureAwait(false);
                }

                var now = _time.GetUtcNow();
                _storedDuringClaim.Clear();
                Volatile.Write(ref _claiming, 1);
                IReadOnlyList<DueDelivery> due;
                var taken = new List<DueDelivery>();
                List<string>? stale = null;
                try
                {
                    due = await _store.ClaimDueDeliveriesAsync(now, now + _options.LeaseDuration, _options.ClaimBatchSize, ct).ConfigureAwait(false);

                    // Take every claimed delivery into "in flight" now, before waiting for queue room. One already in
                    // flight here (its lease ran out while it waited in a queue or was sent) stays with the copy that
                    // has it: this claim only renewed its lease. One whose outcome was stored while this claim ran may
                    // have been read before that write: the copy is stale, so it is given back and claimed afresh.
                    foreach (var item in due)
                    {
                        var id = item.Delivery.Id;
                        if (!_inFlight.TryAdd(id, 0))
                        {
                            // Left to the copy in flight, which may already have stored its outcome (its store write
                            // and this claim can complete together): when that copy is done, the lease this claim
                            // wrote is given back (InFlightDone). If it is done already, give it back now.
                            if (_claimedWhileInFlight.TryAdd(id, 0))
                            {
                                Interlocked.Increment(ref _claimedWhileInFlightCount);
                                if (!_inFlight.ContainsKey(id) && _claimedWhileInFlight.TryRemove(id, out _))
                                {
                                    Interlocked.Decrement(ref _claimedWhileInFlightCount);
                                    (stale ??= []).Add(id);
                                }
                            }

                            continue;
                        }

                        if (_storedDuringClaim.ContainsKey(id))
                        {
                            _inFlight.TryRemove(id, out _);
                            (stale ??= []).Add(id);
                            continue;
                        }

                        taken.Add(item);
                    }
                }
                finally
                {
                    Volatile.Write(ref _claiming, 0);
                }

                if (stale is not null)
                {
                    await _store.ReleaseAsync(stale, CancellationToken.None).ConfigureAwait(false);
                }

                for (var i = 0; i < taken.Count; i++)
                {
                    try
                    {
                        await EnqueueTakenAsync(taken[i], ct).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        // Stopping while waiting for room: give the rest of the batch back unattempted.
                        var rest = taken.Skip(i).Select(d => d.Delivery.Id).ToArray();
                        foreach (var id in rest)
                        {
                            _inFlight.TryRemove(id, out _);
                        }

                        await _store.ReleaseAsync(rest, CancellationToken.None).ConfigureAwait(false);
                        throw;
                    }
                }

                if (due.Count >= _options.ClaimBatchSize || stale is not null)
                {
                    continue; // more may be due right now (a stale copy given back is due again at once)
                }

                var wake = now + _options.PollInterval;
                if (await _store.GetNextDueTimeAsync(ct).ConfigureAwait(false) is { } next && next < wake)
                {
                    wake = next;
                }

                Volatile.Write(ref _plannedWakeTicks, wake.UtcTicks);
                var delay = wake - _time.GetUtcNow();
                if (delay > TimeSpan.Zero && !signal.Task.IsCompleted)
                {
                    using var wakeUp = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    var timer = Task.Delay(delay, _time, wakeUp.Token);

                    // The delay is relative: if the clock moved past the wake time between reading it and creating the
                    // timer (a test's FakeTimeProvider.Advance, a suspended VM), the timer would fire too late. Re-read.
                    if (_time.GetUtcNow() < wake)
                    {
                        await Task.WhenAny(timer, signal.Task).ConfigureAwait(false);
                    }

                    await wakeUp.CancelAsync().ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                Log.SchedulerFailed(_logger, ex);
                try
                {
                    await Task.Delay(_options.PollInterval, _time, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }
}
