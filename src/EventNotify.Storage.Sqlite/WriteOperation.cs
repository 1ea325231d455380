namespace EventNotify.Storage.Sqlite;

/// <summary>
/// One caller's write, queued for the writer loop. It runs inside the batch transaction (in its own savepoint) and
/// its task completes only after that transaction committed, or fails if the write or the commit failed.
/// </summary>
internal abstract class WriteOperation(CancellationToken cancellationToken)
{
    public CancellationToken CancellationToken { get; } = cancellationToken;

    /// <summary>Runs the write; the result is kept until <see cref="Complete"/>.</summary>
    public abstract void Execute(SqliteWriteSession session);

    /// <summary>The transaction committed: hands the result to the caller.</summary>
    public abstract void Complete();

    /// <summary>The write was not stored.</summary>
    public abstract void Fail(Exception exception);
}

internal sealed class WriteOperation<T>(Func<SqliteWriteSession, T> body, CancellationToken cancellationToken) : WriteOperation(cancellationToken)
{
    // Continuations run asynchronously so a caller never runs its own code on the writer loop.
    private readonly TaskCompletionSource<T> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private T? _result;

    public Task<T> Task => _done.Task;

    public override void Execute(SqliteWriteSession session) => _result = body(session);

    public override void Complete() => _done.TrySetResult(_result!);

    public override void Fail(Exception exception)
    {
        if (exception is OperationCanceledException oce)
        {
            _done.TrySetCanceled(oce.CancellationToken);
        }
        else
        {
            _done.TrySetException(exception);
        }
    }
}
