using System.Threading.Channels;

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
    private Channel<object> _route = null!;
    private Channel<object> _push = null!;
    private Task[] _readers = [];

    public string Name => "channel-baseline";

    public Task<string?> SetupAsync()
    {
        var defaults = new EventNotifyOptions();
        _route = Channel.CreateBounded<object>(new BoundedChannelOptions(defaults.RouteQueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = defaults.RouterConcurrency == 1,
            SingleWriter = false,
        });
        _push = Channel.CreateBounded<object>(new BoundedChannelOptions(defaults.DeliveryQueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = defaults.Concurrency == 1,
        });

        var readers = new List<Task>();
        for (var i = 0; i < defaults.RouterConcurrency; i++)
        {
            readers.Add(Task.Run(RouteAsync));
        }

        for (var i = 0; i < defaults.Concurrency; i++)
        {
            readers.Add(Task.Run(PushAsync));
        }

        _readers = [.. readers];
        return Task.FromResult<string?>(null);
    }

    public async Task RunAsync(int events)
    {
        _completion.Reset(events);
        var writer = _route.Writer;
        for (var i = 0; i < events; i++)
        {
            if (!writer.TryWrite(Item))
            {
                await writer.WriteAsync(Item).ConfigureAwait(false);
            }
        }

        await _completion.WaitAsync(events).ConfigureAwait(false);
    }

    private async Task RouteAsync()
    {
        var reader = _route.Reader;
        var writer = _push.Writer;
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

    private async Task PushAsync()
    {
        var reader = _push.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out _))
            {
                _completion.Signal();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _route.Writer.TryComplete();
        await Task.WhenAll(_readers.Take(new EventNotifyOptions().RouterConcurrency)).ConfigureAwait(false);
        _push.Writer.TryComplete();
        await Task.WhenAll(_readers).ConfigureAwait(false);
    }
}
