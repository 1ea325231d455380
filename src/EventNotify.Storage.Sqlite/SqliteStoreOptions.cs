using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace EventNotify.Storage.Sqlite;

/// <summary>Settings of the SQLite event store, validated when the host starts.</summary>
public sealed class SqliteStoreOptions
{
    /// <summary>
    /// The Microsoft.Data.Sqlite connection string naming the database file, e.g. <c>Data Source=eventnotify.db</c>.
    /// The file and its schema are created when missing. In-memory databases are refused (they are not durable).
    /// The default value is empty; <c>UseSqlite(connectionString)</c> sets it.
    /// </summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>
    /// How hard each commit waits for the disk. <see cref="SqliteSynchronousMode.Full"/> survives process kill, OS
    /// crash and power loss; <see cref="SqliteSynchronousMode.Normal"/> survives process kill only (a power loss may
    /// lose the last commits) and is faster. The default value is <see cref="SqliteSynchronousMode.Full"/>.
    /// </summary>
    public SqliteSynchronousMode Synchronous { get; set; } = SqliteSynchronousMode.Full;

    /// <summary>
    /// How long a write waits for a lock held by another connection before it fails. The default value is 5 seconds.
    /// </summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The most write operations (appends, routed saves, attempt records, ...) committed together in one
    /// transaction (group commit). The default value is 512.
    /// </summary>
    public int MaxBatchSize { get; set; } = 512;

    /// <summary>
    /// Whether subscriptions are kept in the database file too (a <c>subscriptions</c> table), so those added at run
    /// time with <see cref="ISubscriptionStore"/> and the disabled state the engine sets survive a restart. Set it to
    /// <see langword="false"/> only when the host adds every subscription itself at each start (e.g. from its own
    /// database, or with <c>AddSubscription</c>): subscriptions are then kept in memory only. The table holds the
    /// subscriptions' signing secrets: protect the file. A subscription store chosen with
    /// <c>UseSubscriptionStore&lt;T&gt;()</c> is used whatever this says. The default value is <see langword="true"/>.
    /// </summary>
    public bool PersistSubscriptions { get; set; } = true;
}

/// <summary>The SQLite <c>synchronous</c> setting used by the store (the journal is always WAL).</summary>
public enum SqliteSynchronousMode
{
    /// <summary>
    /// <c>PRAGMA synchronous=NORMAL</c>: a commit is durable once SQLite has written it to the WAL file; it survives
    /// the process being killed, but an OS crash or power loss may lose the last commits.
    /// </summary>
    Normal = 1,

    /// <summary><c>PRAGMA synchronous=FULL</c>: every commit is flushed to the disk (fsync) before it is acknowledged.</summary>
    Full = 2,
}

/// <summary>Checks <see cref="SqliteStoreOptions"/> at start; each failure names the option and the rule.</summary>
internal sealed class SqliteStoreOptionsValidator : IValidateOptions<SqliteStoreOptions>
{
    public ValidateOptionsResult Validate(string? name, SqliteStoreOptions options)
    {
        var failures = Check(options);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    internal static List<string> Check(SqliteStoreOptions o)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(o.ConnectionString))
        {
            failures.Add("SqliteStoreOptions.ConnectionString must not be empty: name the database file, e.g. \"Data Source=eventnotify.db\".");
        }
        else
        {
            SqliteConnectionStringBuilder? builder = null;
            try
            {
                builder = new SqliteConnectionStringBuilder(o.ConnectionString);
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidOperationException)
            {
                failures.Add($"SqliteStoreOptions.ConnectionString is not a valid SQLite connection string: {ex.Message}");
            }

            if (builder is not null)
            {
                var source = builder.DataSource;
                if (string.IsNullOrWhiteSpace(source))
                {
                    failures.Add("SqliteStoreOptions.ConnectionString must name a database file with \"Data Source=...\".");
                }
                else if (builder.Mode == SqliteOpenMode.Memory || source.Trim() == ":memory:" || IsInMemoryUri(source))
                {
                    failures.Add("SqliteStoreOptions.ConnectionString names an in-memory database, which is not durable: name a file, or use UseInMemoryStore().");
                }
                else if (builder.Mode == SqliteOpenMode.ReadOnly)
                {
                    failures.Add("SqliteStoreOptions.ConnectionString must not use Mode=ReadOnly: the store writes to the database.");
                }
            }
        }

        if (!Enum.IsDefined(o.Synchronous))
        {
            failures.Add($"SqliteStoreOptions.Synchronous '{o.Synchronous}' is not a defined value (Normal or Full).");
        }

        if (o.BusyTimeout <= TimeSpan.Zero || o.BusyTimeout > TimeSpan.FromHours(1))
        {
            failures.Add($"SqliteStoreOptions.BusyTimeout must be positive and at most 1 hour (was {o.BusyTimeout}).");
        }

        if (o.MaxBatchSize is < 1 or > 100_000)
        {
            failures.Add($"SqliteStoreOptions.MaxBatchSize must be between 1 and 100000 (was {o.MaxBatchSize}).");
        }


        return failures;
    }

    private static bool IsInMemoryUri(string source)
    {
        FilePathOf(source, out var inMemory);
        return inMemory;
    }

    /// <summary>
    /// The file a data source names: the full path of a plain path, or the path part of a SQLite URI
    /// (<c>file:data.db</c>, <c>file:/var/db/x.db?cache=shared</c>, <c>file:///var/db/x.db</c>, percent-decoded).
    /// <paramref name="inMemory"/> says whether a URI names an in-memory database (<c>file::memory:</c>,
    /// <c>mode=memory</c>); the result is then <see langword="null"/>.
    /// </summary>
    internal static string? FilePathOf(string dataSource, out bool inMemory)
    {
        inMemory = false;
        if (!dataSource.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
        {
            return Path.GetFullPath(dataSource);
        }

        var rest = dataSource["file:".Length..];
        var query = "";
        var cut = rest.IndexOfAny(['?', '#']);
        if (cut >= 0)
        {
            query = rest[cut..];
            rest = rest[..cut];
        }

        if (rest.StartsWith("//", StringComparison.Ordinal))
        {
            var slash = rest.IndexOf('/', 2); // file://host/path: the authority (empty or localhost) is dropped
            rest = slash < 0 ? "" : rest[slash..];
        }

        var path = Uri.UnescapeDataString(rest);
        inMemory = path is "" or ":memory:" || query.Contains("mode=memory", StringComparison.OrdinalIgnoreCase);
        return inMemory ? null : Path.GetFullPath(path);
    }
}
