using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using static EventNotify.Benchmarks.Scenarios.EngineScenario;

namespace EventNotify.Benchmarks.Harness;

/// <summary>
/// Publish → delivered latency of the engine (in-memory store, or with <c>--store sqlite</c> a SQLite file with its
/// default FULL synchronous mode, so each acknowledged publish is on disk) at a fixed offered rate. Events are published on a schedule
/// (event i is due at i / rate seconds); the publisher sleeps while ahead and publishes whatever is due when it
/// wakes, so at 10k/s events leave in small bursts at the OS timer's granularity (about 1 ms). Latency runs from the
/// moment <c>PublishAsync</c> is called to the moment the observer hears the success was recorded.
/// </summary>
internal static class LatencyRunner
{
    private const string IdPrefix = "evt_lat_";

    public static async Task<int> RunAsync(int rate, int seconds, string store = "memory")
    {
        if (store is not ("memory" or "sqlite"))
        {
            Console.Error.WriteLine($"--store must be memory or sqlite (was '{store}').");
            return 2;
        }

        var sqlitePath = store == "sqlite" ? Path.Combine(Path.GetTempPath(), $"eventnotify-latency-{Guid.NewGuid():N}.db") : null;
        try
        {
            return await MeasureAsync(rate, seconds, sqlitePath).ConfigureAwait(false);
        }
        finally
        {
            if (sqlitePath is not null)
            {
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                foreach (var suffix in new[] { "", "-wal", "-shm", ".lock" })
                {
                    File.Delete(sqlitePath + suffix);
                }
            }
        }
    }

    private static async Task<int> MeasureAsync(int rate, int seconds, string? sqlitePath)
    {
        var name = sqlitePath is null ? "engine-memory" : "engine-sqlite";
        var total = rate * seconds;
        var started = new long[total];
        var latency = new long[total];
        var delivered = 0;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var warmUpDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var warmUpEvents = sqlitePath is null ? 20_000 : 5_000;
        var warmUpLeft = warmUpEvents;
        var measuring = false;

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<IDeliveryObserver>(new Observer((d, now) =>
        {
            if (!Volatile.Read(ref measuring))
            {
                if (Interlocked.Decrement(ref warmUpLeft) == 0)
                {
                    warmUpDone.TrySetResult();
                }

                return;
            }

            var i = int.Parse(d.EventId.AsSpan(IdPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture);
            latency[i] = now - started[i];
            if (Interlocked.Increment(ref delivered) == total)
            {
                done.TrySetResult();
            }
        }));
        var en = builder.Services.AddEventNotify()
            .AddNotifier(new InstantNotifier())
            .AddSubscription(new Subscription { Id = "sub_latency", EventTypes = ["order.*"], Channel = InstantNotifier.Name, Address = "latency" });
        if (sqlitePath is not null)
        {
            en.UseSqlite($"Data Source={sqlitePath}");
        }

        using var host = builder.Build();
        await host.StartAsync().ConfigureAwait(false);
        var publisher = host.Services.GetRequiredService<IEventPublisher>();
        var data = new ReadOnlyMemory<byte>(Scenarios.Payload.Utf8);

        // Warm-up at full speed (JIT tiers, pools), not measured.
        for (var i = 0; i < warmUpEvents; i++)
        {
            await publisher.PublishAsync(NotificationEvent.FromJson("order.paid", data)).ConfigureAwait(false);
        }

        await warmUpDone.Task.WaitAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false);
        var events = new NotificationEvent[total];
        for (var i = 0; i < total; i++)
        {
            events[i] = NotificationEvent.FromJson("order.paid", data) with { Id = IdPrefix + i.ToString("D9", CultureInfo.InvariantCulture) };
        }

        GC.Collect();
        Volatile.Write(ref measuring, true);
        var gcBefore = GC.CollectionCount(0);
        var pauseBefore = GC.GetTotalPauseDuration();
        var cpuBefore = Environment.CpuUsage.TotalTime;
        var workItemsBefore = ThreadPool.CompletedWorkItemCount;
        var ticksPerEvent = (double)Stopwatch.Frequency / rate;
        var origin = Stopwatch.GetTimestamp();
        for (var i = 0; i < total; i++)
        {
            var due = origin + (long)(i * ticksPerEvent);
            var now = Stopwatch.GetTimestamp();
            if (due - now > Stopwatch.Frequency / 1000)
            {
                Thread.Sleep(TimeSpan.FromTicks((due - now) * TimeSpan.TicksPerSecond / Stopwatch.Frequency));
            }

            started[i] = Stopwatch.GetTimestamp();
            await publisher.PublishAsync(events[i]).ConfigureAwait(false);
        }

        var offered = total / Stopwatch.GetElapsedTime(origin).TotalSeconds;
        await done.Task.WaitAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false);
        var gcs = GC.CollectionCount(0) - gcBefore;
        var paused = GC.GetTotalPauseDuration() - pauseBefore;
        var cpu = (Environment.CpuUsage.TotalTime - cpuBefore).TotalMicroseconds / total;
        var workItems = (double)(ThreadPool.CompletedWorkItemCount - workItemsBefore) / total;
        await host.StopAsync().ConfigureAwait(false);

