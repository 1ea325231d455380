using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace EventNotify.Tests.Engine;

public sealed class StoreFailureTests
{
    /// <summary>An in-memory store whose SaveRoutedAsync fails while <see cref="FailRouting"/> is set.</summary>
    private sealed class FlakyStore : IEventStore
    {
        private readonly InMemoryEventStore _inner = new();

        public volatile bool FailRouting;

        public TaskCompletionSource RoutingFailed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ValueTask<bool> SaveRoutedAsync(string eventId, IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken = default)
        {
            if (FailRouting)
            {
                RoutingFailed.TrySetResult();
                throw new IOException("disk I/O error");
            }

            return _inner.SaveRoutedAsync(eventId, deliveries, cancellationToken);
        }

        public ValueTask<bool> AppendAsync(NotificationEvent @event, CancellationToken cancellationToken = default) => _inner.AppendAsync(@event, cancellationToken);
        public ValueTask<bool[]> AppendManyAsync(IReadOnlyList<NotificationEvent> events, CancellationToken cancellationToken = default) => _inner.AppendManyAsync(events, cancellationToken);
        public ValueTask<int> AddDeliveriesAsync(IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken = default) => _inner.AddDeliveriesAsync(deliveries, cancellationToken);
        public ValueTask<IReadOnlyList<NotificationEvent>> GetUnroutedEventsAsync(string? afterId, int max, CancellationToken cancellationToken = default) => _inner.GetUnroutedEventsAsync(afterId, max, cancellationToken);
        public ValueTask<IReadOnlyList<DueDelivery>> ClaimDueDeliveriesAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int max, CancellationToken cancellationToken = default) => _inner.ClaimDueDeliveriesAsync(now, leaseUntil, max, cancellationToken);
        public ValueTask ReleaseAsync(IReadOnlyList<string> deliveryIds, CancellationToken cancellationToken = default) => _inner.ReleaseAsync(deliveryIds, cancellationToken);
        public ValueTask<DateTimeOffset?> GetNextDueTimeAsync(CancellationToken cancellationToken = default) => _inner.GetNextDueTimeAsync(cancellationToken);
        public ValueTask RecordAttemptAsync(DeliveryAttempt attempt, DeliveryUpdate update, CancellationToken cancellationToken = default) => _inner.RecordAttemptAsync(attempt, update, cancellationToken);
        public ValueTask<bool> UpdateDeliveryAsync(string deliveryId, DeliveryUpdate update, CancellationToken cancellationToken = default) => _inner.UpdateDeliveryAsync(deliveryId, update, cancellationToken);
        public ValueTask<NotificationEvent?> GetEventAsync(string eventId, CancellationToken cancellationToken = default) => _inner.GetEventAsync(eventId, cancellationToken);
        public ValueTask<Delivery?> GetDeliveryAsync(string deliveryId, CancellationToken cancellationToken = default) => _inner.GetDeliveryAsync(deliveryId, cancellationToken);
        public ValueTask<IReadOnlyList<DeliveryAttempt>> GetAttemptsAsync(string deliveryId, CancellationToken cancellationToken = default) => _inner.GetAttemptsAsync(deliveryId, cancellationToken);
        public ValueTask<IReadOnlyList<Delivery>> QueryDeliveriesAsync(DeliveryQuery query, CancellationToken cancellationToken = default) => _inner.QueryDeliveriesAsync(query, cancellationToken);
        public ValueTask<long> CountDeliveriesAsync(DeliveryQuery query, CancellationToken cancellationToken = default) => _inner.CountDeliveriesAsync(query, cancellationToken);
        public ValueTask<bool> RedeliverAsync(string deliveryId, DateTimeOffset now, CancellationToken cancellationToken = default) => _inner.RedeliverAsync(deliveryId, now, cancellationToken);
        public ValueTask<IReadOnlyList<NotificationEvent>> GetEventsAsync(DateTimeOffset from, DateTimeOffset to, string? afterId, int max, CancellationToken cancellationToken = default) => _inner.GetEventsAsync(from, to, afterId, max, cancellationToken);
        public ValueTask<int> PurgeAsync(DateTimeOffset completedBefore, CancellationToken cancellationToken = default) => _inner.PurgeAsync(completedBefore, cancellationToken);
    }

    [Fact]
    public async Task RoutingFails_StoreRecovers_EventRoutedAgainAndDelivered()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 3, 0, 0, 0, TimeSpan.Zero));
        var store = new FlakyStore { FailRouting = true };
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier).UseStore(_ => store), o => o.PollInterval = TimeSpan.FromSeconds(1), time);
        await host.SubscribeAsync("test", "*");

        var receipt = await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        (await store.GetEventAsync(receipt.EventId)).Should().NotBeNull("the event was accepted before routing failed");
        await store.RoutingFailed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        (await store.GetUnroutedEventsAsync(null, 10)).Should().ContainSingle("a failed routing leaves the event unrouted in the store");

        store.FailRouting = false;
        var deliveredTask = host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1);
        while (!deliveredTask.IsCompleted)
        {
            time.Advance(TimeSpan.FromSeconds(1)); // the scheduler's next poll starts a recovery pass
            await Task.WhenAny(deliveredTask, Task.Run(() => { }));
        }

        await deliveredTask;
        notifier.Calls.Single().Event.Id.Should().Be(receipt.EventId);
    }

    /// <summary>
    /// An in-memory store that implements <see cref="IEventStore.AppendRoutedAsync"/> itself (so the engine routes at
    /// publish), counts which writes the engine used, and fails that write while <see cref="FailAppendRouted"/> is set.
    /// </summary>
    private sealed class AtomicStore : IEventStore
    {
        private readonly InMemoryEventStore _inner = new();

        public volatile bool FailAppendRouted;
        public int Appends;
        public int AppendRouteds;
        public int SaveRouteds;

        public ValueTask<bool> AppendRoutedAsync(NotificationEvent @event, IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref AppendRouteds);
            if (FailAppendRouted)
            {
                throw new IOException("disk I/O error");
            }

            return ((IEventStore)_inner).AppendRoutedAsync(@event, deliveries, cancellationToken);
        }

        public ValueTask<bool> AppendAsync(NotificationEvent @event, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref Appends);
            return _inner.AppendAsync(@event, cancellationToken);
        }

        public int AppendManys;
        public int AppendRoutedManys;

        public ValueTask<bool[]> AppendRoutedManyAsync(IReadOnlyList<NotificationEvent> events, IReadOnlyList<IReadOnlyList<Delivery>> deliveries, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref AppendRoutedManys);
            return ((IEventStore)_inner).AppendRoutedManyAsync(events, deliveries, cancellationToken);
        }

        public ValueTask<bool> SaveRoutedAsync(string eventId, IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref SaveRouteds);
            return _inner.SaveRoutedAsync(eventId, deliveries, cancellationToken);
        }

        public ValueTask<bool[]> AppendManyAsync(IReadOnlyList<NotificationEvent> events, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref AppendManys);
            return _inner.AppendManyAsync(events, cancellationToken);
        }
        public ValueTask<int> AddDeliveriesAsync(IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken = default) => _inner.AddDeliveriesAsync(deliveries, cancellationToken);
        public ValueTask<IReadOnlyList<NotificationEvent>> GetUnroutedEventsAsync(string? afterId, int max, CancellationToken cancellationToken = default) => _inner.GetUnroutedEventsAsync(afterId, max, cancellationToken);
        /// <summary>Set when a claim returned at least one delivery.</summary>
        public TaskCompletionSource Claimed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Rewrites what a claim returns (e.g. adds a delivery whose lease ran out), once it returned something.</summary>
        public Func<IReadOnlyList<DueDelivery>, IReadOnlyList<DueDelivery>>? OnClaim { get; set; }

        public async ValueTask<IReadOnlyList<DueDelivery>> ClaimDueDeliveriesAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int max, CancellationToken cancellationToken = default)
        {
            var claimed = await _inner.ClaimDueDeliveriesAsync(now, leaseUntil, max, cancellationToken);
            if (claimed.Count > 0 && OnClaim is { } rewrite)
            {
                claimed = rewrite(claimed);
            }

            if (claimed.Count > 0)
            {
                Claimed.TrySetResult();
            }

            return claimed;
        }

        public ValueTask ReleaseAsync(IReadOnlyList<string> deliveryIds, CancellationToken cancellationToken = default) => _inner.ReleaseAsync(deliveryIds, cancellationToken);
        public ValueTask<DateTimeOffset?> GetNextDueTimeAsync(CancellationToken cancellationToken = default) => _inner.GetNextDueTimeAsync(cancellationToken);
        public ValueTask RecordAttemptAsync(DeliveryAttempt attempt, DeliveryUpdate update, CancellationToken cancellationToken = default) => _inner.RecordAttemptAsync(attempt, update, cancellationToken);
        public ValueTask<bool> UpdateDeliveryAsync(string deliveryId, DeliveryUpdate update, CancellationToken cancellationToken = default) => _inner.UpdateDeliveryAsync(deliveryId, update, cancellationToken);
        public ValueTask<NotificationEvent?> GetEventAsync(string eventId, CancellationToken cancellationToken = default) => _inner.GetEventAsync(eventId, cancellationToken);
        public ValueTask<Delivery?> GetDeliveryAsync(string deliveryId, CancellationToken cancellationToken = default) => _inner.GetDeliveryAsync(deliveryId, cancellationToken);
        public ValueTask<IReadOnlyList<DeliveryAttempt>> GetAttemptsAsync(string deliveryId, CancellationToken cancellationToken = default) => _inner.GetAttemptsAsync(deliveryId, cancellationToken);
        public ValueTask<IReadOnlyList<Delivery>> QueryDeliveriesAsync(DeliveryQuery query, CancellationToken cancellationToken = default) => _inner.QueryDeliveriesAsync(query, cancellationToken);
        public ValueTask<long> CountDeliveriesAsync(DeliveryQuery query, CancellationToken cancellationToken = default) => _inner.CountDeliveriesAsync(query, cancellationToken);
        public ValueTask<bool> RedeliverAsync(string deliveryId, DateTimeOffset now, CancellationToken cancellationToken = default) => _inner.RedeliverAsync(deliveryId, now, cancellationToken);
        public ValueTask<IReadOnlyList<NotificationEvent>> GetEventsAsync(DateTimeOffset from, DateTimeOffset to, string? afterId, int max, CancellationToken cancellationToken = default) => _inner.GetEventsAsync(from, to, afterId, max, cancellationToken);
        public ValueTask<int> PurgeAsync(DateTimeOffset completedBefore, CancellationToken cancellationToken = default) => _inner.PurgeAsync(completedBefore, cancellationToken);
    }

    /// <summary>Subscriptions in memory whose matching fails while <see cref="FailMatch"/> is set.</summary>
    private sealed class FlakyMatchStore : ISubscriptionStore
    {
        private readonly InMemorySubscriptionStore _inner = new();

        public volatile bool FailMatch;

        public ValueTask<IReadOnlyList<Subscription>> MatchAsync(string eventType, string? tenantId, CancellationToken cancellationToken = default) =>
            FailMatch ? throw new IOException("subscription database unreachable") : _inner.MatchAsync(eventType, tenantId, cancellationToken);

        public ValueTask<Subscription> AddAsync(Subscription subscription, CancellationToken cancellationToken = default) => _inner.AddAsync(subscription, cancellationToken);
        public ValueTask<Subscription> UpdateAsync(Subscription subscription, CancellationToken cancellationToken = default) => _inner.UpdateAsync(subscription, cancellationToken);
        public ValueTask<bool> SetEnabledAsync(string id, bool enabled, string? reason = null, CancellationToken cancellationToken = default) => _inner.SetEnabledAsync(id, enabled, reason, cancellationToken);
        public ValueTask<bool> RemoveAsync(string id, CancellationToken cancellationToken = default) => _inner.RemoveAsync(id, cancellationToken);
        public ValueTask<Subscription?> GetAsync(string id, CancellationToken cancellationToken = default) => _inner.GetAsync(id, cancellationToken);
        public ValueTask<IReadOnlyList<Subscription>> ListAsync(CancellationToken cancellationToken = default) => _inner.ListAsync(cancellationToken);
    }

    [Fact]
    public async Task Publish_StoreWithAtomicAppendRouted_EventAndDeliveriesStoredInOneWrite()
    {
        var store = new AtomicStore();
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier).UseStore(_ => store));
        await host.SubscribeAsync("test", "order.*");
        await host.SubscribeAsync("test", "*");

        var delivered = host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 2);
        var receipt = await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        await delivered;

        store.AppendRouteds.Should().Be(1);
        store.Appends.Should().Be(0, "the event was not stored unrouted first");
        store.SaveRouteds.Should().Be(0, "the deliveries were stored with the event, not by a second write");
        notifier.Calls.Select(c => c.Event.Id).Should().Equal(receipt.EventId, receipt.EventId);
        (await store.GetUnroutedEventsAsync(null, 10)).Should().BeEmpty();
    }

    [Fact]
    public async Task Publish_AtomicAppendRoutedFails_PublishThrowsNothingIsStoredAndTheNextEventIsDelivered()
    {
        var store = new AtomicStore { FailAppendRouted = true };
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier).UseStore(_ => store));
        await host.SubscribeAsync("test", "*");

        var failed = async () => await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_failed" });
        await failed.Should().ThrowAsync<IOException>();
        (await store.GetEventAsync("evt_failed")).Should().BeNull("a publish that threw stored nothing");

        store.FailAppendRouted = false;
        var delivered = host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1);
        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_ok" });
        await delivered;
        notifier.Calls.Select(c => c.Event.Id).Should().Equal("evt_ok");
    }

    [Fact]
    public async Task Publish_MatchingFailsAtPublish_EventIsAcceptedAndRoutedByTheRouter()
    {
        var subscriptions = new FlakyMatchStore();
        var store = new AtomicStore();
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b =>
        {
            b.AddNotifier(notifier).UseStore(_ => store);
            b.Services.Replace(ServiceDescriptor.Singleton<ISubscriptionStore>(subscriptions));
        });
        await host.SubscribeAsync("test", "*");

        subscriptions.FailMatch = true;
        var accepted = host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_1" });
        var receipt = await accepted;
        subscriptions.FailMatch = false;

        receipt.Duplicate.Should().BeFalse();
        store.Appends.Should().Be(1, "without a routing the event is stored unrouted, as before routing at publish");
        var delivered = host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1);
        await delivered;
        notifier.Calls.Single().Event.Id.Should().Be("evt_1");
    }

    /// <summary>
    /// On the first retry scheduled, moves the clock past it and waits until the scheduler claimed it, all while the
    /// worker is still inside its outcome report: the moment the field saw the scheduler drop a claimed retry.
    /// </summary>
    private sealed class ClaimWhileReportingObserver(FakeTimeProvider time, AtomicStore store) : IDeliveryObserver
    {
        private int _done;

        /// <summary>Whether the claim came while the worker was held here; set when the worker moves on.</summary>
        public TaskCompletionSource<bool> SawClaim { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void OnDeliveryUpdated(Delivery delivery, DeliveryAttempt? attempt)
        {
            if (delivery.Status == DeliveryStatus.Pending && attempt is not null && Interlocked.Exchange(ref _done, 1) == 0)
            {
                time.Advance(TimeSpan.FromSeconds(2));
                SawClaim.TrySetResult(store.Claimed.Task.Wait(TimeSpan.FromSeconds(10)));
            }
        }
    }

    [Fact]
    public async Task RetryClaimedWhileTheWorkerStillReportsTheFailure_IsSentWithoutWaitingForTheLease()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 3, 0, 0, 0, TimeSpan.Zero));
        var store = new AtomicStore();
        var observer = new ClaimWhileReportingObserver(time, store);
        var notifier = new RecordingNotifier
        {
            Behaviour = (n, _) => ValueTask.FromResult(n.Delivery.Attempts == 0 ? DeliveryResult.Transient("503 Service Unavailable", 503) : DeliveryResult.Success()),
        };
        await using var host = await EngineHost.StartAsync(
            b =>
            {
                b.AddNotifier(notifier).UseStore(_ => store);
                b.Services.AddSingleton<IDeliveryObserver>(observer);
            },
            o =>
            {
                o.Retry = new RetryOptions { MaxAttempts = 3, BaseDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(60) };
                o.PollInterval = TimeSpan.FromMinutes(10);
            },
            time);
        await host.SubscribeAsync("test", "*");

        var delivered = host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1, TimeSpan.FromSeconds(20));
        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));

        // The clock does not move again: a dropped claim would leave the retry leased for LeaseDuration (5 min).
        await delivered;
        (await observer.SawClaim.Task.WaitAsync(TimeSpan.FromSeconds(20))).Should().BeTrue("the scheduler claimed the retry while the worker was still reporting the failure");
        notifier.Calls.Should().HaveCount(2);
    }

    /// <summary>
    /// The start both claim races share, on an <see cref="AtomicStore"/> and a fake clock: X failed once and its retry
    /// is due in 1 s; Z is being sent, held by <see cref="Gate"/> (<see cref="Z"/> is the copy being sent).
    /// </summary>
    private sealed class ClaimRace : IAsyncDisposable
    {
        private readonly TaskCompletionSource _zStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private ClaimRace() => Notifier = new RecordingNotifier
        {
            Behaviour = async (n, _) =>
            {
                if (n.Event.Id == "evt_x" && n.Delivery.Attempts == 0)
                {
                    return DeliveryResult.Transient("503 Service Unavailable", 503);
                }

                if (n.Event.Id == "evt_z")
                {
                    Z = new DueDelivery(n.Delivery, n.Event);
                    _zStarted.TrySetResult();
                    await Gate.Task;
                }

                return DeliveryResult.Success();
            },
        };

        public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 3, 0, 0, 0, TimeSpan.Zero));

        public AtomicStore Store { get; } = new();

        public RecordingNotifier Notifier { get; }

        public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public DueDelivery Z { get; private set; }

        public EngineHost Host { get; private set; } = null!;

        public static async Task<ClaimRace> StartAsync(Action<EventNotifyOptions>? options = null)
        {
            var race = new ClaimRace();
            race.Host = await EngineHost.StartAsync(
                b => b.AddNotifier(race.Notifier).UseStore(_ => race.Store),
                o =>
                {
                    o.Retry = new RetryOptions { MaxAttempts = 3, BaseDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(60) };
                    o.PollInterval = TimeSpan.FromMinutes(10);
                    options?.Invoke(o);
                },
                race.Time);
            await race.Host.SubscribeAsync("test", "*");
            await race.PublishAsync("evt_x");
            await race.Host.Outcomes.WaitAsync(o => o.Attempts.Count == 1);
            await race.PublishAsync("evt_z");
            await race._zStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
            return race;
        }

        public Task PublishAsync(string id) =>
            Host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = id }).AsTask();

        public ValueTask DisposeAsync() => Host.DisposeAsync();
    }

    [Fact]
    public async Task ClaimReturnsADeliveryStillBeingSentHere_ItIsNotSentAgainWhenThatSendCompletes()
    {
        // One worker, one queue slot. X failed once and its retry is due; Z is being sent (held by a gate) and Y waits
        // in the slot. The claim for X also returns Z, as a store does once Z's lease ran out. X must wait for room;
        // meanwhile Z's send completes. The claim's copy of Z is stale and must never be sent.
        await using var race = await ClaimRace.StartAsync(o =>
        {
            o.Concurrency = 1;
            o.DeliveryQueueCapacity = 1;
        });
        var (host, store) = (race.Host, race.Store);
        var engine = host.Services.GetRequiredService<EventNotifyEngine>();
        await race.PublishAsync("evt_y");
        SpinWait.SpinUntil(() => engine.QueueDepth("test") == 1, TimeSpan.FromSeconds(10)).Should().BeTrue("Y waits in the queue");

        store.OnClaim = claimed => [.. claimed, race.Z];
        race.Time.Advance(TimeSpan.FromSeconds(2)); // X's retry is due
        await store.Claimed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        race.Gate.SetResult();
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 3);

        // A later event goes through the same queue: a second copy of Z would be sent before it.
        store.OnClaim = null;
        await race.PublishAsync("evt_w");
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 4);
        race.Notifier.Calls.Select(c => c.Event.Id).Should().BeEquivalentTo(["evt_x", "evt_z", "evt_y", "evt_x", "evt_w"], "each delivery is sent once (X twice: its failure and its retry)");
    }

    [Fact]
    public async Task OutcomeStoredWhileAClaimRuns_TheClaimsStaleCopyIsNotSent()
    {
        // The claim reads Z while Z is being sent here; Z's success is stored before the scheduler takes what the claim
        // returned (the claim's commit can take that long). The claim's copy of Z predates that outcome: not sent.
        await using var race = await ClaimRace.StartAsync();
        var (host, store) = (race.Host, race.Store);

        store.OnClaim = claimed =>
        {
            // Between the claim's read and its return, Z's send completes and its success is stored.
            race.Gate.SetResult();
            host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1).Wait(TimeSpan.FromSeconds(10)).Should().BeTrue();
            return [.. claimed, race.Z];
        };
        race.Time.Advance(TimeSpan.FromSeconds(2)); // X's retry is due
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 2);

        store.OnClaim = null;
        await race.PublishAsync("evt_w");
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 3);
        race.Notifier.Calls.Select(c => c.Event.Id).Should().BeEquivalentTo(["evt_x", "evt_z", "evt_x", "evt_w"], "Z is sent once");
        (await store.GetDeliveryAsync(race.Z.Delivery.Id))!.Status.Should().Be(DeliveryStatus.Succeeded);
    }

    [Fact]
    public async Task PublishMany_StoreWithAtomicAppendRoutedMany_EventsAndDeliveriesStoredInOneWrite()
    {
        var store = new AtomicStore();
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier).UseStore(_ => store));
        await host.SubscribeAsync("test", "*");

        var delivered = host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 2);
        var receipts = await host.Publisher.PublishManyAsync([
            NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_m1" },
            NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_m2" },
            NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_m1" },
        ]);
        await delivered;

        receipts.Select(r => r.Duplicate).Should().Equal(false, false, true);
        store.AppendRoutedManys.Should().Be(1);
        store.AppendManys.Should().Be(0, "the events were not stored unrouted first");
        store.SaveRouteds.Should().Be(0);
        notifier.Calls.Select(c => c.Event.Id).Should().BeEquivalentTo(["evt_m1", "evt_m2"]);
        (await store.GetUnroutedEventsAsync(null, 10)).Should().BeEmpty();
    }

    /// <summary>
    /// A store whose outcome write, for a retry, completes only after the scheduler has claimed (and leased) that
    /// retry: the order a durable store's group commit can produce, with the worker's continuation resumed last.
    /// </summary>
    private sealed class SlowOutcomeStore : DelegatingEventStore
    {
        private readonly TaskCompletionSource _retryClaimed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async ValueTask RecordAttemptAsync(DeliveryAttempt attempt, DeliveryUpdate update, CancellationToken cancellationToken = default)
        {
            await Inner.RecordAttemptAsync(attempt, update, cancellationToken);
            if (update.Status == DeliveryStatus.Pending)
            {
                await _retryClaimed.Task.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
                await Task.Delay(200, CancellationToken.None); // and the scheduler has looked at the claim by then
            }
        }

        public override async ValueTask<IReadOnlyList<DueDelivery>> ClaimDueDeliveriesAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int max, CancellationToken cancellationToken = default)
        {
            var claimed = await Inner.ClaimDueDeliveriesAsync(now, leaseUntil, max, cancellationToken);
            if (claimed.Any(c => c.Delivery.Attempts == 1))
            {
                _retryClaimed.TrySetResult();
            }

            return claimed;
        }
    }

    // From a concurrency trial (SQLite, about half the runs): the scheduler claimed a retry whose outcome was stored but
    // whose worker had not yet let go of it; the claim found it "in flight", left it to that copy, and its lease held
    // the retry back for the whole LeaseDuration (5 minutes) instead of the retry delay.
    [Fact]
    public async Task RetryClaimedWhileItsWorkerFinishes_IsSentAtItsRetryTimeNotAfterTheLease()
    {
        var store = new SlowOutcomeStore();
        var attempts = 0;
        var notifier = new RecordingNotifier
        {
            Behaviour = (_, _) => ValueTask.FromResult(Interlocked.Increment(ref attempts) == 1 ? DeliveryResult.Transient("503") : DeliveryResult.Success()),
        };
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier).UseStore(_ => store), o =>
        {
            o.Retry = new RetryOptions { MaxAttempts = 3, BaseDelay = TimeSpan.FromMilliseconds(1), JitterFactor = 0 };
            o.PollInterval = TimeSpan.FromMilliseconds(50);
        });
        await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1, TimeSpan.FromSeconds(20));
        notifier.Calls.Should().HaveCount(2);
    }
}
