using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace EventNotify.Tests.Engine;

/// <summary>Regression tests for faults found by trying the library as a new user would.</summary>
public sealed class FieldFindingTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task PublishAsync_CallerOverwritesBufferAfterPublish_DeliveredBytesAreThePublishedOnes()
    {
        var gate = new TaskCompletionSource();
        var notifier = new RecordingNotifier { Behaviour = async (_, _) => { await gate.Task; return DeliveryResult.Success(); } };
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier));
        await host.SubscribeAsync("test", "*");
        var buffer = Encoding.UTF8.GetBytes("{\"amount\":100}");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", buffer.AsMemory()));
        Array.Fill(buffer, (byte)'}');
        gate.SetResult();

        await notifier.WaitForCallsAsync(1);
        Encoding.UTF8.GetString(notifier.Calls.Single().Event.Data.Span).Should().Be("{\"amount\":100}");
    }

    [Fact]
    public async Task PublishManyAsync_SameIdTwiceInBatch_FirstAcceptedSecondDuplicate()
    {
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier));
        await host.SubscribeAsync("test", "*");
        var e = NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_twice" };

        var receipts = await host.Publisher.PublishManyAsync([e, NotificationEvent.FromJson("user.login", "{}"), e]);

        receipts.Select(r => r.Duplicate).Should().Equal(false, false, true);
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 2);
        notifier.Calls.Count(c => c.Event.Id == "evt_twice").Should().Be(1);
    }

    [Fact]
    public async Task ExplicitRecipient_ResemblingASubscriptionId_BothDelivered()
    {
        var notifier = new RecordingNotifier("push");
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier));
        await host.Subscriptions.AddAsync(new Subscription { Id = "push:dev-B", EventTypes = ["*"], Channel = "push", Address = "dev-A" });

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Recipients = [new Recipient("push", "dev-B")] });

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 2);
        notifier.Calls.Select(c => c.Address).Should().BeEquivalentTo("dev-A", "dev-B");
    }

    [Fact]
    public async Task AddAsync_CallerChangesPatternListAfterwards_StoreAndRoutingUnaffected()
    {
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier));
        var patterns = new List<string> { "order.*" };
        await host.Subscriptions.AddAsync(new Subscription { EventTypes = patterns, Channel = "test", Address = "x" });

        patterns.Add("NOT A PATTERN");
        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1);
        (await host.Subscriptions.ListAsync()).Single().EventTypes.Should().Equal("order.*");
    }

    [Fact]
    public async Task Notifier_ReturnsDefaultResult_IsTransientFailureNotSuccess()
    {
        var notifier = new RecordingNotifier { Behaviour = (_, _) => ValueTask.FromResult(default(DeliveryResult)) };
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier), o => o.Retry = new RetryOptions { MaxAttempts = 1 });
        await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 1);
        host.Outcomes.Attempts.Single().Outcome.Should().Be(AttemptOutcome.TransientFailure);
        host.Outcomes.Latest.Single().LastError.Should().Contain("empty DeliveryResult");
    }

    [Fact]
    public async Task RedeliverAsync_QueryWithoutStatus_ThrowsNamingStatus()
    {
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(new RecordingNotifier()));
        var act = async () => await host.Admin.RedeliverAsync(new DeliveryQuery());
        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("DeliveryQuery.Status must be DeadLettered, Cancelled or Succeeded");
    }

    [Fact]
    public async Task Retention_AtStart_PurgesWhatIsAlreadyOlderThanThePeriod()
    {
        // Found by a lifecycle trial: the first purge waited a whole PurgeInterval, so a host restarted more often than
        // that (deploys, a crash loop, the demo) never purged and its store grew without bound.
        var time = new FakeTimeProvider(Start);
        var store = new InMemoryEventStore(new InMemoryEventStoreOptions { MaxFinishedDeliveries = null });
        var options = (Action<EventNotifyOptions>)(o =>
        {
            o.RetentionPeriod = TimeSpan.FromDays(1);
            o.PurgeInterval = TimeSpan.FromHours(1);
            o.PollInterval = TimeSpan.FromHours(1);
        });
        var receipt = default(PublishReceipt);
        await using (var first = await EngineHost.StartAsync(b => b.AddNotifier(new RecordingNotifier()).UseStore(_ => store), options, time))
        {
            await first.SubscribeAsync("test", "*");
            receipt = await first.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
            await first.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1);
        }

        time.Advance(TimeSpan.FromDays(2)); // the host was down; the clock will not move again
        await using var second = await EngineHost.StartAsync(b => b.AddNotifier(new RecordingNotifier()).UseStore(_ => store), options, time);

        await FluentActions.Awaiting(async () =>
        {
            while (await store.GetEventAsync(receipt.EventId) is not null)
            {
                await Task.Yield();
            }
        }).Should().CompleteWithinAsync(TimeSpan.FromSeconds(20));
        (await store.CountDeliveriesAsync(new DeliveryQuery())).Should().Be(0);
    }

    [Fact]
    public async Task Retention_FinishedDeliveriesOlderThanPeriod_PurgedFromStore()
    {
        var time = new FakeTimeProvider(Start);
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier), o =>
        {
            o.RetentionPeriod = TimeSpan.FromDays(1);
            o.PurgeInterval = TimeSpan.FromHours(1);
            o.PollInterval = TimeSpan.FromHours(1);
        }, time);
        await host.SubscribeAsync("test", "*");
        var receipt = await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1);

        time.Advance(TimeSpan.FromHours(23));
        (await host.Store.CountDeliveriesAsync(new DeliveryQuery())).Should().Be(1, "younger than the retention period");
        await FluentActions.Awaiting(async () =>
        {
            while (await host.Store.CountDeliveriesAsync(new DeliveryQuery()) > 0)
            {
                time.Advance(TimeSpan.FromHours(1));
                await Task.Run(() => { });
            }
        }).Should().CompleteWithinAsync(TimeSpan.FromSeconds(20));

        time.GetUtcNow().Should().BeOnOrAfter(Start + TimeSpan.FromDays(1));
        (await host.Store.GetEventAsync(receipt.EventId)).Should().BeNull();
    }

    [Theory]
    [InlineData("PollInterval")]
    [InlineData("LeaseDuration")]
    public async Task Start_InfiniteIntervalOption_RejectedNamingIt(string option)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddEventNotify(o =>
        {
            if (option == "PollInterval")
            {
                o.PollInterval = Timeout.InfiniteTimeSpan;
            }
            else
            {
                o.LeaseDuration = Timeout.InfiniteTimeSpan;
            }
        });
        using var host = builder.Build();

        var act = async () => await host.StartAsync();

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Message.Should().Contain($"EventNotifyOptions.{option} must be positive and at most 1 day");
    }

    [Fact]
    public async Task Start_ChannelTimeoutLongerThanLease_RejectedNamingChannel()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddEventNotify(o => o.LeaseDuration = TimeSpan.FromMinutes(1))
            .AddNotifier(new RecordingNotifier())
            .ConfigureChannel("test", c => c.AttemptTimeout = TimeSpan.FromMinutes(2));
        using var host = builder.Build();

        var act = async () => await host.StartAsync();

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Message.Should().Contain("Channels[\"test\"].AttemptTimeout");
    }

    // Found by an adversarial trial: these values passed validation, then failed at run time (a retry at now + delay
    // past the end of the calendar threw on every failure and the delivery was re-sent forever; CancelAfter refused the
    // shutdown deadline; every purge threw).
    [Theory]
    [InlineData("Retry.MaxDelay", "EventNotifyOptions.Retry.MaxDelay must be positive and at most 365 days")]
    [InlineData("Retry.Delays", "EventNotifyOptions.Retry.Delays must each be between 0 and 365 days")]
    [InlineData("Retry.BaseDelay", "EventNotifyOptions.Retry.BaseDelay must be between 0 and 365 days")]
    [InlineData("Retry.MaxRetryAfter", "EventNotifyOptions.Retry.MaxRetryAfter must be between 0 and 365 days")]
    [InlineData("ShutdownTimeout", "EventNotifyOptions.ShutdownTimeout must be at most 1 day")]
    [InlineData("RetentionPeriod", "EventNotifyOptions.RetentionPeriod must be positive and at most 36500 days")]
    [InlineData("Source", "EventNotifyOptions.Source must be a non-empty URI reference")]
    public async Task Start_OptionBeyondItsRange_RejectedNamingIt(string option, string message)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddEventNotify(o =>
        {
            switch (option)
            {
                case "Retry.MaxDelay": o.Retry.MaxDelay = TimeSpan.MaxValue; break;
                case "Retry.Delays": o.Retry.Delays = [TimeSpan.FromSeconds(1), TimeSpan.MaxValue]; break;
                case "Retry.BaseDelay": o.Retry.BaseDelay = TimeSpan.FromDays(400); break;
                case "Retry.MaxRetryAfter": o.Retry.MaxRetryAfter = TimeSpan.MaxValue; break;
                case "ShutdownTimeout": o.ShutdownTimeout = TimeSpan.FromDays(60); break;
                case "RetentionPeriod": o.RetentionPeriod = TimeSpan.MaxValue; break;
                default: o.Source = "not a uri ^^ {}"; break;
            }
        }).AddNotifier(new RecordingNotifier());
        using var host = builder.Build();

        var act = async () => await host.StartAsync();

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Message.Should().Contain(message);
    }

    [Fact]
    public async Task Start_InfiniteShutdownTimeoutAndRetention_Accepted()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddEventNotify(o =>
        {
            o.ShutdownTimeout = Timeout.InfiniteTimeSpan;
            o.RetentionPeriod = Timeout.InfiniteTimeSpan;
        }).AddNotifier(new RecordingNotifier());
        using var host = builder.Build();

        await host.StartAsync();
        await host.StopAsync();
    }

    [Fact]
    public async Task Start_OptionsForAChannelWithoutNotifier_FailsNamingIt()
    {
        // A typo such as "webhooks" used to leave the real channel on the defaults without a word.
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddEventNotify().AddNotifier(new RecordingNotifier()).ConfigureChannel("tset", c => c.Concurrency = 2);
        using var host = builder.Build();

        var act = async () => await host.StartAsync();

        (await act.Should().ThrowAsync<InvalidOperationException>()).Which.Message.Should()
            .Contain("EventNotifyOptions.Channels[\"tset\"] is configured, but no notifier is registered for channel 'tset' (registered: test)");
    }

    // Found by an API edge-case trial.
    [Theory]
    [InlineData("tenant")]
    [InlineData("patterns")]
    public async Task Retry_SubscriptionNoLongerMatchesTheEvent_CancelledNotSent(string change)
    {
        var time = new FakeTimeProvider(Start);
        var notifier = new RecordingNotifier { Behaviour = (_, _) => ValueTask.FromResult(DeliveryResult.Transient("503")) };
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier), o =>
        {
            o.Retry = new RetryOptions { MaxAttempts = 5, Delays = [TimeSpan.FromMinutes(1)], JitterFactor = 0 };
            o.PollInterval = TimeSpan.FromMinutes(10);
        }, time);
        var sub = await host.Subscriptions.AddAsync(new Subscription { EventTypes = ["order.*"], Channel = "test", Address = "addr", TenantId = "tenant-a" });
        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { TenantId = "tenant-a" });
        await host.Outcomes.WaitAsync(o => o.Attempts.Count == 1);

        // Moved to another tenant (and, with it, perhaps another tenant's URL), or no longer subscribed to the type.
        await host.Subscriptions.UpdateAsync(change == "tenant" ? sub with { TenantId = "tenant-b" } : sub with { EventTypes = ["refund.*"] });
        time.Advance(TimeSpan.FromMinutes(1));

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Cancelled, 1);
        host.Outcomes.Latest.Single().LastError.Should().Contain("no longer matches this event");
        notifier.Calls.Should().ContainSingle("the retry is not sent to a subscription the event is no longer for");
    }

    // Found by a tenant/security trial: the SMS channel was sent the webhook URL the subscription moved to.
    [Fact]
    public async Task Retry_SubscriptionMovedToAnotherChannel_CancelledNotSentToTheOldChannel()
    {
        var time = new FakeTimeProvider(Start);
        var sms = new RecordingNotifier("sms") { Behaviour = (_, _) => ValueTask.FromResult(DeliveryResult.Transient("throttled")) };
        var push = new RecordingNotifier("push");
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(sms).AddNotifier(push), o =>
        {
            o.Retry = new RetryOptions { MaxAttempts = 5, Delays = [TimeSpan.FromMinutes(1)], JitterFactor = 0 };
            o.PollInterval = TimeSpan.FromMinutes(10);
        }, time);
        var sub = await host.Subscriptions.AddAsync(new Subscription { EventTypes = ["order.*"], Channel = "sms", Address = "+15550002" });
        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        await host.Outcomes.WaitAsync(o => o.Attempts.Count == 1);

        await host.Subscriptions.UpdateAsync(sub with { Channel = "push", Address = "device-token-1" });
        time.Advance(TimeSpan.FromMinutes(1));

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Cancelled, 1);
        host.Outcomes.Latest.Single().LastError.Should().Contain("moved from the 'sms' channel to 'push'");
        sms.Calls.Should().ContainSingle().Which.Address.Should().Be("+15550002");
        push.Calls.Should().BeEmpty("the pending delivery was the sms channel's; new events reach the push channel");
    }

    // Found by a tenant/security trial: the in-memory store kept the caller's list, so a recipient changed after the
    // publish (before start, when the recovery pass routes it) was sent although the validator never saw it.
    [Fact]
    public async Task PublishAsync_RecipientListAndExtensionsChangedAfterPublish_DeliveredAsPublished()
    {
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier));
        var recipients = new List<Recipient> { new("test", "checked-address") };
        var extensions = new Dictionary<string, string> { ["origin"] = "checkout" };
        var e = NotificationEvent.FromJson("order.paid", "{}") with { Recipients = recipients, Extensions = extensions };

        await host.Publisher.PublishAsync(e);
        recipients[0] = new Recipient("test", "never-checked");
        recipients.Add(new Recipient("test", "added-later"));
        extensions["data"] = "reserved name, refused at publish";

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1);
        var stored = await host.Store.GetEventAsync(e.Id);
        stored!.Recipients.Should().Equal(new Recipient("test", "checked-address"));
        // (A traceparent may be there too: a test running beside this one can be listening to the engine's spans.)
        stored.Extensions.Should().Contain("origin", "checkout").And.NotContainKey("data");
        notifier.Calls.Should().ContainSingle().Which.Address.Should().Be("checked-address");
    }

    // Found by a regression trial: empty collections were kept by reference, so items added after the publish skipped
    // validation (and with SQLite a retry's body differed from the first attempt's).
    [Fact]
    public async Task PublishAsync_EmptyRecipientListAndExtensionsFilledAfterPublish_DeliveredAsPublished()
    {
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier));
        var recipients = new List<Recipient>();
        var extensions = new Dictionary<string, string>();
        var e = NotificationEvent.FromJson("order.paid", "{}") with { Recipients = recipients, Extensions = extensions };

        await host.Publisher.PublishAsync(e);
        recipients.Add(new Recipient("test", "never-checked"));
        extensions["id"] = "spoofed";

        var stored = await host.Store.GetEventAsync(e.Id);
        stored!.Recipients.Should().BeEmpty();
        stored.Extensions.Should().NotContainKey("id");
        notifier.Calls.Should().BeEmpty();
    }

    [Fact]
    public async Task PublishAsync_AlreadyCancelledToken_ThrowsAndStoresNothing()
    {
        // The in-memory store ignored the token, so the event was stored and delivered; SQLite threw.
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(new RecordingNotifier()));
        await host.SubscribeAsync("test", "*");
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        var one = async () => await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = "e1" }, cancelled.Token);
        var many = async () => await host.Publisher.PublishManyAsync([NotificationEvent.FromJson("order.paid", "{}") with { Id = "e2" }], cancelled.Token);

        await one.Should().ThrowAsync<OperationCanceledException>();
        await many.Should().ThrowAsync<OperationCanceledException>();
        (await host.Store.GetEventAsync("e1")).Should().BeNull();
        (await host.Store.GetEventAsync("e2")).Should().BeNull();
    }

    [Fact]
    public async Task PublishManyAsync_NullElement_ThrowsNamingItsIndexAndStoresNothing()
    {
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(new RecordingNotifier()));
        await host.SubscribeAsync("test", "*");

        var act = async () => await host.Publisher.PublishManyAsync([NotificationEvent.FromJson("order.paid", "{}") with { Id = "e1" }, null!]);

        (await act.Should().ThrowAsync<EventValidationException>()).Which.Message.Should().Contain("events[1] is null");
        (await host.Store.GetEventAsync("e1")).Should().BeNull();
    }

    [Theory]
    [InlineData("Subject")]
    [InlineData("Source")]
    [InlineData("Extensions")]
    public async Task PublishAsync_UnpairedSurrogate_RefusedNamingTheField(string field)
    {
        // Accepted before, then stored and sent as U+FFFD: the receiver got other text than was published.
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(new RecordingNotifier()));
        var e = NotificationEvent.FromJson("order.paid", "{}");
        e = field switch
        {
            "Subject" => e with { Subject = "ab\uD800cd" },
            "Source" => e with { Source = "urn:ab\uDC00" },
            _ => e with { Extensions = new Dictionary<string, string> { ["note"] = "\uD800" } },
        };

        var act = async () => await host.Publisher.PublishAsync(e);

        (await act.Should().ThrowAsync<EventValidationException>()).Which.Message.Should().Contain("unpaired surrogates");
    }
}