        Array.Sort(latency);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"latency {name} @ {rate}/s offered ({offered:0}/s achieved), {total} events: p50 {Ms(Percentile(latency, 0.50))} ms, p99 {Ms(Percentile(latency, 0.99))} ms, p99.9 {Ms(Percentile(latency, 0.999))} ms, max {Ms(latency[^1])} ms ({gcs} GCs pausing {paused.TotalMilliseconds:0.0} ms in all; {cpu:0.0} us CPU and {workItems:0.0} thread-pool work items per event)"));
        await ChannelBaselineAsync(rate, seconds).ConfigureAwait(false);
        return 0;
    }

    /// <summary>
    /// The same schedule through the raw two-stage channel hand-off (engine default capacities and reader counts):
    /// the latency floor this machine allows, scheduling noise included.
    /// </summary>
    private static async Task ChannelBaselineAsync(int rate, int seconds)
    {
        var total = rate * seconds;
        var latency = new long[total];
        var delivered = 0;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var defaults = new EventNotifyOptions();
        var route = System.Threading.Channels.Channel.CreateBounded<long[]>(defaults.RouteQueueCapacity);
        var push = System.Threading.Channels.Channel.CreateBounded<long[]>(defaults.DeliveryQueueCapacity);
        var readers = new List<Task>();
        for (var i = 0; i < defaults.RouterConcurrency; i++)
        {
            readers.Add(Task.Run(async () =>
            {
                await foreach (var item in route.Reader.ReadAllAsync().ConfigureAwait(false))
                {
                    await push.Writer.WriteAsync(item).ConfigureAwait(false);
                }
            }));
        }

        for (var i = 0; i < defaults.Concurrency; i++)
        {
            readers.Add(Task.Run(async () =>
            {
                await foreach (var item in push.Reader.ReadAllAsync().ConfigureAwait(false))
                {
                    var index = (int)item[0];
                    latency[index] = Stopwatch.GetTimestamp() - item[1];
                    if (Interlocked.Increment(ref delivered) == total)
                    {
                        done.TrySetResult();
                    }
                }
            }));
        }

        var items = new long[total][];
        for (var i = 0; i < total; i++)
        {
            items[i] = [i, 0];
        }

        var ticksPerEvent = (double)Stopwatch.Frequency / rate;
        var origin = Stopwatch.GetTimestamp();
        for (var i = 0; i < total; i++)
        {
            var due = origin + (long)(i * ticksPerEvent);
            var now = Stopwatch.GetTimestamp();
            if (due - now > Stopwatch.Frequency / 1000)
            {
                Thread.Sleep(TimeSpan.FromTicks((due - now) * TimeSpan.TicksPerSecond / Stopwatch.Frequency));
            }

            items[i][1] = Stopwatch.GetTimestamp();
            await route.Writer.WriteAsync(items[i]).ConfigureAwait(false);
        }

        await done.Task.WaitAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false);
        route.Writer.Complete();
        await Task.WhenAll(readers.Take(defaults.RouterConcurrency)).ConfigureAwait(false);
        push.Writer.Complete();
        await Task.WhenAll(readers).ConfigureAwait(false);
        Array.Sort(latency);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"latency channel-baseline @ {rate}/s offered, {total} items: p50 {Ms(Percentile(latency, 0.50))} ms, p99 {Ms(Percentile(latency, 0.99))} ms, p99.9 {Ms(Percentile(latency, 0.999))} ms, max {Ms(latency[^1])} ms"));
    }

    private static string Ms(long ticks) => (ticks * 1000.0 / Stopwatch.Frequency).ToString("0.000", CultureInfo.InvariantCulture);

    private static long Percentile(long[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    private sealed class Observer(Action<Delivery, long> onDelivered) : IDeliveryObserver
    {
        public void OnDeliveryUpdated(Delivery delivery, DeliveryAttempt? attempt)
        {
            if (delivery.Status == DeliveryStatus.Succeeded)
            {
                onDelivered(delivery, Stopwatch.GetTimestamp());
            }
        }
    }
}
