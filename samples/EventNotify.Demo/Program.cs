using System.Collections.Concurrent;
using System.Diagnostics;
using EventNotify;
using EventNotify.Demo;
using EventNotify.Webhooks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// EventNotify demo: a platform publishing events to third-party webhook endpoints that verify every signature.
//   dotnet run --project samples/EventNotify.Demo [-- --events PATH] [--store sqlite|memory] [--db PATH] [--timeout SECONDS]
if (args.Any(a => a is "--help" or "-h"))
{
    Console.WriteLine(DemoOptions.Usage);
    return 0;
}

var options = DemoOptions.Parse(args);
if (options is null)
{
    return 2;
}

List<NotificationEvent> events;
try
{
    events = options.EventsPath is null ? DemoEvents.BuiltIn().ToList() : DemoEvents.FromPath(options.EventsPath).ToList();
}
catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or System.Text.Json.JsonException or ArgumentException)
{
    Console.Error.WriteLine($"error: cannot read events from '{options.EventsPath}': {ex.Message}");
    return 2;
}

// A folder of payloads is GitHub-shaped (issues.opened, push, ...); a .jsonl file or the built-in set is shop-shaped.
var isGitHub = options.EventsPath is not null && Directory.Exists(options.EventsPath);

// Third-party endpoints, each with its own signing secret, as an integrator would register them.
var endpoints = new Dictionary<string, (string Secret, string[] Patterns)>
{
    ["audit"] = (WebhookSecret.Generate(), ["*"]),
    // The same patterns whatever the input, so a second run on a --db file keeps the first run's pending deliveries
    // (a subscription whose patterns changed cancels them: they are no longer its events).
    ["flaky"] = (WebhookSecret.Generate(), ["order.*", "issues.*", "pull_request.*", "check_run.*"]),
    ["finance"] = (WebhookSecret.Generate(), ["payment.*", "refund.*", "push", "release.*", "workflow_run.*"]),
    ["security"] = (WebhookSecret.Generate(), ["user.login", "member.*", "org_block.*", "security_advisory.*"]),
};
await using var receiver = await WebhookReceiver.StartAsync(endpoints.ToDictionary(e => e.Key, e => e.Value.Secret));

var builder = Host.CreateApplicationBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
var progress = new DemoProgress();
builder.Services.AddSingleton<IDeliveryObserver>(progress);
var eventNotify = builder.Services
    .AddEventNotify(o => o.Source = "https://api.shop.example")
    .AddWebhooks(w =>
    {
        w.AllowPrivateNetworks = true; // the receivers run on 127.0.0.1; production keeps the SSRF guard on
        w.CircuitBreakDuration = TimeSpan.FromSeconds(2); // the flaky endpoint may trip its breaker; keep the pause demo-sized (default 30 s)
    })
    // A short schedule so retries are visible in a demo run (the default for webhooks is 5 s, 5 min, 30 min, ... 10 h).
    .ConfigureChannel("webhook", c => c.Retry = new RetryOptions { MaxAttempts = 5, Delays = [TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2)] });

// The in-memory store keeps the last 1,000 finished deliveries by default; the demo's summary counts the whole run.
builder.Services.Configure<InMemoryEventStoreOptions>(o => o.MaxFinishedDeliveries = null);

string? dbPath = null;
if (options.Store == "sqlite")
{
    dbPath = Path.GetFullPath(options.DbPath ?? Path.Combine(Path.GetTempPath(), "eventnotify-demo", $"demo-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Environment.ProcessId}.db"));
    Directory.CreateDirectory(Path.GetDirectoryName(dbPath)!);
    // Built, not pasted: a path may hold ';' or '=' (a legal file name that would otherwise end the data source).
    eventNotify.UseSqlite(new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder { DataSource = dbPath }.ToString());
}

foreach (var (name, (secret, patterns)) in endpoints)
{
    eventNotify.AddSubscription(new Subscription
    {
        Id = "sub_" + name,
        EventTypes = patterns,
        Channel = "webhook",
        Address = $"{receiver.BaseUrl}/hooks/{name}",
        Secrets = [new SubscriptionSecret(secret)],
    });
}

using var host = builder.Build();
try
{
    await host.StartAsync();
}
catch (Exception ex) when (ex is EventNotify.Storage.Sqlite.SqliteEventStoreException or Microsoft.Extensions.Options.OptionsValidationException)
{
    // The store could not be opened (a folder, a foreign or damaged file, a file another host holds, ...).
    Console.Error.WriteLine($"error: {ex.Message}");
    return 2;
}
// Ctrl+C and SIGTERM: the host's console lifetime catches them and signals ApplicationStopping; the demo's own loops
// watch it, stop waiting, report what it has and exit with 130.
var interrupted = host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
var publisher = host.Services.GetRequiredService<IEventPublisher>();
var admin = host.Services.GetRequiredService<IEventNotifyAdmin>();
var store = host.Services.GetRequiredService<IEventStore>();

