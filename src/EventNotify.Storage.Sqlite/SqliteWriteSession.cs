using Microsoft.Data.Sqlite;

namespace EventNotify.Storage.Sqlite;

/// <summary>
/// The single writer connection and its prepared commands. Used only by the writer loop, one batch at a time, so
/// it needs no locking. Commands are kept per SQL text: Microsoft.Data.Sqlite prepares a command once and reuses
/// the statement on every later execution.
/// </summary>
internal sealed class SqliteWriteSession(SqliteConnection connection) : IDisposable
{
    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SqliteStatement> _statements = new(StringComparer.Ordinal);

    public SqliteConnection Connection { get; } = connection;

    public SqliteCommand Command(string sql)
    {
        if (!_commands.TryGetValue(sql, out var command))
        {
            command = Connection.CreateCommand();
#pragma warning disable CA2100 // Every SQL text here is a constant of this assembly; values are bound as parameters.
            command.CommandText = sql;
#pragma warning restore CA2100
            _commands[sql] = command;
        }

        return command;
    }

    /// <summary>The positionally bound statement for <paramref name="sql"/>, prepared on first use (see <see cref="SqliteStatement"/>).</summary>
    public SqliteStatement Statement(string sql)
    {
        if (!_statements.TryGetValue(sql, out var statement))
        {
            statement = new SqliteStatement(Connection, sql);
            _statements[sql] = statement;
        }

        return statement;
    }

    public int Execute(string sql) => Command(sql).ExecuteNonQuery();

    public void Dispose()
    {
        // Statements are finalized before the connection closes (an open statement would keep it busy).
        foreach (var statement in _statements.Values)
        {
            statement.Dispose();
        }

        _statements.Clear();
        foreach (var command in _commands.Values)
        {
            command.Dispose();
        }

        _commands.Clear();
        Connection.Dispose();
    }
}
