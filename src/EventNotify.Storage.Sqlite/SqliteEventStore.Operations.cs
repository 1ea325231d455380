using System.Text;
using Microsoft.Data.Sqlite;
using static EventNotify.Storage.Sqlite.SqliteMapping;

namespace EventNotify.Storage.Sqlite;

internal sealed partial class SqliteEventStore
{
    /// <inheritdoc />
    public ValueTask<bool> AppendAsync(NotificationEvent @event, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(@event);
        return WriteAsync(s => InsertEvent(s, @event), cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<bool[]> AppendManyAsync(IReadOnlyList<NotificationEvent> events, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        return WriteAsync(s =>
        {
            var result = new bool[events.Count];
            for (var i = 0; i < result.Length; i++)
            {
                result[i] = InsertEvent(s, events[i]);
            }

            return result;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<bool> AppendRoutedAsync(NotificationEvent @event, IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(@event);
        ArgumentNullException.ThrowIfNull(deliveries);
        return WriteAsync(s => InsertRouted(s, @event, deliveries), cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<bool[]> AppendRoutedManyAsync(IReadOnlyList<NotificationEvent> events, IReadOnlyList<IReadOnlyList<Delivery>> deliveries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(deliveries);
        if (deliveries.Count != events.Count)
        {
            throw new ArgumentException($"deliveries has {deliveries.Count} lists for {events.Count} events: one list per event.", nameof(deliveries));
        }

        return WriteAsync(s =>
        {
            var result = new bool[events.Count];
            for (var i = 0; i < result.Length; i++)
            {
                result[i] = InsertRouted(s, events[i], deliveries[i]);
            }

            return result;
        }, cancellationToken);
    }

    /// <summary>
    /// Inserts a new event as routed with its deliveries, inside the caller's write (one transaction: the event is never
    /// visible without its deliveries); an existing id inserts nothing and returns <see langword="false"/>.
    /// </summary>
    private static bool InsertRouted(SqliteWriteSession s, NotificationEvent e, IReadOnlyList<Delivery> deliveries)
    {
        if (!InsertEvent(s, e, routed: true))
        {
            return false;
        }

        foreach (var d in deliveries)
        {
            InsertDelivery(s, d);
        }

        return true;
    }

    private static bool InsertEvent(SqliteWriteSession s, NotificationEvent e, bool routed = false)
    {
        var statement = s.Statement(InsertEventSql);
        BindEvent(statement, e, routed);
        return statement.Execute() == 1;
    }

    /// <inheritdoc />
    public ValueTask<bool> SaveRoutedAsync(string eventId, IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(eventId);
        ArgumentNullException.ThrowIfNull(deliveries);
        return WriteAsync(s =>
        {
            var mark = s.Command("UPDATE events SET routed = 1 WHERE id = $id AND routed = 0");
            mark.Set("$id", eventId);
            if (mark.ExecuteNonQuery() == 0)
            {
                return false;
            }

            foreach (var d in deliveries)
            {
                InsertDelivery(s, d);
            }

            return true;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<int> AddDeliveriesAsync(IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        return WriteAsync(s =>
        {
            var added = 0;
            foreach (var d in deliveries)
            {
                added += InsertDelivery(s, d) ? 1 : 0;
            }

            return added;
        }, cancellationToken);
    }

    private static bool InsertDelivery(SqliteWriteSession s, Delivery d)
    {
        var statement = s.Statement(InsertDeliverySql);
        BindDelivery(statement, d);
        return statement.Execute() == 1;
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DueDelivery>> ClaimDueDeliveriesAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int max, CancellationToken cancellationToken = default)
    {
        if (max <= 0)
        {
            return ValueTask.FromResult<IReadOnlyList<DueDelivery>>([]);
        }

        // A write, so it runs on the single writer: no two claims can take the same delivery.
        return WriteAsync<IReadOnlyList<DueDelivery>>(s =>
        {
            var claimed = new List<DueDelivery>();
            var select = s.Command(ClaimSql);
            select.Set("$now", Ticks(now));
            select.Set("$max", max);
            using (var r = select.ExecuteReader())
            {
                while (r.Read())
                {
                    var d = ReadDelivery(r, 0) with { LeasedUntil = leaseUntil };
                    claimed.Add(new DueDelivery(d, ReadEvent(r, DeliveryColumnCount)));
                }
            }

            var lease = s.Command("UPDATE deliveries SET leased_until = $lease WHERE id = $id");
            lease.Set("$lease", Ticks(leaseUntil));
            foreach (var item in claimed)
            {
                lease.Set("$id", item.Delivery.Id);
                lease.ExecuteNonQuery();
            }

            return claimed;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask ReleaseAsync(IReadOnlyList<string> deliveryIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deliveryIds);
        if (deliveryIds.Count == 0)
        {
            return;
        }

        await WriteAsync(s =>
        {
            var release = s.Command("UPDATE deliveries SET leased_until = NULL WHERE id = $id AND status = 0");
            foreach (var id in deliveryIds)
            {
                release.Set("$id", id);
                release.ExecuteNonQuery();
            }

            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<DateTimeOffset?> GetNextDueTimeAsync(CancellationToken cancellationToken = default) =>
        ReadAsync<DateTimeOffset?>(c =>
        {
            using var command = Command(c, "SELECT min(due_at) FROM deliveries INDEXED BY ix_deliveries_due WHERE status = 0");
            return command.ExecuteScalar() is long ticks ? Time(ticks) : null;
        }, cancellationToken);

    /// <inheritdoc />
    public async ValueTask RecordAttemptAsync(DeliveryAttempt attempt, DeliveryUpdate update, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        await WriteAsync(s =>
        {
            if (!UpdateDelivery(s, attempt.DeliveryId, update))
            {
                throw new KeyNotFoundException($"Delivery '{attempt.DeliveryId}' does not exist.");
            }

            var insert = s.Statement(InsertAttemptSql);
            BindAttempt(insert, attempt);
            insert.Execute();
            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<bool> UpdateDeliveryAsync(string deliveryId, DeliveryUpdate update, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deliveryId);
        return WriteAsync(s => UpdateDelivery(s, deliveryId, update), cancellationToken);
    }

    private static bool UpdateDelivery(SqliteWriteSession s, string deliveryId, DeliveryUpdate u)
    {
        return s.Statement(UpdateDeliverySql)
            .Text(1, deliveryId)
            .Integer(2, (int)u.Status)
            .Integer(3, u.Attempts)
            .Integer(4, Ticks(u.NextAttemptAt))
            .Integer(5, Ticks(u.CompletedAt))
            .Text(6, u.LastError)
            .Integer(7, u.LastStatusCode)
            .Execute() == 1;
    }

    /// <inheritdoc />
    public ValueTask<bool> RedeliverAsync(string deliveryId, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deliveryId);
        return WriteAsync(s =>
        {
            var command = s.Command(
                "UPDATE deliveries SET status = 0, attempts = 0, next_attempt_at = $now, leased_until = NULL, completed_at = NULL WHERE id = $id AND status <> 0");
            command.Set("$id", deliveryId);
            command.Set("$now", Ticks(now));
            return command.ExecuteNonQuery() == 1;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<int> PurgeAsync(DateTimeOffset completedBefore, CancellationToken cancellationToken = default)
    {
        // In chunks, each its own write, so a large purge never holds up publishing for long.
        var before = Ticks(completedBefore);
        var purged = 0;
        while (true)
        {
            var n = await WriteAsync(s => PurgeDeliveriesChunk(s, before), cancellationToken).ConfigureAwait(false);
            purged += n;
            if (n < PurgeChunk)
            {
                break;
            }
        }

        while (await WriteAsync(s => PurgeEventsChunk(s, before), cancellationToken).ConfigureAwait(false) >= PurgeChunk)
        {
        }

        return purged;
    }

    private static int PurgeDeliveriesChunk(SqliteWriteSession s, long before)
    {
        var deleted = new List<(string Id, string EventId)>();
        var delete = s.Command(
            "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE status <> 0 AND completed_at < $before LIMIT $chunk) RETURNING id, event_id");
        delete.Set("$before", before);
        delete.Set("$chunk", PurgeChunk);
        using (var r = delete.ExecuteReader())
        {
            while (r.Read())
            {
                deleted.Add((r.GetString(0), r.GetString(1)));
            }
        }

        var attempts = s.Command("DELETE FROM attempts WHERE delivery_id = $id");
        foreach (var (id, _) in deleted)
        {
            attempts.Set("$id", id);
            attempts.ExecuteNonQuery();
        }

        var orphan = s.Command("DELETE FROM events WHERE id = $id AND routed = 1 AND NOT EXISTS (SELECT 1 FROM deliveries WHERE event_id = $id)");
        foreach (var eventId in deleted.Select(d => d.EventId).Distinct(StringComparer.Ordinal))
        {
            orphan.Set("$id", eventId);
            orphan.ExecuteNonQuery();
        }

        return deleted.Count;
    }

    private static int PurgeEventsChunk(SqliteWriteSession s, long before)
    {
        // Routed events that never had a delivery are finished once they are old enough.
        var command = s.Command(
            "DELETE FROM events WHERE id IN (SELECT e.id FROM events e WHERE e.routed = 1 AND e.time < $before " +
            "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id) LIMIT $chunk)");
        command.Set("$before", before);
        command.Set("$chunk", PurgeChunk);
        return command.ExecuteNonQuery();
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<NotificationEvent>> GetUnroutedEventsAsync(string? afterId, int max, CancellationToken cancellationToken = default) =>
        ReadAsync<IReadOnlyList<NotificationEvent>>(c =>
        {
            using var command = Command(c, $"SELECT {SqliteSchema.EventColumns} FROM events WHERE routed = 0 AND id > $after ORDER BY id LIMIT $max");
            command.Set("$after", afterId ?? "");
            command.Set("$max", Math.Max(0, max));
            return ReadEvents(command);
        }, cancellationToken);

    /// <inheritdoc />
    public ValueTask<NotificationEvent?> GetEventAsync(string eventId, CancellationToken cancellationToken = default) =>
        ReadAsync(c =>
        {
            using var command = Command(c, $"SELECT {SqliteSchema.EventColumns} FROM events WHERE id = $id");
            command.Set("$id", eventId);
            return ReadEvents(command).FirstOrDefault();
        }, cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<NotificationEvent>> GetEventsAsync(DateTimeOffset from, DateTimeOffset to, string? afterId, int max, CancellationToken cancellationToken = default) =>
        ReadAsync<IReadOnlyList<NotificationEvent>>(c =>
        {
            using var command = Command(c, $"SELECT {SqliteSchema.EventColumns} FROM events WHERE time >= $from AND time < $to AND id > $after ORDER BY id LIMIT $max");
            command.Set("$from", Ticks(from));
            command.Set("$to", Ticks(to));
            command.Set("$after", afterId ?? "");
            command.Set("$max", Math.Max(0, max));
            return ReadEvents(command);
        }, cancellationToken);

    /// <inheritdoc />
    public ValueTask<Delivery?> GetDeliveryAsync(string deliveryId, CancellationToken cancellationToken = default) =>
        ReadAsync(c =>
        {
            using var command = Command(c, $"SELECT {SqliteSchema.DeliveryColumns} FROM deliveries WHERE id = $id");
            command.Set("$id", deliveryId);
            return ReadDeliveries(command).FirstOrDefault();
        }, cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DeliveryAttempt>> GetAttemptsAsync(string deliveryId, CancellationToken cancellationToken = default) =>
        ReadAsync<IReadOnlyList<DeliveryAttempt>>(c =>
        {
            using var command = Command(c, $"SELECT {SqliteSchema.AttemptColumns} FROM attempts WHERE delivery_id = $id ORDER BY seq");
            command.Set("$id", deliveryId);
            var list = new List<DeliveryAttempt>();
            using var r = command.ExecuteReader();
            while (r.Read())
            {
                list.Add(ReadAttempt(r));
            }

            return list;
        }, cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Delivery>> QueryDeliveriesAsync(DeliveryQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        query.Validate();
        return ReadAsync<IReadOnlyList<Delivery>>(c =>
        {
            using var command = c.CreateCommand();
            var sql = new StringBuilder($"SELECT {SqliteSchema.DeliveryColumns} FROM deliveries");
            Filter(command, sql, query);
            sql.Append(" ORDER BY created_at DESC, id LIMIT $take OFFSET $skip");
            command.Set("$take", query.Take);
            command.Set("$skip", query.Skip);
            SetText(command, sql.ToString());
            return ReadDeliveries(command);
        }, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<long> CountDeliveriesAsync(DeliveryQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        return ReadAsync(c =>
        {
            using var command = c.CreateCommand();
            var sql = new StringBuilder("SELECT count(*) FROM deliveries");
            Filter(command, sql, query);
            SetText(command, sql.ToString());
            return (long)command.ExecuteScalar()!;
        }, cancellationToken);
    }

    /// <summary>Adds the query's filters as a WHERE clause; values are parameters, only fixed column names enter the SQL.</summary>
    private static void Filter(SqliteCommand command, StringBuilder sql, DeliveryQuery q)
    {
        var first = true;
        void Add(string condition, string name, object value)
        {
            sql.Append(first ? " WHERE " : " AND ").Append(condition);
            command.Set(name, value);
            first = false;
        }

        if (q.Status is { } status)
        {
            Add("status = $status", "$status", (int)status);
        }

        if (q.EventType is { } type)
        {
            Add("event_type = $event_type", "$event_type", type);
        }

        if (q.SubscriptionId is { } subscription)
        {
            Add("subscription_id = $subscription_id", "$subscription_id", subscription);
        }

        if (q.Channel is { } channel)
        {
            Add("channel = $channel", "$channel", channel);
        }

        if (q.CreatedFrom is { } from)
        {
            Add("created_at >= $created_from", "$created_from", Ticks(from));
        }

        if (q.CreatedTo is { } to)
        {
            Add("created_at < $created_to", "$created_to", Ticks(to));
        }
    }

    private static IReadOnlyList<NotificationEvent> ReadEvents(SqliteCommand command)
    {
        var list = new List<NotificationEvent>();
        using var r = command.ExecuteReader();
        while (r.Read())
        {
            list.Add(ReadEvent(r, 0));
        }

        return list;
    }

    private static List<Delivery> ReadDeliveries(SqliteCommand command)
    {
        var list = new List<Delivery>();
        using var r = command.ExecuteReader();
        while (r.Read())
        {
            list.Add(ReadDelivery(r, 0));
        }

        return list;
    }

    private static SqliteCommand Command(SqliteConnection connection, string sql)
    {
        var command = connection.CreateCommand();
        SetText(command, sql);
        return command;
    }

#pragma warning disable CA2100 // SQL texts are built from constants of this assembly; every value is a bound parameter.
    private static void SetText(SqliteCommand command, string sql) => command.CommandText = sql;
#pragma warning restore CA2100

    /// <summary>Runs a read on its own pooled read-only connection (WAL: it never waits for the writer).</summary>
    private async ValueTask<T> ReadAsync<T>(Func<SqliteConnection, T> read, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await OpenAsync(cancellationToken).ConfigureAwait(false);
        if (Volatile.Read(ref _state) == Closed)
        {
            throw new ObjectDisposedException(nameof(SqliteEventStore), "The SQLite event store is closed.");
        }

        try
        {
            using var connection = new SqliteConnection(_readConnectionString);
            connection.Open();
            return read(connection);
        }
        catch (SqliteException ex)
        {
            throw new SqliteEventStoreException($"The SQLite event store at '{_path}' could not be read: {Describe(ex)}.", ex);
        }
    }
}
