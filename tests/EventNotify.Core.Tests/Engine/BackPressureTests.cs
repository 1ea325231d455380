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
        foreach (var id in new[] { "e2", "e3", "e4" })
        {
            await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = id }).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        }

        return (host, notifier, gate);
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
        // Not started: nothing drains the route queue, so after one event it is deterministically full.
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier), o =>
        {
            o.RouteQueueCapacity = 1;
            o.QueueFullMode = QueueFullMode.Reject;
        }, start: false);
        await host.SubscribeAsync("test", "*");
        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = "e1" });

        var act = async () => await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = "e2" });

        (await act.Should().ThrowAsync<EventQueueFullException>()).Which.Message.Should().Contain("RouteQueueCapacity");
        (await host.Store.GetEventAsync("e2")).Should().BeNull();
        await host.Host.StartAsync();
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1);
        notifier.Calls.Single().Event.Id.Should().Be("e1");
    }
}
