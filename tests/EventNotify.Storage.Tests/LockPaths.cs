using System.Diagnostics;

namespace EventNotify.Storage.Tests;

/// <summary>Other paths to the same file, as a user might give them by accident.</summary>
internal static class LockPaths
{
    /// <summary>Returns another path to <paramref name="database"/>: <c>file symlink</c>, <c>folder symlink</c>, <c>hard link</c>, <c>dot-dot</c>, or a SQLite URI.</summary>
    public static string Alias(TempFolder folder, string database, string alias)
    {
        var name = Path.GetFileName(database);
        switch (alias)
        {
            case "file symlink":
                var link = folder.File("link-" + name);
                File.CreateSymbolicLink(link, database);
                return link;
            case "folder symlink":
                var linkedFolder = folder.File("linked-folder");
                Directory.CreateSymbolicLink(linkedFolder, folder.Path);
                return Path.Combine(linkedFolder, name);
            case "hard link":
                if (!File.Exists(database))
                {
                    throw new InvalidOperationException("A hard link needs an existing file: open the store first.");
                }

                var hard = folder.File("hard-" + name);
                using (var ln = Process.Start("ln", [database, hard]))
                {
                    ln.WaitForExit();
                    if (ln.ExitCode != 0)
                    {
                        throw new InvalidOperationException($"ln exited with {ln.ExitCode}.");
                    }
                }

                return hard;
            case "file URI":
                return "file:" + database; // a SQLite URI: the lock used to be skipped for these
            case "file URI with authority and query":
                return "file://" + database + "?cache=private";
            case "dot-dot":
                var sub = Directory.CreateDirectory(folder.File("sub")).FullName;
                return Path.Combine(sub, "..", name);
            default:
                throw new ArgumentOutOfRangeException(nameof(alias), alias, "unknown alias kind");
        }
    }
}
