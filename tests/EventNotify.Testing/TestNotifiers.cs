using System.Collections.Concurrent;

namespace EventNotify.Testing;

/// <summary>A notifier whose behaviour each test scripts; records every call and signals waiters.</summary>
public sealed class RecordingNotifier(string channel = "test") : INotifier
{
    private readonly ConcurrentQueue<Notification> _calls = new();
    private readonly object _gate = new();
    private readonly List<(Func<IReadOnlyCollection<Notification>, bool> Condition, TaskCompletionSource Done)> _waiters = [];

    public string Channel { get; } = channel;

    /// <summary>How each attempt goes; the default value succeeds.</summary>
    public Func<Notification, CancellationToken, ValueTask<DeliveryResult>> Behaviour { get; set; } =
        (_, _) => ValueTask.FromResult(DeliveryResult.Success());

    public IReadOnlyCollection<Notification> Calls => _calls.ToArray();

    /// <summary>What the notifier tells the engine about honouring its token; the default value is <see langword="false"/>.</summary>
    public bool HonoursCancellation { get; init; }

    public async ValueTask<DeliveryResult> SendAsync(Notification notification, CancellationToken cancellationToken)
    {
        try
        {
            return await Behaviour(notification, cancellationToken);
        }
        finally
        {
            _calls.Enqueue(notification);
            Signal();
        }
    }

    /// <summary>Completes when <paramref name="condition"/> holds over the calls made so far (checked after every call).</summary>
    public Task WaitForAsync(Func<IReadOnlyCollection<Notification>, bool> condition, TimeSpan? timeout = null)
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (condition(Calls))
            {
                return Task.CompletedTask;
            }

            _waiters.Add((condition, tcs));
        }

        return tcs.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(30));
    }

    public Task WaitForCallsAsync(int count, TimeSpan? timeout = null) => WaitForAsync(c => c.Count >= count, timeout);

    private void Signal()
    {
        lock (_gate)
        {
            var calls = Calls;
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Condition(calls))
                {
                    _waiters[i].Done.TrySetResult();
                    _waiters.RemoveAt(i);
                }
            }
        }
    }
}
