using System.Collections.Concurrent;

namespace EventNotify.Webhooks;

/// <summary>
/// Caps the attempts in flight to one endpoint (host and port), so a receiver that accepts connections and never
/// answers holds few of the channel's workers (until <see cref="WebhookOptions.Timeout"/> cuts them) and the rest keep
/// delivering to healthy receivers. The cap is a window that starts at one attempt and opens by one with every answer,
/// up to <see cref="Limit"/>; an attempt that gets no answer (a timeout, a refused connection) closes it by one again,
/// down to one. So an endpoint that has never answered holds one worker however many deliveries wait for it (two hung
/// receivers with the whole cap each held all 16 default workers for a whole Timeout, a trial found), while a healthy
/// one reaches its full cap within its first few answers.
/// A worker that finds the endpoint at its cap waits for a slot, but only while slots keep coming free (a fast
/// endpoint frees one within milliseconds, so a busy but healthy endpoint keeps all its capacity): when none has for
/// twice its last answer time (from <see cref="StallAfter"/> to <see cref="SlotWait"/>; the whole <see cref="SlotWait"/> before
/// its first answer), the endpoint is marked saturated, and until one of its attempts finishes further deliveries to
/// it are deferred at once without waiting (a deferral is not an attempt). A worker also stops after
/// <see cref="SlotWait"/> in all; then, if slots were still coming free, only its own delivery is deferred.
/// Nobody waits at an endpoint whose last finished attempt got no answer either, until it answers again: a receiver
/// that never answers gives its slot back only when Timeout cuts an attempt, so waiting for that slot only held workers.
/// A worker waits only while the endpoint's recent answer times promise a slot soon (<see cref="MaxExpectedWait"/>):
/// a receiver slower than the traffic sent to it but never a second late (100-600 ms per answer) otherwise ended up
/// with every worker, in flight or waiting, and deliveries to everyone else queued behind it; its surplus is now
/// deferred at once while a fast receiver's short bursts still wait a few milliseconds for their turn. All waiting is
/// on the <see cref="TimeProvider"/>.
/// </summary>
internal sealed class EndpointSlots(int limit, TimeProvider time)
{
    /// <summary>The longest a worker waits for a free slot before the endpoint counts as saturated.</summary>
    public static readonly TimeSpan SlotWait = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The shortest time a waiting worker goes on waiting while none of the endpoint's slots comes free, once the
    /// endpoint has answered: twice its last answer time, at least this and at most <see cref="SlotWait"/>. Past it the
    /// endpoint counts as saturated (one that answered and then hung kept every worker that met it waiting a whole
    /// <see cref="SlotWait"/>). Before its first answer an endpoint gets the whole <see cref="SlotWait"/>: a slow one cannot be
    /// told from a hung one yet, and giving up sooner put a receiver answering in 300 ms off two seconds at a time while
    /// its window opened (a trial: 100 deliveries drained in 13 s instead of 4.5 s).
    /// </summary>
    public static readonly TimeSpan StallAfter = TimeSpan.FromMilliseconds(250);

    /// <summary>How long a waiter at <paramref name="gate"/> waits for a slot to come free before giving up.</summary>
    private static TimeSpan StallFor(Gate gate)
    {
        var last = Volatile.Read(ref gate.LastAnswerTicks);
        if (last <= 0)
        {
            return SlotWait;
        }

        var stall = TimeSpan.FromTicks(Math.Min(last, SlotWait.Ticks / 2) * 2);
        return stall < StallAfter ? StallAfter : stall;
    }

    /// <summary>How long a delivery to a saturated endpoint is deferred.</summary>
    public static readonly TimeSpan BusyDelay = TimeSpan.FromSeconds(2);

    private const int MaxTracked = 10_000;

    private readonly ConcurrentDictionary<string, Gate> _gates = new(StringComparer.Ordinal);

    /// <summary>The most attempts in flight to one endpoint (host and port).</summary>
    public int Limit { get; } = limit;

    /// <summary>
    /// The longest a worker should expect to wait for a slot: at the cap, a delivery waits only if the endpoint's
    /// average answer time divided among its slots, times its place in the line, stays under this; otherwise it is
    /// deferred at once. 50 ms: a fast receiver's burst waits its turn (a slot frees every few milliseconds), a receiver
    /// taking 200 ms per answer keeps two waiters (with the default cap of 8), one taking 400 ms one, a slower one none.
    /// </summary>
    public static readonly TimeSpan MaxExpectedWait = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// How many answers, after the first <see cref="Limit"/> (connection set-up), an endpoint's average needs before waits
    /// are judged by it; until then a worker waits as for a fast endpoint.
    /// </summary>
    public const int TrustedAfter = 4;

