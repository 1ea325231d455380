using Microsoft.Extensions.Logging;

namespace EventNotify.Webhooks.Diagnostics;

/// <summary>Source-generated log messages of the webhook channel: ids, hosts, status codes and rules; never bodies, URLs' queries or secrets.</summary>
internal static partial class Log
{
    [LoggerMessage(101, LogLevel.Warning, "Webhook connection to host {Host} refused: address {Address} is {Rule}")]
    public static partial void AddressRefused(ILogger logger, string host, string address, string rule);

    [LoggerMessage(102, LogLevel.Warning, "Webhook delivery {DeliveryId} refused before sending: {Reason}")]
    public static partial void Refused(ILogger logger, string deliveryId, string reason);

    [LoggerMessage(103, LogLevel.Debug, "Webhook delivery {DeliveryId} to {Endpoint} answered {StatusCode} in {DurationMs} ms")]
    public static partial void Answered(ILogger logger, string deliveryId, string endpoint, int statusCode, double durationMs);

    [LoggerMessage(104, LogLevel.Debug, "Webhook delivery {DeliveryId} to {Endpoint} failed: {Error}")]
    public static partial void Failed(ILogger logger, string deliveryId, string endpoint, string error);

    // Circuits are per URL; the log names the host and the subscription, never the path (it may carry a token).
    [LoggerMessage(105, LogLevel.Warning, "Webhook circuit opened for the URL of subscription {SubscriptionId} on {Endpoint} after {Failures} consecutive failures (other URLs on that host are not paused)")]
    public static partial void CircuitOpened(ILogger logger, string? subscriptionId, string endpoint, int failures);

    [LoggerMessage(107, LogLevel.Warning, "Could not record the failure streak of subscription {SubscriptionId} in the subscription store")]
    public static partial void StreakNotRecorded(ILogger logger, Exception exception, string subscriptionId);

    [LoggerMessage(106, LogLevel.Warning, "Webhook endpoint {Endpoint} given up: failing for longer than {DisableAfter}; subscription {SubscriptionId} is disabled")]
    public static partial void GivenUp(ILogger logger, string endpoint, TimeSpan disableAfter, string? subscriptionId);
}
