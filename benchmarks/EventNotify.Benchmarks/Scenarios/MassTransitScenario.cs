using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EventNotify.Benchmarks.Scenarios;

/// <summary>
/// MassTransit 8.5.12 (Apache-2.0; 9 and later need a paid licence) on its in-memory transport: publish → consumer.
/// The consumer completes at once and counts.
/// </summary>
internal sealed class MassTransitScenario : IScenario
{
    private static Completion s_completion = new();
    private IHost? _host;
    private IBus _bus = null!;

    public string Name => "masstransit-memory";

    public async Task<string?> SetupAsync()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Services.AddMassTransit(x =>
        {
            x.AddConsumer<OrderPaidConsumer>();
            x.UsingInMemory((context, cfg) =>
            {
                // Throughput configuration, per MassTransit's docs ("PrefetchCount and ConcurrentMessageLimit",
                // "Guidance"): the in-memory transport dispatches up to PrefetchCount messages at once per receive
                // endpoint, and ConcurrentMessageLimit defaults to it. We give it the same parallelism as the
                // engine's push stage (16 workers) and enough prefetch to keep them busy.
                cfg.PrefetchCount = 1024;
                cfg.ConcurrentMessageLimit = 16;
                cfg.ConfigureEndpoints(context);
            });
        });

        _host = builder.Build();
        await _host.StartAsync().ConfigureAwait(false);
        _bus = _host.Services.GetRequiredService<IBus>();
        return null;
    }

    public async Task RunAsync(int events)
    {
        var completion = new Completion();
        completion.Reset(events);
        s_completion = completion;
        for (var i = 0; i < events; i++)
        {
            await _bus.Publish(new OrderPaid(NotificationEvent.NewId(), Payload.Json)).ConfigureAwait(false);
        }

        await completion.WaitAsync(events).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.StopAsync().ConfigureAwait(false);
            _host.Dispose();
        }
    }

    /// <summary>The message: an id and the same JSON payload the engine carries.</summary>
    public sealed record OrderPaid(string Id, string Data);

    public sealed class OrderPaidConsumer : IConsumer<OrderPaid>
    {
        public Task Consume(ConsumeContext<OrderPaid> context)
        {
            s_completion.Signal();
            return Task.CompletedTask;
        }
    }
}
