using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Wolverine;

namespace EventNotify.Benchmarks.Scenarios;

/// <summary>WolverineFx 6.64 (MIT) local queue: publish → handler. The handler completes at once and counts.</summary>
internal sealed class WolverineScenario : IScenario
{
    internal static Completion Current { get; private set; } = new();

    internal static void Use(Completion completion) => Current = completion;
    private IHost? _host;
    private IServiceProvider _services = null!;

    public string Name => "wolverine-local";

    public async Task<string?> SetupAsync()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        if (Environment.GetEnvironmentVariable("BENCH_LOG") == "1")
        {
            builder.Logging.AddSimpleConsole();
        }

        builder.UseWolverine(opts =>
        {
            // Discover only this handler (the benchmark's entry assembly may be BenchmarkDotNet's generated one).
            opts.Discovery.DisableConventionalDiscovery().IncludeType(typeof(WolverineOrderPaidHandler));
            opts.ApplicationAssembly = typeof(WolverineScenario).Assembly;

            // Handlers are generated and compiled with Roslyn at start (WolverineFx.RuntimeCompilation).
            opts.UseRuntimeCompilation();

            // Throughput configuration, per Wolverine's docs ("Local Queues"): a buffered (in-memory, non-durable)
            // local queue processing messages in parallel, with the same parallelism as the engine's push stage.
            opts.LocalQueue("orders").BufferedInMemory().MaximumParallelMessages(16);
            opts.PublishMessage<WolverineOrderPaid>().ToLocalQueue("orders");
        });

        _host = builder.Build();
        await _host.StartAsync().ConfigureAwait(false);
        _services = _host.Services;
        return null;
    }

    public async Task RunAsync(int events)
    {
        var completion = new Completion();
        completion.Reset(events);
        Use(completion);
        using var scope = _services.CreateScope();
        var bus = scope.ServiceProvider.GetRequiredService<IMessageBus>();
        for (var i = 0; i < events; i++)
        {
            await bus.PublishAsync(new WolverineOrderPaid(NotificationEvent.NewId(), Payload.Json)).ConfigureAwait(false);
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
}

// Public and top level: Wolverine compiles a handler adapter that must see these types.

/// <summary>The message: an id and the same JSON payload the engine carries.</summary>
public sealed record WolverineOrderPaid(string Id, string Data);

/// <summary>Completes at once and counts.</summary>
public static class WolverineOrderPaidHandler
{
    public static void Handle(WolverineOrderPaid message) => WolverineScenario.Current.Signal();
}
