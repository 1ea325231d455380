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
                try
                {
                    CommitBatch(batch);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // Never let the only writer die: whatever was not completed fails (completed ones ignore this).
                    FailAll(batch, ex);
                }
            }
        }
    }

    private void CommitBatch(List<WriteOperation> batch)
    {
        // Writes almost never fail, so first try the batch plainly: a savepoint around each write costs two
        // statements per write. Only if a write fails is the batch rolled back and run again write by write.
        if (TryCommitWithoutSavepoints(batch))
        {
            return;
        }

        var pending = batch;
        while (pending.Count > 0)
        {
            pending = TryCommit(pending);
        }
    }

    /// <summary>
    /// Runs the whole batch in one transaction without savepoints. Returns <see langword="false"/>, having rolled it all
    /// back and completed nothing, when a write failed (the caller then isolates it).
    /// </summary>
    private bool TryCommitWithoutSavepoints(List<WriteOperation> batch)
    {
        var started = _time.GetTimestamp();
        if (!Begin(batch))
        {
            return true;
        }

        try
        {
            foreach (var operation in batch)
            {
                operation.Execute(_session!);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            TryExecute(_session!, "ROLLBACK");
            return false;
        }

        Commit(batch, started);
        return true;
    }

    /// <summary>
    /// Runs the batch in one transaction, each write in its own savepoint. Returns the writes to run again in a new
    /// transaction: those SQLite rolled back together with a failing one (it may roll back the whole transaction,
    /// e.g. on a full disk). Each round drops at least the failing write, so this ends.
    /// </summary>
    private List<WriteOperation> TryCommit(List<WriteOperation> batch)
    {
        var session = _session!;
        var started = _time.GetTimestamp();
        if (!Begin(batch))
        {
            return [];
        }

        var done = new List<WriteOperation>(batch.Count);
        for (var i = 0; i < batch.Count; i++)
        {
            var operation = batch[i];
            try
            {
                session.Execute("SAVEPOINT op");
                operation.Execute(session);
                session.Execute("RELEASE op");
                done.Add(operation);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                operation.Fail(Wrap(ex));
                _metrics.Failed(1);
                if (!RollbackToSavepoint(session))
                {
                    // The transaction is gone: none of the batch is stored. The writes that did nothing wrong run again.
                    TryExecute(session, "ROLLBACK");
                    Log.BatchFailed(_logger, ex, done.Count + 1);
                    done.AddRange(batch.Skip(i + 1));
                    return done;
                }
            }
        }

        Commit(done, started);
        return [];
    }

    /// <summary>Starts the batch's transaction; on failure fails every write of it and returns <see langword="false"/>.</summary>
    private bool Begin(List<WriteOperation> batch)
    {
        try
        {
            _session!.Execute("BEGIN IMMEDIATE");
            return true;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            FailAll(batch, ex);
            return false;
        }
    }

    /// <summary>
    /// Commits and completes <paramref name="done"/>. A failed COMMIT fails every one of them: which write caused it
    /// is unknown and none is stored.
    /// </summary>
    private void Commit(List<WriteOperation> done, long started)
    {
        try
        {
            _session!.Execute("COMMIT");
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            TryExecute(_session!, "ROLLBACK");
            FailAll(done, ex);
            return;
        }

        // SQLite keeps writing to a database (or WAL) file deleted under it, and those writes vanish when the
        // process ends: nothing is reported stored unless both files are still where the store opened them.
        if (MissingFile() is { } missing)
        {
            FailAll(done, new SqliteEventStoreException(
                $"The SQLite event store's file '{missing}' was deleted or moved while the store had it open: the write was not stored, and no later one will be. Restore the file or restart the host."));
            return;
        }

        Interlocked.Increment(ref _committedBatches);
        _metrics.Committed(done.Count, _time.GetElapsedTime(started));
        foreach (var operation in done)
        {
            operation.Complete();
        }
    }

    /// <summary>The database or WAL file that is no longer at its path (two stat calls per committed batch), or null.</summary>
    private string? MissingFile()
    {
        if (!File.Exists(_path))
        {
            return _path;
        }

        var wal = _path + "-wal";
        return File.Exists(wal) ? null : wal;
    }

    /// <summary>Undoes the current write only; <see langword="false"/> when SQLite already ended the whole transaction.</summary>
    private static bool RollbackToSavepoint(SqliteWriteSession session)
    {
        try
        {
            session.Execute("ROLLBACK TO op");
            session.Execute("RELEASE op");
            return true;
        }
        catch (SqliteException)
        {
            return false;
        }
    }

    private void FailAll(List<WriteOperation> operations, Exception ex)
    {
        if (operations.Count == 0)
        {
            return;
        }

        Log.BatchFailed(_logger, ex, operations.Count);
        _metrics.Failed(operations.Count);
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
