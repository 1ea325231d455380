namespace EventNotify.Storage.Tests.Contract;

/// <summary>
/// The in-memory store's due order under many changes: its heap keeps stale entries until they surface or are
/// compacted away, so these tests change deliveries far more often than the compaction threshold.
/// </summary>
public sealed class InMemoryEventStoreDueOrderTests
{
    private static readonly DateTimeOffset T0 = InMemoryStoreRows.T0;

    private static async Task<InMemoryEventStore> StoreWithAsync(int deliveries, Func<int, DateTimeOffset> due)
    {
        var store = new InMemoryEventStore(new InMemoryEventStoreOptions { MaxFinishedDeliveries = null });
        for (var i = 0; i < deliveries; i++)
        {
            var eventId = $"evt_{i:D5}";
            await store.AppendAsync(InMemoryStoreRows.Event(eventId));
            await store.SaveRoutedAsync(eventId, [InMemoryStoreRows.PendingDelivery($"dlv_{i:D5}", eventId, due(i))]);
        }

        return store;
    }

    private static ValueTask RetryAtAsync(InMemoryEventStore store, string id, int attempt, DateTimeOffset next) =>
        store.RecordAttemptAsync(
            new DeliveryAttempt { DeliveryId = id, AttemptNumber = attempt, StartedAt = T0, Outcome = AttemptOutcome.TransientFailure },
            new DeliveryUpdate(DeliveryStatus.Pending, attempt, next, null, "503", 503));

    [Fact]
    public async Task ManyRetries_EachDeliveryClaimedOnceAtItsLatestTimeInOrder()
    {
        const int count = 3000;
        var store = await StoreWithAsync(count, _ => T0);

        // Every delivery is rescheduled five times (15,000 changes, far past the compaction threshold); the last time
        // wins, and it runs backwards so the claim order is the reverse of the insertion order.
        for (var attempt = 1; attempt <= 5; attempt++)
        {
            for (var i = 0; i < count; i++)
            {
                await RetryAtAsync(store, $"dlv_{i:D5}", attempt, T0.AddMinutes(attempt).AddSeconds(count - i));
            }
        }

        (await store.GetNextDueTimeAsync()).Should().Be(T0.AddMinutes(5).AddSeconds(1));
        (await store.ClaimDueDeliveriesAsync(T0.AddMinutes(5), T0.AddHours(1), count)).Should().BeEmpty("no delivery is due before its latest time");

        var claimed = await store.ClaimDueDeliveriesAsync(T0.AddHours(1), T0.AddHours(2), count * 2);

        claimed.Select(c => c.Delivery.Id).Should().Equal(Enumerable.Range(0, count).Reverse().Select(i => $"dlv_{i:D5}"));
        claimed.Should().OnlyContain(c => c.Delivery.Attempts == 5 && c.Delivery.LeasedUntil == T0.AddHours(2));
        (await store.GetNextDueTimeAsync()).Should().Be(T0.AddHours(2), "every delivery is leased until then");
    }

    [Fact]
    public async Task AllFinished_NothingDueAndNothingClaimed()
    {
        const int count = 2500;
        var store = await StoreWithAsync(count, i => T0.AddSeconds(i));
        for (var i = 0; i < count; i++)
        {
            await store.RecordAttemptAsync(
                new DeliveryAttempt { DeliveryId = $"dlv_{i:D5}", AttemptNumber = 1, StartedAt = T0, Outcome = AttemptOutcome.Succeeded },
                new DeliveryUpdate(DeliveryStatus.Succeeded, 1, T0, T0, null, 200));
        }

        (await store.GetNextDueTimeAsync()).Should().BeNull();
        (await store.ClaimDueDeliveriesAsync(T0.AddDays(1), T0.AddDays(2), count)).Should().BeEmpty();
    }

    [Fact]
    public async Task ReleasedLeases_DueAgainAtTheirAttemptTimeAndClaimedOnce()
    {
        const int count = 1500;
        var store = await StoreWithAsync(count, i => T0.AddSeconds(i));
        var firstClaim = await store.ClaimDueDeliveriesAsync(T0.AddHours(1), T0.AddHours(2), count);
        firstClaim.Should().HaveCount(count);

        await store.ReleaseAsync(firstClaim.Select(c => c.Delivery.Id).ToArray());

        (await store.GetNextDueTimeAsync()).Should().Be(T0, "a released delivery is due at its own attempt time again");
        var again = await store.ClaimDueDeliveriesAsync(T0.AddHours(1), T0.AddHours(3), count * 2);
        again.Select(c => c.Delivery.Id).Should().Equal(Enumerable.Range(0, count).Select(i => $"dlv_{i:D5}"), "each once, in due order");
    }

    [Fact]
    public async Task PurgedDeliveryStoredAgain_ClaimedOnceWithoutItsOldAttempts()
    {
        // The old delivery's heap entry has the same due time as the new one's: it must count as stale.
        var store = await StoreWithAsync(1, _ => T0);
        await store.RecordAttemptAsync(
            new DeliveryAttempt { DeliveryId = "dlv_00000", AttemptNumber = 1, StartedAt = T0, Outcome = AttemptOutcome.Succeeded },
            new DeliveryUpdate(DeliveryStatus.Succeeded, 1, T0, T0, null, 200));
        (await store.PurgeAsync(T0.AddMinutes(1))).Should().Be(1);
        (await store.GetEventAsync("evt_00000")).Should().BeNull("its only delivery was purged");

        await store.AppendAsync(InMemoryStoreRows.Event("evt_00000"));
        await store.SaveRoutedAsync("evt_00000", [InMemoryStoreRows.PendingDelivery("dlv_00000", "evt_00000", T0)]);

        var claimed = await store.ClaimDueDeliveriesAsync(T0.AddHours(1), T0.AddHours(2), 10);
        claimed.Select(c => c.Delivery.Id).Should().Equal("dlv_00000");
        claimed[0].Delivery.Attempts.Should().Be(0);
        claimed[0].Event.Id.Should().Be("evt_00000");
        (await store.GetAttemptsAsync("dlv_00000")).Should().BeEmpty("the purged delivery's attempts went with it");
        (await store.ClaimDueDeliveriesAsync(T0.AddHours(1), T0.AddHours(2), 10)).Should().BeEmpty("leased until T0 + 2 h");
    }
}
