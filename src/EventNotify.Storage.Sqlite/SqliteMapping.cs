using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace EventNotify.Storage.Sqlite;

/// <summary>Binds model values to command parameters and reads them back from rows (columns in <see cref="SqliteSchema"/> order).</summary>
internal static class SqliteMapping
{
    public const int EventColumnCount = 11;
    public const int DeliveryColumnCount = 15;
    public const int AttemptColumnCount = 9;

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

    /// <summary>Binds ?1–?11 in <see cref="SqliteSchema.EventColumns"/> order and ?12 to <c>routed</c>.</summary>
    public static void BindEvent(SqliteStatement s, NotificationEvent e, bool routed)
    {
        s.Text(1, e.Id)
            .Text(2, e.Type)
            .Text(3, e.Source)
            .Text(4, e.Subject)
            .Integer(5, Ticks(e.Time))
            .Blob(6, e.Data.Span)
            .Text(7, e.DataContentType)
            .Text(8, e.Recipients.Count == 0 ? null : JsonSerializer.Serialize(e.Recipients.ToList(), SqliteJsonContext.Default.ListRecipient))
            .Integer(9, Ticks(e.NotBefore))
            .Text(10, e.TenantId)
            .Text(11, e.Extensions.Count == 0 ? null : JsonSerializer.Serialize(new Dictionary<string, string>(e.Extensions, StringComparer.Ordinal), SqliteJsonContext.Default.DictionaryStringString))
            .Integer(12, routed ? 1 : 0);
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

    /// <summary>Binds ?1–?15 in <see cref="SqliteSchema.DeliveryColumns"/> order.</summary>
    public static void BindDelivery(SqliteStatement s, Delivery d)
    {
        s.Text(1, d.Id)
            .Text(2, d.EventId)
            .Text(3, d.EventType)
            .Text(4, d.SubscriptionId)
            .Text(5, d.Channel)
            .Text(6, d.Address)
            .Text(7, d.TenantId)
            .Integer(8, (int)d.Status)
            .Integer(9, d.Attempts)
            .Integer(10, Ticks(d.CreatedAt))
            .Integer(11, Ticks(d.NextAttemptAt))
            .Integer(12, Ticks(d.LeasedUntil))
            .Integer(13, Ticks(d.CompletedAt))
            .Text(14, d.LastError)
            .Integer(15, d.LastStatusCode);
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

    /// <summary>Binds ?1–?9 in <see cref="SqliteSchema.AttemptColumns"/> order.</summary>
    public static void BindAttempt(SqliteStatement s, DeliveryAttempt a)
    {
        s.Text(1, a.DeliveryId)
            .Integer(2, a.AttemptNumber)
            .Integer(3, Ticks(a.StartedAt))
            .Integer(4, a.Duration.Ticks)
            .Integer(5, (int)a.Outcome)
            .Integer(6, a.StatusCode)
            .Text(7, a.Error)
            .Text(8, a.Response)
            .Text(9, a.ProviderMessageId);
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
