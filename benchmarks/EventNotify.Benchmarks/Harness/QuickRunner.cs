using System.Diagnostics;
using System.Globalization;
using EventNotify.Benchmarks.Scenarios;

namespace EventNotify.Benchmarks.Harness;

/// <summary>
/// The quick ratio harness: every scenario in this one process, back to back, doing the same work (a warm-up run,
/// then <c>rounds</c> runs of N events each); prints the median rate and the allocations per event, then the ratios.
/// Absolute numbers on a shared machine are noisy; the ratios, measured minutes apart in one process, are what we
/// publish.
/// </summary>
internal static class QuickRunner
{
    private static readonly TimeSpan WarmUpTime = TimeSpan.FromSeconds(2);

    public static async Task<int> RunAsync(int events, int rounds, IReadOnlyList<string> names)
    {
        var warmUp = Math.Max(1000, events / 10);
        Console.Error.WriteLine($"# quick: {events} events x {rounds} rounds per scenario (median), warm-up batches of {warmUp} for at least {WarmUpTime.TotalSeconds:0} s; {Environment.ProcessorCount} cores, .NET {Environment.Version}, server GC {System.Runtime.GCSettings.IsServerGC}");
        var rates = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            var line = await MeasureAsync(name, events, rounds, warmUp, rates).ConfigureAwait(false);
            Console.WriteLine(line);
        }

        foreach (var (a, b) in ScenarioCatalog.Ratios)
        {
            if (!names.Contains(a) || !names.Contains(b))
            {
                continue;
            }

            Console.WriteLine(rates.TryGetValue(a, out var ra) && rates.TryGetValue(b, out var rb)
                ? string.Create(CultureInfo.InvariantCulture, $"ratio {a}/{b} = {ra / rb:0.00}")
                : $"ratio {a}/{b} = n/a ({(rates.ContainsKey(a) ? b : a)} skipped)");
        }

        return 0;
    }

    private static async Task<string> MeasureAsync(string name, int events, int rounds, int warmUp, Dictionary<string, double> rates)
    {
        await using var scenario = ScenarioCatalog.Create(name);
        string? skip;
        try
        {
            skip = await scenario.SetupAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            skip = $"{ex.GetType().Name}: {ex.Message}";
        }

        if (skip is not null)
        {
            return $"{name}: skipped: {skip}";
        }

        try
        {
            // Warm-up: batches until tiered JIT has settled (at least WarmUpTime), so the rounds measure steady state.
            var warmUpStarted = Stopwatch.GetTimestamp();
            do
            {
                await scenario.RunAsync(warmUp).ConfigureAwait(false);
                await scenario.CleanupAsync().ConfigureAwait(false);
            }
            while (Stopwatch.GetElapsedTime(warmUpStarted) < WarmUpTime);

            var samples = new List<(double Rate, double Bytes, double Cpu, double GcPause)>(rounds);
            var collections = new int[3];
            using var process = System.Diagnostics.Process.GetCurrentProcess();
            for (var r = 0; r < rounds; r++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
                var allocated = GC.GetTotalAllocatedBytes(precise: true);
                process.Refresh();
                var cpu = process.TotalProcessorTime;
                var pause = GC.GetTotalPauseDuration();
                var gen = new[] { GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2) };
                var started = Stopwatch.GetTimestamp();
                await scenario.RunAsync(events).ConfigureAwait(false);
                var elapsed = Stopwatch.GetElapsedTime(started);
                var bytes = GC.GetTotalAllocatedBytes(precise: true) - allocated;
                for (var g = 0; g < 3; g++)
                {
                    collections[g] += GC.CollectionCount(g) - gen[g];
                }

                process.Refresh();
                var cpuPerEvent = (process.TotalProcessorTime - cpu).TotalMicroseconds / events;
                samples.Add((events / elapsed.TotalSeconds, (double)bytes / events, cpuPerEvent, (GC.GetTotalPauseDuration() - pause) / elapsed));
                await scenario.CleanupAsync().ConfigureAwait(false);
            }

            var rate = Median(samples.Select(s => s.Rate));
            var perEvent = Median(samples.Select(s => s.Bytes));
            rates[name] = rate;

            // CPU time per event is less disturbed by other processes on a shared machine than wall-clock rate.
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"#   {name}: {Median(samples.Select(s => s.Cpu)):0.00} us CPU/event, GC pauses {Median(samples.Select(s => s.GcPause)):P0} of wall time, GCs gen0/1/2 {collections[0]}/{collections[1]}/{collections[2]} in all rounds; rates {string.Join(" ", samples.Select(s => s.Rate.ToString("0", CultureInfo.InvariantCulture)))}"));
            return string.Create(CultureInfo.InvariantCulture, $"{name}: {rate:0} events/s, {perEvent:0} B/event");
        }
        catch (Exception ex)
        {
            return $"{name}: failed: {ex.GetType().Name}: {ex.Message}";
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
