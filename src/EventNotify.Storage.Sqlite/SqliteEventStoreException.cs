namespace EventNotify.Storage.Sqlite;

/// <summary>
/// The SQLite event store could not open its database or could not commit a write. When a write fails, the operation
/// it carried (e.g. an append) was not stored: the caller must not report it accepted.
/// <see cref="Exception.InnerException"/> holds the <c>SqliteException</c> when SQLite reported the error.
/// </summary>
public sealed class SqliteEventStoreException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SqliteEventStoreException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
