using System.Collections.Concurrent;
using System.Text;

namespace EventNotify.Testing;

/// <summary>
/// The behaviour every <see cref="IEventStore"/> must have, written once and inherited by each store's test class
/// (in-memory, SQLite, PostgreSQL). A store only says how to create an empty instance of itself.
/// Durable stores inherit <see cref="DurableEventStoreContractTests"/>, which adds the restart tests.
/// </summary>
public abstract class EventStoreContractTests : IAsyncLifetime
{
    /// <summary>A fixed instant all test times are relative to.</summary>
    protected static readonly DateTimeOffset T0 = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly List<IEventStore> _stores = [];

    /// <summary>Creates a new, empty store.</summary>
    protected abstract Task<IEventStore> CreateStoreAsync();

    /// <summary>Creates a store that is disposed when the test ends.</summary>
    protected async Task<IEventStore> NewStoreAsync()
    {
        var store = await CreateStoreAsync();
        _stores.Add(store);
        return store;
    }

    /// <summary>Lets a subclass track a store it created otherwise (e.g. reopened) for disposal.</summary>
    protected void Track(IEventStore store) => _stores.Add(store);

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await DisposeStoreAsync(store);
        }
    }

    protected static async Task DisposeStoreAsync(IEventStore store)
    {
        if (store is IAsyncDisposable asyncDisposable)
        {
            await asyncDisposable.DisposeAsync();
        }
        else if (store is IDisposable disposable)
        {
            disposable.Dispose();
        }
    }

    protected static NotificationEvent NewEvent(string id, DateTimeOffset? time = null, string type = "order.paid") => new()
    {
        Id = id,
        Type = type,
        Source = "urn:test",
        Time = time ?? T0,
        Data = Encoding.UTF8.GetBytes("{\"id\":\"" + id + "\"}"),
    };

    protected static Delivery NewDelivery(
        string id,
        string eventId,
        DeliveryStatus status = DeliveryStatus.Pending,
        DateTimeOffset? nextAttemptAt = null,
        DateTimeOffset? leasedUntil = null,
        DateTimeOffset? createdAt = null,
        string channel = "test",
        string eventType = "order.paid",
        string? subscriptionId = "sub_1",
        DateTimeOffset? completedAt = null) => new()
        {
            Id = id,
            EventId = eventId,
            EventType = eventType,
            SubscriptionId = subscriptionId,
            Channel = channel,
            Address = "addr-" + channel,
            TenantId = null,
            Status = status,
            CreatedAt = createdAt ?? T0,
            NextAttemptAt = nextAttemptAt ?? T0,
            LeasedUntil = leasedUntil,
            CompletedAt = completedAt ?? (status == DeliveryStatus.Pending ? null : T0),
        };

    /// <summary>Appends an event and routes it with the given deliveries.</summary>
    protected static async Task RouteAsync(IEventStore store, string eventId, params Delivery[] deliveries)
    {
        (await store.AppendAsync(NewEvent(eventId))).Should().BeTrue();
        (await store.SaveRoutedAsync(eventId, deliveries)).Should().BeTrue();
    }

    protected static DeliveryAttempt Attempt(string deliveryId, int number, AttemptOutcome outcome, string? error = null, int? statusCode = null) => new()
    {
        DeliveryId = deliveryId,
        AttemptNumber = number,
        StartedAt = T0.AddSeconds(number),
        Duration = TimeSpan.FromMilliseconds(10 * number),
        Outcome = outcome,
        StatusCode = statusCode,
        Error = error,
        Response = outcome == AttemptOutcome.Succeeded ? "ok" : null,
        ProviderMessageId = outcome == AttemptOutcome.Succeeded ? "msg-" + number : null,
    };

    protected static void ShouldBeSameEvent(NotificationEvent? actual, NotificationEvent expected)
    {
        actual.Should().NotBeNull();
        actual!.Id.Should().Be(expected.Id);
        actual.Type.Should().Be(expected.Type);
        actual.Source.Should().Be(expected.Source);
        actual.Subject.Should().Be(expected.Subject);
        actual.Time.Should().Be(expected.Time);
        actual.Data.ToArray().Should().Equal(expected.Data.ToArray());
        actual.DataContentType.Should().Be(expected.DataContentType);
        actual.Recipients.Should().Equal(expected.Recipients);
        actual.NotBefore.Should().Be(expected.NotBefore);
        actual.TenantId.Should().Be(expected.TenantId);
        actual.Extensions.Should().BeEquivalentTo(expected.Extensions);
    }

    // ---- append ----

    [Fact]
    public async Task AppendAsync_NewEvent_ReturnsTrueAndKeepsEveryField()
    {
        var store = await NewStoreAsync();
        var e = new NotificationEvent
        {
            Id = "evt_full",
            Type = "order.paid",
            Source = "https://shop.example",
            Subject = "order-42",
            Time = new DateTimeOffset(2026, 3, 4, 5, 6, 7, 891, TimeSpan.Zero).AddTicks(2345),
            Data = Encoding.UTF8.GetBytes("{\"total\": 12.50, \"name\":\"Zoë 中\"}"),
            DataContentType = "application/json; charset=utf-8",
            Recipients = [new Recipient("email", "bob@example.com"), new Recipient("sms", "+8613800138000")],
            NotBefore = T0.AddHours(1),
            TenantId = "tenant-a",
            Extensions = new Dictionary<string, string> { ["traceparent"] = "00-abc-def-01", ["region"] = "eu" },
        };

        (await store.AppendAsync(e)).Should().BeTrue();

        ShouldBeSameEvent(await store.GetEventAsync("evt_full"), e);
    }

    [Fact]
    public async Task AppendAsync_EmptyData_RoundTripsEmpty()
    {
        var store = await NewStoreAsync();
        var e = NewEvent("evt_empty") with { Data = ReadOnlyMemory<byte>.Empty };

        await store.AppendAsync(e);

        (await store.GetEventAsync("evt_empty"))!.Data.Length.Should().Be(0);
    }

    [Fact]
    public async Task AppendAsync_SameIdTwice_ReturnsFalseAndKeepsTheFirst()
    {
        var store = await NewStoreAsync();
        await store.AppendAsync(NewEvent("evt_1", type: "order.paid"));

        var second = await store.AppendAsync(NewEvent("evt_1", type: "order.refunded"));

        second.Should().BeFalse();
        (await store.GetEventAsync("evt_1"))!.Type.Should().Be("order.paid");
        (await store.GetUnroutedEventsAsync(null, 10)).Should().ContainSingle();
    }

    [Fact]
    public async Task AppendManyAsync_NewAndExisting_ReportsEachElement()
    {
        var store = await NewStoreAsync();
        await store.AppendAsync(NewEvent("evt_b"));

        var result = await store.AppendManyAsync([NewEvent("evt_a"), NewEvent("evt_b"), NewEvent("evt_c")]);

        result.Should().Equal(true, false, true);
        (await store.GetUnroutedEventsAsync(null, 10)).Select(e => e.Id).Should().Equal("evt_a", "evt_b", "evt_c");
    }

    [Fact]
    public async Task GetEventAsync_Unknown_ReturnsNull()
    {
        var store = await NewStoreAsync();

        (await store.GetEventAsync("evt_nope")).Should().BeNull();
    }

    // ---- unrouted ----

    [Fact]
    public async Task GetUnroutedEventsAsync_Paging_ReturnsIdOrderAfterTheGivenId()
    {
        var store = await NewStoreAsync();
        foreach (var id in new[] { "evt_05", "evt_01", "evt_04", "evt_02", "evt_03" })
        {
            await store.AppendAsync(NewEvent(id));
        }

        var first = await store.GetUnroutedEventsAsync(null, 2);
        var second = await store.GetUnroutedEventsAsync(first[^1].Id, 2);
        var third = await store.GetUnroutedEventsAsync(second[^1].Id, 2);
        var rest = await store.GetUnroutedEventsAsync(third[^1].Id, 2);

        first.Select(e => e.Id).Should().Equal("evt_01", "evt_02");
        second.Select(e => e.Id).Should().Equal("evt_03", "evt_04");
        third.Select(e => e.Id).Should().Equal("evt_05");
        rest.Should().BeEmpty();
    }

    [Fact]
    public async Task GetUnroutedEventsAsync_RoutedEvent_IsNotListed()
    {
        var store = await NewStoreAsync();
        await store.AppendAsync(NewEvent("evt_1"));
        await store.AppendAsync(NewEvent("evt_2"));

        await store.SaveRoutedAsync("evt_1", []);

        (await store.GetUnroutedEventsAsync(null, 10)).Select(e => e.Id).Should().Equal("evt_2");
    }

    // ---- routed ----

    [Fact]
    public async Task SaveRoutedAsync_FirstTime_StoresTheDeliveriesAndReturnsTrue()
    {
        var store = await NewStoreAsync();
        await store.AppendAsync(NewEvent("evt_1"));
        var d1 = NewDelivery("dlv_1", "evt_1", leasedUntil: T0.AddMinutes(5));
        var d2 = NewDelivery("dlv_2", "evt_1", channel: "email", subscriptionId: null);

        var saved = await store.SaveRoutedAsync("evt_1", [d1, d2]);

        saved.Should().BeTrue();
        (await store.GetDeliveryAsync("dlv_1")).Should().Be(d1);
        (await store.GetDeliveryAsync("dlv_2")).Should().Be(d2);
    }

    [Fact]
    public async Task SaveRoutedAsync_AlreadyRouted_ReturnsFalseAndStoresNothing()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1", NewDelivery("dlv_1", "evt_1"));

        var again = await store.SaveRoutedAsync("evt_1", [NewDelivery("dlv_1", "evt_1", channel: "other"), NewDelivery("dlv_2", "evt_1")]);

        again.Should().BeFalse();
        (await store.GetDeliveryAsync("dlv_1"))!.Channel.Should().Be("test");
        (await store.GetDeliveryAsync("dlv_2")).Should().BeNull();
    }

    [Fact]
    public async Task AppendRoutedAsync_NewEvent_StoresItRoutedWithItsDeliveries()
    {
        var store = await NewStoreAsync();
        var e = NewEvent("evt_1");
        var d1 = NewDelivery("dlv_1", "evt_1", leasedUntil: T0.AddMinutes(5));
        var d2 = NewDelivery("dlv_2", "evt_1", channel: "email", subscriptionId: null);

        var added = await store.AppendRoutedAsync(e, [d1, d2]);

        added.Should().BeTrue();
        ShouldBeSameEvent(await store.GetEventAsync("evt_1"), e);
        (await store.GetUnroutedEventsAsync(null, 10)).Should().BeEmpty("the event is stored routed: recovery must not route it again");
        (await store.SaveRoutedAsync("evt_1", [NewDelivery("dlv_3", "evt_1")])).Should().BeFalse();
        (await store.GetDeliveryAsync("dlv_1")).Should().Be(d1);
        (await store.GetDeliveryAsync("dlv_2")).Should().Be(d2);
        (await store.GetDeliveryAsync("dlv_3")).Should().BeNull();
    }

    [Fact]
    public async Task AppendRoutedAsync_ExistingId_ReturnsFalseAndStoresNoDelivery()
    {
        var store = await NewStoreAsync();
        await store.AppendAsync(NewEvent("evt_1", type: "first.type"));

        var added = await store.AppendRoutedAsync(NewEvent("evt_1", type: "second.type"), [NewDelivery("dlv_1", "evt_1")]);

        added.Should().BeFalse();
        (await store.GetEventAsync("evt_1"))!.Type.Should().Be("first.type");
        (await store.GetDeliveryAsync("dlv_1")).Should().BeNull();
        (await store.GetUnroutedEventsAsync(null, 10)).Should().ContainSingle("the first event is still waiting for its routing");
    }

    [Fact]
    public async Task AppendRoutedAsync_ScheduledDelivery_IsDueAtItsTime()
    {
        var store = await NewStoreAsync();
        await store.AppendRoutedAsync(NewEvent("evt_1"), [NewDelivery("dlv_1", "evt_1", nextAttemptAt: T0.AddMinutes(10))]);

        (await store.ClaimDueDeliveriesAsync(T0, T0.AddMinutes(1), 10)).Should().BeEmpty();
        (await store.ClaimDueDeliveriesAsync(T0.AddMinutes(10), T0.AddMinutes(11), 10)).Should().ContainSingle()
            .Which.Event.Id.Should().Be("evt_1");
    }

    [Fact]
    public async Task AppendRoutedManyAsync_NewAndExisting_StoresOnlyTheNewOnesWithTheirDeliveries()
    {
        var store = await NewStoreAsync();
        await store.AppendAsync(NewEvent("evt_old", type: "first.type"));

        var added = await store.AppendRoutedManyAsync(
            [NewEvent("evt_a"), NewEvent("evt_old", type: "second.type"), NewEvent("evt_b")],
            [[NewDelivery("dlv_a1", "evt_a"), NewDelivery("dlv_a2", "evt_a", channel: "email")], [NewDelivery("dlv_old", "evt_old")], []]);

        added.Should().Equal(true, false, true);
        (await store.GetDeliveryAsync("dlv_a1")).Should().NotBeNull();
        (await store.GetDeliveryAsync("dlv_a2")).Should().NotBeNull();
        (await store.GetDeliveryAsync("dlv_old")).Should().BeNull("an existing event changes nothing, its deliveries included");
        (await store.GetEventAsync("evt_old"))!.Type.Should().Be("first.type");
        (await store.GetEventAsync("evt_b")).Should().NotBeNull();
        (await store.GetUnroutedEventsAsync(null, 10)).Select(e => e.Id).Should().Equal(["evt_old"], "the new events are stored routed");
    }

    [Fact]
    public async Task AppendRoutedManyAsync_ListsOfDifferentLength_ThrowsAndStoresNothing()
    {
        var store = await NewStoreAsync();

        var act = async () => await store.AppendRoutedManyAsync([NewEvent("evt_a"), NewEvent("evt_b")], [[NewDelivery("dlv_a", "evt_a")]]);

        (await act.Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be("deliveries");
        (await store.GetEventAsync("evt_a")).Should().BeNull();
    }

    [Fact]
    public async Task SaveRoutedAsync_UnknownEvent_ReturnsFalseAndStoresNothing()
    {
        var store = await NewStoreAsync();

        var saved = await store.SaveRoutedAsync("evt_missing", [NewDelivery("dlv_1", "evt_missing")]);

        saved.Should().BeFalse();
        (await store.GetDeliveryAsync("dlv_1")).Should().BeNull();
    }

    [Fact]
    public async Task AddDeliveriesAsync_SomeExisting_AddsOnlyNewOnesAndCountsThem()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1", NewDelivery("dlv_1", "evt_1"));

        var added = await store.AddDeliveriesAsync([NewDelivery("dlv_1", "evt_1", channel: "other"), NewDelivery("dlv_2", "evt_1")]);

        added.Should().Be(1);
        (await store.GetDeliveryAsync("dlv_1"))!.Channel.Should().Be("test");
        (await store.GetDeliveryAsync("dlv_2")).Should().NotBeNull();
    }

    // ---- claim, lease, release ----

    [Fact]
    public async Task ClaimDueDeliveriesAsync_MixedDueTimes_ReturnsOnlyDueOnesWithTheirEvents()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1",
            NewDelivery("dlv_due", "evt_1", nextAttemptAt: T0),
            NewDelivery("dlv_later", "evt_1", nextAttemptAt: T0.AddMinutes(1)));

        var claimed = await store.ClaimDueDeliveriesAsync(T0, T0.AddMinutes(5), 10);

        claimed.Should().ContainSingle();
        claimed[0].Delivery.Id.Should().Be("dlv_due");
        claimed[0].Delivery.LeasedUntil.Should().Be(T0.AddMinutes(5));
        claimed[0].Event.Id.Should().Be("evt_1");
        claimed[0].Event.Data.ToArray().Should().Equal(NewEvent("evt_1").Data.ToArray());
    }

    [Fact]
    public async Task ClaimDueDeliveriesAsync_AlreadyLeased_IsNotClaimedBeforeTheLeaseEnds()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1", NewDelivery("dlv_1", "evt_1"));
        await store.ClaimDueDeliveriesAsync(T0, T0.AddMinutes(5), 10);

        var again = await store.ClaimDueDeliveriesAsync(T0.AddMinutes(4), T0.AddMinutes(9), 10);

        again.Should().BeEmpty();
    }

    [Fact]
    public async Task ClaimDueDeliveriesAsync_LeaseExpired_ClaimsItAgainWithTheSameId()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1", NewDelivery("dlv_1", "evt_1", leasedUntil: T0.AddMinutes(5)));

        var before = await store.ClaimDueDeliveriesAsync(T0.AddMinutes(5).AddTicks(-1), T0.AddMinutes(10), 10);
        var after = await store.ClaimDueDeliveriesAsync(T0.AddMinutes(5), T0.AddMinutes(10), 10);

        before.Should().BeEmpty();
        after.Should().ContainSingle().Which.Delivery.Id.Should().Be("dlv_1");
        (await store.GetDeliveryAsync("dlv_1"))!.LeasedUntil.Should().Be(T0.AddMinutes(10));
    }

    [Fact]
    public async Task ClaimDueDeliveriesAsync_MoreDueThanMax_ReturnsMaxEarliestFirst()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1", Enumerable.Range(0, 5)
            .Select(i => NewDelivery($"dlv_{i}", "evt_1", nextAttemptAt: T0.AddSeconds(-10 + i))).Reverse().ToArray());

        var first = await store.ClaimDueDeliveriesAsync(T0, T0.AddMinutes(5), 3);
        var second = await store.ClaimDueDeliveriesAsync(T0, T0.AddMinutes(5), 3);

        first.Select(d => d.Delivery.Id).Should().Equal("dlv_0", "dlv_1", "dlv_2");
        second.Select(d => d.Delivery.Id).Should().Equal("dlv_3", "dlv_4");
    }

    [Fact]
    public async Task ClaimDueDeliveriesAsync_FinishedDeliveries_AreNeverClaimed()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1",
            NewDelivery("dlv_ok", "evt_1", DeliveryStatus.Succeeded),
            NewDelivery("dlv_dead", "evt_1", DeliveryStatus.DeadLettered),
            NewDelivery("dlv_cancelled", "evt_1", DeliveryStatus.Cancelled));

        (await store.ClaimDueDeliveriesAsync(T0.AddDays(1), T0.AddDays(2), 10)).Should().BeEmpty();
    }

    [Fact]
    public async Task ReleaseAsync_LeasedDelivery_IsDueAgainAtOnce()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1", NewDelivery("dlv_1", "evt_1", leasedUntil: T0.AddMinutes(5)));

        await store.ReleaseAsync(["dlv_1", "dlv_unknown"]);

        (await store.GetDeliveryAsync("dlv_1"))!.LeasedUntil.Should().BeNull();
        (await store.ClaimDueDeliveriesAsync(T0, T0.AddMinutes(5), 10)).Should().ContainSingle();
    }

    [Fact]
    public async Task ReleaseAsync_FinishedDelivery_StaysFinished()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1", NewDelivery("dlv_1", "evt_1", DeliveryStatus.Succeeded));

        await store.ReleaseAsync(["dlv_1"]);

        (await store.GetDeliveryAsync("dlv_1"))!.Status.Should().Be(DeliveryStatus.Succeeded);
        (await store.GetNextDueTimeAsync()).Should().BeNull();
    }

    [Fact]
    public async Task GetNextDueTimeAsync_NothingPending_ReturnsNull()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1", NewDelivery("dlv_1", "evt_1", DeliveryStatus.DeadLettered));

        (await store.GetNextDueTimeAsync()).Should().BeNull();
    }

    [Fact]
    public async Task GetNextDueTimeAsync_PendingDeliveries_ReturnsEarliestOfNextAttemptOrLeaseEnd()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1",
            NewDelivery("dlv_leased", "evt_1", nextAttemptAt: T0, leasedUntil: T0.AddMinutes(5)),
            NewDelivery("dlv_retry", "evt_1", nextAttemptAt: T0.AddMinutes(3)),
            NewDelivery("dlv_done", "evt_1", DeliveryStatus.Succeeded, nextAttemptAt: T0.AddMinutes(-10)));

        (await store.GetNextDueTimeAsync()).Should().Be(T0.AddMinutes(3));
    }

    // ---- attempts ----

    [Fact]
    public async Task RecordAttemptAsync_Success_MarksSucceededEndsTheLeaseAndKeepsTheAttempt()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1", NewDelivery("dlv_1", "evt_1", leasedUntil: T0.AddMinutes(5)));
        var attempt = Attempt("dlv_1", 1, AttemptOutcome.Succeeded, statusCode: 200);

        await store.RecordAttemptAsync(attempt, new DeliveryUpdate(DeliveryStatus.Succeeded, 1, T0.AddSeconds(1), T0.AddSeconds(1), null, 200));

        var d = await store.GetDeliveryAsync("dlv_1");
        d!.Status.Should().Be(DeliveryStatus.Succeeded);
        d.Attempts.Should().Be(1);
        d.CompletedAt.Should().Be(T0.AddSeconds(1));
        d.LeasedUntil.Should().BeNull();
        d.LastStatusCode.Should().Be(200);
        (await store.GetAttemptsAsync("dlv_1")).Should().ContainSingle().Which.Should().Be(attempt);
        (await store.GetNextDueTimeAsync()).Should().BeNull();
    }

    [Fact]
    public async Task RecordAttemptAsync_TransientFailure_StaysPendingDueAtTheNextAttempt()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1", NewDelivery("dlv_1", "evt_1", leasedUntil: T0.AddMinutes(5)));

        await store.RecordAttemptAsync(
            Attempt("dlv_1", 1, AttemptOutcome.TransientFailure, "503", 503),
            new DeliveryUpdate(DeliveryStatus.Pending, 1, T0.AddSeconds(30), null, "503 Service Unavailable", 503));

        var d = await store.GetDeliveryAsync("dlv_1");
        d!.Status.Should().Be(DeliveryStatus.Pending);
        d.LeasedUntil.Should().BeNull();
        d.LastError.Should().Be("503 Service Unavailable");
        (await store.GetNextDueTimeAsync()).Should().Be(T0.AddSeconds(30));
        (await store.ClaimDueDeliveriesAsync(T0.AddSeconds(29), T0.AddMinutes(5), 10)).Should().BeEmpty();
        (await store.ClaimDueDeliveriesAsync(T0.AddSeconds(30), T0.AddMinutes(5), 10)).Should().ContainSingle();
    }

    [Fact]
    public async Task RecordAttemptAsync_SeveralAttempts_ListsThemOldestFirstAndKeepsTheLastError()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1", NewDelivery("dlv_1", "evt_1"));
        var attempts = new[]
        {
            Attempt("dlv_1", 1, AttemptOutcome.TransientFailure, "timeout"),
            Attempt("dlv_1", 2, AttemptOutcome.TransientFailure, "503", 503),
            Attempt("dlv_1", 3, AttemptOutcome.PermanentFailure, "410 Gone", 410),
        };

        await store.RecordAttemptAsync(attempts[0], new DeliveryUpdate(DeliveryStatus.Pending, 1, T0.AddSeconds(1), null, "timeout", null));
        await store.RecordAttemptAsync(attempts[1], new DeliveryUpdate(DeliveryStatus.Pending, 2, T0.AddSeconds(2), null, "503", 503));
        await store.RecordAttemptAsync(attempts[2], new DeliveryUpdate(DeliveryStatus.DeadLettered, 3, T0.AddSeconds(3), T0.AddSeconds(3), "410 Gone", 410));

        (await store.GetAttemptsAsync("dlv_1")).Should().Equal(attempts);
        var d = await store.GetDeliveryAsync("dlv_1");
        d!.Status.Should().Be(DeliveryStatus.DeadLettered);
        d.Attempts.Should().Be(3);
        d.LastError.Should().Be("410 Gone");
        d.LastStatusCode.Should().Be(410);
    }

    [Fact]
    public async Task RecordAttemptAsync_SuccessAfterFailure_ClearsTheLastError()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1", NewDelivery("dlv_1", "evt_1"));
        await store.RecordAttemptAsync(Attempt("dlv_1", 1, AttemptOutcome.TransientFailure, "timeout"), new DeliveryUpdate(DeliveryStatus.Pending, 1, T0, null, "timeout", null));

        await store.RecordAttemptAsync(Attempt("dlv_1", 2, AttemptOutcome.Succeeded), new DeliveryUpdate(DeliveryStatus.Succeeded, 2, T0, T0, null, null));

        (await store.GetDeliveryAsync("dlv_1"))!.LastError.Should().BeNull();
    }

    [Fact]
    public async Task RecordAttemptAsync_UnknownDelivery_ThrowsAndStoresNoAttempt()
    {
        var store = await NewStoreAsync();

        var act = async () => await store.RecordAttemptAsync(Attempt("dlv_missing", 1, AttemptOutcome.Succeeded), new DeliveryUpdate(DeliveryStatus.Succeeded, 1, T0, T0, null, null));

        await act.Should().ThrowAsync<KeyNotFoundException>();
        (await store.GetAttemptsAsync("dlv_missing")).Should().BeEmpty();
    }

    [Fact]
    public async Task GetAttemptsAsync_NoAttempts_ReturnsEmpty()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1", NewDelivery("dlv_1", "evt_1"));

        (await store.GetAttemptsAsync("dlv_1")).Should().BeEmpty();
    }

    // ---- update ----

    [Fact]
    public async Task UpdateDeliveryAsync_Existing_ChangesTheStateEndsTheLeaseAndReturnsTrue()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1", NewDelivery("dlv_1", "evt_1", leasedUntil: T0.AddMinutes(5)));

        var updated = await store.UpdateDeliveryAsync("dlv_1", new DeliveryUpdate(DeliveryStatus.Cancelled, 0, T0, T0.AddSeconds(5), "subscription removed", null));

        updated.Should().BeTrue();
        var d = await store.GetDeliveryAsync("dlv_1");
        d!.Status.Should().Be(DeliveryStatus.Cancelled);
        d.CompletedAt.Should().Be(T0.AddSeconds(5));
        d.LastError.Should().Be("subscription removed");
        d.LeasedUntil.Should().BeNull();
        (await store.GetAttemptsAsync("dlv_1")).Should().BeEmpty();
    }

    [Fact]
    public async Task UpdateDeliveryAsync_Unknown_ReturnsFalse()
    {
        var store = await NewStoreAsync();

        (await store.UpdateDeliveryAsync("dlv_missing", new DeliveryUpdate(DeliveryStatus.Cancelled, 0, T0, T0, null, null))).Should().BeFalse();
    }

    // ---- query and count ----

    private static async Task<IEventStore> SeedQueryDataAsync(IEventStore store)
    {
        await store.AppendAsync(NewEvent("evt_paid"));
        await store.SaveRoutedAsync("evt_paid",
        [
            NewDelivery("dlv_a", "evt_paid", DeliveryStatus.DeadLettered, createdAt: T0.AddMinutes(1), channel: "webhook", subscriptionId: "sub_1"),
            NewDelivery("dlv_b", "evt_paid", DeliveryStatus.Succeeded, createdAt: T0.AddMinutes(2), channel: "email", subscriptionId: "sub_2"),
            NewDelivery("dlv_c", "evt_paid", DeliveryStatus.Pending, createdAt: T0.AddMinutes(3), channel: "webhook", subscriptionId: null),
        ]);
        await store.AppendAsync(NewEvent("evt_refund", type: "order.refunded"));
        await store.SaveRoutedAsync("evt_refund",
        [
            NewDelivery("dlv_d", "evt_refund", DeliveryStatus.DeadLettered, createdAt: T0.AddMinutes(4), channel: "sms", eventType: "order.refunded", subscriptionId: "sub_1"),
            NewDelivery("dlv_e", "evt_refund", DeliveryStatus.Cancelled, createdAt: T0.AddMinutes(5), channel: "webhook", eventType: "order.refunded", subscriptionId: "sub_2"),
        ]);
        return store;
    }

    public static TheoryData<string, DeliveryQuery, string[]> Filters => new()
    {
        { "none", new DeliveryQuery(), ["dlv_e", "dlv_d", "dlv_c", "dlv_b", "dlv_a"] },
        { "status", new DeliveryQuery { Status = DeliveryStatus.DeadLettered }, ["dlv_d", "dlv_a"] },
        { "pending", new DeliveryQuery { Status = DeliveryStatus.Pending }, ["dlv_c"] },
        { "event type", new DeliveryQuery { EventType = "order.refunded" }, ["dlv_e", "dlv_d"] },
        { "subscription", new DeliveryQuery { SubscriptionId = "sub_1" }, ["dlv_d", "dlv_a"] },
        { "channel", new DeliveryQuery { Channel = "webhook" }, ["dlv_e", "dlv_c", "dlv_a"] },
        { "created from", new DeliveryQuery { CreatedFrom = T0.AddMinutes(4) }, ["dlv_e", "dlv_d"] },
        { "created to", new DeliveryQuery { CreatedTo = T0.AddMinutes(2) }, ["dlv_a"] },
        { "created range", new DeliveryQuery { CreatedFrom = T0.AddMinutes(2), CreatedTo = T0.AddMinutes(4) }, ["dlv_c", "dlv_b"] },
        { "combined", new DeliveryQuery { Status = DeliveryStatus.DeadLettered, Channel = "webhook", EventType = "order.paid", SubscriptionId = "sub_1" }, ["dlv_a"] },
        { "no match", new DeliveryQuery { Channel = "push" }, [] },
    };

    [Theory]
    [MemberData(nameof(Filters))]
    public async Task QueryDeliveriesAsync_Filter_ReturnsOnlyMatchesNewestFirst(string filter, DeliveryQuery query, string[] expected)
    {
        var store = await SeedQueryDataAsync(await NewStoreAsync());

        var page = await store.QueryDeliveriesAsync(query);

        page.Select(d => d.Id).Should().Equal(expected, filter);
    }

    [Theory]
    [MemberData(nameof(Filters))]
    public async Task CountDeliveriesAsync_Filter_CountsOnlyMatches(string filter, DeliveryQuery query, string[] expected)
    {
        var store = await SeedQueryDataAsync(await NewStoreAsync());

        (await store.CountDeliveriesAsync(query)).Should().Be(expected.Length, filter);
    }

    [Fact]
    public async Task QueryDeliveriesAsync_Paging_WalksEveryMatchOnceInOrder()
    {
        var store = await SeedQueryDataAsync(await NewStoreAsync());

        var first = await store.QueryDeliveriesAsync(new DeliveryQuery { Take = 2 });
        var second = await store.QueryDeliveriesAsync(new DeliveryQuery { Skip = 2, Take = 2 });
        var third = await store.QueryDeliveriesAsync(new DeliveryQuery { Skip = 4, Take = 2 });

        first.Select(d => d.Id).Should().Equal("dlv_e", "dlv_d");
        second.Select(d => d.Id).Should().Equal("dlv_c", "dlv_b");
        third.Select(d => d.Id).Should().Equal("dlv_a");
    }

    [Fact]
    public async Task QueryDeliveriesAsync_SameCreationTime_OrdersById()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1", NewDelivery("dlv_z", "evt_1"), NewDelivery("dlv_a", "evt_1"), NewDelivery("dlv_m", "evt_1"));

        (await store.QueryDeliveriesAsync(new DeliveryQuery())).Select(d => d.Id).Should().Equal("dlv_a", "dlv_m", "dlv_z");
    }

    [Fact]
    public async Task CountDeliveriesAsync_WithPaging_IgnoresIt()
    {
        var store = await SeedQueryDataAsync(await NewStoreAsync());

        (await store.CountDeliveriesAsync(new DeliveryQuery { Skip = 4, Take = 1 })).Should().Be(5);
    }

    [Theory]
    [InlineData(-1, 10, "Skip")]
    [InlineData(0, 0, "Take")]
    [InlineData(0, 1001, "Take")]
    public async Task QueryDeliveriesAsync_PagingOutOfRange_ThrowsNamingTheField(int skip, int take, string field)
    {
        var store = await NewStoreAsync();

        var act = async () => await store.QueryDeliveriesAsync(new DeliveryQuery { Skip = skip, Take = take });

        (await act.Should().ThrowAsync<ArgumentOutOfRangeException>()).Which.ParamName.Should().Be(field);
    }

    // ---- redeliver ----

    [Theory]
    [InlineData(DeliveryStatus.DeadLettered)]
    [InlineData(DeliveryStatus.Succeeded)]
    [InlineData(DeliveryStatus.Cancelled)]
    public async Task RedeliverAsync_Finished_MakesItPendingDueNowWithAFreshBudget(DeliveryStatus status)
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1", NewDelivery("dlv_1", "evt_1"));
        await store.RecordAttemptAsync(Attempt("dlv_1", 1, AttemptOutcome.PermanentFailure, "boom"), new DeliveryUpdate(status, 3, T0, T0, "boom", 500));
        var now = T0.AddHours(1);

        var redelivered = await store.RedeliverAsync("dlv_1", now);

        redelivered.Should().BeTrue();
        var d = await store.GetDeliveryAsync("dlv_1");
        d!.Status.Should().Be(DeliveryStatus.Pending);
        d.Attempts.Should().Be(0);
        d.NextAttemptAt.Should().Be(now);
        d.CompletedAt.Should().BeNull();
        d.LeasedUntil.Should().BeNull();
        (await store.GetAttemptsAsync("dlv_1")).Should().ContainSingle("the history is kept");
        (await store.ClaimDueDeliveriesAsync(now, now.AddMinutes(5), 10)).Should().ContainSingle().Which.Delivery.Id.Should().Be("dlv_1");
    }

    [Fact]
    public async Task RedeliverAsync_StillPending_ReturnsFalseAndChangesNothing()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1", NewDelivery("dlv_1", "evt_1", nextAttemptAt: T0.AddMinutes(10)));
        await store.RecordAttemptAsync(Attempt("dlv_1", 1, AttemptOutcome.TransientFailure, "503"), new DeliveryUpdate(DeliveryStatus.Pending, 1, T0.AddMinutes(10), null, "503", 503));

        (await store.RedeliverAsync("dlv_1", T0)).Should().BeFalse();

        var d = await store.GetDeliveryAsync("dlv_1");
        d!.Attempts.Should().Be(1);
        d.NextAttemptAt.Should().Be(T0.AddMinutes(10));
    }

    [Fact]
    public async Task RedeliverAsync_Unknown_ReturnsFalse()
    {
        var store = await NewStoreAsync();

        (await store.RedeliverAsync("dlv_missing", T0)).Should().BeFalse();
    }

    // ---- events by time ----

    [Fact]
    public async Task GetEventsAsync_TimeRange_IsHalfOpenAndOrderedById()
    {
        var store = await NewStoreAsync();
        await store.AppendAsync(NewEvent("evt_before", T0.AddTicks(-1)));
        await store.AppendAsync(NewEvent("evt_start_b", T0));
        await store.AppendAsync(NewEvent("evt_start_a", T0.AddMinutes(30)));
        await store.AppendAsync(NewEvent("evt_end", T0.AddHours(1)));
        await store.SaveRoutedAsync("evt_start_a", []);

        var events = await store.GetEventsAsync(T0, T0.AddHours(1), null, 10);

        events.Select(e => e.Id).Should().Equal("evt_start_a", "evt_start_b");
    }

    [Fact]
    public async Task GetEventsAsync_Paging_ContinuesAfterTheGivenId()
    {
        var store = await NewStoreAsync();
        for (var i = 0; i < 5; i++)
        {
            await store.AppendAsync(NewEvent($"evt_{i}", T0.AddMinutes(i)));
        }

        var first = await store.GetEventsAsync(T0, T0.AddHours(1), null, 3);
        var second = await store.GetEventsAsync(T0, T0.AddHours(1), first[^1].Id, 3);

        first.Select(e => e.Id).Should().Equal("evt_0", "evt_1", "evt_2");
        second.Select(e => e.Id).Should().Equal("evt_3", "evt_4");
    }

    // ---- purge ----

    [Fact]
    public async Task PurgeAsync_OldFinishedDeliveries_DeletesThemWithAttemptsAndTheirEmptiedEvent()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_old", NewDelivery("dlv_1", "evt_old"), NewDelivery("dlv_2", "evt_old"));
        await store.RecordAttemptAsync(Attempt("dlv_1", 1, AttemptOutcome.Succeeded), new DeliveryUpdate(DeliveryStatus.Succeeded, 1, T0, T0, null, null));
        await store.RecordAttemptAsync(Attempt("dlv_2", 1, AttemptOutcome.PermanentFailure, "x"), new DeliveryUpdate(DeliveryStatus.DeadLettered, 1, T0, T0.AddMinutes(1), "x", null));

        var purged = await store.PurgeAsync(T0.AddHours(1));

        purged.Should().Be(2);
        (await store.GetDeliveryAsync("dlv_1")).Should().BeNull();
        (await store.GetDeliveryAsync("dlv_2")).Should().BeNull();
        (await store.GetAttemptsAsync("dlv_1")).Should().BeEmpty();
        (await store.GetEventAsync("evt_old")).Should().BeNull();
    }

    [Fact]
    public async Task PurgeAsync_PendingOrRecentDeliveries_AreKeptWithTheirEvent()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1",
            NewDelivery("dlv_old", "evt_1", DeliveryStatus.Succeeded, completedAt: T0),
            NewDelivery("dlv_pending", "evt_1", nextAttemptAt: T0.AddDays(-30)),
            NewDelivery("dlv_recent", "evt_1", DeliveryStatus.DeadLettered, completedAt: T0.AddHours(2)));

        var purged = await store.PurgeAsync(T0.AddHours(1));

        purged.Should().Be(1);
        (await store.GetDeliveryAsync("dlv_old")).Should().BeNull();
        (await store.GetDeliveryAsync("dlv_pending")).Should().NotBeNull();
        (await store.GetDeliveryAsync("dlv_recent")).Should().NotBeNull();
        (await store.GetEventAsync("evt_1")).Should().NotBeNull();
    }

    [Fact]
    public async Task PurgeAsync_RoutedEventWithoutDeliveries_DeletedOnlyWhenOld()
    {
        var store = await NewStoreAsync();
        await store.AppendAsync(NewEvent("evt_old", T0.AddDays(-2)));
        await store.AppendAsync(NewEvent("evt_new", T0));
        await store.AppendAsync(NewEvent("evt_unrouted", T0.AddDays(-2)));
        await store.SaveRoutedAsync("evt_old", []);
        await store.SaveRoutedAsync("evt_new", []);

        await store.PurgeAsync(T0.AddDays(-1));

        (await store.GetEventAsync("evt_old")).Should().BeNull();
        (await store.GetEventAsync("evt_new")).Should().NotBeNull();
        (await store.GetEventAsync("evt_unrouted")).Should().NotBeNull("an unrouted event is not finished");
    }

    // ---- concurrency ----

    [Fact]
    public async Task AppendAsync_ManyConcurrentWriters_LosesNothing()
    {
        var store = await NewStoreAsync();
        const int Writers = 16, PerWriter = 100;

        await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < PerWriter; i++)
            {
                (await store.AppendAsync(NewEvent($"evt_{w:D2}_{i:D3}"))).Should().BeTrue();
            }
        })));

        var all = new List<NotificationEvent>();
        string? after = null;
        while (true)
        {
            var page = await store.GetUnroutedEventsAsync(after, 500);
            if (page.Count == 0)
            {
                break;
            }

            all.AddRange(page);
            after = page[^1].Id;
        }

        all.Select(e => e.Id).Should().OnlyHaveUniqueItems().And.HaveCount(Writers * PerWriter);
    }

    [Fact]
    public async Task RecordAttemptAsync_ManyConcurrentDeliveries_RecordsEveryAttempt()
    {
        var store = await NewStoreAsync();
        var deliveries = Enumerable.Range(0, 200).Select(i => NewDelivery($"dlv_{i:D3}", "evt_1")).ToArray();
        await RouteAsync(store, "evt_1", deliveries);

        await Task.WhenAll(deliveries.Select(d => Task.Run(async () =>
        {
            await store.RecordAttemptAsync(Attempt(d.Id, 1, AttemptOutcome.TransientFailure, "503"), new DeliveryUpdate(DeliveryStatus.Pending, 1, T0, null, "503", 503));
            await store.RecordAttemptAsync(Attempt(d.Id, 2, AttemptOutcome.Succeeded), new DeliveryUpdate(DeliveryStatus.Succeeded, 2, T0, T0, null, 200));
        })));

        (await store.CountDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.Succeeded })).Should().Be(200);
        foreach (var d in deliveries)
        {
            (await store.GetAttemptsAsync(d.Id)).Select(a => a.AttemptNumber).Should().Equal(1, 2);
        }
    }

    [Fact]
    public async Task ClaimDueDeliveriesAsync_ConcurrentClaimers_NeverTakeTheSameDeliveryTwice()
    {
        var store = await NewStoreAsync();
        await RouteAsync(store, "evt_1", Enumerable.Range(0, 300).Select(i => NewDelivery($"dlv_{i:D3}", "evt_1")).ToArray());
        var taken = new ConcurrentBag<string>();

        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            while (true)
            {
                var batch = await store.ClaimDueDeliveriesAsync(T0, T0.AddMinutes(5), 7);
                if (batch.Count == 0)
                {
                    return;
                }

                foreach (var item in batch)
                {
                    taken.Add(item.Delivery.Id);
                }
            }
        })));

        taken.Should().OnlyHaveUniqueItems().And.HaveCount(300);
    }
}

