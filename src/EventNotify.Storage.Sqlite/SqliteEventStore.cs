using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace EventNotify.Storage.Sqlite;

/// <summary>
/// The durable <see cref="IEventStore"/> on one SQLite file, for one host process.
/// </summary>
/// <remarks>
/// <para>Writes: every write (append, routed save, claim, attempt record, release, ...) is queued to one writer loop
/// that owns the only writing connection. It takes whatever is queued (up to <see cref="SqliteStoreOptions.MaxBatchSize"/>)
/// and commits it in one transaction, each operation in its own savepoint: a failing operation is rolled back alone
/// and fails only its caller. A caller's task completes after the commit, so "returned" means "on disk"
/// (group commit: one fsync serves many callers).</para>
/// <para>Reads use separate pooled read-only connections; WAL lets them run while the writer commits.</para>
/// <para>Open: the file is locked for this process whatever path names it (<see cref="SqliteFileLock"/>), the schema is created or migrated
/// (<c>PRAGMA user_version</c>), and leases left by a previous process are cleared: that process is gone (one host per
/// file), so what it held is due again at once, with the same delivery ids.</para>
/// </remarks>
[DebuggerDisplay("SqliteEventStore {_path,nq}")]
internal sealed partial class SqliteEventStore : IEventStore, IAsyncDisposable, IDisposable
{
    private const int Created = 0, Open = 1, Closed = 2;
    private const int PurgeChunk = 1000;

    // The per-event writes are bound by position (SqliteStatement); their placeholders follow the column lists.
    private static readonly string InsertEventSql =
        $"INSERT INTO events ({SqliteSchema.EventColumns}, routed) VALUES ({SqliteStatement.Placeholders(SqliteMapping.EventColumnCount + 1)}) ON CONFLICT (id) DO NOTHING";

    private static readonly string InsertDeliverySql =
        $"INSERT INTO deliveries ({SqliteSchema.DeliveryColumns}) VALUES ({SqliteStatement.Placeholders(SqliteMapping.DeliveryColumnCount)}) ON CONFLICT (id) DO NOTHING";

    private static readonly string InsertAttemptSql =
        $"INSERT INTO attempts ({SqliteSchema.AttemptColumns}) VALUES ({SqliteStatement.Placeholders(SqliteMapping.AttemptColumnCount)})";

    internal static readonly string ClaimSql =
        $"SELECT {SqliteMapping.Prefix("d.", SqliteSchema.DeliveryColumns)}, {SqliteMapping.Prefix("e.", SqliteSchema.EventColumns)} " +
        "FROM deliveries d INDEXED BY ix_deliveries_due JOIN events e ON e.id = d.event_id WHERE d.status = 0 AND d.due_at <= $now ORDER BY d.due_at LIMIT $max";

    // ?1 id, ?2 status, ?3 attempts, ?4 next_attempt_at, ?5 completed_at, ?6 last_error, ?7 last_status_code.
    private const string UpdateDeliverySql =
        "UPDATE deliveries SET status = ?2, attempts = ?3, next_attempt_at = ?4, completed_at = ?5, " +
        "last_error = CASE WHEN ?6 IS NOT NULL THEN ?6 WHEN ?2 = 1 THEN NULL ELSE last_error END, " +
        "last_status_code = ?7, leased_until = NULL WHERE id = ?1";

    private readonly SqliteStoreOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SqliteStoreMetrics _metrics;
    private readonly SemaphoreSlim _openGate = new(1, 1);
    private readonly Channel<WriteOperation> _queue = Channel.CreateUnbounded<WriteOperation>(new UnboundedChannelOptions { SingleReader = true });
    private string _path = "";
    private string _readConnectionString = "";
    private SqliteWriteSession? _session;
    private SqliteFileLock? _fileLock;
    private Task _writerLoop = Task.CompletedTask;
    private long _committedBatches;
    private int _state;

