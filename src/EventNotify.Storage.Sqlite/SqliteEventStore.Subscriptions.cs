using System.Text.Json;
using static EventNotify.Storage.Sqlite.SqliteMapping;

namespace EventNotify.Storage.Sqlite;

/// <summary>The <c>subscriptions</c> table, used by <see cref="SqliteSubscriptionStore"/>; writes go through the group-commit writer.</summary>
internal sealed partial class SqliteEventStore
{
    /// <summary>Inserts <paramref name="subscription"/>; <see langword="false"/> when a row with its id exists. Completes after the commit.</summary>
    internal ValueTask<bool> InsertSubscriptionAsync(Subscription subscription, CancellationToken cancellationToken) =>
        WriteSubscriptionAsync("INSERT INTO subscriptions (id, data, created_at, updated_at) VALUES ($id, $data, $now, $now) ON CONFLICT (id) DO NOTHING", subscription, cancellationToken);

    /// <summary>Replaces the stored <paramref name="subscription"/>; <see langword="false"/> when no row has its id. Completes after the commit.</summary>
    internal ValueTask<bool> UpdateSubscriptionAsync(Subscription subscription, CancellationToken cancellationToken) =>
        WriteSubscriptionAsync("UPDATE subscriptions SET data = $data, updated_at = $now WHERE id = $id", subscription, cancellationToken);

    /// <summary>Runs <paramref name="sql"/> with the subscription's id, JSON and the current time; <see langword="true"/> when one row changed.</summary>
    private ValueTask<bool> WriteSubscriptionAsync(string sql, Subscription subscription, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.Serialize(subscription, SqliteJsonContext.Default.Subscription);
        var now = Ticks(_time.GetUtcNow());
        return WriteAsync(s =>
        {
            var command = s.Command(sql);
            command.Set("$id", subscription.Id);
            command.Set("$data", json);
            command.Set("$now", now);
            return command.ExecuteNonQuery() == 1;
        }, cancellationToken);
    }

    /// <summary>Deletes the subscription <paramref name="id"/>; <see langword="false"/> when it was not stored. Completes after the commit.</summary>
    internal ValueTask<bool> DeleteSubscriptionAsync(string id, CancellationToken cancellationToken) =>
        WriteAsync(s =>
        {
            var command = s.Command("DELETE FROM subscriptions WHERE id = $id");
            command.Set("$id", id);
            return command.ExecuteNonQuery() == 1;
        }, cancellationToken);

    /// <summary>Reads every stored subscription as (id, JSON), oldest first; the caller deserializes so one bad row cannot hide the others.</summary>
    internal ValueTask<IReadOnlyList<(string Id, string Json)>> ReadSubscriptionsAsync(CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<(string Id, string Json)>>(c =>
        {
            using var command = Command(c, "SELECT id, data FROM subscriptions ORDER BY created_at, id");
            using var r = command.ExecuteReader();
            var rows = new List<(string, string)>();
            while (r.Read())
            {
                rows.Add((r.GetString(0), r.GetString(1)));
            }

            return rows;
        }, cancellationToken);
}