    /// <summary>Attempts in flight to <paramref name="endpoint"/> now (for tests and diagnostics).</summary>
    public int InFlight(string endpoint) => _gates.TryGetValue(endpoint, out var gate) ? Volatile.Read(ref gate.Window) - gate.Semaphore.CurrentCount : 0;

    /// <summary>How many attempts <paramref name="endpoint"/> may have in flight now: its window (for tests and diagnostics).</summary>
    public int Window(string endpoint) => _gates.TryGetValue(endpoint, out var gate) ? Volatile.Read(ref gate.Window) : 1;

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

        // Saturated, or its last attempt got no answer: no slot is coming soon. The second: a receiver that never answers
        // gives its one slot back only when Timeout cuts its attempt, and every worker that met it after that waited a
        // whole SlotWait before the host counted as saturated again (a trial: a healthy receiver's deliveries held up
        // 1-2 s after each of a hung receiver's timeouts, until its circuit opened). Waiting resumes with its next answer.
        if (Volatile.Read(ref gate.Saturated) || Volatile.Read(ref gate.Unanswered))
        {
            return null;
        }

        var place = Interlocked.Increment(ref gate.Waiters);
        if (Volatile.Read(ref gate.Answers) >= Limit + TrustedAfter && Volatile.Read(ref gate.AverageTicks) / Volatile.Read(ref gate.Window) * place > MaxExpectedWait.Ticks)
        {
            Interlocked.Decrement(ref gate.Waiters);
            return null; // no slot soon at this endpoint's pace: this worker goes on with other deliveries
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
        var started = time.GetTimestamp();
        var progress = Volatile.Read(ref gate.Progress);
        var progressSeenAt = started;
        while (true)
        {
            var stall = StallFor(gate);
            var untilStall = stall - time.GetElapsedTime(progressSeenAt);
            var left = SlotWait - time.GetElapsedTime(started);
            var wait = untilStall < left ? untilStall : left;
            using var timer = new CancellationTokenSource(wait > TimeSpan.Zero ? wait : TimeSpan.Zero, time);
            using var callerCancels = cancellationToken.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), timer);
            try
            {
                await gate.Semaphore.WaitAsync(timer.Token).ConfigureAwait(false);
                return gate;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                var now = time.GetTimestamp();
                if (Volatile.Read(ref gate.Progress) is var current && current != progress)
                {
                    progress = current; // slots came free meanwhile (to other waiters)
                    progressSeenAt = now;
                }

                var answering = !Volatile.Read(ref gate.Unanswered) && time.GetElapsedTime(progressSeenAt, now) < stall;
                if (answering && time.GetElapsedTime(started, now) < SlotWait)
                {
                    continue; // the endpoint is answering: wait on
                }

                if (!answering)
                {
                    Volatile.Write(ref gate.Saturated, true);
                }

                // Else a second in all, at an endpoint still freeing slots (a fresh one whose window is still opening): only
                // this delivery goes back. Marking the endpoint saturated put its whole backlog off at once and left its
                // slots idle (a trial: 100 deliveries to a receiver answering in 300 ms drained in 7.5 s, not 4.5 s).
                return null;
            }
            catch (OperationCanceledException)
            {
                // The caller's token (the attempt's timeout, or shutdown) fired while waiting: nothing was sent, so this is
                // a deferral, never a timed-out attempt.
                return null;
            }
        }
    }

    /// <summary>
    /// How long to put off a delivery <see cref="EnterAsync"/> turned away. At an endpoint whose pace is known, each such
    /// delivery gets a turn of its own: one slot's share of the average answer time after the previous one, starting a
    /// second from now (the shortest deferral). Put off by the same two seconds, a backlog came back all at once, a few
    /// deliveries got slots, the rest were put off together again, and the slots stood idle between the steps (a trial
    /// drained 200 deliveries to a 50 ms receiver in 27 s, about 7 a second). A saturated endpoint, or one whose pace is
    /// not known yet, gets <see cref="BusyDelay"/>.
    /// </summary>
    public TimeSpan DeferralFor(string endpoint)
    {
        var gate = GateOf(endpoint);
        var average = Volatile.Read(ref gate.AverageTicks);
        if (Volatile.Read(ref gate.Saturated) || Volatile.Read(ref gate.Answers) < Limit + TrustedAfter || average <= 0)
        {
            return BusyDelay;
        }

        var interval = Math.Max(1, average / Volatile.Read(ref gate.Window)); // one slot's share: slots free up this often
        var now = time.GetUtcNow().UtcTicks;
        var earliest = now + FirstTurn.Ticks;
        long current, next;
        do
        {
            current = Volatile.Read(ref gate.NextTurnTicks);
            next = Math.Max(current, earliest) + interval;
            if (next - now > MaxTurnAhead.Ticks)
            {
                // Turns are never pulled forward: ones far ahead at a slow pace would stay late after the host sped up
                // (a trial: a 5 s slow spell cost 30 s). Beyond the horizon a delivery comes back then and gets a turn
                // at the pace of that moment.
                return MaxTurnAhead;
            }
        }
        while (Interlocked.CompareExchange(ref gate.NextTurnTicks, next, current) != current);

        return TimeSpan.FromTicks(next - now);
    }

    /// <summary>The earliest turn <see cref="DeferralFor"/> gives: the engine's shortest deferral.</summary>
    public static readonly TimeSpan FirstTurn = TimeSpan.FromSeconds(1);

    /// <summary>The furthest turn <see cref="DeferralFor"/> gives out; later deliveries come back then and queue again.</summary>
    public static readonly TimeSpan MaxTurnAhead = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Gives back the slot taken by <see cref="EnterAsync"/> after <paramref name="held"/>: the attempt is over, so the
    /// endpoint is no longer saturated; when the endpoint <paramref name="answered"/> (an HTTP status), the time joins its
    /// average answer time and its window opens by one (up to <see cref="Limit"/>); when it did not, the window closes by
    /// one (down to one attempt), the slot with it.
    /// </summary>
    public static void Release(Gate gate, TimeSpan held, bool answered = true)
    {
        // Only answers feed the pace: a timeout or a refused connection says nothing about how fast the host answers (a
        // trial: one 15 s timeout spaced a whole backlog's turns for an instant receiver 70 ms apart). The first wave of
        // answers (one per slot) carries connection set-up and warm-up: not counted either. Then the mean of the next
        // few, then a moving average in which each answer weighs a quarter. Racy updates lose a sample at worst.
        if (answered)
        {
            Volatile.Write(ref gate.LastAnswerTicks, Math.Max(1, held.Ticks));
        }

        Volatile.Write(ref gate.Unanswered, !answered);

        if (answered && Interlocked.Increment(ref gate.Answers) - gate.Limit is var counted and > 0)
        {
            var average = Volatile.Read(ref gate.AverageTicks);
            Volatile.Write(ref gate.AverageTicks, average + ((held.Ticks - average) / Math.Min(counted, TrustedAfter)));
        }

        // Slots given back: this one, one more when the window opens, none when it closes (this slot goes with it).
        var slots = 1;
        lock (gate)
        {
            if (answered && gate.Window < gate.Limit)
            {
                Volatile.Write(ref gate.Window, gate.Window + 1);
                slots = 2;
            }
            else if (!answered && gate.Window > 1)
            {
                Volatile.Write(ref gate.Window, gate.Window - 1);
                slots = 0;
            }
        }

        if (slots > 0)
        {
            Interlocked.Increment(ref gate.Progress);
            Volatile.Write(ref gate.Saturated, false);
            gate.Semaphore.Release(slots);
        }
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
                if (g.Semaphore.CurrentCount == Volatile.Read(ref g.Window))
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
        public readonly int Limit = limit;

        /// <summary>Free slots: <see cref="Window"/> less the attempts in flight.</summary>
        public readonly SemaphoreSlim Semaphore = new(1, limit);

        /// <summary>How many attempts may be in flight now, 1 to <see cref="Limit"/> (changed under the gate's lock).</summary>
        public int Window = 1;

        /// <summary>Counts the slots given back: a waiter that sees it move knows the endpoint is answering.</summary>
        public int Progress;

        /// <summary>How long the last answered attempt held its slot, in ticks; 0 until the endpoint first answers.</summary>
        public long LastAnswerTicks;

        public bool Saturated;

        /// <summary>The last attempt to finish got no answer (a timeout, a refused connection): nobody waits for a slot here.</summary>
        public bool Unanswered;

        public int Waiters;

        /// <summary>The moving average of how long an attempt held a slot, in ticks; 0 until the first answer.</summary>
        public long AverageTicks;

        /// <summary>The last turn <see cref="DeferralFor"/> gave out, in UTC ticks.</summary>
        public long NextTurnTicks;

        /// <summary>How many attempts have given their slot back (the average counts from <see cref="TrustedAfter"/> on).</summary>
        public long Answers; // long: a busy host passes int.MaxValue answers in weeks
    }
}
