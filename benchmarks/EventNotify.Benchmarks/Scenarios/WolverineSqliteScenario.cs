using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Wolverine;
using Wolverine.Sqlite;

namespace EventNotify.Benchmarks.Scenarios;

/// <summary>
/// WolverineFx 6.64 with its SQLite message store (WolverineFx.Sqlite): publish → durable local queue → handler. The
/// message is persisted in Wolverine's inbox before the handler runs and marked handled after, the durable
/// counterpart of <c>engine-sqlite</c>; published from concurrent publishers (see <see cref="Publishers"/>).
/// </summary>
internal sealed class WolverineSqliteScenario : IScenario
{
    // 64, not engine-sqlite's 256: Wolverine measured faster with 64 (9.3/9.2 k vs 7.1/8.5 k events/s with 256).
    private const int Publishers = 64;
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"eventnotify-bench-wolverine-{Guid.NewGuid():N}.db");
    private IHost? _host;
    private IServiceProvider _services = null!;

    public string Name => "wolverine-sqlite";

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
            opts.Discovery.DisableConventionalDiscovery().IncludeType(typeof(WolverineOrderPaidHandler));
            opts.ApplicationAssembly = typeof(WolverineSqliteScenario).Assembly;
            opts.UseRuntimeCompilation();
            opts.Durability.Mode = DurabilityMode.Solo;

            // Durable local queue per Wolverine's docs ("Durable Local Messages"): the SQLite message store holds
            // the envelope from publish until the handler succeeded; parallelism as the engine's push stage.
            opts.PersistMessagesWithSqlite($"Data Source={_path}");
            opts.LocalQueue("orders").UseDurableInbox().MaximumParallelMessages(16);
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
        WolverineScenario.Use(completion);
        var share = events / Publishers;
        await Task.WhenAll(Enumerable.Range(0, Publishers).Select(p => Task.Run(async () =>
        {
            var count = p == 0 ? events - (share * (Publishers - 1)) : share;
            for (var i = 0; i < count; i++)
            {
                using var scope = _services.CreateScope();
                var bus = scope.ServiceProvider.GetRequiredService<IMessageBus>();
                await bus.PublishAsync(new WolverineOrderPaid(NotificationEvent.NewId(), Payload.Json)).ConfigureAwait(false);
            }
        }))).ConfigureAwait(false);

        await completion.WaitAsync(events).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.StopAsync().ConfigureAwait(false);
            _host.Dispose();
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            File.Delete(_path + suffix);
        }
    }
}
