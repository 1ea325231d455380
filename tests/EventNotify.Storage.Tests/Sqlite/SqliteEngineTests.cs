using Microsoft.Extensions.Time.Testing;
using System.Collections.Concurrent;
using System.Diagnostics;
using EventNotify.Storage.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EventNotify.Storage.Tests.Sqlite;

/// <summary>The engine on a real host with a real SQLite file: start-up errors, publishing on a full disk, graceful shutdown (N4).</summary>
public sealed class SqliteEngineTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static Subscription Subscription(string channel) =>
        new() { Id = "sub_" + channel, EventTypes = ["order.*"], Channel = channel, Address = "addr-" + channel };

    private static async Task<(long Succeeded, long Pending, int Unrouted)> CountAsync(string path)
    {
        await using var store = new SqliteEventStore(Options.Create(new SqliteStoreOptions { ConnectionString = $"Data Source={path}" }));
        var succeeded = await store.CountDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.Succeeded });
        var pending = await store.CountDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.Pending });
        var unrouted = (await store.GetUnroutedEventsAsync(null, 10_000)).Count;
        return (succeeded, pending, unrouted);
    }

    public static TheoryData<string, Action<SqliteStoreOptions>, string> InvalidOptions => new()
    {
        { "", _ => { }, "SqliteStoreOptions.ConnectionString must not be empty" },
        { "Data Source=:memory:", _ => { }, "SqliteStoreOptions.ConnectionString names an in-memory database" },
        { "Mode=Memory;Data Source=x", _ => { }, "SqliteStoreOptions.ConnectionString names an in-memory database" },
        { "Data Source=file::memory:?cache=shared", _ => { }, "SqliteStoreOptions.ConnectionString names an in-memory database" },
        { "Data Source=file:x.db?mode=memory", _ => { }, "SqliteStoreOptions.ConnectionString names an in-memory database" },
        { "Data Source=x.db;Mode=ReadOnly", _ => { }, "SqliteStoreOptions.ConnectionString must not use Mode=ReadOnly" },
        { "Foo=bar", _ => { }, "SqliteStoreOptions.ConnectionString is not a valid SQLite connection string" },
        { "Data Source=x.db", o => o.BusyTimeout = TimeSpan.Zero, "SqliteStoreOptions.BusyTimeout" },
        { "Data Source=x.db", o => o.MaxBatchSize = 0, "SqliteStoreOptions.MaxBatchSize" },
        { "Data Source=x.db", o => o.Synchronous = (SqliteSynchronousMode)7, "SqliteStoreOptions.Synchronous" },
    };

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public async Task UseSqlite_InvalidOptions_HostStartFailsNamingTheField(string connectionString, Action<SqliteStoreOptions> configure, string expected)
    {
        var host = await EngineHost.StartAsync(b => b.UseSqlite(connectionString, configure), start: false);
        using var disposeOnly = host.Host; // a host whose start failed cannot be stopped

        var act = () => host.Host.StartAsync();

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Message.Should().Contain(expected);
    }

    // Found by a crash trial: a hosted service registered before AddEventNotify publishes from its StartAsync, before the
    // engine has written the subscriptions added in code. Routed at publish then, the events were stored as routed to
    // nobody, acknowledged and never delivered, on this start or any later one.
    [Fact]
    public async Task PublishBeforeStart_SubscriptionAddedInCode_DeliveredOnceStarted()
    {
        var path = _folder.File("early.db");
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.UseSqlite($"Data Source={path}").AddNotifier(notifier).AddSubscription(Subscription("test")), start: false);

        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_early_1" });
        await host.Publisher.PublishManyAsync([
            NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_early_2" },
            NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_early_3" }]);
        await host.Host.StartAsync();

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 3, Timeout);
        notifier.Calls.Select(c => c.Event.Id).Should().BeEquivalentTo(["evt_early_1", "evt_early_2", "evt_early_3"]);
    }

    [Fact]
    public void UseSqlite_NullConnectionString_ThrowsAtRegistration()
    {
        var services = new ServiceCollection();

        var act = () => services.AddEventNotify().UseSqlite(null!);

        act.Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("connectionString");
    }

    [Fact]
    public async Task UseSqlite_FileIsNotSqlite_HostStartFailsBeforeAnythingIsPublished()
    {
        var path = _folder.File("notes.db");
        await File.WriteAllBytesAsync(path, System.Text.Encoding.ASCII.GetBytes(new string('z', 4096)));
        var host = await EngineHost.StartAsync(b => b.UseSqlite($"Data Source={path}").AddNotifier(new RecordingNotifier()), start: false);
        using var disposeOnly = host.Host; // a host whose start failed cannot be stopped

        var act = () => host.Host.StartAsync();

        (await act.Should().ThrowAsync<SqliteEventStoreException>()).WithMessage("*not a SQLite database*");
    }

    [Fact]
    public async Task UseSqlite_Registered_IsTheEventStore()
    {
        var path = _folder.File("store.db");
        await using var host = await EngineHost.StartAsync(b => b.UseSqlite($"Data Source={path}").AddNotifier(new RecordingNotifier()));

        host.Store.Should().BeOfType<SqliteEventStore>();
        File.Exists(path).Should().BeTrue();
    }

    // Found by a crash trial: SQLite went on committing to the unlinked file, every publish was acknowledged, and all
    // of them were gone after the process ended.
    [Theory]
    [InlineData("")]
    [InlineData("-wal")]
    public async Task PublishAsync_DatabaseFileDeletedWhileRunning_ThrowsInsteadOfAcknowledging(string suffix)
    {
        var path = _folder.File("deleted.db");
        await using var host = await EngineHost.StartAsync(b => b.UseSqlite($"Data Source={path}").AddNotifier(new RecordingNotifier()));
        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_before_delete" });

        File.Delete(path + suffix);
        var act = async () => await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_after_delete" });

        (await act.Should().ThrowAsync<SqliteEventStoreException>()).Which.Message.Should()
            .Contain(path + suffix).And.Contain("deleted or moved").And.Contain("not stored");
        var again = async () => await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_later" });
        await again.Should().ThrowAsync<SqliteEventStoreException>("no later write is reported stored either");
    }

    [Fact]
    public async Task PublishAsync_DiskFull_ThrowsAndOnlyAcknowledgedEventsAreStored()
    {
        var path = _folder.File("full.db");
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.UseSqlite($"Data Source={path}").AddNotifier(notifier), start: false);
        host.Services.GetRequiredService<SqliteEventStore>().ConfigureWriter = connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA max_page_count = 40";
            command.ExecuteNonQuery();
        };
        await host.Host.StartAsync();
        var acknowledged = new List<string>();
        Exception? failure = null;

        for (var i = 0; i < 200 && failure is null; i++)
        {
            var e = NotificationEvent.FromJson("order.paid", "{\"pad\":\"" + new string('p', 3000) + "\"}") with { Id = $"evt_full_{i:D3}" };
            try
            {
                acknowledged.Add((await host.Publisher.PublishAsync(e)).EventId);
            }
            catch (SqliteEventStoreException ex)
            {
                failure = ex;
            }
        }

        failure.Should().NotBeNull("the database is limited to 40 pages");
        failure!.Message.Should().Contain("full").And.Contain("not stored");
        acknowledged.Should().NotBeEmpty();
        foreach (var id in acknowledged)
        {
            (await host.Store.GetEventAsync(id)).Should().NotBeNull();
        }

        (await host.Store.GetEventAsync($"evt_full_{acknowledged.Count:D3}")).Should().BeNull();
    }

    /// <summary>
    /// Field case N4: 100 queued deliveries, 200 ms per send, stop with a 5 s ShutdownTimeout. Delivered plus still
    /// pending in the store is 100, the rest are delivered after a restart on the same file, and stop returns in time.
    /// </summary>
    [Fact]
    public async Task StopAsync_DeliveriesStillQueuedAtTheShutdownTimeout_StayPendingAndAreDeliveredAfterRestart()
    {
        var path = _folder.File("n4.db");
        var firstRun = new RecordingNotifier("slow")
        {
            Behaviour = async (_, ct) =>
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), ct); // the send itself takes 200 ms
                return DeliveryResult.Success();
            },
        };
        var host = await EngineHost.StartAsync(
            b => b.UseSqlite($"Data Source={path}").AddNotifier(firstRun).AddSubscription(Subscription("slow")),
            o =>
            {
                o.ShutdownTimeout = TimeSpan.FromSeconds(5);
                o.Channel("slow").Concurrency = 1;
            });
        for (var i = 0; i < 100; i++)
        {
            await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", $"{{\"n\":{i}}}") with { Id = $"evt_n4_{i:D3}" });
        }

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1, Timeout);
        var stopwatch = Stopwatch.StartNew();
        await host.Host.StopAsync();
        stopwatch.Stop();
        var deliveredFirst = host.Outcomes.Latest.Where(d => d.Status == DeliveryStatus.Succeeded).Select(d => d.Id).ToHashSet();
        await host.DisposeAsync();

        stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(15), "stop waits about ShutdownTimeout (5 s), then leaves the rest pending");
        var (succeeded, pending, unrouted) = await CountAsync(path);
        output.WriteLine($"stop took {stopwatch.Elapsed.TotalSeconds:F2} s; delivered {succeeded}, pending {pending}, unrouted {unrouted}");
        succeeded.Should().Be(deliveredFirst.Count);
        (succeeded + pending + unrouted).Should().Be(100);
        pending.Should().BePositive("20 s of sends cannot finish in 5 s");

        var secondRun = new RecordingNotifier("slow");
        await using (var restarted = await EngineHost.StartAsync(b => b.UseSqlite($"Data Source={path}").AddNotifier(secondRun).AddSubscription(Subscription("slow"))))
        {
            await restarted.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, (int)(pending + unrouted), Timeout);
        }

        (await CountAsync(path)).Should().Be((100, 0, 0));
        secondRun.Calls.Select(c => c.DeliveryId).Should().OnlyHaveUniqueItems()
            .And.HaveCount(100 - deliveredFirst.Count)
            .And.NotIntersectWith(deliveredFirst);
    }

    [Fact]
    public async Task Restart_AfterStop_RoutesEventsAcceptedButNotRoutedAndDeliversThem()
    {
        var path = _folder.File("restart.db");
        var notifier = new RecordingNotifier();
        var subscription = Subscription("test");

        // Accepted by the store before the engine runs: exactly what a crash between publish and routing leaves behind.
        await using (var store = new SqliteEventStore(Options.Create(new SqliteStoreOptions { ConnectionString = $"Data Source={path}" })))
        {
            for (var i = 0; i < 10; i++)
            {
                await store.AppendAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = $"evt_r_{i}", Source = "urn:test", Time = DateTimeOffset.UtcNow });
            }
        }

        await using var host = await EngineHost.StartAsync(b => b.UseSqlite($"Data Source={path}").AddNotifier(notifier).AddSubscription(subscription));

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 10, Timeout);
        notifier.Calls.Select(c => c.DeliveryId).Should().BeEquivalentTo(
            Enumerable.Range(0, 10).Select(i => Delivery.ForSubscription($"evt_r_{i}", subscription.Id)));
    }

    [Fact]
    public async Task Publish_ConcurrentPublishers_EveryAcknowledgedEventDeliveredOnce()
    {
        var path = _folder.File("throughput.db");
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.UseSqlite($"Data Source={path}").AddNotifier(notifier).AddSubscription(Subscription("test")));
        var acknowledged = new ConcurrentBag<string>();

        await Task.WhenAll(Enumerable.Range(0, 8).Select(p => Task.Run(async () =>
        {
            for (var i = 0; i < 250; i++)
            {
                acknowledged.Add((await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = $"evt_p{p}_{i:D3}" })).EventId);
            }
        })));

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 2000, Timeout);
        notifier.Calls.Select(c => c.Event.Id).Should().OnlyHaveUniqueItems().And.BeEquivalentTo(acknowledged);
    }

    [Fact]
    public async Task BacklogLongerThanTheLease_EveryDeliverySentOnce()
    {
        // Routed at publish, a delivery is leased from then on. Here the backlog (one worker, one queue slot, each send
        // moving the fake clock 5 ms, 300 events published at once) outlasts the 300 ms lease, so the scheduler claims
        // deliveries that are still queued, being sent, or waiting in the route queue. Each must still be sent once.
        var path = _folder.File("backlog.db");
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 3, 0, 0, 0, TimeSpan.Zero));
        var notifier = new RecordingNotifier("slow")
        {
            Behaviour = (_, _) =>
            {
                time.Advance(TimeSpan.FromMilliseconds(5)); // the time a send takes
                return ValueTask.FromResult(DeliveryResult.Success());
            },
        };
        await using var host = await EngineHost.StartAsync(
            b => b.UseSqlite($"Data Source={path}").AddNotifier(notifier).AddSubscription(Subscription("slow")),
            o =>
            {
                o.AttemptTimeout = TimeSpan.FromMilliseconds(200);
                o.LeaseDuration = TimeSpan.FromMilliseconds(300);
                o.DeliveryQueueCapacity = 1;
                o.Channel("slow").Concurrency = 1;
            },
            time);
        const int Events = 300;
        await Task.WhenAll(Enumerable.Range(0, Events).Select(i =>
            host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = $"evt_backlog_{i:D3}" }).AsTask()));
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, Events, Timeout);

        // The marker is routed after every earlier event; a second copy from the router would be queued before it.
        await host.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_backlog_marker" });
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, Events + 1, Timeout);

        var sent = notifier.Calls.Select(c => c.DeliveryId).ToList();
        output.WriteLine($"{sent.Count} sends for {sent.Distinct().Count()} deliveries");
        sent.Should().OnlyHaveUniqueItems("no delivery is sent twice by one process");
        sent.Should().HaveCount(Events + 1);
    }
}
