namespace EventNotify.Benchmarks.Scenarios;

/// <summary>
/// Every scenario by name, in report order, and the ratios reported between them.
/// </summary>
/// <remarks>
/// Extension points: <c>engine-sqlite</c>, <c>wolverine-sqlite</c> and <c>engine-webhook</c> are
/// <see cref="PendingScenario"/>s until the SQLite store (<c>EventNotify.Storage.Sqlite</c>) and the webhook channel
/// (<c>EventNotify.Channels.Webhook</c>) land. To enable one, reference the package from the benchmark project and
/// replace its line below with a real scenario; <see cref="EngineScenario"/> takes a configuration callback for the
/// store or channel, so <c>engine-sqlite</c> is <c>new EngineScenario("engine-sqlite", 1, b => b.UseSqlite(...))</c>.
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

    /// <summary>The ratios printed after the scenarios: numerator, denominator.</summary>
    public static readonly IReadOnlyList<(string A, string B)> Ratios =
    [
        ("engine-memory", "channel-baseline"),
        ("engine-memory", "masstransit-memory"),
        ("engine-memory", "wolverine-local"),
        ("engine-sqlite", "sqlite-baseline"),
        ("engine-sqlite", "wolverine-sqlite"),
        ("engine-webhook", "httpclient-baseline"),
    ];

    public static IScenario Create(string name) => name switch
    {
        "channel-baseline" => new ChannelBaselineScenario(),
        "engine-memory" => new EngineScenario(name, subscriptions: 1),
        "engine-memory-fanout" => new EngineScenario(name, subscriptions: 10),
        "masstransit-memory" => new MassTransitScenario(),
        "wolverine-local" => new WolverineScenario(),
        "sqlite-baseline" => new SqliteBaselineScenario(),
        "engine-sqlite" => new PendingScenario(name, "needs EventNotify.Storage.Sqlite (being written on the sqlite branch)"),
        "wolverine-sqlite" => new PendingScenario(name, "enabled together with engine-sqlite (WolverineFx.Sqlite durable local queue)"),
        "httpclient-baseline" => new HttpClientBaselineScenario(),
        "engine-webhook" => new PendingScenario(name, "needs EventNotify.Channels.Webhook (being written on the webhook branch)"),
        _ => throw new ArgumentException($"Unknown scenario '{name}'. Known: {string.Join(", ", Names)}.", nameof(name)),
    };
}
