using BenchmarkDotNet.Attributes;
using EventNotify.Benchmarks.Scenarios;

namespace EventNotify.Benchmarks.Bdn;

/// <summary>
/// BenchmarkDotNet over one scenario: each invocation publishes <see cref="Events"/> events and waits until all were
/// delivered, so Mean is the time per event and Allocated the bytes per event (BenchmarkDotNet's memory diagnoser
/// counts every thread's allocations on .NET Core 3.0+).
/// </summary>
[MemoryDiagnoser]
public abstract class ScenarioBenchmark
{
    public const int Events = 10_000;

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

    [Benchmark(OperationsPerInvoke = Events, Description = "publish→delivered")]
    public Task Deliver() => _scenario!.RunAsync(Events);
}

// One class per scenario; a new scenario gets a class here and an entry in ScenarioCatalog.

public class ChannelBaseline : ScenarioBenchmark
{
    private protected override string Scenario => "channel-baseline";
}

public class EngineMemory : ScenarioBenchmark
{
    private protected override string Scenario => "engine-memory";
}

public class EngineMemoryFanout : ScenarioBenchmark
{
    private protected override string Scenario => "engine-memory-fanout";
}

public class MassTransitMemory : ScenarioBenchmark
{
    private protected override string Scenario => "masstransit-memory";
}

public class WolverineLocal : ScenarioBenchmark
{
    private protected override string Scenario => "wolverine-local";
}

public class SqliteBaseline : ScenarioBenchmark
{
    private protected override string Scenario => "sqlite-baseline";
}

public class EngineSqlite : ScenarioBenchmark
{
    private protected override string Scenario => "engine-sqlite";
}

public class WolverineSqlite : ScenarioBenchmark
{
    private protected override string Scenario => "wolverine-sqlite";
}

public class HttpClientBaseline : ScenarioBenchmark
{
    private protected override string Scenario => "httpclient-baseline";
}

public class EngineWebhook : ScenarioBenchmark
{
    private protected override string Scenario => "engine-webhook";
}
