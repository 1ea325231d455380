using System.Diagnostics;
using System.Reflection;
using EventNotify.Storage.Sqlite;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;

namespace EventNotify.Storage.Tests.Crash;

/// <summary>
/// Kills a publishing and delivering child process with SIGKILL at random moments, restarts it on the same SQLite
/// file until everything is delivered, then checks: every acknowledged publish was delivered, and the only
/// duplicates are deliveries that were in flight at a kill, sent again with the same delivery id.
/// </summary>
[Trait("Category", "Crash")]
public sealed class CrashRecoveryTests(ITestOutputHelper output) : IDisposable
{
    private const int Events = 5000;
    private const int Kills = 12;
    private const int ChildConcurrency = 8; // EventNotify.CrashHost's CrashSettings.Concurrency

    // A worker may have sent one delivery and still be waiting on up to 32 earlier outcomes to commit (the engine's
    // DeliveryWorker.MaxOutstandingRecordings): all of those are "in flight" at a kill and are sent again.
    private const int InFlightPerWorker = 1 + 32;
    private const string SubscriptionId = "sub_crash";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan FinishTimeout = TimeSpan.FromSeconds(90);

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static string CrashHostPath =>
        typeof(CrashRecoveryTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CrashHostPath").Value!;

    [Theory]
    [InlineData(SqliteSynchronousMode.Full)]
    [InlineData(SqliteSynchronousMode.Normal)]
    public async Task KilledAtRandomMoments_RestartedUntilDone_EveryAckedEventDeliveredAndDuplicatesOnlyInFlightOnes(SqliteSynchronousMode synchronous)
    {
        File.Exists(CrashHostPath).Should().BeTrue($"the crash host is built next to the tests ({CrashHostPath})");
        var seed = Environment.TickCount;
        var random = new Random(seed);
        output.WriteLine($"{synchronous}, seed {seed}");
        var stopwatch = Stopwatch.StartNew();
        var kills = 0;

        // A round is one database brought to "all delivered" through crashes. On a fast machine one round may finish
        // its work before 12 kills; then another round on a fresh database adds kills, until there are enough.
        for (var round = 0; kills < Kills && round < 6; round++)
        {
            kills += await RunRoundAsync(round, synchronous, random, Kills - kills);
        }

        stopwatch.Stop();
        output.WriteLine($"{kills} kills in total, {stopwatch.Elapsed.TotalSeconds:F1} s");
        kills.Should().BeGreaterThanOrEqualTo(10, "the child must be killed mid-work at least 10 times");
        stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromMinutes(3));
    }

