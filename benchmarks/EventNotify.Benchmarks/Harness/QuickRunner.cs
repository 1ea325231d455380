using System.Diagnostics;
using System.Globalization;
using EventNotify.Benchmarks.Scenarios;

namespace EventNotify.Benchmarks.Harness;

/// <summary>
/// The quick ratio harness: every scenario in this one process doing the same work (warm-up, then <c>rounds</c> runs
/// of N events each). Rounds are interleaved: round r runs every scenario once, in catalogue order, so a burst of
/// load from another tenant of the machine hits all scenarios of that round alike. Prints each scenario's median rate
/// and allocations per event, then each ratio as the median of its per-round ratios.
/// </summary>
internal static class QuickRunner
{
    private static readonly TimeSpan WarmUpTime = TimeSpan.FromSeconds(2);

    public static async Task<int> RunAsync(int events, int rounds, IReadOnlyList<string> names)
    {
        var warmUp = Math.Max(1000, events / 10);
        Console.Error.WriteLine($"# quick: {events} events x {rounds} interleaved rounds (median), warm-up batches of {warmUp} for at least {WarmUpTime.TotalSeconds:0} s per scenario; {Environment.ProcessorCount} cores, .NET {Environment.Version}, server GC {System.Runtime.GCSettings.IsServerGC}");

        var active = new List<Measured>();
        var skipped = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            foreach (var name in names)
            {
                var scenario = ScenarioCatalog.Create(name);
                var skip = await TryAsync(scenario.SetupAsync).ConfigureAwait(false);
                if (skip is null)
                {
                    skip = await TryAsync(() => WarmUpAsync(scenario, warmUp)).ConfigureAwait(false);
                }

                if (skip is null)
                {
                    active.Add(new Measured(scenario));
                }
                else
                {
                    skipped[name] = skip;
                    await scenario.DisposeAsync().ConfigureAwait(false);
                }
            }

            using var process = Process.GetCurrentProcess();
            for (var r = 0; r < rounds; r++)
            {
                foreach (var m in active.Where(m => m.Failure is null))
                {
                    m.Failure = await TryAsync(() => MeasureRoundAsync(m, events, process)).ConfigureAwait(false);
                }
            }

            var rates = new Dictionary<string, List<double>>(StringComparer.Ordinal);
            foreach (var name in names)
            {
                if (skipped.TryGetValue(name, out var reason))
                {
                    Console.WriteLine($"{name}: skipped: {reason}");
                    continue;
                }

                var m = active.First(a => a.Scenario.Name == name);
                if (m.Failure is not null)
                {
                    Console.WriteLine($"{name}: failed: {m.Failure}");
                    continue;
                }

                rates[name] = m.Rates;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}: {Median(m.Rates):0} events/s, {Median(m.Bytes):0} B/event"));

                // CPU time per event is less disturbed by other processes on a shared machine than wall-clock rate.
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"#   {name}: {Median(m.Cpu):0.00} us CPU/event, {Median(m.WorkItems):0.00} thread-pool work items/event, {Median(m.Contentions):0.000} lock contentions/event, {m.Threads} pool threads, GC pauses {Median(m.GcPause):P0} of wall time, GCs gen0/1/2 {m.Collections[0]}/{m.Collections[1]}/{m.Collections[2]} in all rounds, JIT {m.JitTime.TotalMilliseconds:0} ms for {m.JitMethods} methods in all rounds; rates {string.Join(" ", m.Rates.Select(x => x.ToString("0", CultureInfo.InvariantCulture)))}"));
            }

            // A variant (engine-webhook~d64) is compared with what its scenario is compared with.
            var variantRatios = names.Where(n => n.Contains('~', StringComparison.Ordinal))
                .SelectMany(n => ScenarioCatalog.Ratios.Where(r => r.A == n[..n.IndexOf('~', StringComparison.Ordinal)]).Select(r => (A: n, r.B)));
            foreach (var (a, b) in ScenarioCatalog.Ratios.Concat(variantRatios))
            {
                if (!names.Contains(a) || !names.Contains(b))
                {
                    continue;
                }

                if (rates.TryGetValue(a, out var ra) && rates.TryGetValue(b, out var rb))
                {
                    var perRound = ra.Zip(rb, (x, y) => x / y).ToArray();
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ratio {a}/{b} = {Median(perRound):0.00}"));
                    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"#   ratio {a}/{b} per round: {string.Join(" ", perRound.Select(x => x.ToString("0.00", CultureInfo.InvariantCulture)))}"));
                }
                else
                {
                    Console.WriteLine($"ratio {a}/{b} = n/a ({(rates.ContainsKey(a) ? b : a)} not measured)");
                }
            }
        }
        finally
        {
            foreach (var m in active)
            {
                await m.Scenario.DisposeAsync().ConfigureAwait(false);
            }
        }

        // With perf stat around the process: process-wide counters divided by this are per event.
        Console.Error.WriteLine($"# events run in this process, warm-up included: {s_total}");
        return 0;
    }

    private static long s_total;

    /// <summary>Batches until tiered JIT has settled (at least <see cref="WarmUpTime"/>), so rounds measure steady state.</summary>
    private static async Task WarmUpAsync(IScenario scenario, int batch)
    {
        var started = Stopwatch.GetTimestamp();
        do
        {
            await scenario.RunAsync(batch).ConfigureAwait(false);
            s_total += batch;
            await scenario.CleanupAsync().ConfigureAwait(false);
        }
        while (Stopwatch.GetElapsedTime(started) < WarmUpTime);
    }

    private static readonly AllocationListener? Allocations = AllocationListener.CreateIfRequested();

    private static async Task MeasureRoundAsync(Measured m, int events, Process process)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        process.Refresh();
        var cpu = process.TotalProcessorTime;
        var pause = GC.GetTotalPauseDuration();
        var gen = new[] { GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2) };
        var workItems = ThreadPool.CompletedWorkItemCount;
        var contentions = Monitor.LockContentionCount;
        var jitTime = System.Runtime.JitInfo.GetCompilationTime();
        var jitMethods = System.Runtime.JitInfo.GetCompiledMethodCount();
        Allocations?.Start();
        var started = Stopwatch.GetTimestamp();
        await m.Scenario.RunAsync(events).ConfigureAwait(false);
        s_total += events;
        var elapsed = Stopwatch.GetElapsedTime(started);
        Allocations?.Report(m.Scenario.Name, events);
        var bytes = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        for (var g = 0; g < 3; g++)
        {
            m.Collections[g] += GC.CollectionCount(g) - gen[g];
        }

        process.Refresh();
        m.Rates.Add(events / elapsed.TotalSeconds);
        m.Bytes.Add((double)bytes / events);
        m.Cpu.Add((process.TotalProcessorTime - cpu).TotalMicroseconds / events);
        m.WorkItems.Add((double)(ThreadPool.CompletedWorkItemCount - workItems) / events);
        m.Contentions.Add((double)(Monitor.LockContentionCount - contentions) / events);
        m.Threads = Math.Max(m.Threads, ThreadPool.ThreadCount);
        m.GcPause.Add((GC.GetTotalPauseDuration() - pause) / elapsed);
        m.JitTime += System.Runtime.JitInfo.GetCompilationTime() - jitTime;
        m.JitMethods += System.Runtime.JitInfo.GetCompiledMethodCount() - jitMethods;
        await m.Scenario.CleanupAsync().ConfigureAwait(false);
    }

    private static async Task<string?> TryAsync(Func<Task> action)
    {
        try
        {
            await action().ConfigureAwait(false);
            return null;
        }
        catch (Exception ex)
        {
            return $"{ex.GetType().Name}: {ex.Message}";
        }
    }

    private static async Task<string?> TryAsync(Func<Task<string?>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            return $"{ex.GetType().Name}: {ex.Message}";
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private sealed class Measured(IScenario scenario)
    {
        public IScenario Scenario { get; } = scenario;

        public string? Failure { get; set; }

        /// <summary>Time the JIT spent compiling during the rounds (all threads), and how many methods: tiering still at work if large.</summary>
        public TimeSpan JitTime { get; set; }

        public long JitMethods { get; set; }

        public List<double> Rates { get; } = [];

        public List<double> Bytes { get; } = [];

        public List<double> Cpu { get; } = [];

        /// <summary>Monitor and <see cref="Lock"/> contentions per event (each one a spin, maybe a kernel wait).</summary>
        public List<double> Contentions { get; } = [];

        /// <summary>The most thread-pool threads seen at the end of a round.</summary>
        public int Threads { get; set; }

        public List<double> WorkItems { get; } = [];

        public List<double> GcPause { get; } = [];

        public int[] Collections { get; } = new int[3];
    }
}
