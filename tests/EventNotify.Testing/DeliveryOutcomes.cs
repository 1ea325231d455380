using System.Collections.Concurrent;

namespace EventNotify.Testing;

/// <summary>Collects delivery outcomes reported by the engine and lets tests await conditions on them (no sleeping).</summary>
public sealed class DeliveryOutcomes : IDeliveryObserver
{
    private readonly object _gate = new();
    private readonly List<(Delivery Delivery, DeliveryAttempt? Attempt)> _updates = [];
    private readonly Dictionary<string, Delivery> _latest = new(StringComparer.Ordinal);
    private readonly List<(Func<DeliveryOutcomes, bool> Condition, TaskCompletionSource Done)> _waiters = [];

    public void OnDeliveryUpdated(Delivery delivery, DeliveryAttempt? attempt)
    {
        lock (_gate)
        {
            _updates.Add((delivery, attempt));
            _latest[delivery.Id] = delivery;
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Condition(this))
                {
                    _waiters[i].Done.TrySetResult();
                    _waiters.RemoveAt(i);
                }
            }
        }
    }

    /// <summary>The latest state of every delivery that reported at least once.</summary>
    public IReadOnlyCollection<Delivery> Latest
    {
        get
        {
            lock (_gate)
            {
                return _latest.Values.ToArray();
            }
        }
    }

    public IReadOnlyList<DeliveryAttempt> Attempts
    {
        get
        {
            lock (_gate)
            {
                return _updates.Where(u => u.Attempt is not null).Select(u => u.Attempt!).ToArray();
            }
        }
    }

    public int CountFinal(DeliveryStatus status) => Latest.Count(d => d.Status == status);

    public Task WaitAsync(Func<DeliveryOutcomes, bool> condition, TimeSpan? timeout = null)
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (condition(this))
            {
                return Task.CompletedTask;
            }

            _waiters.Add((condition, tcs));
        }

        return tcs.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(30));
    }

    public Task WaitForStatusAsync(DeliveryStatus status, int count, TimeSpan? timeout = null) =>
        WaitAsync(o => o.CountFinal(status) >= count, timeout);
}
