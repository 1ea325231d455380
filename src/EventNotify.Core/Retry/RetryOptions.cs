namespace EventNotify;

/// <summary>
/// How failed attempts are retried: exponential backoff with jitter and a cap, or an explicit list of delays.
/// </summary>
public sealed class RetryOptions
{
    /// <summary>The most attempts a delivery gets (the first attempt included). The default value is 8.</summary>
    public int MaxAttempts { get; set; } = 8;

    /// <summary>The delay before the first retry; each later retry multiplies it by <see cref="BackoffMultiplier"/>. The default value is 1 second.</summary>
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The growth factor per retry. The default value is 2.</summary>
    public double BackoffMultiplier { get; set; } = 2;

    /// <summary>No delay (jitter and <c>Retry-After</c> included) exceeds this. The default value is 1 hour.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// An explicit schedule: element <c>n</c> is the delay before retry <c>n+1</c>; when there are more attempts than
    /// elements the last one repeats. When set, <see cref="BaseDelay"/> and <see cref="BackoffMultiplier"/> are unused.
    /// The default value is <see langword="null"/> (exponential).
    /// </summary>
    public IReadOnlyList<TimeSpan>? Delays { get; set; }

    /// <summary>
    /// How far each delay is spread at random, as a fraction of it: a delay <c>d</c> becomes a value in
    /// [<c>d·(1−f)</c>, <c>d·(1+f)</c>], then capped by <see cref="MaxDelay"/>. Spreading keeps deliveries that failed
    /// together (an endpoint outage) from retrying together. The default value is 0.2.
    /// </summary>
    public double JitterFactor { get; set; } = 0.2;

    /// <summary>The longest receiver-requested wait (<c>Retry-After</c>) honoured. The default value is 1 hour.</summary>
    public TimeSpan MaxRetryAfter { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The webhook industry schedule: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (8 attempts).</summary>
    public static RetryOptions WebhookDefault() => new()
    {
        MaxAttempts = 8,
        Delays = [TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(2), TimeSpan.FromHours(5), TimeSpan.FromHours(10), TimeSpan.FromHours(10)],
        MaxDelay = TimeSpan.FromHours(12),
        MaxRetryAfter = TimeSpan.FromHours(12),
    };

    /// <summary>The longest delay any of these options may give: 365 days.</summary>
    internal static readonly TimeSpan MaxRetryDelay = TimeSpan.FromDays(365);

    internal IEnumerable<string> Validate(string prefix)
    {
        if (MaxAttempts is < 1 or > 1000)
        {
            yield return $"{prefix}.MaxAttempts must be between 1 and 1000 (was {MaxAttempts}).";
        }

        // Upper bounds: a retry is scheduled at now + delay, which must stay a representable date.
        if (BaseDelay < TimeSpan.Zero || BaseDelay > MaxRetryDelay)
        {
            yield return $"{prefix}.BaseDelay must be between 0 and 365 days (was {BaseDelay}).";
        }

        if (BackoffMultiplier is < 1 or > 100 || double.IsNaN(BackoffMultiplier))
        {
            yield return $"{prefix}.BackoffMultiplier must be between 1 and 100 (was {BackoffMultiplier}).";
        }

        if (MaxDelay <= TimeSpan.Zero || MaxDelay > MaxRetryDelay)
        {
            yield return $"{prefix}.MaxDelay must be positive and at most 365 days (was {MaxDelay}).";
        }

        if (JitterFactor is < 0 or > 1 || double.IsNaN(JitterFactor))
        {
            yield return $"{prefix}.JitterFactor must be between 0 and 1 (was {JitterFactor}).";
        }

        if (MaxRetryAfter < TimeSpan.Zero || MaxRetryAfter > MaxRetryDelay)
        {
            yield return $"{prefix}.MaxRetryAfter must be between 0 and 365 days (was {MaxRetryAfter}).";
        }

        if (Delays is { Count: 0 })
        {
            yield return $"{prefix}.Delays must have at least one delay when set (or be null for exponential backoff).";
        }

        if (Delays is not null && Delays.Any(d => d < TimeSpan.Zero || d > MaxRetryDelay))
        {
            yield return $"{prefix}.Delays must each be between 0 and 365 days.";
        }
    }
}
