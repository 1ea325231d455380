using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using EventNotify.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace EventNotify;

/// <summary>
/// The three-stage engine: publish → route → push, joined by bounded channels. Runs as a hosted service.
/// </summary>
/// <remarks>
/// Nothing accepted is lost: an event is in the store before <see cref="PublishAsync"/> returns; a delivery is in
/// the store (leased to this process) before it enters a push queue. Whatever is in memory when the process dies is
/// found again in the store: unrouted events at start, leased deliveries when their lease ends.
/// </remarks>
internal sealed partial class EventNotifyEngine : IEventPublisher, IHostedService, IAsyncDisposable
{
    private const int Created = 0, Running = 1, Stopping = 2, Stopped = 3;

    private readonly EventNotifyOptions _options;
    private readonly IEventStore _store;

    // The built-in in-memory store, when it is the store: outcomes are recorded through its synchronous method.
    private readonly InMemoryEventStore? _memoryStore;
    private readonly ISubscriptionStore _subscriptions;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly EventNotifyMetrics _metrics;
    private readonly FrozenDictionary<string, ChannelPool> _pools;
    private readonly Channel<RouteWork> _routeQueue;
    private readonly ConcurrentDictionary<string, byte> _inFlight = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopScheduling = new();
    private readonly CancellationTokenSource _abort = new();
    private readonly string _channelList;
    private readonly IDeliveryObserver[] _observers;
    private readonly IRecipientValidator[] _recipientValidators;

    /// <summary>
    /// Whether publishing routes the event and stores it with its deliveries in one write. Only for a store that
    /// implements <see cref="IEventStore.AppendRoutedAsync"/> itself: the interface's default is two writes, and a
    /// failure between them would report an accepted event as failed.
    /// </summary>
    private readonly bool _routeAtPublish;

    /// <summary>As <see cref="_routeAtPublish"/>, for <c>PublishManyAsync</c> and <see cref="IEventStore.AppendRoutedManyAsync"/>.</summary>
    private readonly bool _routeManyAtPublish;

    private int _state;

    // Set once StartAsync has written the subscriptions added in code: routing at publish waits for it.
    private bool _subscriptionsStored;
    private Task[] _routers = [];
    private Task _scheduler = Task.CompletedTask;
    private Task _recovery = Task.CompletedTask;
    private Task _retention = Task.CompletedTask;
    private TaskCompletionSource _schedulerSignal = NewSignal();
    private long _plannedWakeTicks = long.MaxValue;
    private int _recoveryRequested;

    public EventNotifyEngine(
        IOptions<EventNotifyOptions> options,
        IEventStore store,
        ISubscriptionStore subscriptions,
        IEnumerable<INotifier> notifiers,
        EventNotifyMetrics metrics,
        IEnumerable<IDeliveryObserver>? observers = null,
        TimeProvider? timeProvider = null,
        ILogger<EventNotifyEngine>? logger = null,
        IEnumerable<IRecipientValidator>? recipientValidators = null)
    {
        _observers = observers?.ToArray() ?? [];
        _recipientValidators = recipientValidators?.ToArray() ?? [];
        _options = options.Value;
        _store = store;
        _memoryStore = store as InMemoryEventStore;
        _routeAtPublish = Implements(store, nameof(IEventStore.AppendRoutedAsync));
        _routeManyAtPublish = Implements(store, nameof(IEventStore.AppendRoutedManyAsync));
        _subscriptions = subscriptions;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _metrics = metrics;

        var pools = new Dictionary<string, ChannelPool>(StringComparer.Ordinal);
        foreach (var notifier in notifiers)
        {
            if (!EventRules.IsValidChannelName(notifier.Channel))
            {
                throw new InvalidOperationException($"Notifier {notifier.GetType().Name} has an invalid Channel name '{notifier.Channel}': use lowercase letters, digits, '_' and '-'.");
            }

            if (pools.ContainsKey(notifier.Channel))
            {
                throw new InvalidOperationException($"Two notifiers are registered for channel '{notifier.Channel}' ({pools[notifier.Channel].Notifier.GetType().Name} and {notifier.GetType().Name}); register one per channel.");
            }

            pools[notifier.Channel] = new ChannelPool(this, notifier, _options.Channels.TryGetValue(notifier.Channel, out var c) ? c : null);
        }

        _pools = pools.ToFrozenDictionary(StringComparer.Ordinal);
        _channelList = _pools.Count == 0 ? "(none)" : string.Join(", ", _pools.Keys.Order(StringComparer.Ordinal));
        foreach (var configured in _options.Channels.Keys)
        {
            if (!_pools.ContainsKey(configured))
            {
                // A typo ("webhooks") would otherwise leave the real channel on the defaults without a word.
                throw new InvalidOperationException(
                    $"EventNotifyOptions.Channels[\"{configured}\"] is configured, but no notifier is registered for channel '{configured}' (registered: {_channelList}).");
            }
        }

        _routeQueue = Channel.CreateBounded<RouteWork>(new BoundedChannelOptions(_options.RouteQueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = _options.RouterConcurrency == 1,
            SingleWriter = false,
        });

        _metrics.ObserveQueues(ObserveQueues);
    }

    /// <summary>Whether <paramref name="store"/> implements the interface method <paramref name="method"/> itself (not its default).</summary>
    private static bool Implements(IEventStore store, string method)
    {
        var map = store.GetType().GetInterfaceMap(typeof(IEventStore));
        var index = Array.FindIndex(map.InterfaceMethods, m => m.Name == method);
        return index >= 0 && map.TargetMethods[index].DeclaringType != typeof(IEventStore);
    }

