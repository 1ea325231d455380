using System.Diagnostics;

namespace EventNotify.Storage.Tests;

/// <summary>
/// A real, tiny file system (a tmpfs of a few hundred KiB) for disk-full tests: a database on it runs out of space
/// the way one on a full disk does. Mounting needs root with CAP_SYS_ADMIN (the CI machine and the development
/// machines run the tests as root); <see cref="TinyDiskFactAttribute"/> skips, with that reason, where it is refused.
/// </summary>
public sealed class TinyDisk : IDisposable
{
    private TinyDisk(string path) => Path = path;

    public string Path { get; }

    public static TinyDisk? TryMount(int kibibytes, out string? error)
    {
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "eventnotify-tinydisk-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        error = Run("mount", "-t", "tmpfs", "-o", $"size={kibibytes}k", "tmpfs", path);
        if (error is null)
        {
            return new TinyDisk(path);
        }

        Directory.Delete(path);
        return null;
    }

    public void Dispose()
    {
        Run("umount", "-l", Path);
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static string? Run(string file, params string[] args)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, UseShellExecute = false })!;
            var stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode == 0 ? null : $"{file} exited with {process.ExitCode}: {stderr.Trim()}";
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return $"{file} could not be run: {ex.Message}";
        }
    }
}

/// <summary>A fact that needs <see cref="TinyDisk"/>: skipped, with the mount error, where a tmpfs cannot be mounted.</summary>
public sealed class TinyDiskFactAttribute : FactAttribute
{
    private static readonly string? MountError = Probe();

    public TinyDiskFactAttribute()
    {
        if (MountError is not null)
        {
            Skip = "A tiny tmpfs cannot be mounted here (needs root with CAP_SYS_ADMIN): " + MountError;
        }
    }

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "not Linux";
        }

        using var disk = TinyDisk.TryMount(64, out var error);
        return error;
    }
}
