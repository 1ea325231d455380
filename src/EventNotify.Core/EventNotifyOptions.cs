using Microsoft.Extensions.Options;

namespace EventNotify;

/// <summary>Engine settings, validated when the host starts.</summary>
public sealed class EventNotifyOptions
{
    /// <summary>The CloudEvents <c>source</c> given to events that have none. The default value is <c>urn:eventnotify</c>.</summary>
    public string Source { get; set; } = "urn:eventnotify";

    /// <summary>Capacity of the queue between publishing and routing. The default value is 1024.</summary>
    public int RouteQueueCapacity { get; set; } = 1024;

    /// <summary>
    /// Capacity of each channel's delivery queue: routed deliveries waiting in memory for one of the channel's workers
    /// (the rest wait in the store). The default value is 256.
    /// </summary>
    /// <remarks>
    /// A few times the channel's workers is enough to keep them busy. A longer queue only holds more deliveries in
    /// memory for longer: each is then older, colder in the CPU caches and more often promoted by the garbage collector
    /// by the time a worker takes it (engine-webhook measured about 4 % slower with 1024 than with 256, see
    /// docs/benchmarks.md).
    /// </remarks>
    public int DeliveryQueueCapacity { get; set; } = 256;

    /// <summary>What <see cref="IEventPublisher"/> does when the routing queue is full. The default value is <see cref="QueueFullMode.Wait"/>.</summary>
    public QueueFullMode QueueFullMode { get; set; } = QueueFullMode.Wait;

    /// <summary>How many events are routed at once. The default value is 2.</summary>
    public int RouterConcurrency { get; set; } = 2;

    /// <summary>Workers per channel, unless the channel's <see cref="ChannelOptions.Concurrency"/> says otherwise. The default value is 16.</summary>
    public int Concurrency { get; set; } = 16;

    /// <summary>The longest one attempt may take before it counts as a transient failure. The default value is 30 seconds.</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long stopping waits for in-flight work before leaving the rest pending in the store. The default value is 30 seconds.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the store is asked for due deliveries when nothing signals sooner. The default value is 1 second.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a worker holds a delivery it took; if the process dies, the delivery is attempted again (same id)
    /// after this. Must exceed the attempt timeout. The default value is 5 minutes.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long finished deliveries (succeeded, dead-lettered, cancelled), their attempts and their events are kept
    /// before the engine purges them from the store; <see cref="Timeout.InfiniteTimeSpan"/> keeps everything.
    /// The default value is 7 days.
    /// </summary>
    public TimeSpan RetentionPeriod { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How often the engine purges finished work older than <see cref="RetentionPeriod"/>. The default value is 1 hour.</summary>
    public TimeSpan PurgeInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How many due deliveries are read from the store at once. The default value is 256.</summary>
    public int ClaimBatchSize { get; set; } = 256;

    /// <summary>The largest <see cref="NotificationEvent.Data"/> accepted, in bytes. The default value is 262144 (256 KiB).</summary>
    public int MaxDataBytes { get; set; } = 256 * 1024;

    /// <summary>The retry schedule for channels that do not set their own. The default value is exponential from 1 s, ×2, capped at 1 h, 8 attempts.</summary>
    public RetryOptions Retry { get; set; } = new();

    /// <summary>Per-channel settings by channel name (e.g. <c>webhook</c>). The default value is empty.</summary>
    public IDictionary<string, ChannelOptions> Channels { get; } = new Dictionary<string, ChannelOptions>(StringComparer.Ordinal);

    /// <summary>Subscriptions added to the subscription store when the engine starts (e.g. from configuration).</summary>
    public IList<Subscription> Subscriptions { get; } = [];

    /// <summary>Returns the settings of <paramref name="channel"/>, creating them if needed.</summary>
    public ChannelOptions Channel(string channel)
    {
        if (!Channels.TryGetValue(channel, out var options))
        {
            Channels[channel] = options = new ChannelOptions();
        }

        return options;
    }
}

/// <summary>Settings of one channel; unset values fall back to <see cref="EventNotifyOptions"/>.</summary>
public sealed class ChannelOptions
{
    /// <summary>Workers for this channel. The default value is <see langword="null"/> (use <see cref="EventNotifyOptions.Concurrency"/>).</summary>
    public int? Concurrency { get; set; }

    /// <summary>Attempt timeout for this channel. The default value is <see langword="null"/> (use <see cref="EventNotifyOptions.AttemptTimeout"/>).</summary>
    public TimeSpan? AttemptTimeout { get; set; }

    /// <summary>Retry schedule for this channel. The default value is <see langword="null"/> (use <see cref="EventNotifyOptions.Retry"/>).</summary>
    public RetryOptions? Retry { get; set; }
}

/// <summary>What publishing does when the routing queue is full.</summary>
public enum QueueFullMode
{
    /// <summary>Wait (cancellably) until there is room: back-pressure.</summary>
    Wait,