Console.WriteLine($"EventNotify demo — {events.Count} events from {options.EventsPath ?? "the built-in set"}");
Console.WriteLine($"  store:     {(dbPath is null ? "in-memory (not durable)" : "SQLite " + dbPath)}");
Console.WriteLine($"  receivers: {receiver.BaseUrl}/hooks/{{{string.Join(",", endpoints.Keys)}}} (signatures verified with WebhookVerifier)");
foreach (var (name, (_, patterns)) in endpoints)
{
    Console.WriteLine($"  subscription sub_{name,-9} {string.Join(" ", patterns)}");
}

var clock = Stopwatch.StartNew();
var published = 0;
foreach (var chunk in events.Chunk(64))
{
    if (interrupted.IsCancellationRequested)
    {
        break;
    }

    foreach (var e in chunk)
    {
        progress.MarkPublished(e.Id);
    }

    IReadOnlyList<PublishReceipt> receipts;
    try
    {
        receipts = await publisher.PublishManyAsync(chunk);
    }
    catch (EventValidationException)
    {
        // The whole batch is refused before anything of it is stored; earlier batches stay accepted. Publishing its
        // events one at a time finds the one refused, to name the line it came from.
        foreach (var e in chunk)
        {
            try
            {
                await publisher.PublishAsync(e);
            }
            catch (EventValidationException one)
            {
                Console.Error.WriteLine($"error: {DemoEvents.OriginOf(e) ?? "event " + e.Id}: refused at publish ({one.ParamName}): {one.Message}");
                return 2;
            }
        }

        throw;
    }

    published += receipts.Count(r => !r.Duplicate);
}

// Wait until every delivery reached a final state (or time runs out), showing progress.
var interactive = !Console.IsOutputRedirected;
var deadline = TimeSpan.FromSeconds(options.TimeoutSeconds);
long pending;
var lastPrint = TimeSpan.Zero;
while (true)
{
    // Done when every accepted event is routed and no delivery is pending.
    var unrouted = (await store.GetUnroutedEventsAsync(null, 1)).Count;
    pending = await admin.CountDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.Pending }) + unrouted;
    var line = $"  [{clock.Elapsed.TotalSeconds,5:0.0}s] published={published} delivered={progress.Succeeded} retries={progress.Retries} dead={progress.DeadLettered} pending={pending} requests={receiver.Requests}";
    if (interactive)
    {
        Console.Write("\r" + line + "   ");
    }
    else if (clock.Elapsed - lastPrint >= TimeSpan.FromSeconds(1) || pending == 0)
    {
        Console.WriteLine(line);
        lastPrint = clock.Elapsed;
    }

    if (pending == 0 || clock.Elapsed > deadline || interrupted.IsCancellationRequested)
    {
        break;
    }

    try
    {
        await Task.Delay(200, interrupted); // the progress line's refresh, not a wait for a result
    }
    catch (OperationCanceledException)
    {
    }
}

if (interactive)
{
    Console.WriteLine();
}

// Read before StopAsync below, which signals ApplicationStopping itself.
var wasInterrupted = interrupted.IsCancellationRequested;

// Summary per subscription, from the admin API (the store's view, not the demo's counters): with --db on a file of an
// earlier run, the deliveries are the whole file's, while attempts are this run's.
Console.WriteLine();
if (options.DbPath is not null)
{
    Console.WriteLine("  deliveries count everything in the database file (earlier runs included); attempts are this run's");
}

Console.WriteLine($"  {"subscription",-14} {"deliveries",10} {"succeeded",10} {"dead",6} {"pending",8} {"attempts (this run)",20}");
long deliveries = 0, succeeded = 0, dead = 0, cancelled = 0;
foreach (var name in endpoints.Keys)
{
    var q = new DeliveryQuery { SubscriptionId = "sub_" + name };
    cancelled += await admin.CountDeliveriesAsync(q with { Status = DeliveryStatus.Cancelled });
    var total = await admin.CountDeliveriesAsync(q);
    var ok = await admin.CountDeliveriesAsync(q with { Status = DeliveryStatus.Succeeded });
    var dl = await admin.CountDeliveriesAsync(q with { Status = DeliveryStatus.DeadLettered });
    var pe = await admin.CountDeliveriesAsync(q with { Status = DeliveryStatus.Pending });
    deliveries += total;
    succeeded += ok;
    dead += dl;
    Console.WriteLine($"  sub_{name,-10} {total,10} {ok,10} {dl,6} {pe,8} {progress.AttemptsFor("sub_" + name),20}");
}

// The table above is the store's state at the end of the wait; stopping lets attempts already in flight finish
// (EventNotifyOptions.ShutdownTimeout), and the receiver counts those too. The store is closed once stopped.
var requestsBeforeStop = receiver.Requests;
await host.StopAsync();
var (p50, p99) = progress.LatencyPercentiles();
if (pending > 0 && receiver.Requests > requestsBeforeStop)
{
    Console.WriteLine($"  while stopping, {receiver.Requests - requestsBeforeStop} attempts already in flight were answered: the table above is from before; the store has their outcomes");
}

