using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace EventNotify.Tests.Engine;

public sealed class RetryAndDeadLetterTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

    private static Task<EngineHost> StartAsync(RecordingNotifier notifier, FakeTimeProvider time, int maxAttempts = 4, Action<EventNotifyOptions>? more = null) =>
        EngineHost.StartAsync(
            b => b.AddNotifier(notifier),
            o =>
            {
                o.Retry = new RetryOptions { MaxAttempts = maxAttempts, BaseDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(60) };
                o.PollInterval = TimeSpan.FromMinutes(10); // retries must be woken by their own due time, not by polling
                more?.Invoke(o);
            },
            time,
            randomizer: () => 0.5); // jitter factor 1.0: delays are exact

    [Fact]
    public async Task TransientFailures_ThenSuccess_RetriesWithExponentialBackoffAndSucceeds()
    {
        var time = new FakeTimeProvider(Start);
        var calls = 0;
        var notifier = new RecordingNotifier { Behaviour = (_, _) => ValueTask.FromResult(Interlocked.Increment(ref calls) <= 2 ? DeliveryResult.Transient("503", 503) : DeliveryResult.Success("msg-1")) };
        await using var host = await StartAsync(notifier, time);
        await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        await host.Outcomes.WaitAsync(o => o.Attempts.Count == 1);
        time.Advance(TimeSpan.FromMilliseconds(999));
        notifier.Calls.Should().HaveCount(1, "the retry is not due before 1 s");
        time.Advance(TimeSpan.FromMilliseconds(1));
        await host.Outcomes.WaitAsync(o => o.Attempts.Count == 2);
        time.Advance(TimeSpan.FromSeconds(2));
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1);

        var attempts = host.Outcomes.Attempts;
        attempts.Select(a => a.StartedAt - Start).Should().Equal(TimeSpan.Zero, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3));
        attempts.Select(a => a.Outcome).Should().Equal(AttemptOutcome.TransientFailure, AttemptOutcome.TransientFailure, AttemptOutcome.Succeeded);
        notifier.Calls.Select(c => c.DeliveryId).Distinct().Should().ContainSingle("every attempt carries the same delivery id");
        notifier.Calls.Select(c => c.AttemptNumber).Should().Equal(1, 2, 3);
        var stored = await host.Store.GetAttemptsAsync(attempts[0].DeliveryId);
        stored.Should().HaveCount(3);
        stored[^1].ProviderMessageId.Should().Be("msg-1");
    }

    [Fact]
    public async Task TransientFailures_UpToMaxAttempts_DeadLetteredWithLastErrorKept()
    {
        var time = new FakeTimeProvider(Start);
        var notifier = new RecordingNotifier { Behaviour = (n, _) => ValueTask.FromResult(DeliveryResult.Transient($"boom {n.AttemptNumber}", 500)) };
        await using var host = await StartAsync(notifier, time, maxAttempts: 3);
        await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        await host.Outcomes.WaitAsync(o => o.Attempts.Count == 1);
        time.Advance(TimeSpan.FromSeconds(1));
        await host.Outcomes.WaitAsync(o => o.Attempts.Count == 2);
        time.Advance(TimeSpan.FromSeconds(2));
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 1);
        time.Advance(TimeSpan.FromHours(1));

        var dead = await host.Admin.ListDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.DeadLettered });
        dead.Should().ContainSingle().Which.LastError.Should().Be("boom 3");
        dead[0].LastStatusCode.Should().Be(500);
        dead[0].Attempts.Should().Be(3);
        notifier.Calls.Should().HaveCount(3, "attempts are bounded by MaxAttempts");
    }

    [Theory]
    [InlineData(550, "dead-lettered at attempt 1 (status 550): mailbox unavailable")]
    [InlineData(null, "dead-lettered at attempt 1 (no status code): refused")]
    public async Task DeadLetter_LogLine_SaysAttemptAndStatusReadably(int? status, string expected)
    {
        // It read "after 1 attempts (status (null))" before.
        var time = new FakeTimeProvider(Start);
        var error = status is null ? "refused" : "mailbox unavailable";
        var notifier = new RecordingNotifier { Behaviour = (_, _) => ValueTask.FromResult(DeliveryResult.Permanent(error, status)) };
        await using var host = await EngineHost.StartAsync(
            b =>
            {
                b.AddNotifier(notifier);
                b.Services.AddLogging(l => l.AddFakeLogging());
            },
            time: time);
        await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 1);

        var logs = host.Services.GetRequiredService<FakeLogCollector>().GetSnapshot();
        logs.Should().ContainSingle(r => r.Level == LogLevel.Warning && r.Message.Contains("dead-lettered"))
            .Which.Message.Should().EndWith(expected);
    }

    [Fact]
    public async Task PermanentFailure_DeadLetteredAtOnceWithoutRetry()
    {
        var time = new FakeTimeProvider(Start);
        var notifier = new RecordingNotifier { Behaviour = (_, _) => ValueTask.FromResult(DeliveryResult.Permanent("550 5.1.1 no such user", 550)) };
        await using var host = await StartAsync(notifier, time);
        await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 1);
        time.Advance(TimeSpan.FromHours(2));

        notifier.Calls.Should().ContainSingle();
        var d = host.Outcomes.Latest.Single();
        d.LastStatusCode.Should().Be(550);
        d.LastError.Should().Contain("5.1.1");
    }

    [Fact]
    public async Task RetryAfter_LongerThanBackoff_NextAttemptWaitsForIt()
    {
        var time = new FakeTimeProvider(Start);
        var calls = 0;
        var notifier = new RecordingNotifier { Behaviour = (_, _) => ValueTask.FromResult(Interlocked.Increment(ref calls) == 1 ? DeliveryResult.Transient("429", 429, TimeSpan.FromSeconds(30)) : DeliveryResult.Success()) };
        await using var host = await StartAsync(notifier, time);
        await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        await host.Outcomes.WaitAsync(o => o.Attempts.Count == 1);
        host.Outcomes.Latest.Single().NextAttemptAt.Should().Be(Start + TimeSpan.FromSeconds(30));
        time.Advance(TimeSpan.FromSeconds(29));
        notifier.Calls.Should().HaveCount(1);
        time.Advance(TimeSpan.FromSeconds(1));
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1);
    }

    [Fact]
    public async Task Deferred_ByChannel_RescheduledWithoutUsingAnAttempt()
    {
        var time = new FakeTimeProvider(Start);
        var calls = 0;
        var notifier = new RecordingNotifier
        {
            Behaviour = (_, _) => ValueTask.FromResult(Interlocked.Increment(ref calls) <= 3 ? DeliveryResult.Deferred("circuit open", TimeSpan.FromSeconds(10)) : DeliveryResult.Success()),
        };
        await using var host = await StartAsync(notifier, time, maxAttempts: 1);
        await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        for (var i = 1; i <= 3; i++)
        {
            await notifier.WaitForCallsAsync(i);
            await host.Outcomes.WaitAsync(o => o.Latest.SingleOrDefault()?.LastError == "circuit open" && o.Latest.Single().NextAttemptAt > time.GetUtcNow());
            host.Outcomes.Latest.Single().NextAttemptAt.Should().Be(time.GetUtcNow() + TimeSpan.FromSeconds(10));
            time.Advance(TimeSpan.FromSeconds(10));
        }

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1);
        host.Outcomes.Attempts.Should().ContainSingle("deferrals are not attempts, so even MaxAttempts = 1 is not used up");
        host.Outcomes.Latest.Single().Attempts.Should().Be(1);
    }

    [Fact]
    public async Task Deferred_AfterFailedAttempts_WaitsWhatTheChannelAskedNotTheRetryDelayAgain()
    {
        var time = new FakeTimeProvider(Start);
        var calls = 0;
        var notifier = new RecordingNotifier
        {
            // Three failures (retry delays 1 s, 2 s, 4 s), then one deferral of 3 s, then success.
            Behaviour = (_, _) => ValueTask.FromResult(Interlocked.Increment(ref calls) switch
            {
                <= 3 => DeliveryResult.Transient("503"),
                4 => DeliveryResult.Deferred("busy", TimeSpan.FromSeconds(3)),
                _ => DeliveryResult.Success(),
            }),
        };
        await using var host = await StartAsync(notifier, time, maxAttempts: 8, more: o => o.Retry!.MaxDelay = TimeSpan.FromHours(1));
        await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        foreach (var wait in new[] { 1, 2, 4 })
        {
            await host.Outcomes.WaitAsync(o => o.Attempts.Count == (wait switch { 1 => 1, 2 => 2, _ => 3 }));
            time.Advance(TimeSpan.FromSeconds(wait));
        }

        await host.Outcomes.WaitAsync(o => o.Latest.SingleOrDefault()?.LastError == "busy");
        host.Outcomes.Latest.Single().NextAttemptAt.Should().Be(time.GetUtcNow() + TimeSpan.FromSeconds(3),
            "a deferral waits what the channel asked; the failed attempts' 4 s delay is not applied again");
        time.Advance(TimeSpan.FromSeconds(3));
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1);
        host.Outcomes.Latest.Single().Attempts.Should().Be(4, "three failures and the success; the deferral is not an attempt");
    }

    [Fact]
    public async Task Deferred_WithNoWait_WaitsAtLeastOneSecond()
    {
        var time = new FakeTimeProvider(Start);
        var calls = 0;
        var notifier = new RecordingNotifier
        {
            Behaviour = (_, _) => ValueTask.FromResult(Interlocked.Increment(ref calls) == 1 ? DeliveryResult.Deferred("again", TimeSpan.Zero) : DeliveryResult.Success()),
        };
        await using var host = await StartAsync(notifier, time);
        await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));

        await host.Outcomes.WaitAsync(o => o.Latest.SingleOrDefault()?.LastError == "again");
        host.Outcomes.Latest.Single().NextAttemptAt.Should().Be(time.GetUtcNow() + TimeSpan.FromSeconds(1), "no hot loop of deferrals");
    }

    // Field case N9: a poison delivery never starves healthy ones and ends dead-lettered with its error, no hot loop.
    [Fact]
    public async Task PoisonDelivery_NotifierAlwaysThrows_HealthyOnesDeliveredPoisonDeadLetteredAfterMaxAttempts()
    {
        var time = new FakeTimeProvider(Start);
        var notifier = new RecordingNotifier
        {
            Behaviour = (n, _) => n.Event.Subject == "poison"
                ? throw new InvalidOperationException("template blew up")
                : ValueTask.FromResult(DeliveryResult.Success()),
        };
        await using var host = await StartAsync(notifier, time, maxAttempts: 3, o => o.Concurrency = 1);
        await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Subject = "poison" });
        for (var i = 0; i < 10; i++)
        {
            await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Subject = "ok" + i });
        }

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 10);
        host.Outcomes.Attempts.Count(a => a.Outcome == AttemptOutcome.TransientFailure).Should().Be(1, "without time passing the poison delivery is not retried (no hot loop)");
        time.Advance(TimeSpan.FromSeconds(1));
        await host.Outcomes.WaitAsync(o => o.Attempts.Count(a => a.Outcome == AttemptOutcome.TransientFailure) == 2);
        time.Advance(TimeSpan.FromSeconds(2));
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 1);

        var poison = host.Outcomes.Latest.Single(d => d.Status == DeliveryStatus.DeadLettered);
        poison.LastError.Should().Be("InvalidOperationException: template blew up");
        poison.Attempts.Should().Be(3);
        notifier.Calls.Count(c => c.Event.Subject == "poison").Should().Be(3);
    }

    [Fact]
    public async Task PoisonDelivery_PermanentError_DeadLetteredAtOnceHealthyOnesDelivered()
    {
        var time = new FakeTimeProvider(Start);
        var notifier = new RecordingNotifier
        {
            Behaviour = (n, _) => ValueTask.FromResult(n.Event.Subject == "poison" ? DeliveryResult.Permanent("invalid address") : DeliveryResult.Success()),
        };
        await using var host = await StartAsync(notifier, time, more: o => o.Concurrency = 1);
        await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Subject = "poison" });
        for (var i = 0; i < 10; i++)
        {
            await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Subject = "ok" + i });
        }

        await host.Outcomes.WaitAsync(o => o.CountFinal(DeliveryStatus.Succeeded) == 10 && o.CountFinal(DeliveryStatus.DeadLettered) == 1);
        notifier.Calls.Count(c => c.Event.Subject == "poison").Should().Be(1);
    }

    // Field case N7 through the engine: 100 deliveries failing with 503 at the same instant retry spread out, bounded.
    [Fact]
    public async Task RetryStorm_HundredDeliveriesFailTogether_RetriesSpreadAndBounded()
    {
        var time = new FakeTimeProvider(Start);
        var notifier = new RecordingNotifier { Behaviour = (_, _) => ValueTask.FromResult(DeliveryResult.Transient("503 Service Unavailable", 503)) };
        await using var host = await EngineHost.StartAsync(
            b => b.AddNotifier(notifier),
            o =>
            {
                o.Retry = new RetryOptions { MaxAttempts = 3, BaseDelay = TimeSpan.FromSeconds(1), BackoffMultiplier = 2, MaxDelay = TimeSpan.FromSeconds(60) };
                o.PollInterval = TimeSpan.FromMinutes(10);
            },
            time);
        await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishManyAsync(Enumerable.Range(0, 100).Select(i => NotificationEvent.FromJson("order.paid", "{}")));
        await host.Outcomes.WaitAsync(o => o.Attempts.Count == 100);
        var firstRetry = host.Outcomes.Latest.Select(d => (d.NextAttemptAt - Start).TotalSeconds).ToArray();
        firstRetry.Should().OnlyContain(s => s >= 0.8 && s <= 1.2);
        firstRetry.Distinct().Count().Should().BeGreaterThan(90);

        time.Advance(TimeSpan.FromSeconds(1.2));
        await host.Outcomes.WaitAsync(o => o.Attempts.Count == 200);
        var secondRetry = host.Outcomes.Latest.Select(d => (d.NextAttemptAt - time.GetUtcNow()).TotalSeconds).ToArray();
        secondRetry.Should().OnlyContain(s => s >= 1.6 - 0.4 && s <= 2.4);

        time.Advance(TimeSpan.FromSeconds(2.4));
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 100);
        time.Advance(TimeSpan.FromMinutes(10));
        notifier.Calls.Should().HaveCount(300, "each delivery gets exactly MaxAttempts attempts");
    }

    [Fact]
    public async Task DisableSubscriptionResult_DisablesSubscriptionAndDeadLetters()
    {
        var time = new FakeTimeProvider(Start);
        var notifier = new RecordingNotifier { Behaviour = (_, _) => ValueTask.FromResult(DeliveryResult.Permanent("410 Gone", 410, disableSubscription: true)) };
        await using var host = await StartAsync(notifier, time);
        var sub = await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 1);
        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));

        var stored = await host.Subscriptions.GetAsync(sub.Id);
        stored!.Enabled.Should().BeFalse();
        stored.DisabledReason.Should().Contain("410 Gone");
        notifier.Calls.Should().ContainSingle("a disabled subscription gets no new deliveries");
    }

    [Fact]
    public async Task SubscriptionRemovedBeforeRetry_DeliveryCancelled()
    {
        var time = new FakeTimeProvider(Start);
        var notifier = new RecordingNotifier { Behaviour = (_, _) => ValueTask.FromResult(DeliveryResult.Transient("503", 503)) };
        await using var host = await StartAsync(notifier, time);
        var sub = await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        await host.Outcomes.WaitAsync(o => o.Attempts.Count == 1);
        await host.Subscriptions.RemoveAsync(sub.Id);
        time.Advance(TimeSpan.FromSeconds(1));

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Cancelled, 1);
        notifier.Calls.Should().ContainSingle();
    }

    [Fact]
    public async Task NotBefore_InFuture_DeliveredOnlyWhenDue()
    {
        var time = new FakeTimeProvider(Start);
        var notifier = new RecordingNotifier();
        await using var host = await StartAsync(notifier, time);
        await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("reminder.due", "{}") with { NotBefore = Start.AddMinutes(5) });
        await FluentActions.Awaiting(async () =>
        {
            while ((await host.Store.CountDeliveriesAsync(new DeliveryQuery())) == 0)
            {
                await Task.Yield();
            }
        }).Should().CompleteWithinAsync(TimeSpan.FromSeconds(10));
        time.Advance(TimeSpan.FromMinutes(4));
        notifier.Calls.Should().BeEmpty();
        time.Advance(TimeSpan.FromMinutes(1));

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1);
        host.Outcomes.Attempts.Single().StartedAt.Should().Be(Start.AddMinutes(5));
    }
}
