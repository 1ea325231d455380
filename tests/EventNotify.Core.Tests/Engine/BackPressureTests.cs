using Microsoft.Extensions.DependencyInjection;

namespace EventNotify.Tests.Engine;

/// <summary>Field case N2: a full queue makes publish wait (or reject when configured), never accept-then-lose.</summary>
public sealed class BackPressureTests
{
    private static async Task<(EngineHost Host, RecordingNotifier Notifier, TaskCompletionSource Gate)> FillPipelineAsync(QueueFullMode mode)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var notifier = new RecordingNotifier { Behaviour = async (_, _) => { await gate.Task; return DeliveryResult.Success(); } };
        var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier), o =>
        {
            o.RouteQueueCapacity = 1;
            o.DeliveryQueueCapacity = 1;
            o.RouterConcurrency = 1;
            o.Concurrency = 1;
            o.QueueFullMode = mode;
        });
        await host.SubscribeAsync("test", "*");

        // e1 blocks the only worker; e2 fills the push queue; the router holds e3 waiting for room; e4 fills the route queue.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inner = notifier.Behaviour;
        notifier.Behaviour = (n, ct) => { started.TrySetResult(); return inner(n, ct); };
        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = "e1" });
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var engine = host.Services.GetRequiredService<EventNotifyEngine>();

        // Each step waits until the previous event has moved on, so that in Reject mode no publish meets a queue that
        // is full only for a moment.
        await Publish("e2");
        await Until(() => engine.QueueDepth("test") == 1); // e2 in the push queue
        await Publish("e3");
        await engine.WriterWaitedAsync("test").WaitAsync(TimeSpan.FromSeconds(10)); // the router holds e3
        await Publish("e4"); // in the route queue, which is then full

        return (host, notifier, gate);

        Task Publish(string id) => host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = id }).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>Waits (up to 10 s) for engine state that has no signal of its own.</summary>
    private static async Task Until(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            DateTime.UtcNow.Should().BeBefore(deadline, "the engine should get there");
            await Task.Yield();
        }
    }

    [Fact]
    public async Task PublishAsync_QueueFullWaitMode_WaitsUntilCancelledAndAcceptsNothing()
    {
        var (host, _, gate) = await FillPipelineAsync(QueueFullMode.Wait);
        await using var _ = host;
        using var cts = new CancellationTokenSource();

        var publish = host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = "e5" }, cts.Token).AsTask();

        publish.IsCompleted.Should().BeFalse("the pipeline is full, so publish must wait");
        await cts.CancelAsync();
        await FluentActions.Awaiting(() => publish).Should().ThrowAsync<OperationCanceledException>();
        (await host.Store.GetEventAsync("e5")).Should().BeNull("a cancelled publish accepted nothing");
        gate.SetResult();
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 4);
    }

    [Fact]
    public async Task PublishAsync_QueueFullWaitMode_CompletesOnceThereIsRoomAndIsDelivered()
    {
        var (host, notifier, gate) = await FillPipelineAsync(QueueFullMode.Wait);
        await using var _ = host;

        var publish = host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = "e5" }).AsTask();
        publish.IsCompleted.Should().BeFalse();
        gate.SetResult();

        (await publish.WaitAsync(TimeSpan.FromSeconds(10))).Duplicate.Should().BeFalse();
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 5);
        notifier.Calls.Select(c => c.Event.Id).Should().BeEquivalentTo("e1", "e2", "e3", "e4", "e5");
    }

    [Fact]
    public async Task PushQueueFullManyTimes_RouterResumesEachTimeTheWorkersDrainIt_EveryEventDeliveredOnce()
    {
        // The router waits for a full push queue to drain to half before it fills it again: this runs that cycle
        // many times (60 events through a queue of 8) to show no wake-up is lost.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var entered = 0;
        var bothBusy = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var notifier = new RecordingNotifier
        {
            Behaviour = async (_, _) =>
            {
                if (Interlocked.Increment(ref entered) == 2)
                {
                    bothBusy.TrySetResult();
                }

                await gate.Task;
                await Task.Yield();
                return DeliveryResult.Success();
            },
        };
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier), o =>
        {
            o.RouteQueueCapacity = 4;
            o.DeliveryQueueCapacity = 8;
            o.RouterConcurrency = 2;
            o.Concurrency = 2;
            o.PollInterval = TimeSpan.FromMinutes(10); // no store poll comes along to push the queue: only the workers can wake the router
        });
        await host.SubscribeAsync("test", "*");

        var publishing = Task.Run(async () =>
        {
            for (var i = 0; i < 60; i++)
            {
                await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = $"e{i}" });
            }
        });
        await bothBusy.Task.WaitAsync(TimeSpan.FromSeconds(10)); // both workers held: the queues fill behind them
        await host.Services.GetRequiredService<EventNotifyEngine>().WriterWaitedAsync("test").WaitAsync(TimeSpan.FromSeconds(10));
        host.Services.GetRequiredService<EventNotifyEngine>().QueueDepth("test").Should().Be(8, "a router waits only on a full queue");
        gate.SetResult();

        await publishing.WaitAsync(TimeSpan.FromSeconds(30));
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 60);
        notifier.Calls.Select(c => c.Event.Id).Should().OnlyHaveUniqueItems().And.HaveCount(60);
    }

    [Fact]
    public async Task Router_FullChannelQueue_WaitsOncePerRefillNotOncePerDelivery()
    {
        // A router routes up to 64 queued events together. Each of them used to wait for room in a full channel queue
        // on its own, so every refill woke a crowd of waiters (and most found the queue full again).
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var notifier = new RecordingNotifier
        {
            Behaviour = async (_, _) =>
            {
                await gate.Task;
                return DeliveryResult.Success();
            },
        };
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier), o =>
        {
            o.RouteQueueCapacity = 256;
            o.DeliveryQueueCapacity = 8;
            o.RouterConcurrency = 1;
            o.Concurrency = 1;
            o.PollInterval = TimeSpan.FromMinutes(10);
        });
        await host.SubscribeAsync("test", "*");
        var engine = host.Services.GetRequiredService<EventNotifyEngine>();

        await host.Publisher.PublishManyAsync(Enumerable.Range(0, 200).Select(i => NotificationEvent.FromJson("order.paid", "{}") with { Id = $"e{i}" }));
        await engine.WriterWaitedAsync("test").WaitAsync(TimeSpan.FromSeconds(10));
        gate.SetResult();
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 200);

        // The queue holds 8 and the router waits until it is down to 4: about (200 - 8) / 4 waits.
        engine.WriterWaits("test").Should().BeInRange(1, (200 / 4) + 2);
        notifier.Calls.Select(c => c.Event.Id).Should().OnlyHaveUniqueItems().And.HaveCount(200);
    }

    [Fact]
    public async Task PublishAsync_QueueFullRejectMode_ThrowsAndAcceptsNothing()
    {
        var (host, notifier, gate) = await FillPipelineAsync(QueueFullMode.Reject);
        await using var _ = host;

        var act = async () => await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = "e5" });

        (await act.Should().ThrowAsync<EventQueueFullException>()).Which.Message.Should().Contain("RouteQueueCapacity");
        (await host.Store.GetEventAsync("e5")).Should().BeNull();
        gate.SetResult();
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 4);
        notifier.Calls.Select(c => c.Event.Id).Should().BeEquivalentTo(["e1", "e2", "e3", "e4"]);
    }

    // Found by a crash trial: a hosted service registered before AddEventNotify publishes from its own StartAsync, so
    // before the engine has started. Those events are stored and routed by the start's recovery pass, not queued
    // for routers that are not running: more of them than the route queue holds neither waits forever (the engine
    // would never start) nor is refused.
    [Theory]
    [InlineData(QueueFullMode.Wait)]
    [InlineData(QueueFullMode.Reject)]
    public async Task PublishBeforeStart_MoreThanTheRouteQueueHolds_AcceptedAndDeliveredOnceStarted(QueueFullMode mode)
    {
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier).AddSubscription(
            new Subscription { Id = "sub_early", EventTypes = ["order.*"], Channel = "test", Address = "a" }), o =>
        {
            o.RouteQueueCapacity = 4;
            o.QueueFullMode = mode;
        }, start: false);

        for (var i = 0; i < 20; i++)
        {
            await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = $"evt_early_{i:D2}" }).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        }

        await host.Publisher.PublishManyAsync(Enumerable.Range(20, 10).Select(i => NotificationEvent.FromJson("order.paid", "{}") with { Id = $"evt_early_{i:D2}" })).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        await host.Host.StartAsync();

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 30);
        notifier.Calls.Select(c => c.Event.Id).Should().OnlyHaveUniqueItems().And.HaveCount(30);
    }
}
