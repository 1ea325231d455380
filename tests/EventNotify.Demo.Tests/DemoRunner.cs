using System.Diagnostics;
using System.Text.RegularExpressions;

namespace EventNotify.Demo.Tests;

/// <summary>Runs the built demo as a child process and parses its summary line.</summary>
internal static partial class DemoRunner
{
    public static string RepositoryRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "EventNotify.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("EventNotify.slnx not found above " + AppContext.BaseDirectory);
    }

    /// <summary>The GitHub payload folder shipped beside the repository (../shared/data/github-webhooks), if present.</summary>
    public static string? GitHubPayloads { get; } = new[]
    {
        Environment.GetEnvironmentVariable("EVENTNOTIFY_GITHUB_PAYLOADS"),
        Path.Combine(RepositoryRoot, "..", "shared", "data", "github-webhooks"),
        "/work/shared/data/github-webhooks",
    }.FirstOrDefault(p => p is not null && Directory.Exists(p));

    public static Task<DemoResult> RunAsync(params string[] args) => RunAsync(new Dictionary<string, string>(), args);

    /// <summary>Runs the demo with extra environment variables (e.g. <c>TMPDIR</c>, where its default database goes).</summary>
    public static async Task<DemoResult> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        // The referenced demo is copied beside the tests with its runtimeconfig, so it runs as `dotnet EventNotify.Demo.dll`.
        var dll = Path.Combine(AppContext.BaseDirectory, "EventNotify.Demo.dll");
        File.Exists(dll).Should().BeTrue($"the demo is built at {dll}");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (name, value) in environment)
        {
            psi.Environment[name] = value;
        }

        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        var output = await stdout;
        var summary = output.Split('\n').LastOrDefault(l => l.StartsWith("summary:", StringComparison.Ordinal));
        return new DemoResult(process.ExitCode, output + await stderr, summary is null ? new Dictionary<string, double>() : Parse(summary));
    }

    private static Dictionary<string, double> Parse(string summary) =>
        SummaryField().Matches(summary).ToDictionary(m => m.Groups[1].Value, m => double.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));

    [GeneratedRegex(@"(\w+)=([0-9.]+)")]
    private static partial Regex SummaryField();
}

internal sealed record DemoResult(int ExitCode, string Output, IReadOnlyDictionary<string, double> Summary);

/// <summary>A fact that is skipped, with the reason, when the GitHub payload folder is not beside the repository.</summary>
public sealed class GitHubPayloadsFactAttribute : FactAttribute
{
    public GitHubPayloadsFactAttribute()
    {
        if (DemoRunner.GitHubPayloads is null)
        {
            Skip = "The GitHub payload folder (../shared/data/github-webhooks or $EVENTNOTIFY_GITHUB_PAYLOADS) is absent on this machine.";
        }
    }
}
