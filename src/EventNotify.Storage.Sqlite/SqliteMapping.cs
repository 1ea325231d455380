using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace EventNotify.Storage.Sqlite;

/// <summary>Binds model values to command parameters and reads them back from rows (columns in <see cref="SqliteSchema"/> order).</summary>
internal static class SqliteMapping
{
    public const int EventColumnCount = 11;
    public const int DeliveryColumnCount = 15;

    public static void Set(this SqliteCommand command, string name, object? value)
    {
        var parameters = command.Parameters;
        var index = parameters.IndexOf(name);
        if (index >= 0)
        {
            parameters[index].Value = value ?? DBNull.Value;
        }
        else
        {
            parameters.AddWithValue(name, value ?? DBNull.Value);
        }
    }

    public static long Ticks(DateTimeOffset value) => value.UtcTicks;

    public static long? Ticks(DateTimeOffset? value) => value?.UtcTicks;

    public static DateTimeOffset Time(long ticks) => new(ticks, TimeSpan.Zero);

    public static void BindEvent(SqliteCommand c, NotificationEvent e)
    {
        c.Set("$id", e.Id);
        c.Set("$type", e.Type);
        c.Set("$source", e.Source);
        c.Set("$subject", e.Subject);
        c.Set("$time", Ticks(e.Time));
        c.Set("$data", e.Data.ToArray());
        c.Set("$content_type", e.DataContentType);
        c.Set("$recipients", e.Recipients.Count == 0 ? null : JsonSerializer.Serialize(e.Recipients.ToList(), SqliteJsonContext.Default.ListRecipient));
        c.Set("$not_before", Ticks(e.NotBefore));
        c.Set("$tenant_id", e.TenantId);
        c.Set("$extensions", e.Extensions.Count == 0 ? null : JsonSerializer.Serialize(new Dictionary<string, string>(e.Extensions, StringComparer.Ordinal), SqliteJsonContext.Default.DictionaryStringString));
    }

    public static NotificationEvent ReadEvent(SqliteDataReader r, int o)
    {
        var recipients = r.IsDBNull(o + 7) ? null : JsonSerializer.Deserialize(r.GetString(o + 7), SqliteJsonContext.Default.ListRecipient);
        var extensions = r.IsDBNull(o + 10) ? null : JsonSerializer.Deserialize(r.GetString(o + 10), SqliteJsonContext.Default.DictionaryStringString);
        var e = new NotificationEvent
        {
            Id = r.GetString(o),
            Type = r.GetString(o + 1),
            Source = r.IsDBNull(o + 2) ? null : r.GetString(o + 2),
            Subject = r.IsDBNull(o + 3) ? null : r.GetString(o + 3),
            Time = Time(r.GetInt64(o + 4)),
            Data = r.IsDBNull(o + 5) ? ReadOnlyMemory<byte>.Empty : (byte[])r.GetValue(o + 5),
            DataContentType = r.GetString(o + 6),
            NotBefore = r.IsDBNull(o + 8) ? null : Time(r.GetInt64(o + 8)),
            TenantId = r.IsDBNull(o + 9) ? null : r.GetString(o + 9),
        };

        if (recipients is { Count: > 0 })
        {
            e = e with { Recipients = recipients };
        }

        if (extensions is { Count: > 0 })
        {
            e = e with { Extensions = new Dictionary<string, string>(extensions, StringComparer.Ordinal) };
        }

        return e;
    }

    public static void BindDelivery(SqliteCommand c, Delivery d)
    {
        c.Set("$id", d.Id);
        c.Set("$event_id", d.EventId);
        c.Set("$event_type", d.EventType);
        c.Set("$subscription_id", d.SubscriptionId);
        c.Set("$channel", d.Channel);
        c.Set("$address", d.Address);
        c.Set("$tenant_id", d.TenantId);
        c.Set("$status", (int)d.Status);
        c.Set("$attempts", d.Attempts);
        c.Set("$created_at", Ticks(d.CreatedAt));
        c.Set("$next_attempt_at", Ticks(d.NextAttemptAt));
        c.Set("$leased_until", Ticks(d.LeasedUntil));
        c.Set("$completed_at", Ticks(d.CompletedAt));
        c.Set("$last_error", d.LastError);
        c.Set("$last_status_code", d.LastStatusCode);
    }

    public static Delivery ReadDelivery(SqliteDataReader r, int o) => new()
    {
        Id = r.GetString(o),
        EventId = r.GetString(o + 1),
        EventType = r.GetString(o + 2),
        SubscriptionId = r.IsDBNull(o + 3) ? null : r.GetString(o + 3),
        Channel = r.GetString(o + 4),
        Address = r.GetString(o + 5),
        TenantId = r.IsDBNull(o + 6) ? null : r.GetString(o + 6),
        Status = (DeliveryStatus)r.GetInt32(o + 7),
        Attempts = r.GetInt32(o + 8),
        CreatedAt = Time(r.GetInt64(o + 9)),
        NextAttemptAt = Time(r.GetInt64(o + 10)),
        LeasedUntil = r.IsDBNull(o + 11) ? null : Time(r.GetInt64(o + 11)),
        CompletedAt = r.IsDBNull(o + 12) ? null : Time(r.GetInt64(o + 12)),
        LastError = r.IsDBNull(o + 13) ? null : r.GetString(o + 13),
        LastStatusCode = r.IsDBNull(o + 14) ? null : r.GetInt32(o + 14),
    };

    public static void BindAttempt(SqliteCommand c, DeliveryAttempt a)
    {
        c.Set("$delivery_id", a.DeliveryId);
        c.Set("$attempt_number", a.AttemptNumber);
        c.Set("$started_at", Ticks(a.StartedAt));
        c.Set("$duration", a.Duration.Ticks);
        c.Set("$outcome", (int)a.Outcome);
        c.Set("$status_code", a.StatusCode);
        c.Set("$error", a.Error);
        c.Set("$response", a.Response);
        c.Set("$provider_message_id", a.ProviderMessageId);
    }

    public static DeliveryAttempt ReadAttempt(SqliteDataReader r) => new()
    {
        DeliveryId = r.GetString(0),
        AttemptNumber = r.GetInt32(1),
        StartedAt = Time(r.GetInt64(2)),
        Duration = TimeSpan.FromTicks(r.GetInt64(3)),
        Outcome = (AttemptOutcome)r.GetInt32(4),
        StatusCode = r.IsDBNull(5) ? null : r.GetInt32(5),
        Error = r.IsDBNull(6) ? null : r.GetString(6),
        Response = r.IsDBNull(7) ? null : r.GetString(7),
        ProviderMessageId = r.IsDBNull(8) ? null : r.GetString(8),
    };

    /// <summary>"a, b" with prefix "d." gives "d.a, d.b".</summary>
    public static string Prefix(string prefix, string columns) =>
        string.Join(", ", columns.Split(", ").Select(c => prefix + c));

    /// <summary>"a, b" gives "$a, $b".</summary>
    public static string Parameters(string columns) =>
        string.Join(", ", columns.Split(", ").Select(c => "$" + c));
}
