namespace EventNotify.Storage.Sqlite;

/// <summary>
/// The database schema, versioned with <c>PRAGMA user_version</c>. Each entry of <see cref="Migrations"/> takes the
/// schema from version <c>i</c> to <c>i + 1</c>; the store applies the missing ones in one transaction at open.
/// </summary>
/// <remarks>
/// Times are stored as UTC ticks (INTEGER). A pending delivery is claimable from <c>due_at</c>, the later of its
/// next attempt and the end of its lease, kept as a generated column so it can never disagree with the two; the
/// partial index on it covers pending deliveries only, so claiming stays an index range scan however many finished
/// deliveries the file keeps.
/// </remarks>
internal static class SqliteSchema
{
    public static readonly string[] Migrations =
    [
        """
        CREATE TABLE events (
            id           TEXT PRIMARY KEY NOT NULL,
            type         TEXT NOT NULL,
            source       TEXT,
            subject      TEXT,
            time         INTEGER NOT NULL,
            data         BLOB NOT NULL,
            content_type TEXT NOT NULL,
            recipients   TEXT,
            not_before   INTEGER,
            tenant_id    TEXT,
            extensions   TEXT,
            routed       INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        CREATE INDEX ix_events_unrouted ON events (id) WHERE routed = 0;
        CREATE INDEX ix_events_time ON events (time);

        CREATE TABLE deliveries (
            id               TEXT PRIMARY KEY NOT NULL,
            event_id         TEXT NOT NULL,
            event_type       TEXT NOT NULL,
            subscription_id  TEXT,
            channel          TEXT NOT NULL,
            address          TEXT NOT NULL,
            tenant_id        TEXT,
            status           INTEGER NOT NULL,
            attempts         INTEGER NOT NULL,
            created_at       INTEGER NOT NULL,
            next_attempt_at  INTEGER NOT NULL,
            leased_until     INTEGER,
            completed_at     INTEGER,
            last_error       TEXT,
            last_status_code INTEGER,
            due_at           INTEGER GENERATED ALWAYS AS (
                CASE WHEN leased_until IS NOT NULL AND leased_until > next_attempt_at THEN leased_until ELSE next_attempt_at END) VIRTUAL
        );
        CREATE INDEX ix_deliveries_due ON deliveries (due_at) WHERE status = 0;
        CREATE INDEX ix_deliveries_created ON deliveries (created_at, id);
        CREATE INDEX ix_deliveries_status ON deliveries (status, created_at);
        CREATE INDEX ix_deliveries_event ON deliveries (event_id);
        CREATE INDEX ix_deliveries_completed ON deliveries (completed_at) WHERE status <> 0;

        CREATE TABLE attempts (
            seq                 INTEGER PRIMARY KEY,
            delivery_id         TEXT NOT NULL,
            attempt_number      INTEGER NOT NULL,
            started_at          INTEGER NOT NULL,
            duration            INTEGER NOT NULL,
            outcome             INTEGER NOT NULL,
            status_code         INTEGER,
            error               TEXT,
            response            TEXT,
            provider_message_id TEXT
        );
        CREATE INDEX ix_attempts_delivery ON attempts (delivery_id, seq);
        """,
        // v2: durable subscriptions. Each row holds the whole subscription as JSON (SqliteJsonContext), so adding a
        // property to Subscription needs no migration; the id is its own column so writes can address one row.
        """
        CREATE TABLE subscriptions (
            id         TEXT PRIMARY KEY NOT NULL,
            data       TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        """,
    ];

    public static long CurrentVersion => Migrations.Length;

    public const string EventColumns = "id, type, source, subject, time, data, content_type, recipients, not_before, tenant_id, extensions";

    public const string DeliveryColumns =
        "id, event_id, event_type, subscription_id, channel, address, tenant_id, status, attempts, created_at, next_attempt_at, leased_until, completed_at, last_error, last_status_code";

    public const string AttemptColumns = "delivery_id, attempt_number, started_at, duration, outcome, status_code, error, response, provider_message_id";
}
