using EventNotify.Webhooks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace EventNotify.Benchmarks.Scenarios;

/// <summary>
/// EventNotify on its SQLite store (a WAL file with the store's defaults: synchronous FULL, group commit) and the
/// instant notifier: what durability costs, against <see cref="SqliteBaselineScenario"/>.
/// </summary>
internal sealed class EngineSqliteScenario(string name = "engine-sqlite", Action<EventNotifyBuilder>? configure = null) : EngineScenario(name, subscriptions: 1, configure)
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"eventnotify-bench-engine-{Guid.NewGuid():N}.db");

    /// <summary>
    /// 256 concurrent publishers (see <see cref="EngineScenario.Publishers"/>): as many publishes in flight as
    /// <see cref="SqliteBaselineScenario"/> writes events per transaction, so the store can form groups of the same
    /// size. With 64 the engine measured about 0.35–0.4 of the baseline instead of 0.45–0.55 (docs/benchmarks.md).
    /// </summary>
    protected override int Publishers => SqliteBaselineScenario.BatchSize;

    protected override void Configure(EventNotifyBuilder builder)
    {
        base.Configure(builder);
        builder.UseSqlite($"Data Source={_path}");
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync().ConfigureAwait(false);
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { "", "-wal", "-shm", ".lock" })
        {
            File.Delete(_path + suffix);
        }
    }
}

/// <summary>
/// EventNotify delivering signed Standard Webhooks (the webhook channel's defaults, private networks allowed for
/// 127.0.0.1) to the same Kestrel receiver as <see cref="HttpClientBaselineScenario"/>, in-memory store.
/// </summary>
internal sealed class EngineWebhookScenario(string name = "engine-webhook", Action<EventNotifyBuilder>? configure = null) : EngineScenario(name, subscriptions: 1, configure)
{
    private WebApplication? _receiver;
    private string _url = "";

    protected override async Task<string?> PrepareAsync()
    {
        _receiver = await HttpClientBaselineScenario.StartReceiverAsync().ConfigureAwait(false);
        _url = _receiver.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/hook";
        return null;
    }

    // Concurrency C to the one receiver, as the raw loop: the per-endpoint cap (half the workers by default, so a hung
    // receiver cannot hold them all) is raised to the channel's worker count.
    protected override void Configure(EventNotifyBuilder builder) => builder.AddWebhooks(o =>
    {
        o.AllowPrivateNetworks = true;
        o.MaxConcurrencyPerEndpoint = HttpClientBaselineScenario.Concurrency;
    });

    protected override Subscription CreateSubscription(int index) => new()
    {
        Id = $"sub_bench_{index}",
        EventTypes = ["order.*"],
        Channel = "webhook",
        Address = _url,
        Secrets = [new SubscriptionSecret(WebhookSecret.Generate())],
    };

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync().ConfigureAwait(false);
        if (_receiver is not null)
        {
            await _receiver.StopAsync().ConfigureAwait(false);
            await _receiver.DisposeAsync().ConfigureAwait(false);
        }
    }
}
