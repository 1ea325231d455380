using Microsoft.Extensions.Logging;

namespace EventNotify.Storage.Sqlite;

/// <summary>Source-generated log messages of the SQLite store. Ids and counts only, never event data.</summary>
internal static partial class Log
{
    [LoggerMessage(101, LogLevel.Information, "SQLite event store opened {Path} (schema version {Version}, synchronous {Synchronous}); {Leases} leases of a previous process cleared")]
    public static partial void Opened(ILogger logger, string path, long version, SqliteSynchronousMode synchronous, int leases);

    [LoggerMessage(102, LogLevel.Error, "SQLite event store: a batch of {Count} writes failed and was rolled back")]
    public static partial void BatchFailed(ILogger logger, Exception exception, int count);

    [LoggerMessage(103, LogLevel.Information, "SQLite subscription store loaded {Count} subscriptions from {Path}")]
    public static partial void SubscriptionsLoaded(ILogger logger, int count, string path);

    [LoggerMessage(104, LogLevel.Error, "SQLite subscription store: subscription {SubscriptionId} could not be read ({Failure}) and was skipped; its deliveries will be cancelled until it is added again")]
    public static partial void SubscriptionUnreadable(ILogger logger, string subscriptionId, string failure);

    [LoggerMessage(105, LogLevel.Information, "SQLite event store created schema version {Version} in {Path}")]
    public static partial void SchemaCreated(ILogger logger, long version, string path);

    [LoggerMessage(106, LogLevel.Information, "SQLite event store migrated {Path} from schema version {From} to {To}")]
    public static partial void SchemaMigrated(ILogger logger, string path, long from, long to);
}
