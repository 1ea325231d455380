using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace EventNotify.Storage.Sqlite;

/// <summary>
/// A statement prepared once on the writer connection and bound by position through SQLitePCLRaw (the native layer
/// under Microsoft.Data.Sqlite), for the writes every event makes. A <see cref="SqliteCommand"/> looks each parameter
/// up by name, boxes its value and converts strings to UTF-8 on every execution; the events, deliveries and
/// attempts written per published event made that most of the writer's time. Errors surface as the same
/// <see cref="SqliteException"/> (code and message) a command would throw.
/// </summary>
/// <remarks>Used only by the writer loop, between BEGIN and COMMIT on the same connection, so it needs no locking.</remarks>
internal sealed class SqliteStatement : IDisposable
{
    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _statement;

    public SqliteStatement(SqliteConnection connection, string sql)
    {
        _db = connection.Handle ?? throw new InvalidOperationException("The writer connection is not open.");
        var rc = raw.sqlite3_prepare_v2(_db, sql, out _statement);
        SqliteException.ThrowExceptionForRC(rc, _db);
    }

    /// <summary>Binds parameter <c>?<paramref name="index"/></c> to a text value, or NULL.</summary>
    public SqliteStatement Text(int index, string? value)
    {
        // UTF-16 goes to SQLite as is (it converts natively), except: an empty span has no address, which SQLite would
        // read as NULL; and SQLite's converter pairs a lone surrogate with whatever follows it (a truncated error text
        // can end in half a pair). Those go through the string overload, which encodes with Encoding.UTF8 (a lone
        // surrogate becomes U+FFFD), as SqliteCommand did.
        var rc = value is null ? raw.sqlite3_bind_null(_statement, index)
            : value.Length == 0 || value.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') >= 0 ? raw.sqlite3_bind_text(_statement, index, value)
            : raw.sqlite3_bind_text16(_statement, index, value.AsSpan());
        return Check(rc);
    }

    /// <summary>Binds parameter <c>?<paramref name="index"/></c> to an integer.</summary>
    public SqliteStatement Integer(int index, long value) => Check(raw.sqlite3_bind_int64(_statement, index, value));

    /// <summary>Binds parameter <c>?<paramref name="index"/></c> to an integer, or NULL.</summary>
    public SqliteStatement Integer(int index, long? value) =>
        Check(value is { } v ? raw.sqlite3_bind_int64(_statement, index, v) : raw.sqlite3_bind_null(_statement, index));

    /// <summary>Binds parameter <c>?<paramref name="index"/></c> to a blob (zero-length, never NULL, when empty).</summary>
    public SqliteStatement Blob(int index, ReadOnlySpan<byte> value) =>
        Check(value.IsEmpty ? raw.sqlite3_bind_zeroblob(_statement, index, 0) : raw.sqlite3_bind_blob(_statement, index, value));

    /// <summary>Runs the statement to completion and returns how many rows it changed.</summary>
    public int Execute()
    {
        var rc = raw.sqlite3_step(_statement);
        if (rc is raw.SQLITE_DONE or raw.SQLITE_ROW)
        {
            var changes = raw.sqlite3_changes(_db);
            raw.sqlite3_reset(_statement);
            return changes;
        }

        // reset returns the step's error again and keeps its message for the exception.
        raw.sqlite3_reset(_statement);
        SqliteException.ThrowExceptionForRC(rc, _db);
        return 0;
    }

    public void Dispose() => _statement.Dispose();

    private SqliteStatement Check(int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(rc, _db);
        }

        return this;
    }

    /// <summary>"?1, ?2, …, ?<paramref name="count"/>".</summary>
    public static string Placeholders(int count) => string.Join(", ", Enumerable.Range(1, count).Select(i => "?" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
}
