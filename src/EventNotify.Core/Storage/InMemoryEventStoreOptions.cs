namespace EventNotify;

/// <summary>Options of the <see cref="InMemoryEventStore"/>.</summary>
public sealed class InMemoryEventStoreOptions
{
    /// <summary>
    /// How many succeeded or cancelled deliveries the store keeps, with their attempts, for the admin API and for tests
    /// to read back. Past this, the oldest finished ones are dropped (and an event with them once none of its deliveries
    /// is left), so a busy host's memory stays bounded between the engine's retention purges. Dead-lettered and pending
    /// deliveries are never dropped for this. <see langword="null"/> keeps every finished delivery until
    /// <see cref="EventNotifyOptions.RetentionPeriod"/> purges it; 0 keeps none. The default value is 1,000.
    /// </summary>
    /// <remarks>
    /// An event id is remembered, and a second publish of it reported as a duplicate, as long as the event is kept:
    /// with this store, while one of its deliveries is pending, dead-lettered or among the last finished ones kept here.
    /// Use a durable store (SQLite) for an idempotency window measured in days.
    /// <para>
    /// Why the default is small: history kept on the managed heap survives garbage collections and is copied into the
    /// older generations, and that copying, not the engine's work, set the in-memory engine's throughput (about half
    /// of it with 10,000 kept, see docs/benchmarks.md). Tests that read back more history set a larger value or
    /// <see langword="null"/>.
    /// </para>
    /// </remarks>
    public int? MaxFinishedDeliveries { get; set; } = 1_000;
}