    public SqliteEventStore(IOptions<SqliteStoreOptions> options, TimeProvider? timeProvider = null, ILogger<SqliteEventStore>? logger = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _metrics = new SqliteStoreMetrics(meterFactory);
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>The full path of the database file (after open).</summary>
    internal string DatabasePath => _path;

    /// <summary>How many batch transactions committed (group commit shows as fewer batches than writes).</summary>
    internal long CommittedBatches => Interlocked.Read(ref _committedBatches);

    /// <summary>Test hook: awaited by the writer loop before it takes a batch from the queue.</summary>
    internal Func<Task>? BeforeBatch { get; set; }

    /// <summary>Test hook: runs on the writer connection after the PRAGMAs (e.g. to limit <c>max_page_count</c>).</summary>
    internal Action<SqliteConnection>? ConfigureWriter { get; set; }


    /// <summary>
    /// Opens the database: validates the options, locks the file for this process, sets WAL and the sync mode,
    /// creates or migrates the schema, clears leases of a previous process and starts the writer loop (retention is the
    /// engine's: it calls <see cref="PurgeAsync"/> every <see cref="EventNotifyOptions.PurgeInterval"/>).
    /// Called at host start; every operation also opens the store on first use.
    /// </summary>
    public async ValueTask OpenAsync(CancellationToken cancellationToken = default)
    {
        switch (Volatile.Read(ref _state))
        {
            case Open:
                return;
            case Closed:
                throw new ObjectDisposedException(nameof(SqliteEventStore), "The SQLite event store is closed.");
        }

        await _openGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            switch (Volatile.Read(ref _state))
            {
                case Open:
                    return;
                case Closed:
                    throw new ObjectDisposedException(nameof(SqliteEventStore), "The SQLite event store is closed.");
            }

            OpenCore();
            Volatile.Write(ref _state, Open);
        }
        finally
        {
            _openGate.Release();
        }
    }

    private void OpenCore()
    {
        var failures = SqliteStoreOptionsValidator.Check(_options);
        if (failures.Count > 0)
        {
            throw new OptionsValidationException(nameof(SqliteStoreOptions), typeof(SqliteStoreOptions), failures);
        }

        var builder = new SqliteConnectionStringBuilder(_options.ConnectionString);
        // A SQLite URI (file:...) keeps its parameters for SQLite; the file it names gets the same checks and the same
        // one-process lock as a plain path (a URI used to skip both, so a second host could open the file).
        var isUri = builder.DataSource.StartsWith("file:", StringComparison.OrdinalIgnoreCase);
        _path = SqliteStoreOptionsValidator.FilePathOf(builder.DataSource, out _)!;
        if (!isUri)
        {
            builder.DataSource = _path;
        }

        // Microsoft.Data.Sqlite retries a busy statement until the command timeout (whole seconds); SQLite's own
        // busy_timeout below gives the finer bound. Both come from BusyTimeout.
        builder.DefaultTimeout = Math.Max(1, (int)Math.Ceiling(_options.BusyTimeout.TotalSeconds));
        var writer = new SqliteConnectionStringBuilder(builder.ConnectionString) { Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false };
        _readConnectionString = new SqliteConnectionStringBuilder(builder.ConnectionString) { Mode = SqliteOpenMode.ReadOnly, Pooling = true }.ConnectionString;

        SqliteWriteSession? session = null;
        try
        {
            var directory = Path.GetDirectoryName(_path);
            if (!string.IsNullOrEmpty(directory) && !Directory.Exists(directory))
            {
                throw new SqliteEventStoreException($"Cannot open the SQLite event store: the folder '{directory}' of '{_path}' does not exist (SqliteStoreOptions.ConnectionString).");
            }

            if (Directory.Exists(_path))
            {
                throw new SqliteEventStoreException($"Cannot open the SQLite event store at '{_path}': the file cannot be opened, because that path is a folder. Name a file (SqliteStoreOptions.ConnectionString).");
            }

            _fileLock = SqliteFileLock.Acquire(_path);

            var connection = new SqliteConnection(writer.ConnectionString);
            session = new SqliteWriteSession(connection);
            connection.Open();
            SetPragmas(session);
            ConfigureWriter?.Invoke(connection);
            var version = Migrate(session);
            var cleared = session.Execute("UPDATE deliveries SET leased_until = NULL WHERE status = 0 AND leased_until IS NOT NULL");
            Log.Opened(_logger, _path, version, _options.Synchronous, cleared);
        }
        catch (SqliteException ex)
        {
            session?.Dispose();
            ReleaseLock();
            throw new SqliteEventStoreException($"Cannot open the SQLite event store at '{_path}': {Describe(ex)}", ex);
        }
        catch
        {
            session?.Dispose();
            ReleaseLock();
            throw;
        }

        _session = session;
        _writerLoop = Task.Run(WriterLoopAsync);
    }

