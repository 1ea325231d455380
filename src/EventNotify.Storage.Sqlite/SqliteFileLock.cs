namespace EventNotify.Storage.Sqlite;

/// <summary>
/// Keeps a database file for one store instance in one process, whatever path leads to it.
/// </summary>
/// <remarks>
/// <para>A path is not a file: a symbolic link to the file or to a folder above it, <c>..</c> segments or a hard link
/// all reach the same file by another name. So three locks are taken, in this order, and released in reverse:</para>
/// <list type="number">
/// <item>A process-wide table of the real paths (every symbolic link and <c>..</c> resolved) of open stores: a second
/// store in this process is refused before it opens anything of the file (see 3 for why that matters).</item>
/// <item>The sidecar <c>&lt;real path&gt;.lock</c>, opened with <see cref="FileShare.None"/> (<c>flock</c> on Unix, a
/// share-mode lock on Windows). It works on every OS and agrees with earlier versions of this package, which locked
/// <c>&lt;path&gt;.lock</c>.</item>
/// <item>On Unix, the database file itself (its inode), with <c>flock</c>: this one also catches hard links and any
/// alias the real path cannot see. <c>flock</c> locks do not conflict with SQLite's <c>fcntl</c> locks, but closing
/// ANY descriptor of the file drops every <c>fcntl</c> lock the process holds on it. Hence the handle is opened before
/// the store's first SQLite connection, kept for the store's whole life and closed only after its last connection
/// closed; and the table (1) refuses a second store of this process before it opens (and, on failure, closes) a
/// descriptor of its own. Not on Windows, where share modes are mandatory and would keep SQLite itself out.</item>
/// </list>
/// <para>The OS drops every one of these when the process dies, even on <c>kill -9</c>.</para>
/// </remarks>
internal sealed class SqliteFileLock : IDisposable
{
    private static readonly HashSet<string> OpenInThisProcess = new(OperatingSystem.IsWindows() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);

    private readonly string _realPath;
    private FileStream? _sidecar;
    private FileStream? _database;
    private int _released;

    private SqliteFileLock(string realPath) => _realPath = realPath;

    /// <summary>Locks the database file at the full path <paramref name="path"/>, or throws <see cref="SqliteEventStoreException"/>.</summary>
    public static SqliteFileLock Acquire(string path)
    {
        string realPath;
        try
        {
            realPath = ResolveRealPath(path);
        }
        catch (IOException ex)
        {
            throw new SqliteEventStoreException($"Cannot open the SQLite event store at '{path}': its path cannot be resolved ({ex.Message}).", ex);
        }

        lock (OpenInThisProcess)
        {
            if (!OpenInThisProcess.Add(realPath))
            {
                throw Held(path, realPath == path ? $"'{path}'" : $"'{path}' (which is '{realPath}')", null);
            }
        }

        var fileLock = new SqliteFileLock(realPath);
        try
        {
            var lockPath = realPath + ".lock";
            fileLock._sidecar = Open(path, lockPath, $"'{lockPath}'");
            if (!OperatingSystem.IsWindows())
            {
                fileLock._database = Open(path, realPath, $"'{realPath}' itself (another path to the same file: a hard or symbolic link)");
            }

            return fileLock;
        }
        catch
        {
            fileLock.Dispose();
            throw;
        }
    }

    private static FileStream Open(string path, string lockPath, string what)
    {
        try
        {
            // FileShare.None takes an exclusive advisory lock (flock on Unix) that the OS drops when the process dies.
            return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.Read, FileShare.None);
        }
        catch (IOException ex) when (IsLockConflict(ex))
        {
            throw Held(path, what, ex);
        }
        catch (IOException ex)
        {
            // Not a lock held by someone else: the file cannot be created or opened at all (e.g. under /proc).
            throw new SqliteEventStoreException($"Cannot open the SQLite event store at '{path}': '{lockPath}' cannot be created or opened ({ex.Message}). Put the database in an ordinary writable folder.", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new SqliteEventStoreException($"Cannot open the SQLite event store at '{path}': no permission to create or open '{lockPath}' (is the folder read-only?).", ex);
        }
    }

    // A held lock surfaces as a plain IOException (a sharing violation); a file that cannot exist there (a path under
    // /proc, a folder that vanished, a name too long) as one of these.
    private static bool IsLockConflict(IOException ex) => ex is not (FileNotFoundException or DirectoryNotFoundException or PathTooLongException);

    private static SqliteEventStoreException Held(string path, string what, Exception? inner) => new(
        $"Cannot open the SQLite event store at '{path}': another process or store instance holds {what}. " +
        "One SQLite file serves one host: give each host process its own file.",
        inner);

    /// <summary>
    /// Resolves every symbolic link in <paramref name="fullPath"/> (each folder and the file) and every <c>..</c> after
    /// them, like <c>realpath(3)</c>, for a path whose last components may not exist yet.
    /// </summary>
    internal static string ResolveRealPath(string fullPath)
    {
        var root = Path.GetPathRoot(fullPath) ?? "";
        var pending = new Stack<string>();
        Push(pending, fullPath[root.Length..]);
        var current = root;
        var links = 0;
        while (pending.TryPop(out var part))
        {
            if (part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? current;
                continue;
            }

            var next = Path.Combine(current, part);
            var target = Directory.Exists(next) ? new DirectoryInfo(next).LinkTarget : new FileInfo(next).LinkTarget;
            if (target is null)
            {
                current = next;
                continue;
            }

            if (++links > 40)
            {
                throw new IOException($"too many levels of symbolic links at '{next}'");
            }

            // The link's target replaces it: resolved from the link's folder, then the remaining components follow it.
            var absolute = Path.IsPathRooted(target) ? target : Path.Combine(current, target);
            root = Path.GetPathRoot(absolute) ?? "";
            Push(pending, absolute[root.Length..]);
            current = root;
        }

        return current;

        static void Push(Stack<string> stack, string relative)
        {
            var parts = relative.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar], StringSplitOptions.RemoveEmptyEntries);
            for (var i = parts.Length - 1; i >= 0; i--)
            {
                stack.Push(parts[i]);
            }
        }
    }

    /// <summary>Releases the locks. Call only after every SQLite connection of the store is closed (see the remarks).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 1)
        {
            return;
        }

        _database?.Dispose();
        _database = null;
        _sidecar?.Dispose();
        _sidecar = null;
        lock (OpenInThisProcess)
        {
            OpenInThisProcess.Remove(_realPath);
        }
    }
}
