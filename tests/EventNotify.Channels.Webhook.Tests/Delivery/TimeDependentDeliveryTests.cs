using System.Diagnostics.Metrics;
using System.Globalization;
using EventNotify.Webhooks.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;

namespace EventNotify.Webhooks.Tests.Delivery;

/// <summary>Deliveries whose behaviour depends on time, on a <see cref="FakeTimeProvider"/>: nothing waits for real time.</summary>
public sealed class TimeDependentDeliveryTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private static FakeTimeProvider Clock() =>
        new(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds())); // whole seconds, as HTTP dates are

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Publish_503WithRetryAfter_NextAttemptWaitsForIt(bool asHttpDate)
    {
        var time = Clock();
        var wait = TimeSpan.FromSeconds(120);
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (n, _, ctx, _) =>
        {
            ctx.Response.StatusCode = n == 1 ? 503 : 200;
            if (n == 1)
            {
                ctx.Response.Headers.RetryAfter = asHttpDate
                    ? (time.GetUtcNow() + wait).ToString("r", CultureInfo.InvariantCulture)
                    : ((int)wait.TotalSeconds).ToString(CultureInfo.InvariantCulture);
            }

            return Task.CompletedTask;
        };
        // The webhook default schedule would retry after 5 s; Retry-After asks for 120 s.
        await using var host = await TestWebhooks.StartAsync(time: time, retry: RetryOptions.WebhookDefault());
        await host.SubscribeWebhookAsync(receiver.Url);
        var publishedAt = time.GetUtcNow();

        await host.Publisher.PublishAsync(TestWebhooks.OrderPaid());

        await host.Outcomes.WaitAsync(o => o.Attempts.Count == 1, Wait);
        host.Outcomes.Latest.Single().NextAttemptAt.Should().Be(publishedAt + wait);
        time.Advance(wait);
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1, Wait);
        receiver.Requests.Select(r => r.Header("webhook-timestamp")).Should().Equal(
            publishedAt.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture),
            (publishedAt + wait).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Publish_RetryAfterTooLargeToParse_WaitsTheLongestTheScheduleAllows()
    {
        // More seconds than .NET's header parser takes (past int.MaxValue): it was treated as absent, a retry in 5 s.
        var time = Clock();
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (n, _, ctx, _) =>
        {
            ctx.Response.StatusCode = 429;
            ctx.Response.Headers.RetryAfter = "99999999999999";
            return Task.CompletedTask;
        };
        var retry = RetryOptions.WebhookDefault();
        await using var host = await TestWebhooks.StartAsync(time: time, retry: retry);
        await host.SubscribeWebhookAsync(receiver.Url);
        var publishedAt = time.GetUtcNow();

        await host.Publisher.PublishAsync(TestWebhooks.OrderPaid());

        await host.Outcomes.WaitAsync(o => o.Attempts.Count == 1, Wait);
        host.Outcomes.Latest.Single().NextAttemptAt.Should().Be(publishedAt + retry.MaxRetryAfter);
    }

    [Fact]
    public async Task Publish_AfterThresholdFailures_CircuitOpenSkipsEndpointUntilBreakEnds()
    {
        var time = Clock();
        await using var receiver = await AlwaysFailingReceiverAsync();
        await using var host = await StartWithCircuitBreakerAsync(time);
        await host.SubscribeWebhookAsync(receiver.Url);
        using var opened = new MetricCollector<long>(host.Services.GetRequiredService<IMeterFactory>(), "EventNotify", WebhookMetrics.CircuitOpenedName);

        await host.Publisher.PublishAsync(TestWebhooks.OrderPaid(1));
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 1, Wait);
        await host.Publisher.PublishAsync(TestWebhooks.OrderPaid(2));
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 2, Wait);
        await host.Publisher.PublishAsync(TestWebhooks.OrderPaid(3));

        // The third delivery is deferred, not attempted: no request, no attempt used, still pending.
        await host.Outcomes.WaitAsync(o => o.Latest.Any(d => d.Status == DeliveryStatus.Pending && d.LastError!.Contains("Circuit open")), Wait);
        var deferred = host.Outcomes.Latest.Single(d => d.Status == DeliveryStatus.Pending);
        deferred.Attempts.Should().Be(0, "a deferral is not an attempt");
        deferred.NextAttemptAt.Should().BeOnOrAfter(time.GetUtcNow() + TimeSpan.FromSeconds(30), "it waits for the circuit to close");
        receiver.Requests.Should().HaveCount(2);
        host.Outcomes.Attempts.Should().HaveCount(2);
        opened.GetMeasurementSnapshot().Should().ContainSingle();

        time.Advance(TimeSpan.FromSeconds(36)); // break (30 s) + jitter of the deferral
        await receiver.WaitForRequestsAsync(3, Wait);
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 3, Wait);
    }

    [Fact]
    public async Task Publish_HalfOpenProbeAnswered410_CircuitClosesAndNextDeliveryGoesOutAtOnce()
    {
        // A 410 is an answer, so the URL is up: the probe is over and the circuit closed. Were it left half-open with
        // the probe "out", every other delivery to the URL would be put off until WebhookOptions.Timeout passed.
        var time = Clock();
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (n, _, ctx, _) =>
        {
            ctx.Response.StatusCode = n switch { <= 2 => 500, 3 => 410, _ => 200 };
            return Task.CompletedTask;
        };
        await using var host = await StartWithCircuitBreakerAsync(time);
        var gone = await host.SubscribeWebhookAsync(receiver.Url);
        for (var i = 1; i <= 2; i++)
        {
            await host.Publisher.PublishAsync(TestWebhooks.OrderPaid(i));
            await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, i, Wait);
        }

        await host.Publisher.PublishAsync(TestWebhooks.OrderPaid(3));
        await host.Outcomes.WaitAsync(o => o.Latest.Any(d => d.Status == DeliveryStatus.Pending && d.LastError!.Contains("Circuit open")), Wait);
        var other = await host.Subscriptions.AddAsync(new Subscription
        {
            EventTypes = ["user.*"],
            Channel = "webhook",
            Address = receiver.Url, // the same URL, so the same circuit
            Secrets = [new SubscriptionSecret(TestWebhooks.VectorSecret)],
        });

        time.Advance(TimeSpan.FromSeconds(36)); // the break (30 s) and the deferral's jitter: the deferred delivery probes
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 3, Wait);
        (await host.Subscriptions.GetAsync(gone.Id))!.Enabled.Should().BeFalse("410 Gone disables the subscription");

        // No time passes: the probe's 410 must have closed the circuit for this delivery to go out now.
        await host.Publisher.PublishAsync(NotificationEvent.FromJson("user.login", "{}"));
        await host.Outcomes.WaitAsync(o => o.Latest.Any(d => d.SubscriptionId == other.Id && (d.Status == DeliveryStatus.Succeeded || d.LastError is not null)), Wait);
        var delivered = host.Outcomes.Latest.Single(d => d.SubscriptionId == other.Id);
        delivered.Status.Should().Be(DeliveryStatus.Succeeded, $"the circuit closed on the 410 (last error: {delivered.LastError})");
        receiver.Requests.Should().HaveCount(4);
    }

    [Fact]
    public async Task Publish_CircuitOpenOnOneUrl_OtherUrlOnSameHostStillDelivered()
    {
        // Many receivers share a host (integration platforms): one subscriber's dead hook must not trip another's.
        var time = Clock();
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (_, request, ctx, _) =>
        {
            ctx.Response.StatusCode = request.Path.EndsWith("/dead", StringComparison.Ordinal) ? 500 : 200;
            return Task.CompletedTask;
        };
        await using var host = await TestWebhooks.StartAsync(w => w.CircuitBreakerThreshold = 2, time: time, retry: TestWebhooks.FastRetry(1));
        await host.SubscribeWebhookAsync(receiver.Url + "/dead");
        var alive = await host.Subscriptions.AddAsync(new Subscription
        {
            EventTypes = ["user.*"],
            Channel = "webhook",
            Address = receiver.Url + "/alive",
            Secrets = [new SubscriptionSecret(TestWebhooks.VectorSecret)],
        });

        for (var i = 1; i <= 2; i++)
        {
            await host.Publisher.PublishAsync(TestWebhooks.OrderPaid(i));
            await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, i, Wait);
        }

        await host.Publisher.PublishAsync(TestWebhooks.OrderPaid(3));
        await host.Outcomes.WaitAsync(o => o.Latest.Any(d => d.LastError?.Contains("Circuit open") == true), Wait);
        await host.Publisher.PublishAsync(NotificationEvent.FromJson("user.login", "{}"));

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1, Wait);
        host.Outcomes.Latest.Single(d => d.Status == DeliveryStatus.Succeeded).SubscriptionId.Should().Be(alive.Id);
        receiver.Requests.Count(r => r.Path.EndsWith("/alive", StringComparison.Ordinal)).Should().Be(1);
    }

    // Found by a trial of the window: after each Timeout of a receiver that never answered, the worker that met its next
    // delivery waited a whole SlotWait (on this clock: for ever) before the endpoint counted as saturated again, and a
    // healthy receiver's deliveries waited with it.
    [Fact]
    public async Task Publish_AfterAHungEndpointTimesOut_ItsOtherDeliveriesAreDeferredWithoutHoldingAWorker()
    {
        var time = Clock();
        await using var healthy = await WebhookReceiver.StartAsync();
        await using var host = await TestWebhooks.StartAsync(
            w => w.Timeout = TimeSpan.FromSeconds(5),
            o => o.Channel("webhook").Concurrency = 2,
            time: time,
            retry: TestWebhooks.FastRetry(10));
        await using var hung = await WebhookReceiver.StartAsync(); // disposed first: its open requests end before the host stops
        hung.Respond = (_, _, _, ct) => new TaskCompletionSource().Task.WaitAsync(ct); // accepts, never answers
        await host.SubscribeWebhookAsync(hung.Url);
        await host.SubscribeWebhookAsync(healthy.Url);
        await host.Publisher.PublishAsync(TestWebhooks.OrderPaid(0));
        await hung.WaitForRequestsAsync(1, Wait);
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1, Wait); // answered before the clock moves
        time.Advance(TimeSpan.FromSeconds(5)); // the hung attempt's Timeout: its slot comes back, and the retry takes it
        await hung.WaitForRequestsAsync(2, Wait);

        for (var i = 1; i <= 3; i++)
        {
            await host.Publisher.PublishAsync(TestWebhooks.OrderPaid(i));
        }

        // One worker is in the hung attempt; the other must defer the hung endpoint's deliveries, not wait for its slot.
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 4, Wait);
        await host.Outcomes.WaitAsync(o => o.Latest.Count(d => d.Status == DeliveryStatus.Pending && d.LastError?.Contains("in flight") == true) == 3, Wait);
        healthy.Requests.Should().HaveCount(4);
        hung.Requests.Should().HaveCount(2, "one attempt at a time at an endpoint that has not answered");
        host.Outcomes.Attempts.Should().HaveCount(5, "four healthy deliveries and the hung one's timeout; a deferral is not an attempt");
    }

    [Fact]
    public async Task Publish_EndpointFailingLongerThanDisableAfter_SubscriptionDisabled()
    {
        var time = Clock();
        await using var receiver = await AlwaysFailingReceiverAsync();
        await using var host = await StartGivingUpAfterAnHourAsync(time);
        var sub = await host.SubscribeWebhookAsync(receiver.Url);

        await host.Publisher.PublishAsync(TestWebhooks.OrderPaid());
        await host.Outcomes.WaitAsync(o => o.Attempts.Count == 1, Wait);
        time.Advance(TimeSpan.FromMinutes(40));
        await host.Outcomes.WaitAsync(o => o.Attempts.Count == 2, Wait);
        host.Outcomes.Latest.Single().Status.Should().Be(DeliveryStatus.Pending);
        time.Advance(TimeSpan.FromMinutes(40));

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 1, Wait);
        var last = host.Outcomes.Attempts[2];
        last.Outcome.Should().Be(AttemptOutcome.PermanentFailure);
        last.Error.Should().Contain("DisableAfter");
        (await host.FirstDisabledAsync()).Should().Be(sub.Id);
        var disabled = await host.Subscriptions.GetAsync(sub.Id);
        disabled!.Enabled.Should().BeFalse();
        receiver.Requests.Should().HaveCount(3);
    }

    [Fact]
    public async Task Publish_SubscriptionEnabledAgainAfterGivingUp_GetsAWholeDisableAfterAgain()
    {
        // Found by a lifecycle trial: the URL's failure streak outlived the give-up, so a subscription enabled again was
        // given up at its first failure ("failed every attempt for longer than 1 h"), within the same process.
        var time = Clock();
        await using var receiver = await AlwaysFailingReceiverAsync();
        await using var host = await StartGivingUpAfterAnHourAsync(time);
        var sub = await host.SubscribeWebhookAsync(receiver.Url);
        await host.Publisher.PublishAsync(TestWebhooks.OrderPaid(1));
        await host.Outcomes.WaitAsync(o => o.Attempts.Count == 1, Wait);
        time.Advance(TimeSpan.FromMinutes(40));
        await host.Outcomes.WaitAsync(o => o.Attempts.Count == 2, Wait);
        time.Advance(TimeSpan.FromMinutes(40));
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 1, Wait); // given up at 80 min
        (await host.Subscriptions.GetAsync(sub.Id))!.Enabled.Should().BeFalse();

        await host.Subscriptions.SetEnabledAsync(sub.Id, true, null);
        await host.Publisher.PublishAsync(TestWebhooks.OrderPaid(2));

        await host.Outcomes.WaitAsync(o => o.Attempts.Count == 4, Wait);
        host.Outcomes.Attempts[3].Outcome.Should().Be(AttemptOutcome.TransientFailure, "a fresh streak has not lasted DisableAfter");
        (await host.Subscriptions.GetAsync(sub.Id))!.Enabled.Should().BeTrue();
    }

    /// <summary>A receiver that answers every request 500.</summary>
    private static async Task<WebhookReceiver> AlwaysFailingReceiverAsync()
    {
        var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (_, _, ctx, _) =>
        {
            ctx.Response.StatusCode = 500;
            return Task.CompletedTask;
        };
        return receiver;
    }

    /// <summary>A host whose circuit opens after 2 failures in a row for 30 s; one attempt per delivery.</summary>
    private static Task<EngineHost> StartWithCircuitBreakerAsync(FakeTimeProvider time) =>
        TestWebhooks.StartAsync(
            w =>
            {
                w.CircuitBreakerThreshold = 2;
                w.CircuitBreakDuration = TimeSpan.FromSeconds(30);
            },
            time: time,
            retry: TestWebhooks.FastRetry(1));

    /// <summary>Retries every 40 minutes, exactly, up to 10 attempts: the third attempt comes 80 minutes in.</summary>
    private static RetryOptions EveryFortyMinutes() => new() { MaxAttempts = 10, Delays = [TimeSpan.FromMinutes(40)], JitterFactor = 0 };

    /// <summary>A webhook host that gives an endpoint up after an hour of failures and never opens its circuit.</summary>
    private static Task<EngineHost> StartGivingUpAfterAnHourAsync(FakeTimeProvider time) =>
        TestWebhooks.StartAsync(
            w =>
            {
                w.CircuitBreakerThreshold = 100;
                w.DisableAfter = TimeSpan.FromHours(1);
            },
            time: time,
            retry: EveryFortyMinutes());

    /// <summary>Two engines one after the other on one subscription store, as a restart on a durable store is.</summary>
    private static Task<EngineHost> StartOnAsync(ISubscriptionStore subscriptions, FakeTimeProvider time, RetryOptions retry) =>
        EngineHost.StartAsync(
            b =>
            {
                b.Services.Replace(ServiceDescriptor.Singleton(subscriptions));
                b.AddWebhooks(w =>
                {
                    w.AllowPrivateNetworks = true;
                    w.CircuitBreakerThreshold = 100;
                    w.DisableAfter = TimeSpan.FromHours(1);
                });
            },
            o => o.Channel("webhook").Retry = retry,
            time,
            randomizer: () => 0.5);

    [Fact]
    public async Task Publish_EndpointFailingAcrossARestart_GivenUpOnceTheRecordedStreakReachesDisableAfter()
    {
        var time = Clock();
        var t0 = time.GetUtcNow();
        await using var receiver = await AlwaysFailingReceiverAsync();
        var subscriptions = new InMemorySubscriptionStore();
        var retry = EveryFortyMinutes();
        Subscription sub;
        await using (var first = await StartOnAsync(subscriptions, time, retry))
        {
            sub = await first.SubscribeWebhookAsync(receiver.Url);
            await first.Publisher.PublishAsync(TestWebhooks.OrderPaid(1));
            await first.Outcomes.WaitAsync(o => o.Attempts.Count == 1, Wait);
            (await subscriptions.GetAsync(sub.Id))!.FailingSince.Should().BeNull("a streak shorter than a minute is not written");
            time.Advance(TimeSpan.FromMinutes(40));
            await first.Outcomes.WaitAsync(o => o.Attempts.Count == 2, Wait);
            (await subscriptions.GetAsync(sub.Id))!.FailingSince.Should().Be(t0, "the streak began with the first failure");
        }

        // The restart forgets the endpoint's health in memory; the streak on the subscription is what remains.
        time.Advance(TimeSpan.FromMinutes(30));
        await using var second = await StartOnAsync(subscriptions, time, retry);
        await second.Publisher.PublishAsync(TestWebhooks.OrderPaid(2));

        await second.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 1, Wait);
        second.Outcomes.Attempts.Single().Error.Should().Contain("DisableAfter");
        var disabled = await subscriptions.GetAsync(sub.Id);
        disabled!.Enabled.Should().BeFalse("failing since 70 minutes, across the restart, with DisableAfter one hour");
        disabled.FailingSince.Should().BeNull("given up: re-enabled later, the subscription starts afresh");
    }

    [Fact]
    public async Task Publish_EndpointRecoversAfterALongStreak_RecordedStreakCleared()
    {
        var time = Clock();
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (n, _, ctx, _) =>
        {
            ctx.Response.StatusCode = n <= 2 ? 500 : 200;
            return Task.CompletedTask;
        };
        var subscriptions = new InMemorySubscriptionStore();
        await using var host = await StartOnAsync(subscriptions, time, new RetryOptions { MaxAttempts = 10, Delays = [TimeSpan.FromMinutes(5)], JitterFactor = 0 });
        var sub = await host.SubscribeWebhookAsync(receiver.Url);

        await host.Publisher.PublishAsync(TestWebhooks.OrderPaid());
        await host.Outcomes.WaitAsync(o => o.Attempts.Count == 1, Wait);
        time.Advance(TimeSpan.FromMinutes(5));
        await host.Outcomes.WaitAsync(o => o.Attempts.Count == 2, Wait);
        (await subscriptions.GetAsync(sub.Id))!.FailingSince.Should().NotBeNull();
        time.Advance(TimeSpan.FromMinutes(5));

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1, Wait);
        (await subscriptions.GetAsync(sub.Id))!.FailingSince.Should().BeNull("the success ended the streak");
    }
}
