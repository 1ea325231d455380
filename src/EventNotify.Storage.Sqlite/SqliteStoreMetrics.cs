using System.Diagnostics.Metrics;

namespace EventNotify.Storage.Sqlite;

/// <summary>The SQLite store's instruments on the <c>EventNotify</c> meter: how group commit behaves.</summary>
internal sealed class SqliteStoreMetrics
{
    private readonly Histogram<long>? _batchSize;
    private readonly Histogram<double>? _commitDuration;
    private readonly Counter<long>? _failedWrites;

    public SqliteStoreMetrics(IMeterFactory? meterFactory)
    {
        if (meterFactory is null)
        {
            return;
        }

        var meter = meterFactory.Create(EventNotify.Diagnostics.EventNotifyTelemetry.Name);
        _batchSize = meter.CreateHistogram<long>("eventnotify.store.batch.size", "{write}", "Writes committed together in one SQLite transaction (group commit).");
        _commitDuration = meter.CreateHistogram<double>("eventnotify.store.commit.duration", "s", "Time to run and commit one batch of writes.");
        _failedWrites = meter.CreateCounter<long>("eventnotify.store.writes.failed", "{write}", "Writes the SQLite store could not store (the caller got an exception).");
    }

    public void Committed(int writes, TimeSpan duration)
    {
        if (_batchSize is { Enabled: true })
        {
            _batchSize.Record(writes);
        }

        if (_commitDuration is { Enabled: true })
        {
            _commitDuration.Record(duration.TotalSeconds);
        }
    }

    public void Failed(int writes)
    {
        if (_failedWrites is { Enabled: true })
        {
            _failedWrites.Add(writes);
        }
    }
}
