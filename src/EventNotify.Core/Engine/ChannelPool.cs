using System.Diagnostics;
using System.Threading.Channels;
using EventNotify.Diagnostics;

namespace EventNotify;

/// <summary>The push stage of one channel: a bounded queue and a fixed set of workers calling its notifier.</summary>
[DebuggerDisplay("{Notifier.Channel,nq} depth={QueueDepth}")]
internal sealed class ChannelPool
{
    private readonly EventNotifyEngine _engine;
    private readonly int _concurrency;
    private Task[] _workers = [];

    public ChannelPool(EventNotifyEngine engine, INotifier notifier, ChannelOptions? options)
    {
        _engine = engine;
        Notifier = notifier;
        HonoursCancellation = notifier.HonoursCancellation;
        var global = engine.Options;
        _concurrency = options?.Concurrency ?? global.Concurrency;
        Timeout = options?.AttemptTimeout ?? global.AttemptTimeout;
        Retry = new RetrySchedule(options?.Retry ?? global.Retry, () => (engine.Randomizer ?? Random.Shared.NextDouble)());
        Queue = Channel.CreateBounded<DueDelivery>(new BoundedChannelOptions(global.DeliveryQueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = _concurrency == 1,
        });
    }

    public INotifier Notifier { get; }

    /// <summary><see cref="INotifier.HonoursCancellation"/>, read once.</summary>
    public bool HonoursCancellation { get; }

    public Channel<DueDelivery> Queue { get; }

    public TimeSpan Timeout { get; }

    public RetrySchedule Retry { get; }

    public int QueueDepth => Queue.Reader.Count;

    public Task Completion { get; private set; } = Task.CompletedTask;

    public void Start()
    {
        _workers = new Task[_concurrency];
        for (var i = 0; i < _workers.Length; i++)
        {
            var worker = new DeliveryWorker(_engine, this);
            _workers[i] = Task.Run(worker.RunAsync, CancellationToken.None);
        }

        Completion = Task.WhenAll(_workers);
    }

    public void Complete() => Queue.Writer.TryComplete();
}
