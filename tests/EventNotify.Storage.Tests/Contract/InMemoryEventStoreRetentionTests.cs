using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace EventNotify.Storage.Tests.Contract;

/// <summary>The in-memory store's bound on finished history (<see cref="InMemoryEventStoreOptions.MaxFinishedDeliveries"/>).</summary>
public sealed class InMemoryEventStoreRetentionTests
{
    private static readonly DateTimeOffset T0 = InMemoryStoreRows.T0;

    private static InMemoryEventStore NewStore(int? max) => new(new InMemoryEventStoreOptions { MaxFinishedDeliveries = max });

    private static NotificationEvent NewEvent(string id) => InMemoryStoreRows.Event(id);

    private static Delivery NewDelivery(string id, string eventId) => InMemoryStoreRows.PendingDelivery(id, eventId);

    /// <summary>Appends an event routed to one delivery per id given.</summary>
    private static async Task AddRoutedAsync(InMemoryEventStore store, string eventId, params string[] deliveryIds)
    {
        (await store.AppendAsync(NewEvent(eventId))).Should().BeTrue();
        (await store.SaveRoutedAsync(eventId, deliveryIds.Select(d => NewDelivery(d, eventId)).ToArray())).Should().BeTrue();
    }

    private static ValueTask FinishAsync(InMemoryEventStore store, string deliveryId, DeliveryStatus status, DateTimeOffset at, int attemptNumber = 1) =>
        store.RecordAttemptAsync(
            new DeliveryAttempt
            {
                DeliveryId = deliveryId,
                AttemptNumber = attemptNumber,
                StartedAt = at,
                Outcome = status == DeliveryStatus.Succeeded ? AttemptOutcome.Succeeded : AttemptOutcome.PermanentFailure,
            },
            new DeliveryUpdate(status, attemptNumber, at, status == DeliveryStatus.Pending ? null : at, status == DeliveryStatus.Succeeded ? null : "failed", null));

    [Fact]
    public async Task RecordAttemptAsync_PastMaxFinishedDeliveries_DropsTheOldestFinishedWithItsAttemptsAndEvent()
    {
        var store = NewStore(max: 2);
        for (var i = 1; i <= 3; i++)
        {
            await AddRoutedAsync(store, $"evt_{i}", $"dlv_{i}");
            await FinishAsync(store, $"dlv_{i}", DeliveryStatus.Succeeded, T0.AddSeconds(i));
        }

        (await store.GetDeliveryAsync("dlv_1")).Should().BeNull();
        (await store.GetAttemptsAsync("dlv_1")).Should().BeEmpty();
        (await store.GetEventAsync("evt_1")).Should().BeNull();
        (await store.GetDeliveryAsync("dlv_2")).Should().NotBeNull();
        (await store.GetDeliveryAsync("dlv_3"))!.Status.Should().Be(DeliveryStatus.Succeeded);
        (await store.GetAttemptsAsync("dlv_3")).Should().ContainSingle();
    }

