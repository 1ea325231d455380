using Microsoft.Extensions.DependencyInjection;

namespace EventNotify.Tests.Engine;

public sealed class PublishTests
{
    [Fact]
    public async Task PublishAsync_SameIdTwice_SecondIsDuplicateAndDeliversOnce()
    {
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier));
        await host.SubscribeAsync("test", "*");
        var e = NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_same" };

        var first = await host.Publisher.PublishAsync(e);
        var second = await host.Publisher.PublishAsync(e);
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1);
        var third = await host.Publisher.PublishAsync(e);

        first.Duplicate.Should().BeFalse();
        second.Duplicate.Should().BeTrue();
        third.Duplicate.Should().BeTrue();
        (await host.Store.CountDeliveriesAsync(new DeliveryQuery())).Should().Be(1);
        notifier.Calls.Should().ContainSingle();
    }

    [Fact]
    public async Task PublishManyAsync_Batch_ReturnsReceiptsInOrderAndDeliversAll()
    {
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier));
        await host.SubscribeAsync("test", "user.*");
        var events = Enumerable.Range(0, 50).Select(i => NotificationEvent.FromJson("user.login", $"{{\"n\":{i}}}")).ToArray();

        var receipts = await host.Publisher.PublishManyAsync(events);

        receipts.Select(r => r.EventId).Should().Equal(events.Select(e => e.Id));
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 50);
        notifier.Calls.Select(c => c.Event.Id).Should().BeEquivalentTo(events.Select(e => e.Id));
    }

    [Fact]
    public async Task PublishManyAsync_OneInvalidEvent_NothingAccepted()
    {
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier));
        var good = NotificationEvent.FromJson("user.login", "{}");
        var bad = NotificationEvent.FromJson("User.Login", "{}");

        var act = async () => await host.Publisher.PublishManyAsync([good, bad]);

        await act.Should().ThrowAsync<EventValidationException>();
        (await host.Store.GetEventAsync(good.Id)).Should().BeNull();
    }

    [Fact]
    public async Task PublishAsync_NoSubscriber_AcceptedAndNothingDelivered()
    {
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier));
        var receipt = await host.Publisher.PublishAsync(NotificationEvent.FromJson("nobody.cares", "{}"));

        (await host.Store.GetEventAsync(receipt.EventId)).Should().NotBeNull();
        notifier.Calls.Should().BeEmpty();
    }

    [Fact]
    public async Task PublishAsync_FillsSourceAndTimeFromOptionsAndClock()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 12, 3, 10, 0, 0, TimeSpan.Zero));
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier), o => o.Source = "https://api.shop.example", time);
        var receipt = await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));

        var stored = await host.Store.GetEventAsync(receipt.EventId);
        stored!.Source.Should().Be("https://api.shop.example");
        stored.Time.Should().Be(time.GetUtcNow());
    }

    [Fact]
    public async Task PublishAsync_RecipientOnUnknownChannel_ThrowsNamingRecipients()
    {
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(new RecordingNotifier()));
        var e = NotificationEvent.FromJson("order.paid", "{}") with { Recipients = [new Recipient("sms", "+8613800138000")] };

        var act = async () => await host.Publisher.PublishAsync(e);

        (await act.Should().ThrowAsync<EventValidationException>()).Which.Message.Should().Contain("'sms' has no registered notifier").And.Contain("test");
        (await host.Store.GetEventAsync(e.Id)).Should().BeNull();
    }

    [Fact]
    public async Task PublishAsync_RecipientRefusedByValidator_ThrowsNamingRecipientAndStoresNothing()
    {
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b =>
        {
            b.AddNotifier(notifier);
            b.Services.AddSingleton<IRecipientValidator>(new DigitsOnlyValidator());
        });
        var e = NotificationEvent.FromJson("order.paid", "{}") with { Recipients = [new Recipient("test", "123"), new Recipient("test", "12a")] };

        var act = async () => await host.Publisher.PublishAsync(e);

        var thrown = (await act.Should().ThrowAsync<EventValidationException>()).Which;
        thrown.ParamName.Should().Be(nameof(NotificationEvent.Recipients));
        thrown.Message.Should().Contain("Recipients[1].Address").And.Contain("'test' channel").And.Contain("digits only");
        (await host.Store.GetEventAsync(e.Id)).Should().BeNull();
        notifier.Calls.Should().BeEmpty();
    }

    [Fact]
    public async Task PublishManyAsync_RecipientRefusedByValidator_NothingOfTheBatchAccepted()
    {
        await using var host = await EngineHost.StartAsync(b =>
        {
            b.AddNotifier(new RecordingNotifier());
            b.Services.AddSingleton<IRecipientValidator>(new DigitsOnlyValidator());
        });
        var good = NotificationEvent.FromJson("order.paid", "{}") with { Recipients = [new Recipient("test", "123")] };
        var bad = NotificationEvent.FromJson("order.paid", "{}") with { Recipients = [new Recipient("test", "abc")] };

        var act = async () => await host.Publisher.PublishManyAsync([good, bad]);

        var thrown = (await act.Should().ThrowAsync<EventValidationException>()).Which;
        thrown.Message.Should().Contain("Recipients[0].Address").And.Contain($"events[1] (id '{bad.Id}')");
        thrown.Message.Split("(Parameter").Should().HaveCount(2, "the parameter is named once");
        (await host.Store.GetEventAsync(good.Id)).Should().BeNull();
    }

    // A regression trial found the earlier fold (one delivery, the subscription's, for a recipient it also reached)
    // losing the recipient's copy when the subscription was disabled before the attempt.
    [Fact]
    public async Task PublishAsync_RecipientAlsoReachedBySubscriptionThenDisabled_RecipientStillDelivered()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 12, 4, 12, 0, 0, TimeSpan.Zero));
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier), o => o.PollInterval = TimeSpan.FromMinutes(10), time);
        var subscription = await host.SubscribeAsync("test", "order.*");
        var e = NotificationEvent.FromJson("order.paid", "{}") with
        {
            NotBefore = time.GetUtcNow().AddMinutes(1),
            Recipients = [new Recipient("test", subscription.Address)],
        };

        await host.Publisher.PublishAsync(e);
        await FluentActions.Awaiting(async () =>
        {
            while (await host.Store.CountDeliveriesAsync(new DeliveryQuery()) < 2)
            {
                await Task.Yield(); // routed (both deliveries stored, due in a minute) before the clock moves
            }
        }).Should().CompleteWithinAsync(TimeSpan.FromSeconds(10));
        await host.Subscriptions.SetEnabledAsync(subscription.Id, false, "paused");
        time.Advance(TimeSpan.FromMinutes(1));

        await host.Outcomes.WaitAsync(o => o.Latest.Count == 2);
        host.Outcomes.Latest.Should().ContainSingle(d => d.SubscriptionId == null && d.Status == DeliveryStatus.Succeeded);
        host.Outcomes.Latest.Should().ContainSingle(d => d.SubscriptionId == subscription.Id && d.Status == DeliveryStatus.Cancelled);
        notifier.Calls.Should().ContainSingle().Which.Address.Should().Be(subscription.Address);
    }

    // Found by a CloudEvents trial: SQLite keeps the instant, so a retry's body said the time in UTC while the first
    // attempt (in memory) kept the caller's offset: one webhook-id, two different signed bodies.
    [Fact]
    public async Task PublishAsync_TimeWithOffset_StoredAsTheSameInstantInUtc()
    {
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(new RecordingNotifier()));
        var local = new DateTimeOffset(2026, 12, 4, 10, 0, 0, TimeSpan.FromHours(5.5));

        var receipt = await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Time = local });

        var stored = (await host.Store.GetEventAsync(receipt.EventId))!.Time;
        stored.Offset.Should().Be(TimeSpan.Zero);
        stored.Should().Be(local, "the same instant");
    }

    private sealed class DigitsOnlyValidator : IRecipientValidator
    {
        public string? Check(Recipient recipient) => recipient.Address.All(char.IsAsciiDigit) ? null : "the address must be digits only.";
    }

    [Fact]
    public async Task PublishAsync_ExplicitRecipient_DeliveredWithoutSubscription()
    {
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier));
        var e = NotificationEvent.FromJson("order.shipped", "{}") with { Recipients = [new Recipient("test", "bob@example.com"), new Recipient("test", "bob@example.com")] };

        await host.Publisher.PublishAsync(e);

        await notifier.WaitForCallsAsync(1);
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1);
        notifier.Calls.Should().ContainSingle("the same recipient listed twice gets one delivery");
        notifier.Calls.Single().Address.Should().Be("bob@example.com");
        notifier.Calls.Single().Subscription.Should().BeNull();
    }

    [Fact]
    public async Task PublishAsync_AfterStop_ThrowsStoppedException()
    {
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(new RecordingNotifier()));
        await host.Host.StopAsync();

        var act = async () => await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));

        await act.Should().ThrowAsync<EventNotifyStoppedException>();
    }

    [Fact]
    public async Task PublishAsync_TenantEvent_OnlyThatTenantsAndPlatformSubscriptionsDeliver()
    {
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier));
        await host.Subscriptions.AddAsync(new Subscription { Id = "a", EventTypes = ["*"], Channel = "test", Address = "a", TenantId = "tenant-a" });
        await host.Subscriptions.AddAsync(new Subscription { Id = "b", EventTypes = ["*"], Channel = "test", Address = "b", TenantId = "tenant-b" });
        await host.Subscriptions.AddAsync(new Subscription { Id = "p", EventTypes = ["*"], Channel = "test", Address = "p" });

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { TenantId = "tenant-a" });

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 2);
        notifier.Calls.Select(c => c.Subscription!.Id).Should().BeEquivalentTo("a", "p");
    }
}
