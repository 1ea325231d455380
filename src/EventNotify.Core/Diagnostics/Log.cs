using Microsoft.Extensions.Logging;

namespace EventNotify.Diagnostics;

/// <summary>Source-generated log messages. Ids, types, channels, codes and durations only: never bodies or secrets.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "EventNotify started: channels {Channels}, store {Store}")]
    public static partial void Started(ILogger logger, string channels, string store);

    [LoggerMessage(2, LogLevel.Information, "EventNotify stopping: waiting up to {Timeout} for in-flight work")]
    public static partial void Stopping(ILogger logger, TimeSpan timeout);

    [LoggerMessage(3, LogLevel.Warning, "EventNotify stop timed out; {Count} deliveries left pending in the store")]
    public static partial void StopTimedOut(ILogger logger, int count);

    [LoggerMessage(16, LogLevel.Error, "EventNotify stop: work interrupted at the shutdown deadline had not ended {Grace} later; left behind (a notifier that declares HonoursCancellation ignores its token?)")]
    public static partial void DrainAbandoned(ILogger logger, TimeSpan grace);

    [LoggerMessage(4, LogLevel.Debug, "Delivery {DeliveryId} of event {EventId} on {Channel} succeeded in {DurationMs} ms (attempt {Attempt})")]
    public static partial void Delivered(ILogger logger, string deliveryId, string eventId, string channel, double durationMs, int attempt);

    [LoggerMessage(5, LogLevel.Information, "Delivery {DeliveryId} on {Channel} failed at attempt {Attempt} ({Status}): {Error}; retry at {NextAttemptAt:O}")]
    private static partial void RetryScheduled(ILogger logger, string deliveryId, string channel, int attempt, string status, string? error, DateTimeOffset nextAttemptAt);

    public static void RetryScheduled(ILogger logger, string deliveryId, string channel, int attempt, int? statusCode, string? error, DateTimeOffset nextAttemptAt)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            RetryScheduled(logger, deliveryId, channel, attempt, StatusText(statusCode), error, nextAttemptAt);
        }
    }

    [LoggerMessage(6, LogLevel.Warning, "Delivery {DeliveryId} on {Channel} dead-lettered at attempt {Attempt} ({Status}): {Error}")]
    private static partial void DeadLettered(ILogger logger, string deliveryId, string channel, int attempt, string status, string? error);

    public static void DeadLettered(ILogger logger, string deliveryId, string channel, int attempt, int? statusCode, string? error)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            DeadLettered(logger, deliveryId, channel, attempt, StatusText(statusCode), error);
        }
    }

    /// <summary>"status 503", or "no status code" when the attempt got no answer (a timeout, a refusal, a connection error).</summary>
    private static string StatusText(int? statusCode) =>
        statusCode is { } code ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"status {code}") : "no status code";

    [LoggerMessage(7, LogLevel.Error, "Routing event {EventId} failed; it stays in the store and is routed again on restart")]
    public static partial void RoutingFailed(ILogger logger, Exception exception, string eventId);

    [LoggerMessage(8, LogLevel.Error, "Processing delivery {DeliveryId} failed in the engine; it is attempted again when its lease ends")]
    public static partial void ProcessingFailed(ILogger logger, Exception exception, string deliveryId);

    [LoggerMessage(9, LogLevel.Error, "Reading due deliveries from the store failed; retrying")]
    public static partial void SchedulerFailed(ILogger logger, Exception exception);

    [LoggerMessage(10, LogLevel.Warning, "Subscription {SubscriptionId} disabled: {Reason}")]
    public static partial void SubscriptionDisabled(ILogger logger, string subscriptionId, string reason);

    [LoggerMessage(11, LogLevel.Information, "Recovered {Count} accepted but unrouted events from the store")]
    public static partial void Recovered(ILogger logger, int count);

    [LoggerMessage(13, LogLevel.Information, "Purged {Count} finished deliveries older than {RetentionPeriod}")]
    public static partial void Purged(ILogger logger, int count, TimeSpan retentionPeriod);

    [LoggerMessage(14, LogLevel.Warning, "Purging finished deliveries failed; trying again at the next interval")]
    public static partial void PurgeFailed(ILogger logger, Exception exception);

    [LoggerMessage(15, LogLevel.Debug, "Delivery {DeliveryId} on {Channel} deferred by the channel ({Reason}); next try at {NextAttemptAt:O}")]
    public static partial void Deferred(ILogger logger, string deliveryId, string channel, string? reason, DateTimeOffset nextAttemptAt);

    [LoggerMessage(12, LogLevel.Debug, "Delivery {DeliveryId} cancelled: subscription {SubscriptionId} is disabled or removed")]
    public static partial void Cancelled(ILogger logger, string deliveryId, string subscriptionId);
}
