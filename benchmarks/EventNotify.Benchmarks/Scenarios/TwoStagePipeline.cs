using System.Threading.Channels;

namespace EventNotify.Benchmarks.Scenarios;

/// <summary>
/// The engine's two hand-offs with its default capacities and reader counts (<see cref="EventNotifyOptions"/>), for
/// the scenarios that model them: a routing queue read by the routers, a delivery queue read by the workers.
/// </summary>
internal sealed class TwoStagePipeline<TRoute, TPush>
{
    private static readonly EventNotifyOptions Defaults = new();
    private readonly Task[] _routers;
    private readonly Task[] _workers;

    public TwoStagePipeline(Func<TwoStagePipeline<TRoute, TPush>, Task> route, Func<TwoStagePipeline<TRoute, TPush>, Task> push)
    {
        Route = Channel.CreateBounded<TRoute>(new BoundedChannelOptions(Defaults.RouteQueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = Defaults.RouterConcurrency == 1,
            SingleWriter = false,
        });
        Push = Channel.CreateBounded<TPush>(new BoundedChannelOptions(Defaults.DeliveryQueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = Defaults.Concurrency == 1,
        });
        _routers = Enumerable.Range(0, Defaults.RouterConcurrency).Select(_ => Task.Run(() => route(this))).ToArray();
        _workers = Enumerable.Range(0, Defaults.Concurrency).Select(_ => Task.Run(() => push(this))).ToArray();
    }

    public Channel<TRoute> Route { get; }

    public Channel<TPush> Push { get; }

    /// <summary>Completes the routing queue, waits for the routers, then the same for the delivery queue.</summary>
    public async ValueTask DisposeAsync()
    {
        Route.Writer.TryComplete();
        await Task.WhenAll(_routers).ConfigureAwait(false);
        Push.Writer.TryComplete();
        await Task.WhenAll(_workers).ConfigureAwait(false);
    }
}
