// Usage: EventNotify.CrashHost <database> <acked-file> <delivered-file> <event-count> <run-id> <Full|Normal>
// Publishes events evt_crash_00000.. that are not yet acknowledged (one line per PublishAsync that returned, in
// <acked-file>), delivers them to a notifier that appends "<run-id> <delivery-id> <event-id>" to <delivered-file>
// (flushed per line, before it reports success), prints "done" and exits 0 once every event is delivered.
// Every 50 acknowledged publishes or deliveries of this run it prints "progress", so the crash test can kill it
// mid-work however fast the machine is. The test kills it with SIGKILL and starts it again on the same database.
using EventNotify;
using EventNotify.CrashHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

if (args.Length != 6)
{
    Console.Error.WriteLine("usage: EventNotify.CrashHost <database> <acked-file> <delivered-file> <event-count> <run-id> <Full|Normal>");
    return 2;
}

var (database, ackedPath, deliveredPath, count, runId) = (args[0], args[1], args[2], int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture), args[4]);
var synchronous = Enum.Parse<EventNotify.Storage.Sqlite.SqliteSynchronousMode>(args[5]);
using var delivered = new LineLog(deliveredPath);
using var acked = new LineLog(ackedPath);

var succeeded = new SemaphoreSlim(0);
var builder = Host.CreateApplicationBuilder();
builder.Logging.ClearProviders();
builder.Services.AddSingleton<IDeliveryObserver>(new SuccessSignal(succeeded));
builder.Services.AddEventNotify(o =>
    {
        o.PollInterval = TimeSpan.FromMilliseconds(100);
        o.Concurrency = CrashSettings.Concurrency;
    })
    .UseSqlite($"Data Source={database}", o => o.Synchronous = synchronous)
    .AddNotifier(new FileNotifier(delivered, runId))
    .AddSubscription(new Subscription { Id = CrashSettings.SubscriptionId, EventTypes = ["order.*"], Channel = "crash", Address = "file" });
using var host = builder.Build();
await host.StartAsync();
Console.WriteLine("started");

var already = File.Exists(ackedPath) ? File.ReadAllLines(ackedPath).ToHashSet(StringComparer.Ordinal) : [];
var todo = Enumerable.Range(0, count).Select(CrashSettings.EventId).Where(id => !already.Contains(id)).ToArray();
var publisher = host.Services.GetRequiredService<IEventPublisher>();
await Parallel.ForEachAsync(todo, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (id, ct) =>
{
    await publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{\"crash\":true}") with { Id = id }, ct);
    acked.Append(id);
    Progress.Step();
});
Console.WriteLine("published");

var admin = host.Services.GetRequiredService<IEventNotifyAdmin>();
while (await admin.CountDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.Succeeded }) < count)
{
    // Woken by each success (a release after the count above makes this return at once, so none is missed).
    await succeeded.WaitAsync();
    while (succeeded.Wait(0))
    {
    }
}

Console.WriteLine("done");
await host.StopAsync();
return 0;

namespace EventNotify.CrashHost
{
    internal static class Progress
    {
        private static int _steps;

        public static void Step()
        {
            if (Interlocked.Increment(ref _steps) % 50 == 0)
            {
                Console.WriteLine("progress");
            }
        }
    }

    internal static class CrashSettings
    {
        public const string SubscriptionId = "sub_crash";
        public const int Concurrency = 8;

        public static string EventId(int i) => $"evt_crash_{i:D5}";
    }

    /// <summary>Appends whole lines to a file, each flushed to the OS before Append returns (so SIGKILL cannot lose it).</summary>
    internal sealed class LineLog(string path) : IDisposable
    {
        private readonly FileStream _file = new(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
        private readonly Lock _gate = new();

        public void Append(string line)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(line + "\n");
            lock (_gate)
            {
                _file.Write(bytes);
                _file.Flush();
            }
        }

        public void Dispose() => _file.Dispose();
    }

    internal sealed class SuccessSignal(SemaphoreSlim signal) : IDeliveryObserver
    {
        public void OnDeliveryUpdated(Delivery delivery, DeliveryAttempt? attempt)
        {
            if (delivery.Status == DeliveryStatus.Succeeded)
            {
                signal.Release();
            }
        }
    }

    internal sealed class FileNotifier(LineLog log, string runId) : INotifier
    {
        public string Channel => "crash";

        public ValueTask<DeliveryResult> SendAsync(Notification notification, CancellationToken cancellationToken)
        {
            log.Append($"{runId} {notification.DeliveryId} {notification.Event.Id}");
            Progress.Step();
            return ValueTask.FromResult(DeliveryResult.Success());
        }
    }
}
