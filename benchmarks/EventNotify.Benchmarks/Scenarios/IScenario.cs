namespace EventNotify.Benchmarks.Scenarios;

/// <summary>
/// One throughput scenario: publish N events and wait until every one was delivered. The quick harness, the
/// latency harness and the BenchmarkDotNet classes all drive scenarios through this interface, so every number for
/// one scenario measures the same code.
/// </summary>
internal interface IScenario : IAsyncDisposable
{
    /// <summary>The name printed in reports (e.g. <c>engine-memory</c>).</summary>
    string Name { get; }

    /// <summary>Starts what the scenario needs. Returns <see langword="null"/> when ready, or why it cannot run here.</summary>
    Task<string?> SetupAsync();

    /// <summary>Publishes <paramref name="events"/> events and returns once all of them were delivered.</summary>
    Task RunAsync(int events);

    /// <summary>Housekeeping between two measured runs (not timed), e.g. purging finished deliveries.</summary>
    Task CleanupAsync() => Task.CompletedTask;
}

/// <summary>A scenario waiting for a package another branch is writing; reported as skipped until then.</summary>
internal sealed class PendingScenario(string name, string reason) : IScenario
{
    public string Name { get; } = name;

    public Task<string?> SetupAsync() => Task.FromResult<string?>(reason);

    public Task RunAsync(int events) => throw new InvalidOperationException($"{Name} is not available: {reason}");

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
