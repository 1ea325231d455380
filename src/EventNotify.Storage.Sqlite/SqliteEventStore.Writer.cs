using Microsoft.Data.Sqlite;

namespace EventNotify.Storage.Sqlite;

internal sealed partial class SqliteEventStore
{
    /// <summary>Queues a write for the writer loop; completes after the transaction holding it committed.</summary>
    private async ValueTask<T> WriteAsync<T>(Func<SqliteWriteSession, T> body, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await OpenAsync(cancellationToken).ConfigureAwait(false);
        var operation = new WriteOperation<T>(body, cancellationToken);
        if (!_queue.Writer.TryWrite(operation))
        {
            throw new ObjectDisposedException(nameof(SqliteEventStore), "The SQLite event store is closed: the write was not stored.");
        }

        return await operation.Task.ConfigureAwait(false);
    }

    /// <summary>
    /// The only writer. Each round takes every queued write (up to MaxBatchSize) and commits them in one transaction.
    /// It ends when the queue is completed (dispose) and empty, so every accepted write is either committed or failed.
    /// </summary>
    private async Task WriterLoopAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<WriteOperation>(_options.MaxBatchSize);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            if (BeforeBatch is { } hook)
            {
                await hook().ConfigureAwait(false);
            }

            batch.Clear();
            while (batch.Count < _options.MaxBatchSize && reader.TryRead(out var operation))
            {
                if (operation.CancellationToken.IsCancellationRequested)
                {
                    operation.Fail(new OperationCanceledException(operation.CancellationToken));
                }
                else
                {
                    batch.Add(operation);
                }
            }

            if (batch.Count > 0)
            {
                CommitBatch(batch);
            }
        }
    }

    private void CommitBatch(List<WriteOperation> batch)
    {
        var session = _session!;
        var done = new List<WriteOperation>(batch.Count);
        try
        {
            session.Execute("BEGIN IMMEDIATE");
        }
        catch (Exception ex) when (ex is SqliteException or InvalidOperationException)
        {
            FailAll(batch, ex);
            return;
        }

        foreach (var operation in batch)
        {
            session.Execute("SAVEPOINT op");
            try
            {
                operation.Execute(session);
                session.Execute("RELEASE op");
                done.Add(operation);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                operation.Fail(Wrap(ex));
                try
                {
                    // Undo just this write; the others in the batch go on.
                    session.Execute("ROLLBACK TO op");
                    session.Execute("RELEASE op");
                }
                catch (SqliteException)
                {
                    // SQLite rolled the whole transaction back (it may, e.g. on a full disk): nothing of it is stored.
                    TryExecute(session, "ROLLBACK");
                    FailAll(done, ex);
                    return;
                }
            }
        }

        try
        {
            session.Execute("COMMIT");
        }
        catch (SqliteException ex)
        {
            TryExecute(session, "ROLLBACK");
            FailAll(done, ex);
            return;
        }

        Interlocked.Increment(ref _committedBatches);
        foreach (var operation in done)
        {
            operation.Complete();
        }
    }

    private void FailAll(List<WriteOperation> operations, Exception ex)
    {
        if (operations.Count == 0)
        {
            return;
        }

        Log.BatchFailed(_logger, ex, operations.Count);
        var failure = Wrap(ex);
        foreach (var operation in operations)
        {
            operation.Fail(failure);
        }
    }

    private Exception Wrap(Exception ex) => ex switch
    {
        SqliteException sqlite => new SqliteEventStoreException($"The SQLite event store at '{_path}' could not store the write: {Describe(sqlite)}. It was not stored.", sqlite),
        _ => ex,
    };
}
