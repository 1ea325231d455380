using BenchmarkDotNet.Attributes;
using EventNotify.Benchmarks.Scenarios;

namespace EventNotify.Benchmarks.Bdn;

/// <summary>
/// BenchmarkDotNet over one scenario: each invocation publishes a number of events and waits until all were delivered,
/// so Mean is the time per event and Allocated the bytes per event (BenchmarkDotNet's memory diagnoser counts every
/// thread's allocations on .NET Core 3.0+).
/// </summary>
/// <remarks>
/// The <see cref="IterationCleanupAttribute"/> makes every iteration a single invocation, so each scenario publishes
/// enough events for an iteration of at least about 100 ms here (BenchmarkDotNet's own minimum iteration time). With
/// 10,000 events for every scenario, a fast scenario's iteration lasted a few milliseconds and a fixed cost per
/// iteration (workers parked since the last one, the forced collection before it) weighed on its mean:
/// engine-memory measured 4,179 ns per event at 10,000 and 1,327 ns at 100,000, wolverine-local 3,193 and 1,312, while
/// MassTransit, at 21 µs per event, measured the same either way.
/// </remarks>
[MemoryDiagnoser]
public abstract class ScenarioBenchmark
{
    private IScenario? _scenario;

    private protected abstract string Scenario { get; }

    [GlobalSetup]
    public void Setup()
    {
        _scenario = ScenarioCatalog.Create(Scenario);
        var skip = _scenario.SetupAsync().GetAwaiter().GetResult();
        if (skip is not null)
        {
            throw new NotSupportedException($"{Scenario} cannot run here: {skip}");
        }
    }

    [IterationCleanup]
    public void Cleanup() => _scenario!.CleanupAsync().GetAwaiter().GetResult();

    [GlobalCleanup]
    public void TearDown() => _scenario?.DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>Publishes <paramref name="events"/> events and waits until all were delivered.</summary>
    private protected Task Run(int events) => _scenario!.RunAsync(events);
}

// One class per scenario, each with its number of events per invocation (see the remarks above); a new scenario gets a
// class here and an entry in ScenarioCatalog.

public class ChannelBaseline : ScenarioBenchmark
{
    private const int Events = 1_000_000;

    private protected override string Scenario => "channel-baseline";

    [Benchmark(OperationsPerInvoke = Events, Description = "publish→delivered")]
    public Task Deliver() => Run(Events);
}

public class EngineMemory : ScenarioBenchmark
{
    private const int Events = 200_000;

    private protected override string Scenario => "engine-memory";

    [Benchmark(OperationsPerInvoke = Events, Description = "publish→delivered")]
    public Task Deliver() => Run(Events);
}

public class EngineMemoryFanout : ScenarioBenchmark
{
    private const int Events = 20_000;

    private protected override string Scenario => "engine-memory-fanout";

    [Benchmark(OperationsPerInvoke = Events, Description = "publish→delivered")]
    public Task Deliver() => Run(Events);
}

public class MassTransitMemory : ScenarioBenchmark
{
    private const int Events = 10_000;

    private protected override string Scenario => "masstransit-memory";

    [Benchmark(OperationsPerInvoke = Events, Description = "publish→delivered")]
    public Task Deliver() => Run(Events);
}

public class WolverineLocal : ScenarioBenchmark
{
    private const int Events = 200_000;

    private protected override string Scenario => "wolverine-local";

    [Benchmark(OperationsPerInvoke = Events, Description = "publish→delivered")]
    public Task Deliver() => Run(Events);
}

public class SqliteBaseline : ScenarioBenchmark
{
    private const int Events = 10_000;

    private protected override string Scenario => "sqlite-baseline";

    [Benchmark(OperationsPerInvoke = Events, Description = "publish→delivered")]
    public Task Deliver() => Run(Events);
}

public class EngineSqlite : ScenarioBenchmark
{
    private const int Events = 10_000;

    private protected override string Scenario => "engine-sqlite";

    [Benchmark(OperationsPerInvoke = Events, Description = "publish→delivered")]
    public Task Deliver() => Run(Events);
}

public class WolverineSqlite : ScenarioBenchmark
{
    private const int Events = 10_000;

    private protected override string Scenario => "wolverine-sqlite";

    [Benchmark(OperationsPerInvoke = Events, Description = "publish→delivered")]
    public Task Deliver() => Run(Events);
}

public class HttpClientBaseline : ScenarioBenchmark
{
    private const int Events = 10_000;

    private protected override string Scenario => "httpclient-baseline";

    [Benchmark(OperationsPerInvoke = Events, Description = "publish→delivered")]
    public Task Deliver() => Run(Events);
}

public class EngineWebhook : ScenarioBenchmark
{
    private const int Events = 10_000;

    private protected override string Scenario => "engine-webhook";

    [Benchmark(OperationsPerInvoke = Events, Description = "publish→delivered")]
    public Task Deliver() => Run(Events);
}
