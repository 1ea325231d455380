namespace EventNotify;

/// <summary>
/// Decides what happens after a failed attempt: when to try again, or to give up. Pure and deterministic given the
/// randomizer, so backoff is tested exactly.
/// </summary>
internal sealed class RetrySchedule
{
    private readonly RetryOptions _options;
    private readonly Func<double> _random;

    public RetrySchedule(RetryOptions options, Func<double>? random = null)
    {
        _options = options;
        _random = random ?? Random.Shared.NextDouble;
    }

    public int MaxAttempts => _options.MaxAttempts;

    /// <summary>The shortest wait after a deferral, so a channel that defers with no wait cannot make a hot loop.</summary>
    public static readonly TimeSpan MinDeferral = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The wait after a channel deferred a delivery (not an attempt): what it asked for, at least
    /// <see cref="MinDeferral"/> and at most <see cref="RetryOptions.MaxRetryAfter"/>. The retry schedule does not
    /// apply: nothing failed, and re-applying the last failure's delay would make the delivery wait for it twice.
    /// </summary>
    public TimeSpan GetDeferral(TimeSpan? requested)
    {
        var wait = requested ?? TimeSpan.Zero;
        if (wait > _options.MaxRetryAfter)
        {
            wait = _options.MaxRetryAfter;
        }

        return wait < MinDeferral ? MinDeferral : wait;
    }

    /// <summary>The delay after the <paramref name="failedAttempts"/>-th failed attempt (1 for the first failure).</summary>
    public TimeSpan GetDelay(int failedAttempts, TimeSpan? retryAfter = null)
    {
        var o = _options;
        double baseTicks;
        if (o.Delays is { Count: > 0 } delays)
        {
            baseTicks = delays[Math.Min(failedAttempts - 1, delays.Count - 1)].Ticks;
        }
        else
        {
            baseTicks = o.BaseDelay.Ticks * Math.Pow(o.BackoffMultiplier, Math.Max(0, failedAttempts - 1));
        }

        var capTicks = (double)o.MaxDelay.Ticks;
        baseTicks = Math.Min(baseTicks, capTicks);
        var jittered = baseTicks * (1 - o.JitterFactor + (2 * o.JitterFactor * _random()));
        var ticks = Math.Min(jittered, capTicks);

        if (retryAfter is { } ra && ra > TimeSpan.Zero)
        {
            // The receiver asked us to wait: never retry earlier than that, within our own limit.
            var honoured = Math.Min(ra.Ticks, Math.Min(o.MaxRetryAfter.Ticks, capTicks));
            ticks = Math.Max(ticks, honoured);
        }

        return TimeSpan.FromTicks((long)Math.Max(0, ticks));
    }
}
