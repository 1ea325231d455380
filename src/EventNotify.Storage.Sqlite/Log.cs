using Microsoft.Extensions.Logging;

namespace EventNotify.Storage.Sqlite;

/// <summary>Source-generated log messages of the SQLite store. Ids and counts only, never event data.</summary>
internal static partial class Log
{
    [LoggerMessage(101, LogLevel.Information, "SQLite event store opened {Path} (schema version {Version}, synchronous {Synchronous}); {Leases} leases of a previous process cleared")]
    public static partial void Opened(ILogger logger, string path, long version, SqliteSynchronousMode synchronous, int leases);

    [LoggerMessage(102, LogLevel.Error, "SQLite event store: a batch of {Count} writes failed and was rolled back")]
    public static partial void BatchFailed(ILogger logger, Exception exception, int count);



    [LoggerMessage(105, LogLevel.Information, "SQLite event store created schema version {Version} in {Path}")]
    public static partial void SchemaCreated(ILogger logger, long version, string path);
}
