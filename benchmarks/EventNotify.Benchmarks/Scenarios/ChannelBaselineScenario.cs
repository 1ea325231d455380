namespace EventNotify.Benchmarks.Scenarios;

/// <summary>
/// The limit: the engine's two bounded hand-offs with nothing else. One producer writes N items into a bounded
/// channel read by as many "routers" as the engine runs, which forward each item into a second bounded channel read
/// by as many "workers" as a channel pool has; a worker counts the item as delivered. Capacities and reader counts
/// are the engine's defaults (<see cref="EventNotifyOptions"/>).
/// </summary>
internal sealed class ChannelBaselineScenario : IScenario
{
    private static readonly object Item = new();
    private readonly Completion _completion = new();
    private TwoStagePipeline<object, object> _pipeline = null!;

    public string Name => "channel-baseline";

    public Task<string?> SetupAsync()
    {
        _pipeline = new TwoStagePipeline<object, object>(RouteAsync, PushAsync);
        return Task.FromResult<string?>(null);
    }

    public async Task RunAsync(int events)
    {
        _completion.Reset(events);
        var writer = _pipeline.Route.Writer;
        for (var i = 0; i < events; i++)
        {
            if (!writer.TryWrite(Item))
            {
                await writer.WriteAsync(Item).ConfigureAwait(false);
            }
        }

        await _completion.WaitAsync(events).ConfigureAwait(false);
    }

    private static async Task RouteAsync(TwoStagePipeline<object, object> pipeline)
    {
        var reader = pipeline.Route.Reader;
        var writer = pipeline.Push.Writer;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var item))
            {
                if (!writer.TryWrite(item))
                {
                    await writer.WriteAsync(item).ConfigureAwait(false);
                }
            }
        }
    }

    private async Task PushAsync(TwoStagePipeline<object, object> pipeline)
    {
        var reader = pipeline.Push.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out _))
            {
                _completion.Signal();
            }
        }
    }

    public ValueTask DisposeAsync() => _pipeline.DisposeAsync();
}
