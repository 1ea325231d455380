using System.Collections.Concurrent;

namespace EventNotify.Webhooks;

/// <summary>
/// Caps the attempts in flight to one endpoint (host and port), so a receiver that accepts connections and never
/// answers holds at most <see cref="Limit"/> of the channel's workers (until <see cref="WebhookOptions.Timeout"/> cuts them) and the
/// rest keep delivering to healthy receivers. A worker that finds the endpoint at its cap waits up to
/// <see cref="SlotWait"/> for a slot (a fast endpoint frees one within milliseconds, so a busy but healthy endpoint
/// keeps all its capacity); if none frees up in that time the endpoint is marked saturated, and until one of its
/// attempts finishes, further deliveries to it are deferred at once without waiting (a deferral is not an attempt).
/// At most <see cref="MaxWaiters"/> workers wait for one endpoint's slots; a delivery that finds the endpoint at its
/// cap with that many already waiting is deferred at once too. Without that bound a receiver slower than the channel's
/// rate but never a second late (never saturated) ended up with every worker, in flight or waiting, and deliveries to
/// everyone else queued behind it. All waiting is on the <see cref="TimeProvider"/>.
/// </summary>
internal sealed class EndpointSlots(int limit, TimeProvider time)
{
    /// <summary>How long a worker waits for a free slot before the endpoint counts as saturated.</summary>
    public static readonly TimeSpan SlotWait = TimeSpan.FromSeconds(1);

    /// <summary>How long a delivery to a saturated endpoint is deferred.</summary>
    public static readonly TimeSpan BusyDelay = TimeSpan.FromSeconds(2);

    private const int MaxTracked = 10_000;

    private readonly ConcurrentDictionary<string, Gate> _gates = new(StringComparer.Ordinal);

    /// <summary>The most attempts in flight to one endpoint (host and port).</summary>
    public int Limit { get; } = limit;

    /// <summary>
    /// The most workers waiting for a slot of one endpoint: a quarter of <see cref="Limit"/>, at least 1. Enough to take
    /// a slot the moment one frees up, so a busy host keeps its share; few enough that one host holds at most
    /// <see cref="Limit"/> + this many workers (10 of the default 16).
    /// </summary>
    public int MaxWaiters { get; } = Math.Max(1, limit / 4);

    /// <summary>Attempts in flight to <paramref name="endpoint"/> now (for tests and diagnostics).</summary>
    public int InFlight(string endpoint) => _gates.TryGetValue(endpoint, out var gate) ? Limit - gate.Semaphore.CurrentCount : 0;

    /// <summary>
    /// Takes a slot for one attempt to <paramref name="endpoint"/>: the returned gate must be given to
    /// <see cref="Release"/> when the attempt ends. Returns <see langword="null"/> when the endpoint is saturated and
    /// the attempt should be deferred.
    /// </summary>
    public async ValueTask<Gate?> EnterAsync(string endpoint, CancellationToken cancellationToken)
    {
        var gate = GateOf(endpoint);
        if (gate.Semaphore.Wait(0))
        {
            return gate;
        }

        if (Volatile.Read(ref gate.Saturated))
        {
            return null;
        }

        if (Interlocked.Increment(ref gate.Waiters) > MaxWaiters)
        {
            Interlocked.Decrement(ref gate.Waiters);
            return null; // enough workers already wait for this endpoint: this one goes on with other deliveries
        }

        try
        {
            return await WaitForSlotAsync(gate, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref gate.Waiters);
        }
    }

    private async ValueTask<Gate?> WaitForSlotAsync(Gate gate, CancellationToken cancellationToken)
    {
        using var wait = new CancellationTokenSource(SlotWait, time);
        using var callerCancels = cancellationToken.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), wait);
        try
        {
            await gate.Semaphore.WaitAsync(wait.Token).ConfigureAwait(false);
            return gate;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Volatile.Write(ref gate.Saturated, true);
            return null;
        }
        catch (OperationCanceledException)
        {
            // The caller's token (the attempt's timeout, or shutdown) fired while waiting: nothing was sent, so this is
            // a deferral, never a timed-out attempt.
            return null;
        }
    }

    /// <summary>Gives back the slot taken by <see cref="EnterAsync"/>: the endpoint answered (or failed), so it is no longer saturated.</summary>
    public static void Release(Gate gate)
    {
        Volatile.Write(ref gate.Saturated, false);
        gate.Semaphore.Release();
    }

    private Gate GateOf(string endpoint)
    {
        if (_gates.TryGetValue(endpoint, out var gate))
        {
            return gate;
        }

        if (_gates.Count >= MaxTracked)
        {
            // Many distinct hosts: forget idle gates (one with attempts in flight stays; a worker that took an evicted
            // gate a moment before can let the cap be exceeded once, briefly).
            foreach (var (key, g) in _gates)
            {
                if (g.Semaphore.CurrentCount == Limit)
                {
                    _gates.TryRemove(new KeyValuePair<string, Gate>(key, g));
                }
            }
        }

        return _gates.GetOrAdd(endpoint, static (_, limit) => new Gate(limit), Limit);
    }

    /// <summary>The slots of one host and port.</summary>
    internal sealed class Gate(int limit)
    {
        public readonly SemaphoreSlim Semaphore = new(limit, limit);

        public bool Saturated;

        public int Waiters;
    }
}
