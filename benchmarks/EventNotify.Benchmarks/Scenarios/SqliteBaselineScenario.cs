using Microsoft.Data.Sqlite;

namespace EventNotify.Benchmarks.Scenarios;

/// <summary>
/// The durable limit: raw Microsoft.Data.Sqlite writing, for each event, the event row and the delivery row the SQLite
/// store writes (every column, same values) into a WAL database file with the store's own schema and indexes
/// (<c>SqliteSchema</c>) and its default durability (synchronous FULL), in transactions of <see cref="BatchSize"/>
/// events with prepared commands. No reads, no queue, no outcome recording: what any SQLite-backed engine (ours, or
/// Wolverine's durable inbox) can at best approach on the same rows.
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
        await ExecuteAsync("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;").ConfigureAwait(false);
        foreach (var migration in EventNotify.Storage.Sqlite.SqliteSchema.Migrations)
        {
            await ExecuteAsync(migration).ConfigureAwait(false);
        }

        return null;
    }

    public async Task RunAsync(int events)
    {
        var now = DateTimeOffset.UtcNow.UtcTicks;
        var lease = now + TimeSpan.FromMinutes(5).Ticks;
        using var insertEvent = _connection.CreateCommand();
        insertEvent.CommandText =
            "INSERT INTO events (id, type, source, subject, time, data, content_type, recipients, not_before, tenant_id, extensions, routed) " +
            "VALUES ($id, 'order.paid', 'urn:eventnotify', NULL, $time, $data, 'application/json', NULL, NULL, NULL, NULL, 1)";
        var eventId = insertEvent.Parameters.Add("$id", SqliteType.Text);
        var time = insertEvent.Parameters.Add("$time", SqliteType.Integer);
        var data = insertEvent.Parameters.Add("$data", SqliteType.Blob);

        using var insertDelivery = _connection.CreateCommand();
        insertDelivery.CommandText =
            "INSERT INTO deliveries (id, event_id, event_type, subscription_id, channel, address, tenant_id, status, attempts, created_at, next_attempt_at, leased_until, completed_at, last_error, last_status_code) " +
            "VALUES ($id, $event, 'order.paid', 'sub_bench_0', 'bench', 'bench-0', NULL, 0, 0, $time, $time, $lease, NULL, NULL, NULL)";
        var deliveryId = insertDelivery.Parameters.Add("$id", SqliteType.Text);
        var deliveryEvent = insertDelivery.Parameters.Add("$event", SqliteType.Text);
        var deliveryTime = insertDelivery.Parameters.Add("$time", SqliteType.Integer);
        var deliveryLease = insertDelivery.Parameters.Add("$lease", SqliteType.Integer);

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
                deliveryId.Value = Delivery.ForSubscription(id, "sub_bench_0"); // the id the engine gives it
                deliveryEvent.Value = id;
                deliveryTime.Value = now;
                deliveryLease.Value = lease;
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
