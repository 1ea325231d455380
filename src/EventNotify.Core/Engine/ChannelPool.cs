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
        _capacity = global.DeliveryQueueCapacity;
        Queue = Channel.CreateBounded<DueDelivery>(new BoundedChannelOptions(global.DeliveryQueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = _concurrency == 1,
        });
    }

    private readonly int _capacity;

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

    public void Complete()
    {
        Volatile.Write(ref _closed, true);
        Queue.Writer.TryComplete();
        ReleaseWriters(); // a writer waiting for room finds the queue closed
    }

    private bool _closed;

    // Back-pressure with hysteresis: a writer that finds the queue full waits until the workers have drained it to
    // half, then fills it again without waiting. The channel's own WriteAsync would wake the writer for every slot that
    // frees up, a thread-pool hand-off per delivery whenever the workers are the bottleneck.
    private TaskCompletionSource? _roomWaiter;

    private int LowWater => _capacity / 2;

    /// <summary>Writes <paramref name="item"/>, waiting while the queue is full until it has drained to half.</summary>
    public async ValueTask WriteAsync(DueDelivery item, CancellationToken cancellationToken)
    {
        while (!Queue.Writer.TryWrite(item))
        {
            var waiter = Volatile.Read(ref _roomWaiter);
            if (waiter is null)
            {
                var fresh = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                waiter = Interlocked.CompareExchange(ref _roomWaiter, fresh, null) ?? fresh;
            }

            if (Volatile.Read(ref _closed))
            {
                await Queue.Writer.WriteAsync(item, cancellationToken).ConfigureAwait(false); // throws ChannelClosedException, as before
                return;
            }

            // Checked after the waiter is published, so a worker that drained the queue meanwhile is not missed.
            if (Queue.Reader.Count <= LowWater)
            {
                ReleaseWriters();
                continue;
            }

            WriterWaited.TrySetResult();
            Interlocked.Increment(ref _writerWaits);
            await waiter.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private int _writerWaits;

    /// <summary>How many times a writer has waited for room (tests).</summary>
    internal int WriterWaits => Volatile.Read(ref _writerWaits);

    /// <summary>Completes the first time a writer waits for room (tests).</summary>
    internal TaskCompletionSource WriterWaited { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Called by a worker after it took an item: wakes waiting writers once the queue is down to half.</summary>
    public void ItemTaken()
    {
        if (Volatile.Read(ref _roomWaiter) is not null && Queue.Reader.Count <= LowWater)
        {
            ReleaseWriters();
        }
    }

    private void ReleaseWriters() => Interlocked.Exchange(ref _roomWaiter, null)?.TrySetResult();
}