    /// <summary>Runs one database through kills until it finishes by itself or <paramref name="killsWanted"/> kills, then checks it. Returns the kills.</summary>
    private async Task<int> RunRoundAsync(int round, SqliteSynchronousMode synchronous, Random random, int killsWanted)
    {
        var database = _folder.File($"crash{round}.db");
        var ackedPath = _folder.File($"acked{round}.txt");
        var deliveredPath = _folder.File($"delivered{round}.txt");
        var killedRuns = new HashSet<string>(StringComparer.Ordinal);
        var run = 0;

        while (killedRuns.Count < killsWanted)
        {
            var runId = $"r{run++:D2}";
            using var child = StartChild(database, ackedPath, deliveredPath, runId, synchronous);
            (await WaitForLinesAsync(child, "started", 1).WaitAsync(StartTimeout)).Should().BeTrue("the child starts");

            // The random moment of the crash: after 0 to 8 progress lines (each 50 publishes or deliveries of this
            // run); 0 kills it while it recovers what the previous run left.
            if (!await WaitForLinesAsync(child, "progress", random.Next(0, 9)).WaitAsync(StartTimeout))
            {
                break; // it finished everything before this kill
            }

            child.Kill(entireProcessTree: true); // SIGKILL
            await child.WaitForExitAsync().WaitAsync(StartTimeout);
            killedRuns.Add(runId);
        }

        using (var last = StartChild(database, ackedPath, deliveredPath, "final", synchronous))
        {
            await last.WaitForExitAsync().WaitAsync(FinishTimeout);
            last.ExitCode.Should().Be(0, "the final run delivers everything and exits by itself");
        }

        var acked = ReadLines(ackedPath).Where(l => l.StartsWith("evt_crash_", StringComparison.Ordinal)).ToHashSet(StringComparer.Ordinal);
        var delivered = ReadLines(deliveredPath)
            .Select(l => l.Split(' '))
            .Where(p => p.Length == 3 && p[1].StartsWith("dlv_", StringComparison.Ordinal) && p[2].StartsWith("evt_crash_", StringComparison.Ordinal))
            .Select(p => (Run: p[0], DeliveryId: p[1], EventId: p[2]))
            .ToList();
        var duplicates = delivered.GroupBy(d => d.DeliveryId).Where(g => g.Count() > 1).ToList();
        output.WriteLine($"round {round}: {killedRuns.Count} kills in {run} runs, {acked.Count} acked, {delivered.Count} deliveries sent, {duplicates.Count} duplicates");

        acked.Should().HaveCount(Events, "the final run publishes whatever was not acknowledged before");
        delivered.Select(d => d.EventId).Distinct().Should().BeEquivalentTo(acked, "every acknowledged event is delivered");
        delivered.Should().OnlyContain(d => d.DeliveryId == Delivery.ForSubscription(d.EventId, SubscriptionId), "a delivery keeps its id across crashes");

        foreach (var group in duplicates)
        {
            var sends = group.ToList();
            sends.Select(s => s.Run).Should().OnlyHaveUniqueItems($"{group.Key} is sent at most once per run");
            sends.SkipLast(1).Should().OnlyContain(s => killedRuns.Contains(s.Run), $"{group.Key} is sent again only after a run that was killed with it in flight");
        }

        foreach (var perRun in duplicates.SelectMany(g => g.SkipLast(1)).GroupBy(s => s.Run))
        {
            perRun.Count().Should().BeLessThanOrEqualTo(ChildConcurrency * InFlightPerWorker, $"only deliveries sent but not yet recorded are in flight when run {perRun.Key} is killed");
        }

        await using var store = new SqliteEventStore(Options.Create(new SqliteStoreOptions { ConnectionString = $"Data Source={database}" }));
        (await store.CountDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.Succeeded })).Should().Be(Events);
        (await store.CountDeliveriesAsync(new DeliveryQuery())).Should().Be(Events, "each event has exactly one delivery");
        return killedRuns.Count;
    }

    /// <summary>
    /// Field case: process A opened <c>two2.db</c>, process B <c>two2-link.db</c> (a symbolic link to it); B started,
    /// cleared A's leases and sent duplicates. Every other path to the file must be refused while A runs.
    /// </summary>
    [Theory]
    [InlineData("file symlink")]
    [InlineData("folder symlink")]
    [InlineData("hard link")]
    [InlineData("dot-dot")]
    [InlineData("file URI")]
    public async Task OpenAsync_AnotherProcessHoldsTheFileUnderAnotherPath_IsRefused(string alias)
    {
        var database = _folder.File("two2.db");
        var child = StartChild(database, _folder.File("acked.txt"), _folder.File("delivered.txt"), "run-a", SqliteSynchronousMode.Normal, events: 1_000_000); // still publishing when killed
        try
        {
            (await WaitForLinesAsync(child, "started", 1).WaitAsync(StartTimeout)).Should().BeTrue("the child must start");
            var otherPath = LockPaths.Alias(_folder, database, alias);

            await using var store = new SqliteEventStore(Options.Create(new SqliteStoreOptions { ConnectionString = $"Data Source={otherPath}" }));
            var act = async () => await store.OpenAsync();

            (await act.Should().ThrowAsync<SqliteEventStoreException>()).WithMessage("*another process or store instance holds*One SQLite file serves one host*")
                .Which.Message.Should().NotContain("PostgreSQL");
        }
        finally
        {
            child.Kill(entireProcessTree: true);
            await child.WaitForExitAsync();
        }
    }

    private static Process StartChild(string database, string acked, string delivered, string runId, SqliteSynchronousMode synchronous, int events = Events)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { CrashHostPath, database, acked, delivered, events.ToString(System.Globalization.CultureInfo.InvariantCulture), runId, synchronous.ToString() })
        {
            info.ArgumentList.Add(arg);
        }

        return Process.Start(info)!;
    }

    /// <summary>Reads the child's output until <paramref name="expected"/> was seen <paramref name="count"/> times; <see langword="false"/> if it exited first.</summary>
    private static async Task<bool> WaitForLinesAsync(Process child, string expected, int count)
    {
        var seen = 0;
        while (seen < count)
        {
            var line = await child.StandardOutput.ReadLineAsync();
            if (line is null)
            {
                return false;
            }

            if (line == expected)
            {
                seen++;
            }
        }

        return true;
    }

    private static IEnumerable<string> ReadLines(string path) =>
        File.Exists(path) ? File.ReadAllLines(path) : [];
}
