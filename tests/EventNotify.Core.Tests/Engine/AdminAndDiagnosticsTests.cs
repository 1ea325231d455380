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
}
