using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace EventNotify.Tests.Engine;

public sealed class IsolationAndShutdownTests
{
    [Fact]
    public async Task HangingNotifier_IgnoresCancellation_OtherDeliveriesFlowAndHangTimesOut()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 3, 0, 0, 0, TimeSpan.Zero));
        var never = new TaskCompletionSource<DeliveryResult>();
        var notifier = new RecordingNotifier
        {
            // The hanging send ignores its token entirely: only the engine's own bound can free the worker.
            Behaviour = (n, _) => n.Event.Subject == "hang" ? new ValueTask<DeliveryResult>(never.Task) : ValueTask.FromResult(DeliveryResult.Success()),
        };
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier), o =>
        {
            o.Concurrency = 2;
            o.AttemptTimeout = TimeSpan.FromSeconds(10);
            o.PollInterval = TimeSpan.FromMinutes(10);
        }, time);
        await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Subject = "hang" });
        for (var i = 0; i < 20; i++)
        {
            await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Subject = "ok" });
        }

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 20);
        time.Advance(TimeSpan.FromSeconds(10));
        await host.Outcomes.WaitAsync(o => o.Attempts.Any(a => a.Outcome == AttemptOutcome.TransientFailure));

        host.Outcomes.Attempts.Single(a => a.Outcome == AttemptOutcome.TransientFailure).Error.Should().Be("Timed out after 10 s.");
    }

    [Fact]
    public async Task NotifierDeclaringItHonoursCancellation_TimedOutThroughItsToken()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 3, 0, 0, 0, TimeSpan.Zero));
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sawCancellation = false;
        var notifier = new RecordingNotifier
        {
            HonoursCancellation = true,
            Behaviour = async (_, ct) =>
            {
                entered.TrySetResult();
                try
                {
                    await new TaskCompletionSource().Task.WaitAsync(ct);
                }
                catch (OperationCanceledException)
                {
                    sawCancellation = true;
                    throw;
                }

                return DeliveryResult.Success();
            },
        };
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier), o =>
        {
            o.AttemptTimeout = TimeSpan.FromSeconds(5);
            o.Retry = new RetryOptions { MaxAttempts = 1 };
        }, time);
        await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        time.Advance(TimeSpan.FromSeconds(5));
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 1);

        sawCancellation.Should().BeTrue("the attempt's token fired at the timeout and the send ended through it");
        host.Outcomes.Attempts.Single().Outcome.Should().Be(AttemptOutcome.TransientFailure);
        host.Outcomes.Attempts.Single().Error.Should().Be("Timed out after 5 s.");
    }

    [Fact]
    public async Task StopAsync_NotifierClaimsToHonourCancellationButIgnoresIt_StopStillReturns()
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var never = new TaskCompletionSource<DeliveryResult>();
        var notifier = new RecordingNotifier
        {
            HonoursCancellation = true, // a broken promise: the send below never looks at its token
            Behaviour = (_, _) => { entered.TrySetResult(); return new ValueTask<DeliveryResult>(never.Task); },
        };
        var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier), o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(200));
        await host.SubscribeAsync("test", "*");
        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(10));

        // Bounded by the shutdown timeout plus the engine's grace after interrupting (5 s); it used to wait forever.
        await host.Host.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));

        never.SetResult(DeliveryResult.Success()); // let the abandoned send end before the host is disposed
        await host.DisposeAsync();
    }

    [Fact]
    public async Task SlowNotifier_HonoursToken_TimeoutIsTransientFailure()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 3, 0, 0, 0, TimeSpan.Zero));
        var notifier = new RecordingNotifier
        {
            Behaviour = async (_, ct) => { await new TaskCompletionSource().Task.WaitAsync(ct); return DeliveryResult.Success(); },
        };
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier), o => o.AttemptTimeout = TimeSpan.FromSeconds(5), time);
        await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        await FluentActions.Awaiting(async () => { while (notifier.Calls.Count == 0 && host.Outcomes.Attempts.Count == 0) { time.Advance(TimeSpan.FromSeconds(1)); await Task.Yield(); } })
            .Should().CompleteWithinAsync(TimeSpan.FromSeconds(10));
        await host.Outcomes.WaitAsync(o => o.Attempts.Count == 1);

        host.Outcomes.Attempts.Single().Outcome.Should().Be(AttemptOutcome.TransientFailure);
        host.Outcomes.Attempts.Single().Error.Should().StartWith("Timed out");
    }

    [Fact]
    public async Task StopAsync_SlowDeliveriesPastTimeout_ReturnsAndLeavesRestPendingUnleased()
    {
        var release = new TaskCompletionSource();
        var notifier = new RecordingNotifier
        {
            Behaviour = async (_, ct) => { await release.Task.WaitAsync(ct); return DeliveryResult.Success(); },
        };
        var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier), o =>
        {
            o.Concurrency = 2;
            o.ShutdownTimeout = TimeSpan.FromMilliseconds(300);
        });
        await host.SubscribeAsync("test", "*");
        await host.Publisher.PublishManyAsync(Enumerable.Range(0, 10).Select(_ => NotificationEvent.FromJson("order.paid", "{}")));
        var store = host.Store;

        // Every event routed (deliveries stored) before stopping, so the test is about the push stage's deadline.
        await FluentActions.Awaiting(async () => { while (await store.CountDeliveriesAsync(new DeliveryQuery()) < 10) { await Task.Yield(); } })
            .Should().CompleteWithinAsync(TimeSpan.FromSeconds(20));

        await host.Host.StopAsync().WaitAsync(TimeSpan.FromSeconds(20));

        var pending = await store.QueryDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.Pending });
        pending.Should().HaveCount(10, "nothing was delivered and nothing was lost");
        pending.Should().OnlyContain(d => d.LeasedUntil == null && d.Attempts == 0, "interrupted attempts are not counted and leases are released");
        host.Host.Dispose();
    }

    [Fact]
    public async Task StopAsync_QuickDeliveries_DrainsQueuedWorkBeforeReturning()
    {
        var gate = new TaskCompletionSource();
        var notifier = new RecordingNotifier { Behaviour = async (_, _) => { await gate.Task; return DeliveryResult.Success(); } };
        var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier), o => o.Concurrency = 1);
        await host.SubscribeAsync("test", "*");
        await host.Publisher.PublishManyAsync(Enumerable.Range(0, 20).Select(_ => NotificationEvent.FromJson("order.paid", "{}")));

        var stop = host.Host.StopAsync();
        gate.SetResult();
        await stop.WaitAsync(TimeSpan.FromSeconds(20));

        (await host.Store.CountDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.Succeeded })).Should().Be(20);
        host.Host.Dispose();
    }

    [Theory]
    [InlineData("stop twice")]
    [InlineData("dispose during stop")]
    public async Task StopAsync_SecondStopOrDisposeDuringAStop_WaitsForTheDrain(string second)
    {
        // Found by a lifecycle trial: the second call returned at once, the host then closed the SQLite store while
        // outcomes were still being recorded, and answered deliveries were sent again after restart.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var notifier = new RecordingNotifier
        {
            Behaviour = async (_, _) =>
            {
                entered.TrySetResult();
                await gate.Task;
                return DeliveryResult.Success();
            },
        };
        var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier), o => o.ShutdownTimeout = TimeSpan.FromMinutes(5));
        await host.SubscribeAsync("test", "*");
        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var engine = host.Services.GetRequiredService<EventNotifyEngine>();

        var first = engine.StopAsync(CancellationToken.None);
        var other = second == "stop twice" ? engine.StopAsync(CancellationToken.None) : engine.DisposeAsync().AsTask();

        other.IsCompleted.Should().BeFalse("the first stop is still draining an attempt in flight");
        gate.SetResult();
        await Task.WhenAll(first, other).WaitAsync(TimeSpan.FromSeconds(20));
        (await host.Store.CountDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.Succeeded })).Should().Be(1, "the outcome was recorded before either call returned");
        host.Host.Dispose();
    }

    [Fact]
    public async Task Start_InvalidOptions_FailsNamingEachOption()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddEventNotify(o =>
        {
            o.RouteQueueCapacity = 0;
            o.Concurrency = -1;
            o.Retry.MaxAttempts = 0;
            o.LeaseDuration = TimeSpan.FromSeconds(1);
        });
        using var host = builder.Build();

        var act = async () => await host.StartAsync();

        var ex = (await act.Should().ThrowAsync<OptionsValidationException>()).Which;
        ex.Message.Should().Contain("EventNotifyOptions.RouteQueueCapacity must be between 1 and 1000000 (was 0)")
            .And.Contain("EventNotifyOptions.Concurrency")
            .And.Contain("EventNotifyOptions.Retry.MaxAttempts")
            .And.Contain("EventNotifyOptions.LeaseDuration");
    }

    [Fact]
    public async Task AddSubscription_UnknownChannel_FailsAtStartNamingChannel()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddEventNotify()
            .AddNotifier(new RecordingNotifier())
            .AddSubscription(new Subscription { EventTypes = ["*"], Channel = "pigeon", Address = "loft 7" });
        using var host = builder.Build();

        var act = async () => await host.StartAsync();

        (await act.Should().ThrowAsync<SubscriptionValidationException>()).Which.Message.Should().Contain("'pigeon' has no registered notifier");
    }

    [Fact]
    public void AddSubscription_BadPattern_ThrowsAtRegistration()
    {
        var services = new ServiceCollection();
        var act = () => services.AddEventNotify().AddSubscription(new Subscription { EventTypes = ["order.**"], Channel = "test", Address = "x" });
        act.Should().Throw<SubscriptionValidationException>().Which.ParamName.Should().Be("EventTypes");
    }

    [Fact]
    public async Task SubscriptionsStore_UnknownChannel_ThrowsNamingChannel()
    {
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(new RecordingNotifier()));
        var act = async () => await host.Subscriptions.AddAsync(new Subscription { EventTypes = ["*"], Channel = "sms", Address = "+1" });
        (await act.Should().ThrowAsync<SubscriptionValidationException>()).Which.ParamName.Should().Be("Channel");
    }

    [Fact]
    public async Task TwoNotifiersForOneChannel_FailsAtStartNamingBoth()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddEventNotify().AddNotifier(new RecordingNotifier("push")).AddNotifier(new RecordingNotifier("push"));
        using var host = builder.Build();

        var act = async () => await host.StartAsync();

        (await act.Should().ThrowAsync<InvalidOperationException>()).Which.Message.Should().Contain("Two notifiers are registered for channel 'push'");
    }
}