    /// <summary>Throw <see cref="EventQueueFullException"/> at once; the event is not accepted.</summary>
    Reject,
}

/// <summary>Checks <see cref="EventNotifyOptions"/> at start; each failure names the option and the rule.</summary>
internal sealed class EventNotifyOptionsValidator : IValidateOptions<EventNotifyOptions>
{
    public ValidateOptionsResult Validate(string? name, EventNotifyOptions o)
    {
        var failures = new List<string>();
        void Range(string field, long value, long min, long max)
        {
            if (value < min || value > max)
            {
                failures.Add($"EventNotifyOptions.{field} must be between {min} and {max} (was {value}).");
            }
        }

        void Positive(string field, TimeSpan value)
        {
            if (value <= TimeSpan.Zero && value != Timeout.InfiniteTimeSpan)
            {
                failures.Add($"EventNotifyOptions.{field} must be positive (was {value}).");
            }
        }

        if (string.IsNullOrWhiteSpace(o.Source) || o.Source.Any(char.IsControl) || !Uri.IsWellFormedUriString(o.Source, UriKind.RelativeOrAbsolute))
        {
            failures.Add($"EventNotifyOptions.Source must be a non-empty URI reference such as 'urn:shop' or 'https://shop.example' (was '{o.Source}').");
        }

        Range(nameof(o.RouteQueueCapacity), o.RouteQueueCapacity, 1, 1_000_000);
        Range(nameof(o.DeliveryQueueCapacity), o.DeliveryQueueCapacity, 1, 1_000_000);
        Range(nameof(o.RouterConcurrency), o.RouterConcurrency, 1, 256);
        Range(nameof(o.Concurrency), o.Concurrency, 1, 4096);
        Range(nameof(o.ClaimBatchSize), o.ClaimBatchSize, 1, 100_000);
        Range(nameof(o.MaxDataBytes), o.MaxDataBytes, 1, 64 * 1024 * 1024);
        void Finite(string field, TimeSpan value)
        {
            if (value <= TimeSpan.Zero || value > TimeSpan.FromDays(1))
            {
                failures.Add($"EventNotifyOptions.{field} must be positive and at most 1 day (was {value}).");
            }
        }

        Positive(nameof(o.AttemptTimeout), o.AttemptTimeout);
        Positive(nameof(o.ShutdownTimeout), o.ShutdownTimeout);
        if (o.ShutdownTimeout > TimeSpan.FromDays(1))
        {
            failures.Add($"EventNotifyOptions.ShutdownTimeout must be at most 1 day, or Timeout.InfiniteTimeSpan to wait for every attempt in flight (was {o.ShutdownTimeout}).");
        }

        Finite(nameof(o.PollInterval), o.PollInterval);
        Finite(nameof(o.LeaseDuration), o.LeaseDuration);
        if ((o.RetentionPeriod <= TimeSpan.Zero && o.RetentionPeriod != Timeout.InfiniteTimeSpan) || o.RetentionPeriod > TimeSpan.FromDays(36_500))
        {
            failures.Add($"EventNotifyOptions.RetentionPeriod must be positive and at most 36500 days, or Timeout.InfiniteTimeSpan to keep everything (was {o.RetentionPeriod}).");
        }

        Finite(nameof(o.PurgeInterval), o.PurgeInterval);
        if (o.AttemptTimeout == Timeout.InfiniteTimeSpan || o.LeaseDuration <= o.AttemptTimeout)
        {
            failures.Add($"EventNotifyOptions.LeaseDuration ({o.LeaseDuration}) must be longer than AttemptTimeout ({o.AttemptTimeout}), or a slow attempt could be taken twice.");
        }

        if (!Enum.IsDefined(o.QueueFullMode))
        {
            failures.Add($"EventNotifyOptions.QueueFullMode '{o.QueueFullMode}' is not a defined value.");
        }

        if (o.Retry is null)
        {
            failures.Add("EventNotifyOptions.Retry must not be null.");
        }
        else
        {
            failures.AddRange(o.Retry.Validate("EventNotifyOptions.Retry"));
        }

        foreach (var (channel, c) in o.Channels)
        {
            var prefix = $"EventNotifyOptions.Channels[\"{channel}\"]";
            if (!EventRules.IsValidChannelName(channel))
            {
                failures.Add($"{prefix}: '{channel}' is not a valid channel name (lowercase letters, digits, '_' and '-').");
            }

            if (c.Concurrency is < 1 or > 4096)
            {
                failures.Add($"{prefix}.Concurrency must be between 1 and 4096 (was {c.Concurrency}).");
            }

            if (c.AttemptTimeout is { } t && t <= TimeSpan.Zero && t != Timeout.InfiniteTimeSpan)
            {
                failures.Add($"{prefix}.AttemptTimeout must be positive (was {t}).");
            }

            if (c.AttemptTimeout is { } ct && (ct == Timeout.InfiniteTimeSpan || ct >= o.LeaseDuration))
            {
                failures.Add($"{prefix}.AttemptTimeout ({ct}) must be shorter than EventNotifyOptions.LeaseDuration ({o.LeaseDuration}), or a slow attempt could be taken twice. Unless set here it comes from the channel's own options (for webhooks WebhookOptions.Timeout + 2 s): shorten that timeout or lengthen LeaseDuration.");
            }

            if (c.Retry is not null)
            {
                failures.AddRange(c.Retry.Validate(prefix + ".Retry"));
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