/// <summary>
/// The contract of a durable store: everything accepted is there again after the store is closed and opened again
/// on the same backing storage (a process restart).
/// </summary>
public abstract class DurableEventStoreContractTests : EventStoreContractTests
{
    /// <summary>Closes <paramref name="store"/> and opens a new instance on the same backing storage.</summary>
    protected abstract Task<IEventStore> ReopenAsync(IEventStore store);

    [Fact]
    public async Task ReopenAsync_AfterWrites_KeepsEventsDeliveriesAndAttempts()
    {
        var store = await NewStoreAsync();
        var e = NewEvent("evt_1") with { Recipients = [new Recipient("email", "a@example.com")], TenantId = "t1" };
        await store.AppendAsync(e);
        await store.AppendAsync(NewEvent("evt_unrouted"));
        var d = NewDelivery("dlv_1", "evt_1", nextAttemptAt: T0.AddMinutes(1));
        await store.SaveRoutedAsync("evt_1", [d]);
        var attempt = Attempt("dlv_1", 1, AttemptOutcome.TransientFailure, "503", 503);
        await store.RecordAttemptAsync(attempt, new DeliveryUpdate(DeliveryStatus.Pending, 1, T0.AddMinutes(2), null, "503", 503));

        var reopened = await ReopenAsync(store);

        ShouldBeSameEvent(await reopened.GetEventAsync("evt_1"), e);
        (await reopened.GetUnroutedEventsAsync(null, 10)).Select(x => x.Id).Should().Equal("evt_unrouted");
        var stored = await reopened.GetDeliveryAsync("dlv_1");
        stored!.Attempts.Should().Be(1);
        stored.NextAttemptAt.Should().Be(T0.AddMinutes(2));
        (await reopened.GetAttemptsAsync("dlv_1")).Should().Equal(attempt);
        (await reopened.GetNextDueTimeAsync()).Should().Be(T0.AddMinutes(2));
    }

    [Fact]
    public async Task ReopenAsync_AfterConcurrentAppends_KeepsEveryAcknowledgedEvent()
    {
        var store = await NewStoreAsync();
        var acknowledged = new ConcurrentBag<string>();
        await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 50; i++)
            {
                var id = $"evt_{w}_{i:D2}";
                await store.AppendAsync(NewEvent(id));
                acknowledged.Add(id);
            }
        })));

        var reopened = await ReopenAsync(store);

        (await reopened.GetUnroutedEventsAsync(null, 1000)).Select(e => e.Id).Should().BeEquivalentTo(acknowledged);
    }
}
