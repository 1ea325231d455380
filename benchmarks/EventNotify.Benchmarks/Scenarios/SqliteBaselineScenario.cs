using Microsoft.Data.Sqlite;

namespace EventNotify.Benchmarks.Scenarios;

/// <summary>
/// The durable limit: raw Microsoft.Data.Sqlite writing, for each event, an event row and a delivery row into a WAL
/// database file (synchronous FULL, the SQLite store's default durability), in transactions of <see cref="BatchSize"/>
/// events with prepared commands. No reads, no queue: what
/// any SQLite-backed engine (ours, or Wolverine's durable inbox) can at best approach.
/// </summary>
internal sealed class SqliteBaselineScenario : IScenario
{
    public const int BatchSize = 256;

    private readonly string _path = Path.Combine(Path.GetTempPath(), $"eventnotify-bench-{Guid.NewGuid():N}.db");
    private SqliteConnection _connection = null!;

    public string Name => "sqlite-baseline";

    public async Task<string?> SetupAsync()
    {
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _path, Pooling = false }.ToString());
        await _connection.OpenAsync().ConfigureAwait(false);
        await ExecuteAsync("""
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = FULL;
            CREATE TABLE events (
                id TEXT PRIMARY KEY, type TEXT NOT NULL, source TEXT NOT NULL, time INTEGER NOT NULL,
                data BLOB NOT NULL, routed INTEGER NOT NULL);
            CREATE TABLE deliveries (
                id TEXT PRIMARY KEY, event_id TEXT NOT NULL, subscription_id TEXT, channel TEXT NOT NULL,
                address TEXT NOT NULL, status INTEGER NOT NULL, attempts INTEGER NOT NULL,
                next_attempt_at INTEGER NOT NULL, created_at INTEGER NOT NULL);
            CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
            """).ConfigureAwait(false);
        return null;
    }

    public async Task RunAsync(int events)
    {
        var now = DateTimeOffset.UtcNow.UtcTicks;
        using var insertEvent = _connection.CreateCommand();
        insertEvent.CommandText = "INSERT INTO events (id, type, source, time, data, routed) VALUES ($id, 'order.paid', 'urn:bench', $time, $data, 1)";
        var eventId = insertEvent.Parameters.Add("$id", SqliteType.Text);
        var time = insertEvent.Parameters.Add("$time", SqliteType.Integer);
        var data = insertEvent.Parameters.Add("$data", SqliteType.Blob);

        using var insertDelivery = _connection.CreateCommand();
        insertDelivery.CommandText = "INSERT INTO deliveries (id, event_id, subscription_id, channel, address, status, attempts, next_attempt_at, created_at) VALUES ($id, $event, 'sub_bench_0', 'bench', 'bench-0', 0, 0, $time, $time)";
        var deliveryId = insertDelivery.Parameters.Add("$id", SqliteType.Text);
        var deliveryEvent = insertDelivery.Parameters.Add("$event", SqliteType.Text);
        var deliveryTime = insertDelivery.Parameters.Add("$time", SqliteType.Integer);

        var done = 0;
        while (done < events)
        {
            var n = Math.Min(BatchSize, events - done);
            using var tx = _connection.BeginTransaction();
            insertEvent.Transaction = tx;
            insertDelivery.Transaction = tx;
            for (var i = 0; i < n; i++)
            {
                var id = NotificationEvent.NewId();
                eventId.Value = id;
                time.Value = now;
                data.Value = Payload.Utf8;
                await insertEvent.ExecuteNonQueryAsync().ConfigureAwait(false);
                deliveryId.Value = "dlv_" + id;
                deliveryEvent.Value = id;
                deliveryTime.Value = now;
                await insertDelivery.ExecuteNonQueryAsync().ConfigureAwait(false);
            }

            await tx.CommitAsync().ConfigureAwait(false);
            done += n;
        }
    }

    public async Task CleanupAsync() => await ExecuteAsync("DELETE FROM deliveries; DELETE FROM events; PRAGMA wal_checkpoint(TRUNCATE);").ConfigureAwait(false);

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            File.Delete(_path + suffix);
        }
    }

    private async Task ExecuteAsync(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }
}