    [Fact]
    public async Task RecordAttemptAsync_PastMaxFinishedDeliveries_KeepsDeadLettersAndPendingDeliveries()
    {
        var store = NewStore(max: 1);
        await AddRoutedAsync(store, "evt_dead", "dlv_dead");
        await FinishAsync(store, "dlv_dead", DeliveryStatus.DeadLettered, T0);
        await AddRoutedAsync(store, "evt_pending", "dlv_pending");
        for (var i = 1; i <= 3; i++)
        {
            await AddRoutedAsync(store, $"evt_{i}", $"dlv_{i}");
            await FinishAsync(store, $"dlv_{i}", DeliveryStatus.Succeeded, T0.AddSeconds(i));
        }

        (await store.GetDeliveryAsync("dlv_dead"))!.Status.Should().Be(DeliveryStatus.DeadLettered);
        (await store.GetAttemptsAsync("dlv_dead")).Should().ContainSingle();
        (await store.GetDeliveryAsync("dlv_pending"))!.Status.Should().Be(DeliveryStatus.Pending);
        (await store.GetEventAsync("evt_pending")).Should().NotBeNull();
        (await store.CountDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.Succeeded })).Should().Be(1);
    }

    [Fact]
    public async Task RecordAttemptAsync_EventWithTwoDeliveries_KeepsTheEventUntilBothAreDropped()
    {
        var store = NewStore(max: 1);
        await AddRoutedAsync(store, "evt_1", "dlv_a", "dlv_b");
        await FinishAsync(store, "dlv_a", DeliveryStatus.Succeeded, T0);
        await FinishAsync(store, "dlv_b", DeliveryStatus.Succeeded, T0.AddSeconds(1));

        (await store.GetDeliveryAsync("dlv_a")).Should().BeNull();
        (await store.GetEventAsync("evt_1")).Should().NotBeNull("dlv_b, still kept, belongs to it");
        (await store.AppendAsync(NewEvent("evt_1"))).Should().BeFalse("the event is still known, so a second publish is a duplicate");
    }

    [Fact]
    public async Task AppendAsync_EventDroppedWithItsHistory_IsAcceptedAgain()
    {
        var store = NewStore(max: 1);
        await AddRoutedAsync(store, "evt_1", "dlv_1");
        await FinishAsync(store, "dlv_1", DeliveryStatus.Succeeded, T0);
        await AddRoutedAsync(store, "evt_2", "dlv_2");
        await FinishAsync(store, "dlv_2", DeliveryStatus.Succeeded, T0.AddSeconds(1));

        (await store.AppendAsync(NewEvent("evt_1"))).Should().BeTrue("the documented idempotency window of this store is the history it keeps");
    }

    [Fact]
    public async Task RedeliverAsync_FinishedAgain_TheOlderFinishDoesNotDropTheNewerOne()
    {
        var store = NewStore(max: 1);
        await AddRoutedAsync(store, "evt_1", "dlv_1");
        await FinishAsync(store, "dlv_1", DeliveryStatus.Succeeded, T0);
        (await store.RedeliverAsync("dlv_1", T0.AddSeconds(1))).Should().BeTrue();
        await FinishAsync(store, "dlv_1", DeliveryStatus.Succeeded, T0.AddSeconds(2), attemptNumber: 1);

        // Two finishes of one delivery are queued; dropping the first (stale) one must leave the delivery in place.
        var kept = await store.GetDeliveryAsync("dlv_1");
        kept.Should().NotBeNull();
        kept!.CompletedAt.Should().Be(T0.AddSeconds(2));
        (await store.GetAttemptsAsync("dlv_1")).Should().HaveCount(2);
    }

    [Fact]
    public async Task SaveRoutedAsync_EventsWithNoDelivery_AreBoundedByTheSameLimit()
    {
        var store = NewStore(max: 1);
        await AddRoutedAsync(store, "evt_1");
        await AddRoutedAsync(store, "evt_2");

        (await store.GetEventAsync("evt_1")).Should().BeNull();
        (await store.GetEventAsync("evt_2")).Should().NotBeNull();
    }

    [Fact]
    public async Task MaxFinishedDeliveries_Null_KeepsEveryFinishedDelivery()
    {
        var store = NewStore(max: null);
        for (var i = 1; i <= 50; i++)
        {
            await AddRoutedAsync(store, $"evt_{i}", $"dlv_{i}");
            await FinishAsync(store, $"dlv_{i}", DeliveryStatus.Succeeded, T0.AddSeconds(i));
        }

        (await store.CountDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.Succeeded })).Should().Be(50);
    }

    [Fact]
    public void Options_Default_KeepsOneThousandFinishedDeliveries() =>
        new InMemoryEventStoreOptions().MaxFinishedDeliveries.Should().Be(1_000);

    [Fact]
    public void Constructor_NegativeMaxFinishedDeliveries_ThrowsNamingTheOption()
    {
        var act = () => NewStore(max: -1);

        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*MaxFinishedDeliveries must be 0 or more*");
    }

    [Fact]
    public async Task StartAsync_NegativeMaxFinishedDeliveries_FailsOptionsValidation()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddEventNotify().UseInMemoryStore(o => o.MaxFinishedDeliveries = -5);
        using var host = builder.Build();

        var act = () => host.StartAsync();

        (await act.Should().ThrowAsync<OptionsValidationException>())
            .Which.Message.Should().Contain("InMemoryEventStoreOptions.MaxFinishedDeliveries must be 0 or more");
    }

    [Fact]
    public async Task UseInMemoryStore_WithOptions_TheEngineStoreHonoursThem()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddEventNotify().UseInMemoryStore(o => o.MaxFinishedDeliveries = 0);
        using var host = builder.Build();
        var store = (InMemoryEventStore)host.Services.GetRequiredService<IEventStore>();

        await AddRoutedAsync(store, "evt_1", "dlv_1");
        await FinishAsync(store, "dlv_1", DeliveryStatus.Succeeded, T0);

        (await store.GetDeliveryAsync("dlv_1")).Should().BeNull();
    }

    [Fact]
    public async Task ReplayBeforeRouting_RoutedDeliveryFinishes_EventKeptForTheReplayDelivery()
    {
        // A replay can add a delivery to an event the router has not routed yet; routing must add to that count, not
        // reset it, or finishing the routed delivery drops the event the replay delivery still needs.
        var store = NewStore(max: 0);
        (await store.AppendAsync(NewEvent("evt_1"))).Should().BeTrue();
        (await store.AddDeliveriesAsync([NewDelivery("dlv_replay", "evt_1")])).Should().Be(1);
        (await store.SaveRoutedAsync("evt_1", [NewDelivery("dlv_routed", "evt_1")])).Should().BeTrue();

        await FinishAsync(store, "dlv_routed", DeliveryStatus.Succeeded, T0);

        (await store.GetEventAsync("evt_1")).Should().NotBeNull("the replay delivery is still pending");
        var claimed = await store.ClaimDueDeliveriesAsync(T0, T0.AddMinutes(5), 10);
        claimed.Should().ContainSingle().Which.Event.Id.Should().Be("evt_1");
        await FinishAsync(store, "dlv_replay", DeliveryStatus.Succeeded, T0);
        (await store.GetEventAsync("evt_1")).Should().BeNull("with nothing of it left and no history kept, the event goes too");
    }
}
