using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using System.Diagnostics.Metrics;

namespace EventNotify.Tests.Engine;

public sealed class AdminAndDiagnosticsTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task RedeliverAsync_DeadLetter_DeliveredAgainWithSameId()
    {
        var time = new FakeTimeProvider(Start);
        var fail = true;
        var notifier = new RecordingNotifier { Behaviour = (_, _) => ValueTask.FromResult(Volatile.Read(ref fail) ? DeliveryResult.Permanent("rejected") : DeliveryResult.Success()) };
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier), time: time);
        await host.SubscribeAsync("test", "*");
        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 1);
        var dead = (await host.Admin.ListDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.DeadLettered })).Single();

        Volatile.Write(ref fail, false);
        (await host.Admin.RedeliverAsync(dead.Id)).Should().BeTrue();

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1);
        notifier.Calls.Select(c => c.DeliveryId).Should().Equal(dead.Id, dead.Id);
        (await host.Admin.GetAttemptsAsync(dead.Id)).Select(a => a.Outcome).Should().Equal(AttemptOutcome.PermanentFailure, AttemptOutcome.Succeeded);
        (await host.Admin.RedeliverAsync("dlv_missing")).Should().BeFalse();
    }

    [Fact]
    public async Task RedeliverAsync_QueryOfDeadLetters_RedeliversAllMatching()
    {
        var fail = true;
        var notifier = new RecordingNotifier { Behaviour = (_, _) => ValueTask.FromResult(Volatile.Read(ref fail) ? DeliveryResult.Permanent("rejected") : DeliveryResult.Success()) };
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier));
        await host.SubscribeAsync("test", "*");
        await host.Publisher.PublishManyAsync(Enumerable.Range(0, 12).Select(i => NotificationEvent.FromJson(i % 2 == 0 ? "order.paid" : "user.login", "{}")));
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 12);
        (await host.Admin.CountDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.DeadLettered, EventType = "order.paid" })).Should().Be(6);

        Volatile.Write(ref fail, false);
        var count = await host.Admin.RedeliverAsync(new DeliveryQuery { Status = DeliveryStatus.DeadLettered, EventType = "order.paid", Take = 4 });

        count.Should().Be(6);
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 6);
        (await host.Admin.CountDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.DeadLettered })).Should().Be(6);
    }

    [Fact]
    public async Task ReplayAsync_TimeRange_SendsMatchingEventsAgainAsNewDeliveries()
    {
        var time = new FakeTimeProvider(Start);
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier), time: time);
        var sub = await host.SubscribeAsync("test", "order.*");
        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Time = Start.AddHours(-2) });
        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Time = Start.AddHours(-1) });
        await host.Publisher.PublishAsync(NotificationEvent.FromJson("user.login", "{}") with { Time = Start.AddHours(-1) });
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 2);

        var replayed = await host.Admin.ReplayAsync(sub.Id, Start.AddHours(-1.5), Start);

        replayed.Should().Be(1);
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 3);
        notifier.Calls.Select(c => c.DeliveryId).Should().OnlyHaveUniqueItems();
        notifier.Calls.Count(c => c.Event.Time == Start.AddHours(-1)).Should().Be(2);
    }

    [Fact]
    public async Task Metrics_Deliveries_CountedByChannelAndOutcome()
    {
        var notifier = new RecordingNotifier { Behaviour = (n, _) => ValueTask.FromResult(n.Event.Subject == "bad" ? DeliveryResult.Permanent("no") : DeliveryResult.Success()) };
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier), start: false);
        var factory = host.Services.GetRequiredService<IMeterFactory>();
        using var deliveries = new MetricCollector<long>(factory, "EventNotify", "eventnotify.deliveries");
        using var published = new MetricCollector<long>(factory, "EventNotify", "eventnotify.events.published");
        using var duration = new MetricCollector<double>(factory, "EventNotify", "eventnotify.delivery.duration");
        await host.Host.StartAsync();
        await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Subject = "bad" });
        await host.Outcomes.WaitAsync(o => o.Latest.Count(d => d.Status != DeliveryStatus.Pending) == 2);

        published.GetMeasurementSnapshot().Sum(m => m.Value).Should().Be(2);
        var snapshot = deliveries.GetMeasurementSnapshot();
        snapshot.Should().Contain(m => (string)m.Tags["outcome"]! == "succeeded" && (string)m.Tags["channel"]! == "test");
        snapshot.Should().Contain(m => (string)m.Tags["outcome"]! == "dead_lettered");
        duration.GetMeasurementSnapshot().Should().HaveCount(2);
    }

    [Fact]
    public async Task Tracing_PublishInsideActivity_DeliveryActivityIsItsChild()
    {
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = s => s.Name == "EventNotify" || s.Name == "test",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        using var source = new System.Diagnostics.ActivitySource("test");
        string? traceIdInNotifier = null;
        var notifier = new RecordingNotifier { Behaviour = (_, _) => { traceIdInNotifier = System.Diagnostics.Activity.Current?.TraceId.ToString(); return ValueTask.FromResult(DeliveryResult.Success()); } };
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier));
        await host.SubscribeAsync("test", "*");

        string traceId;
        using (var root = source.StartActivity("checkout"))
        {
            traceId = root!.TraceId.ToString();
            await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}"));
        }

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1);
        traceIdInNotifier.Should().Be(traceId);
        notifier.Calls.Single().Event.Extensions.Should().ContainKey("traceparent");
    }

    // From an observability trial: the publish span was started after the event recorded its trace context, so the
    // deliveries' spans were its siblings, or roots of new traces when the publish was outside any trace.
    [Fact]
    public async Task Tracing_PublishOutsideAnyTrace_DeliverySpansAreChildrenOfThePublishSpan()
    {
        var stopped = new System.Collections.Concurrent.ConcurrentBag<System.Diagnostics.Activity>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = s => s.Name == "EventNotify",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Add,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier));
        await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_span_one" });
        await host.Publisher.PublishManyAsync([
            NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_span_many_1" },
            NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_span_many_2" }]);
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 3);

        var single = stopped.Single(a => a.OperationName == "eventnotify.publish" && (string?)a.GetTagItem("eventnotify.event.id") == "evt_span_one");
        var batch = stopped.Single(a => a.OperationName == "eventnotify.publish" && a.GetTagItem("eventnotify.batch.size") is 2
            && stopped.Count(d => d.ParentSpanId == a.SpanId) == 2);
        stopped.Where(d => d.OperationName == "eventnotify.deliver test" && d.ParentSpanId == single.SpanId).Should().ContainSingle()
            .Which.TraceId.Should().Be(single.TraceId);
        stopped.Where(d => d.ParentSpanId == batch.SpanId).Should().OnlyContain(d => d.OperationName == "eventnotify.deliver test" && d.TraceId == batch.TraceId);
    }

    [Fact]
    public async Task Tracing_DeferredDelivery_SpanSaysDeferredAndIsNoError()
    {
        var stopped = new System.Collections.Concurrent.ConcurrentBag<System.Diagnostics.Activity>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = s => s.Name == "EventNotify",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Add,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        var deferred = 0;
        var notifier = new RecordingNotifier
        {
            Behaviour = (_, _) => ValueTask.FromResult(Interlocked.Increment(ref deferred) == 1
                ? DeliveryResult.Deferred("busy", TimeSpan.Zero)
                : DeliveryResult.Success()),
        };
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier));
        await host.SubscribeAsync("test", "*");

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_span_deferred" });
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1);

        var publish = stopped.Single(a => a.OperationName == "eventnotify.publish" && (string?)a.GetTagItem("eventnotify.event.id") == "evt_span_deferred");
        var sends = stopped.Where(d => d.ParentSpanId == publish.SpanId).OrderBy(d => d.StartTimeUtc).ToList();
        sends.Select(d => d.GetTagItem("eventnotify.outcome")).Should().Equal("deferred", "succeeded");
        sends.Should().OnlyContain(d => d.Status != System.Diagnostics.ActivityStatusCode.Error);
    }

    /// <summary>A store in which every redelivered delivery at once fails again, as a dead receiver would make it.</summary>
    private sealed class FailsAgainStore : DelegatingEventStore
    {
        public int Redeliveries;

        public override async ValueTask<bool> RedeliverAsync(string deliveryId, DateTimeOffset now, CancellationToken cancellationToken = default)
        {
            if (!await Inner.RedeliverAsync(deliveryId, now, cancellationToken))
            {
                return false;
            }

            Interlocked.Increment(ref Redeliveries);
            await Inner.UpdateDeliveryAsync(deliveryId, new DeliveryUpdate(DeliveryStatus.DeadLettered, 1, now, now, "Failed again.", 500), cancellationToken);
            return true;
        }
    }

    // From an admin trial: the bulk redelivery paged the dead letters while redelivering them, so one that failed again
    // came back on a later page and was sent again; with a dead receiver the call went on for as long as it kept failing.
    [Fact]
    public async Task RedeliverByQuery_DeliveriesFailingAgainDuringTheCall_EachRedeliveredOnce()
    {
        var store = new FailsAgainStore();
        var notifier = new RecordingNotifier { Behaviour = (_, _) => ValueTask.FromResult(DeliveryResult.Permanent("gone")) };
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier).UseStore(_ => store));
        await host.SubscribeAsync("test", "*");
        const int count = 1200; // more than one page
        await host.Publisher.PublishManyAsync(Enumerable.Range(0, count).Select(i => NotificationEvent.FromJson("order.paid", "{}") with { Id = $"evt_dead_{i:D4}" }));
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, count);

        var redelivered = await host.Admin.RedeliverAsync(new DeliveryQuery { Status = DeliveryStatus.DeadLettered }).AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        redelivered.Should().Be(count);
        store.Redeliveries.Should().Be(count, "each dead letter once");
    }

    [Fact]
    public async Task Admin_NullOrEmptyIdsAndInvertedRanges_ThrowNamingTheArgument()
    {
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(new RecordingNotifier()));
        var admin = host.Admin;

        (await FluentActions.Awaiting(() => admin.GetDeliveryAsync(null!).AsTask()).Should().ThrowAsync<ArgumentNullException>()).Which.ParamName.Should().Be("deliveryId");
        (await FluentActions.Awaiting(() => admin.GetAttemptsAsync("").AsTask()).Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be("deliveryId");
        (await FluentActions.Awaiting(() => admin.RedeliverAsync((string)null!).AsTask()).Should().ThrowAsync<ArgumentNullException>()).Which.ParamName.Should().Be("deliveryId");
        (await FluentActions.Awaiting(() => admin.ReplayAsync(null!, DateTimeOffset.MinValue, DateTimeOffset.MaxValue).AsTask()).Should().ThrowAsync<ArgumentNullException>()).Which.ParamName.Should().Be("subscriptionId");

        var now = DateTimeOffset.UtcNow;
        var inverted = new DeliveryQuery { CreatedFrom = now, CreatedTo = now.AddHours(-1) };
        (await FluentActions.Awaiting(() => admin.ListDeliveriesAsync(inverted).AsTask()).Should().ThrowAsync<ArgumentOutOfRangeException>()).Which.ParamName.Should().Be("CreatedTo");
        (await FluentActions.Awaiting(() => admin.CountDeliveriesAsync(inverted).AsTask()).Should().ThrowAsync<ArgumentOutOfRangeException>()).Which.ParamName.Should().Be("CreatedTo");
        (await FluentActions.Awaiting(() => admin.ListDeliveriesAsync(new DeliveryQuery { Status = (DeliveryStatus)99 }).AsTask()).Should().ThrowAsync<ArgumentOutOfRangeException>()).Which.ParamName.Should().Be("Status");
    }
}