Console.WriteLine($"  receiver: {receiver.Requests} requests, {receiver.Rejected503} answered 503 on purpose, {receiver.SignatureFailures} signature failures, {receiver.DuplicateIds} duplicate webhook-ids");
Console.WriteLine($"  elapsed {clock.Elapsed.TotalSeconds:0.00} s");
if (cancelled > 0)
{
    // Final, but neither succeeded nor dead-lettered: e.g. an earlier run's deliveries whose subscription changed.
    Console.WriteLine($"  {cancelled} deliveries are cancelled (their subscription was disabled, removed or changed): counted in deliveries, not in succeeded or dead_lettered");
}
Console.WriteLine($"summary: published={published} deliveries={deliveries} succeeded={succeeded} dead_lettered={dead} signature_failures={receiver.SignatureFailures} p50_ms={p50:0.0} p99_ms={p99:0.0}");

if (wasInterrupted)
{
    Console.Error.WriteLine($"interrupted: stopped with {pending} deliveries pending (with --db they are delivered by the next run on the same file)");
    return 130;
}

var success = pending == 0 && receiver.SignatureFailures == 0;
if (!success)
{
    Console.Error.WriteLine(pending > 0 ? $"error: {pending} deliveries still pending after {options.TimeoutSeconds} s" : "error: signature verification failed");
}

return success ? 0 : 1;

internal sealed record DemoOptions(string? EventsPath, string Store, string? DbPath, int TimeoutSeconds)
{
    public const string Usage = "usage: EventNotify.Demo [--events FILE.jsonl|FOLDER] [--store sqlite|memory] [--db PATH] [--timeout SECONDS]";

    public static DemoOptions? Parse(string[] args)
    {
        string? events = null, db = null;
        var store = "sqlite";
        var timeout = 120;
        for (var i = 0; i < args.Length; i++)
        {
            string? Next() => i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : null;
            var name = args[i];
            string? value = null;
            if (name is "--events" or "--store" or "--db" or "--timeout" && (value = Next()) is null)
            {
                Console.Error.WriteLine($"{name} needs a value (try --help)");
                return null;
            }

            switch (name)
            {
                case "--events": events = value; break;
                case "--store": store = value!; break;
                case "--db": db = value; break;
                case "--timeout":
                    if (!int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out timeout))
                    {
                        Console.Error.WriteLine($"--timeout must be a whole number of seconds (was '{value}')");
                        return null;
                    }

                    break;
                case "-h" or "--help":
                    Console.WriteLine(Usage);
                    return null;
                default:
                    Console.Error.WriteLine($"unknown argument '{args[i]}' (try --help)");
                    return null;
            }
        }

        if (store is not ("sqlite" or "memory"))
        {
            Console.Error.WriteLine($"--store must be 'sqlite' or 'memory' (was '{store}')");
            return null;
        }

        if (db is not null && store == "memory")
        {
            Console.Error.WriteLine("--db applies to the SQLite store only: drop it or use --store sqlite");
            return null;
        }

        return new DemoOptions(events, store, db, timeout);
    }
}

/// <summary>Counts outcomes as the engine reports them, for the progress line and latency percentiles.</summary>
internal sealed class DemoProgress : IDeliveryObserver
{
    private readonly ConcurrentDictionary<string, long> _publishedAt = new(StringComparer.Ordinal);
    private readonly ConcurrentBag<double> _latenciesMs = [];
    private readonly ConcurrentDictionary<string, int> _attempts = new(StringComparer.Ordinal);
    private int _succeeded, _dead, _retries;

    public int Succeeded => Volatile.Read(ref _succeeded);

    public int DeadLettered => Volatile.Read(ref _dead);

    public int Retries => Volatile.Read(ref _retries);

    public void MarkPublished(string eventId) => _publishedAt[eventId] = Stopwatch.GetTimestamp();

    public int AttemptsFor(string subscriptionId) => _attempts.GetValueOrDefault(subscriptionId);

    public void OnDeliveryUpdated(Delivery delivery, DeliveryAttempt? attempt)
    {
        if (attempt is not null && delivery.SubscriptionId is not null)
        {
            _attempts.AddOrUpdate(delivery.SubscriptionId, 1, (_, n) => n + 1);
        }

        switch (delivery.Status)
        {
            case DeliveryStatus.Succeeded:
                Interlocked.Increment(ref _succeeded);
                if (_publishedAt.TryGetValue(delivery.EventId, out var t))
                {
                    _latenciesMs.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                }

                break;
            case DeliveryStatus.DeadLettered:
                Interlocked.Increment(ref _dead);
                break;
            case DeliveryStatus.Pending:
                Interlocked.Increment(ref _retries);
                break;
        }
    }

    public (double P50, double P99) LatencyPercentiles()
    {
        var sorted = _latenciesMs.Order().ToArray();
        if (sorted.Length == 0)
        {
            return (0, 0);
        }

        double At(double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
        return (At(0.50), At(0.99));
    }
}