    private void SetPragmas(SqliteWriteSession session)
    {
        using (var command = session.Connection.CreateCommand())
        {
            command.CommandText = "PRAGMA journal_mode = WAL";
            var mode = Convert.ToString(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new SqliteEventStoreException($"Cannot open the SQLite event store at '{_path}': the file system does not support WAL journaling (journal_mode stayed '{mode}').");
            }
        }

        session.Execute(_options.Synchronous == SqliteSynchronousMode.Full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
        session.Execute($"PRAGMA busy_timeout = {(long)_options.BusyTimeout.TotalMilliseconds}");
        session.Execute("PRAGMA foreign_keys = OFF");
        session.Execute("PRAGMA temp_store = MEMORY");
    }

    private long Migrate(SqliteWriteSession session)
    {
        var version = UserVersion(session);
        if (version > SqliteSchema.CurrentVersion)
        {
            throw new SqliteEventStoreException($"Cannot open the SQLite event store at '{_path}': its schema version {version} is newer than this EventNotify.Storage.Sqlite understands ({SqliteSchema.CurrentVersion}). Upgrade the package.");
        }

        if (version == SqliteSchema.CurrentVersion)
        {
            return version;
        }

        session.Execute("BEGIN IMMEDIATE");
        var from = version;
        try
        {
            version = UserVersion(session);
            from = version;
            if (version == 0 && Convert.ToInt64(ExecuteScalar(session, "SELECT count(*) FROM sqlite_master"), System.Globalization.CultureInfo.InvariantCulture) > 0)
            {
                throw new SqliteEventStoreException($"Cannot open the SQLite event store at '{_path}': the file is a SQLite database of another application (it has tables but no EventNotify schema version). Use a file of its own.");
            }

            for (var v = version; v < SqliteSchema.CurrentVersion; v++)
            {
                session.Execute(SqliteSchema.Migrations[v]);
            }

            session.Execute($"PRAGMA user_version = {SqliteSchema.CurrentVersion}");
            session.Execute("COMMIT");
        }
        catch
        {
            TryExecute(session, "ROLLBACK");
            throw;
        }

        if (from == 0)
        {
            Log.SchemaCreated(_logger, SqliteSchema.CurrentVersion, _path);
        }
        else
        {
            Log.SchemaMigrated(_logger, _path, from, SqliteSchema.CurrentVersion);
        }

        return SqliteSchema.CurrentVersion;
    }

    private static long UserVersion(SqliteWriteSession session) =>
        Convert.ToInt64(ExecuteScalar(session, "PRAGMA user_version"), System.Globalization.CultureInfo.InvariantCulture);

    private static object? ExecuteScalar(SqliteWriteSession session, string sql) => session.Command(sql).ExecuteScalar();

    private void ReleaseLock()
    {
        // After every SQLite connection is closed: closing the lock's handle on the file drops this process's fcntl locks on it.
        _fileLock?.Dispose();
        _fileLock = null;
    }

    /// <summary>Explains a SQLite error in the store's terms.</summary>
    internal static string Describe(SqliteException ex) => (ex.SqliteErrorCode & 0xFF) switch
    {
        5 or 6 => $"the database is locked by another connection and stayed locked for longer than SqliteStoreOptions.BusyTimeout (SQLite error {ex.SqliteErrorCode}: {ex.Message})",
        8 => $"the database or its folder is read-only (SQLite error {ex.SqliteErrorCode}: {ex.Message})",
        10 => $"a disk I/O error occurred (SQLite error {ex.SqliteErrorCode}: {ex.Message})",
        11 => $"the database file is corrupt (SQLite error {ex.SqliteErrorCode}: {ex.Message})",
        13 => $"the database or the disk is full (SQLite error {ex.SqliteErrorCode}: {ex.Message})",
        14 => $"the database file cannot be opened or created: check the path and permissions; its folder must be writable, since SQLite keeps its -wal and -shm files next to it (SQLite error {ex.SqliteErrorCode}: {ex.Message})",
        26 => $"the file is not a SQLite database (SQLite error {ex.SqliteErrorCode}: {ex.Message})",
        _ => $"SQLite error {ex.SqliteErrorCode}: {ex.Message}",
    };

    private static void TryExecute(SqliteWriteSession session, string sql)
    {
        try
        {
            session.Execute(sql);
        }
        catch (SqliteException)
        {
            // Best effort: the transaction may already be gone.
        }
    }

    /// <summary>Stops the loops after the queued writes are done, and closes the file.</summary>
    public async ValueTask DisposeAsync()
    {
        await _openGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Interlocked.Exchange(ref _state, Closed) == Closed)
            {
                return;
            }

            _queue.Writer.TryComplete();

            // The writer loop ends once every write queued before TryComplete is done.
            await _writerLoop.ConfigureAwait(false);
            _session?.Dispose();
            _session = null;
            if (_readConnectionString.Length > 0)
            {
                using var reader = new SqliteConnection(_readConnectionString);
                SqliteConnection.ClearPool(reader);
            }

            ReleaseLock();
        }
        finally
        {
            _openGate.Release();
        }
    }

    /// <summary>Synchronous disposal for containers disposed synchronously; prefer <see cref="DisposeAsync"/>.</summary>
    public void Dispose()
    {
        // Dispose cannot be async; the writer loop never waits on the caller's context, so this cannot deadlock.
        DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
