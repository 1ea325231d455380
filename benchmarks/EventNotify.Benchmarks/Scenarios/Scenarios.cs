using Microsoft.Extensions.DependencyInjection;
namespace EventNotify.Benchmarks.Scenarios;

/// <summary>
/// Every scenario by name, in report order, and the ratios reported between them.
/// </summary>
/// <remarks>
/// To add a scenario: implement <see cref="IScenario"/> (or derive from <see cref="EngineScenario"/>, which takes the
/// store or channel under test through <c>Configure</c>/<c>CreateSubscription</c>), add its name here and, for
/// BenchmarkDotNet, a one-line class in <c>Bdn/ThroughputBenchmarks.cs</c>. A scenario that cannot run on a machine
/// returns the reason from <see cref="IScenario.SetupAsync"/> and is printed as skipped.
/// </remarks>
internal static class ScenarioCatalog
{
    public static readonly IReadOnlyList<string> Names =
    [
        "channel-baseline",
        "engine-memory",
        "engine-memory-fanout",
        "masstransit-memory",
        "wolverine-local",
        "sqlite-baseline",
        "engine-sqlite",
        "wolverine-sqlite",
        "httpclient-baseline",
        "engine-webhook",
    ];

    /// <summary>
    /// Diagnostic scenarios, run only when named in <c>--scenarios</c>: what bounds a goal (recorded-floor) or which
    /// part of a gap is whose (webhook-notifier).
    /// </summary>
    public static readonly IReadOnlyList<string> Diagnostics = ["recorded-floor", "recorded-floor-concat-id", "webhook-notifier"];

    /// <summary>The ratios printed after the scenarios: numerator, denominator.</summary>
    public static readonly IReadOnlyList<(string A, string B)> Ratios =
    [
        ("engine-memory", "channel-baseline"),
        ("engine-memory", "masstransit-memory"),
        ("engine-memory", "wolverine-local"),
        ("engine-sqlite", "sqlite-baseline"),
        ("engine-sqlite", "wolverine-sqlite"),
        ("engine-webhook", "httpclient-baseline"),
        ("recorded-floor", "channel-baseline"),
        ("recorded-floor", "wolverine-local"),
        ("recorded-floor-concat-id", "channel-baseline"),
        ("recorded-floor-concat-id", "wolverine-local"),
        ("engine-memory", "recorded-floor"),
        ("webhook-notifier", "httpclient-baseline"),
        ("engine-webhook", "webhook-notifier"),
    ];

    private static Action<EventNotifyBuilder> Variant(string name) => b =>
    {
        foreach (var part in name.Split('~').Skip(1))
        {
            var v = int.Parse(part[1..]);
            switch (part[0])
            {
                case 'h': b.UseInMemoryStore(o => o.MaxFinishedDeliveries = v); break;
                case 'r': b.Services.Configure<EventNotifyOptions>(o => o.RouteQueueCapacity = v); break;
                case 'd': b.Services.Configure<EventNotifyOptions>(o => o.DeliveryQueueCapacity = v); break;
                case 'c': b.Services.Configure<EventNotifyOptions>(o => o.RouterConcurrency = v); break;
                case 'w': b.Services.Configure<EventNotifyOptions>(o => o.Concurrency = v); break;
            }
        }
    };

    public static IScenario Create(string name) => name switch
    {
        _ when name.StartsWith("engine-webhook~", StringComparison.Ordinal) => new EngineWebhookScenario(name, Variant(name)),
        _ when name.StartsWith("engine-sqlite~", StringComparison.Ordinal) => new EngineSqliteScenario(name, Variant(name)),
        _ when name.StartsWith("engine-memory~", StringComparison.Ordinal) => new EngineScenario(name, 1, Variant(name)),
        "channel-baseline" => new ChannelBaselineScenario(),
        "engine-memory" => new EngineScenario(name, subscriptions: 1),
        "engine-memory-fanout" => new EngineScenario(name, subscriptions: 10),
        "masstransit-memory" => new MassTransitScenario(),
        "wolverine-local" => new WolverineScenario(),
        "sqlite-baseline" => new SqliteBaselineScenario(),
        "engine-sqlite" => new EngineSqliteScenario(),
        "wolverine-sqlite" => new WolverineSqliteScenario(),
        "httpclient-baseline" => new HttpClientBaselineScenario(),
        "engine-webhook" => new EngineWebhookScenario(),
        "webhook-notifier" => new WebhookNotifierScenario(),
        "recorded-floor" => new RecordedFloorScenario(hashedId: true),
        "recorded-floor-concat-id" => new RecordedFloorScenario(hashedId: false),
        _ => throw new ArgumentException($"Unknown scenario '{name}'. Known: {string.Join(", ", Names.Concat(Diagnostics))}.", nameof(name)),
    };
}