    /// <summary>The channel names that have a notifier.</summary>
    public IReadOnlyCollection<string> Channels => _pools.Keys;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, Running, Created) != Created)
        {
            return;
        }

        foreach (var s in _options.Subscriptions)
        {
            if (await _subscriptions.GetAsync(s.Id, cancellationToken).ConfigureAwait(false) is not { } stored)
            {
                await _subscriptions.AddAsync(s, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                // A failure streak recorded for the same address survives the restart (the code does not know it).
                var failingSince = stored.Address == s.Address ? stored.FailingSince : null;
                await _subscriptions.UpdateAsync(s with { FailingSince = failingSince }, cancellationToken).ConfigureAwait(false);
            }
        }

        // From here an event can be routed where it is published: before, the subscriptions added in code were not yet
        // in the store, and an event routed then would have been stored as routed to none of them.
        Volatile.Write(ref _subscriptionsStored, true);
        Interlocked.MemoryBarrier(); // before the recovery pass reads the store (see EnqueueForRoutingAsync)

        // The loops do not inherit the caller's ambient state: an activity around the host's start would otherwise be
        // the parent (and the traceparent sent) of every delivery made outside any trace, and its log scopes theirs.
        using (ExecutionContext.SuppressFlow())
        {
            foreach (var pool in _pools.Values)
            {
                pool.Start();
            }

            _routers = new Task[_options.RouterConcurrency];
            for (var i = 0; i < _routers.Length; i++)
            {
                _routers[i] = Task.Run(RouteLoopAsync, CancellationToken.None);
            }

            _recovery = Task.Run(RecoverUnroutedAsync, CancellationToken.None);
            _scheduler = Task.Run(ScheduleLoopAsync, CancellationToken.None);
            _retention = Task.Run(RetentionLoopAsync, CancellationToken.None);
        }

        Log.Started(_logger, _channelList, _store.GetType().Name);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, Stopping, Running) != Running)
        {
            if (Interlocked.CompareExchange(ref _state, Stopped, Created) == Created)
            {
                _stopped.TrySetResult();
            }

            // A second stop (or a dispose during the stop) waits for the one in progress: returning at once let the host
            // close the store while attempts were still being recorded, so answered deliveries were sent again.
            await _stopped.Task.ConfigureAwait(false);
            return;
        }

        try
        {
            await StopCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _state, Stopped);
            _stopped.TrySetResult();
        }
    }

    /// <summary>Completes when a stop has finished (or the engine was stopped before it started).</summary>
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private async Task StopCoreAsync(CancellationToken cancellationToken)
    {
        Log.Stopping(_logger, _options.ShutdownTimeout);

        // No new events; the routers finish what is queued, then the push queues are completed and drained.
        _routeQueue.Writer.TryComplete();
        await _stopScheduling.CancelAsync().ConfigureAwait(false);
        var drain = DrainAsync();

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (_options.ShutdownTimeout != Timeout.InfiniteTimeSpan)
        {
            deadline.CancelAfter(_options.ShutdownTimeout);
        }

        try
        {
            await drain.WaitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Out of time: interrupt what is running. Interrupted attempts are not counted; the deliveries stay pending.
            await _abort.CancelAsync().ConfigureAwait(false);
            try
            {
                // Bounded: a notifier that ignores its token (while claiming to honour it) must not hang the host's stop.
                await drain.WaitAsync(AbortGrace).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            catch (TimeoutException)
            {
                Log.DrainAbandoned(_logger, AbortGrace);
            }
        }

        var leftovers = _inFlight.Keys.ToArray();
        if (leftovers.Length > 0)
        {
            Log.StopTimedOut(_logger, leftovers.Length);
            try
            {
                await _store.ReleaseAsync(leftovers, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Not releasing only delays them: their leases end and they are attempted again.
                Log.SchedulerFailed(_logger, ex);
            }
        }
    }

    /// <summary>How long stopping waits, after interrupting what runs at the shutdown deadline, for it to end.</summary>
    internal static readonly TimeSpan AbortGrace = TimeSpan.FromSeconds(5);

    private async Task DrainAsync()
    {
        await Task.WhenAll(_routers).ConfigureAwait(false);
        await _scheduler.ConfigureAwait(false); // before _recovery: the scheduler may start a recovery pass
        await _recovery.ConfigureAwait(false);
        await _retention.ConfigureAwait(false);
        foreach (var pool in _pools.Values)
        {
            pool.Complete();
        }

        await Task.WhenAll(_pools.Values.Select(p => p.Completion)).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Volatile.Read(ref _state) is Running or Stopping)
        {
            await StopAsync(CancellationToken.None).ConfigureAwait(false); // a stop in progress is waited for
        }

        _stopScheduling.Dispose();
        _abort.Dispose();
    }

    private IEnumerable<Measurement<long>> ObserveQueues()
    {
        yield return new Measurement<long>(_routeQueue.Reader.Count, new KeyValuePair<string, object?>("stage", "route"));
        foreach (var pool in _pools.Values)
        {
            yield return new Measurement<long>(pool.QueueDepth, new("stage", "push"), new("channel", pool.Notifier.Channel));
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void ThrowIfNotAccepting()
    {
        if (Volatile.Read(ref _state) >= Stopping)
        {
            throw new EventNotifyStoppedException("EventNotify is stopping or stopped: no more events are accepted. Publish before the host stops.");
        }
    }

    private static Activity? StartActivity(string name, ActivityKind kind, ActivityContext parent = default) =>
        EventNotifyTelemetry.ActivitySource.HasListeners() ? EventNotifyTelemetry.ActivitySource.StartActivity(name, kind, parent) : null;
}
