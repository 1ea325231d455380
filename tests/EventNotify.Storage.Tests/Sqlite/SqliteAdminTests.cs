using Microsoft.Extensions.DependencyInjection;

namespace EventNotify.Storage.Tests.Sqlite;

/// <summary><see cref="IEventNotifyAdmin"/> on a real host over a real SQLite file.</summary>
public sealed class SqliteAdminTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly Subscription Orders = new() { Id = "sub_orders", EventTypes = ["order.*"], Channel = "test", Address = "https://a.example/hook" };

    private readonly TempFolder _folder = new();
    private readonly RecordingNotifier _notifier = new();
    private EngineHost _host = null!;

    /// <summary>Events of type <c>order.rejected</c> fail permanently, <c>order.flaky</c> fail transiently (retry in 1 h), the rest succeed.</summary>
    private volatile bool _rejecting = true;

    public async Task InitializeAsync()
    {
        _notifier.Behaviour = (n, _) => ValueTask.FromResult(n.Event.Type switch
        {
            "order.rejected" when _rejecting => DeliveryResult.Permanent("422 Unprocessable", 422),
            "order.flaky" => DeliveryResult.Transient("503 Service Unavailable", 503),
            _ => DeliveryResult.Success(statusCode: 200),
        });
        _host = await EngineHost.StartAsync(
            b => b.UseSqlite($"Data Source={_folder.File("admin.db")}").AddNotifier(_notifier).AddSubscription(Orders),
            o => o.Retry = new RetryOptions { BaseDelay = TimeSpan.FromHours(1), JitterFactor = 0 });
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        _folder.Dispose();
    }

    private IEventNotifyAdmin Admin => _host.Admin;

    private async Task<string> PublishAsync(string type, string id, DateTimeOffset? time = null)
    {
        var e = NotificationEvent.FromJson(type, "{}") with { Id = id };
        if (time is { } t)
        {
            e = e with { Time = t };
        }

        await _host.Publisher.PublishAsync(e);
        return Delivery.ForSubscription(id, Orders.Id);
    }

    [Fact]
    public async Task ListDeliveriesAsync_DeadLetters_ReturnsThemWithTheirErrorAndFiltersApply()
    {
        await PublishAsync("order.rejected", "evt_r1");
        await PublishAsync("order.rejected", "evt_r2");
        await PublishAsync("order.paid", "evt_ok");
        await _host.Outcomes.WaitAsync(o => o.CountFinal(DeliveryStatus.DeadLettered) == 2 && o.CountFinal(DeliveryStatus.Succeeded) == 1, Timeout);

        var dead = await Admin.ListDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.DeadLettered });

        dead.Select(d => d.EventId).Should().BeEquivalentTo(["evt_r1", "evt_r2"]);
        dead.Should().OnlyContain(d => d.LastError == "422 Unprocessable" && d.LastStatusCode == 422 && d.Attempts == 1);
        (await Admin.CountDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.DeadLettered, EventType = "order.rejected", Channel = "test", SubscriptionId = Orders.Id })).Should().Be(2);
        (await Admin.CountDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.DeadLettered, EventType = "order.paid" })).Should().Be(0);
        (await Admin.ListDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.DeadLettered, Take = 1, Skip = 1 })).Should().ContainSingle();
    }

    [Fact]
    public async Task ListDeliveriesAsync_PendingRetry_ShowsItWithItsNextAttempt()
    {
        var id = await PublishAsync("order.flaky", "evt_flaky");
        await _host.Outcomes.WaitAsync(o => o.Attempts.Count == 1, Timeout);

        var pending = await Admin.ListDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.Pending });

        var d = pending.Should().ContainSingle().Which;
        d.Id.Should().Be(id);
        d.Attempts.Should().Be(1);
        d.LastError.Should().Be("503 Service Unavailable");
        d.NextAttemptAt.Should().BeAfter(DateTimeOffset.UtcNow.AddMinutes(50));
        (await Admin.CountDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.Pending })).Should().Be(1);
    }

    [Fact]
    public async Task GetAttemptsAsync_DeadLetterThenRedelivered_ListsBothAttemptsOldestFirst()
    {
        var id = await PublishAsync("order.rejected", "evt_attempts");
        await _host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 1, Timeout);
        _rejecting = false;
        await Admin.RedeliverAsync(id);
        await _host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1, Timeout);

        var attempts = await Admin.GetAttemptsAsync(id);

        attempts.Select(a => (a.AttemptNumber, a.Outcome, a.StatusCode)).Should().Equal(
            (1, AttemptOutcome.PermanentFailure, 422),
            (1, AttemptOutcome.Succeeded, 200));
        attempts[0].Error.Should().Be("422 Unprocessable");
    }

    [Fact]
    public async Task RedeliverAsync_OneDeadLetter_DeliversItAgainWithTheSameId()
    {
        var id = await PublishAsync("order.rejected", "evt_one");
        await _host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 1, Timeout);
        _rejecting = false;

        (await Admin.RedeliverAsync(id)).Should().BeTrue();
        await _host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1, Timeout);

        _notifier.Calls.Select(c => c.DeliveryId).Should().Equal(id, id);
        (await Admin.GetDeliveryAsync(id))!.Status.Should().Be(DeliveryStatus.Succeeded);
        (await Admin.RedeliverAsync("dlv_unknown")).Should().BeFalse();
    }

    [Fact]
    public async Task RedeliverAsync_Query_RedeliversEveryMatchingDeadLetter()
    {
        for (var i = 0; i < 3; i++)
        {
            await PublishAsync("order.rejected", $"evt_many_{i}");
        }

        await _host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 3, Timeout);
        _rejecting = false;

        var count = await Admin.RedeliverAsync(new DeliveryQuery { Status = DeliveryStatus.DeadLettered });

        count.Should().Be(3);
        await _host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 3, Timeout);
        (await Admin.CountDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.DeadLettered })).Should().Be(0);
    }

    [Fact]
    public async Task ReplayAsync_TimeRange_SendsTheEventsInItAgainAsNewDeliveries()
    {
        var t = DateTimeOffset.UtcNow.AddHours(-3);
        await PublishAsync("order.paid", "evt_t0", t);
        await PublishAsync("order.paid", "evt_t1", t.AddHours(1));
        await PublishAsync("order.paid", "evt_t2", t.AddHours(2));
        await _host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 3, Timeout);

        var replayed = await Admin.ReplayAsync(Orders.Id, t.AddMinutes(30), t.AddHours(3));

        replayed.Should().Be(2);
        await _host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 5, Timeout);
        var replays = _notifier.Calls.Skip(3).ToList();
        replays.Select(c => c.Event.Id).Should().BeEquivalentTo(["evt_t1", "evt_t2"]);
        replays.Select(c => c.DeliveryId).Should().NotIntersectWith(_notifier.Calls.Take(3).Select(c => c.DeliveryId), "a replay is a new delivery");
        (await Admin.CountDeliveriesAsync(new DeliveryQuery { SubscriptionId = Orders.Id })).Should().Be(5);
    }
}
