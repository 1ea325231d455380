using EventNotify.Storage.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EventNotify.Storage.Tests.Sqlite;

/// <summary>
/// Durable subscriptions (field case: subscriptions added at run time were lost on restart, and the deliveries left
/// pending for them were cancelled). Real SQLite files; the store is reopened on the same file to see what survived.
/// </summary>
public sealed class SqliteSubscriptionStoreTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private readonly TempFolder _folder = new();
    private readonly List<SqliteEventStore> _stores = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }

        _folder.Dispose();
    }

    private string DbPath => _folder.File("subs.db");

    private (SqliteEventStore Store, SqliteSubscriptionStore Subscriptions) Open(params ISubscriptionValidator[] validators)
    {
        var store = new SqliteEventStore(Options.Create(new SqliteStoreOptions { ConnectionString = $"Data Source={DbPath}" }));
        _stores.Add(store);
        return (store, new SqliteSubscriptionStore(store, validators));
    }

    /// <summary>Closes every store opened so far and opens the file again, as a restart does.</summary>
    private async Task<SqliteSubscriptionStore> ReopenAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }

        _stores.Clear();
        return Open().Subscriptions;
    }

    private static Subscription Sub(string id, string pattern = "order.*", string? tenant = null) =>
        new() { Id = id, EventTypes = [pattern], Channel = "test", Address = "https://hooks.example/" + id, TenantId = tenant };

    private long RowCount()
    {
        using var connection = new SqliteConnection($"Data Source={DbPath};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM subscriptions";
        return (long)command.ExecuteScalar()!;
    }

    // ---- durability ----

    [Fact]
    public async Task SetFailingSinceAsync_ThenReopen_StreakKeptAndOtherFieldsUntouched()
    {
        var (_, subscriptions) = Open();
        await subscriptions.AddAsync(Sub("sub_a") with { Metadata = new Dictionary<string, string> { ["team"] = "payments" } });
        var since = new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);

        (await subscriptions.SetFailingSinceAsync("sub_a", since)).Should().BeTrue();
        (await subscriptions.SetFailingSinceAsync("sub_missing", since)).Should().BeFalse();
        (await subscriptions.GetAsync("sub_a"))!.FailingSince.Should().Be(since);

        var reopened = await ReopenAsync();
        var loaded = await reopened.GetAsync("sub_a");
        loaded!.FailingSince.Should().Be(since, "the failure streak survives a restart");
        loaded.Metadata.Should().Contain("team", "payments");
        (await reopened.SetFailingSinceAsync("sub_a", null)).Should().BeTrue();
        (await (await ReopenAsync()).GetAsync("sub_a"))!.FailingSince.Should().BeNull();
    }

    [Fact]
    public async Task AddAsync_ThenReopen_SubscriptionIsLoadedWithEveryField()
    {
        var (_, subscriptions) = Open();
        var added = new Subscription
        {
            Id = "sub_full",
            EventTypes = ["order.*", "invoice.paid"],
            Channel = "test",
            Address = "https://hooks.example/full",
            Template = "tpl",
            Secrets = [new SubscriptionSecret("whsec_current"), new SubscriptionSecret("whsec_old", new DateTimeOffset(2027, 1, 1, 0, 0, 0, TimeSpan.Zero))],
            TenantId = "tenant_a",
            Metadata = new Dictionary<string, string> { ["team"] = "billing" },
        };
        await subscriptions.AddAsync(added);

        var reopened = await ReopenAsync();

        var loaded = await reopened.GetAsync("sub_full");
        loaded.Should().NotBeNull();
        loaded.Should().BeEquivalentTo(added);
    }

    [Fact]
    public async Task UpdateAsync_ThenReopen_TheUpdatedSubscriptionIsLoaded()
    {
        var (_, subscriptions) = Open();
        await subscriptions.AddAsync(Sub("sub_u"));
        await subscriptions.UpdateAsync(Sub("sub_u", "invoice.*"));

        var reopened = await ReopenAsync();

        (await reopened.GetAsync("sub_u"))!.EventTypes.Should().Equal("invoice.*");
        (await reopened.MatchAsync("invoice.paid", null)).Should().ContainSingle().Which.Id.Should().Be("sub_u");
        (await reopened.MatchAsync("order.paid", null)).Should().BeEmpty();
    }

    [Fact]
    public async Task RemoveAsync_ThenReopen_SubscriptionIsGone()
    {
        var (_, subscriptions) = Open();
        await subscriptions.AddAsync(Sub("sub_keep"));
        await subscriptions.AddAsync(Sub("sub_gone"));
        (await subscriptions.RemoveAsync("sub_gone")).Should().BeTrue();

        var reopened = await ReopenAsync();

        (await reopened.ListAsync()).Select(s => s.Id).Should().Equal("sub_keep");
        RowCount().Should().Be(1);
    }

    [Fact]
    public async Task SetEnabledAsync_DisabledWithReason_SurvivesReopenAndIsNotMatched()
    {
        var (_, subscriptions) = Open();
        await subscriptions.AddAsync(Sub("sub_d"));
        (await subscriptions.SetEnabledAsync("sub_d", false, "410 Gone")).Should().BeTrue();

        var reopened = await ReopenAsync();

        var loaded = await reopened.GetAsync("sub_d");
        loaded!.Enabled.Should().BeFalse();
        loaded.DisabledReason.Should().Be("410 Gone");
        (await reopened.MatchAsync("order.paid", null)).Should().BeEmpty();
    }

    [Fact]
    public async Task SetEnabledAsync_EnabledAgain_SurvivesReopenWithoutReason()
    {
        var (_, subscriptions) = Open();
        await subscriptions.AddAsync(Sub("sub_e") with { Enabled = false, DisabledReason = "paused" });
        await subscriptions.SetEnabledAsync("sub_e", true);

        var reopened = await ReopenAsync();

        var loaded = await reopened.GetAsync("sub_e");
        loaded!.Enabled.Should().BeTrue();
        loaded.DisabledReason.Should().BeNull();
    }

    [Fact]
    public async Task AddAsync_ValidatorRefuses_ThrowsAndNothingIsStored()
    {
        var (store, subscriptions) = Open(new RefuseAddress("https://hooks.example/bad"));
        await store.OpenAsync();

        var act = async () => await subscriptions.AddAsync(Sub("bad"));

        await act.Should().ThrowAsync<SubscriptionValidationException>().WithMessage("*refused*");
        (await subscriptions.GetAsync("bad")).Should().BeNull();
        RowCount().Should().Be(0);
    }

    [Fact]
    public async Task UpdateAsync_ValidatorRefuses_ThrowsAndTheStoredSubscriptionIsUnchanged()
    {
        var (_, subscriptions) = Open(new RefuseAddress("https://hooks.example/bad"));
        await subscriptions.AddAsync(Sub("sub_v"));

        var act = async () => await subscriptions.UpdateAsync(Sub("sub_v") with { Address = "https://hooks.example/bad" });

        await act.Should().ThrowAsync<SubscriptionValidationException>();
        (await subscriptions.GetAsync("sub_v"))!.Address.Should().Be("https://hooks.example/sub_v");
        (await (await ReopenAsync()).GetAsync("sub_v"))!.Address.Should().Be("https://hooks.example/sub_v");
    }

    [Fact]
    public async Task AddAsync_InvalidSubscription_ThrowsAndNothingIsStored()
    {
        var (store, subscriptions) = Open();
        await store.OpenAsync();

        var act = async () => await subscriptions.AddAsync(Sub("sub_x", "not a pattern"));

        await act.Should().ThrowAsync<SubscriptionValidationException>().WithMessage("*EventTypes*");
        RowCount().Should().Be(0);
    }

    // ---- contract-like basics ----

    [Fact]
    public async Task AddAsync_DuplicateId_ThrowsAndKeepsTheFirst()
    {
        var (_, subscriptions) = Open();
        await subscriptions.AddAsync(Sub("sub_dup", "order.*"));

        var act = async () => await subscriptions.AddAsync(Sub("sub_dup", "invoice.*"));

        await act.Should().ThrowAsync<SubscriptionValidationException>().WithMessage("*already exists*");
        (await (await ReopenAsync()).GetAsync("sub_dup"))!.EventTypes.Should().Equal("order.*");
    }

    [Fact]
    public async Task UpdateAsync_UnknownId_ThrowsKeyNotFound()
    {
        var (store, subscriptions) = Open();
        await store.OpenAsync();

        var act = async () => await subscriptions.UpdateAsync(Sub("sub_missing"));

        await act.Should().ThrowAsync<KeyNotFoundException>();
        RowCount().Should().Be(0);
    }

    [Fact]
    public async Task SetEnabledAndRemove_UnknownId_ReturnFalse()
    {
        var (_, subscriptions) = Open();

        (await subscriptions.SetEnabledAsync("sub_missing", false, "x")).Should().BeFalse();
        (await subscriptions.RemoveAsync("sub_missing")).Should().BeFalse();
    }

    [Fact]
    public async Task GetAndList_AfterAdds_ReturnTheSubscriptions()
    {
        var (_, subscriptions) = Open();
        await subscriptions.AddAsync(Sub("sub_1"));
        await subscriptions.AddAsync(Sub("sub_2", "invoice.paid"));

        (await subscriptions.GetAsync("sub_2"))!.EventTypes.Should().Equal("invoice.paid");
        (await subscriptions.GetAsync("sub_3")).Should().BeNull();
        (await subscriptions.ListAsync()).Select(s => s.Id).Should().BeEquivalentTo(["sub_1", "sub_2"]);
    }

    [Fact]
    public async Task MatchAsync_TenantFilter_ReturnsTheTenantsAndThePlatformSubscriptions()
    {
        var (_, subscriptions) = Open();
        await subscriptions.AddAsync(Sub("sub_platform"));
        await subscriptions.AddAsync(Sub("sub_a", tenant: "tenant_a"));
        await subscriptions.AddAsync(Sub("sub_b", tenant: "tenant_b"));
        var reopened = await ReopenAsync();

        (await reopened.MatchAsync("order.paid", "tenant_a")).Select(s => s.Id).Should().BeEquivalentTo(["sub_platform", "sub_a"]);
        (await reopened.MatchAsync("order.paid", null)).Select(s => s.Id).Should().Equal("sub_platform");
    }

    [Fact]
    public async Task AddAsync_CallerChangesItsListAfterwards_StoredSubscriptionIsUnchanged()
    {
        var (_, subscriptions) = Open();
        var patterns = new List<string> { "order.*" };
        await subscriptions.AddAsync(Sub("sub_s") with { EventTypes = patterns });

        patterns.Add("invoice.*");

        (await (await ReopenAsync()).GetAsync("sub_s"))!.EventTypes.Should().Equal("order.*");
    }

    // ---- migration ----

    [Fact]
    public async Task Open_Version1File_MigratesKeepingItsEventsAndStoresSubscriptions()
    {
        using (var v1 = new SqliteConnection($"Data Source={DbPath};Pooling=False"))
        {
            v1.Open();
            using var command = v1.CreateCommand();
            command.CommandText = SqliteSchema.Migrations[0] +
                "INSERT INTO events (id, type, time, data, content_type) VALUES ('evt_v1', 'order.paid', 0, x'7B7D', 'application/json');" +
                "PRAGMA user_version = 1;";
            command.ExecuteNonQuery();
        }

        var (store, subscriptions) = Open();
        await subscriptions.AddAsync(Sub("sub_after_migration"));

        (await store.GetEventAsync("evt_v1")).Should().NotBeNull();
        (await (await ReopenAsync()).GetAsync("sub_after_migration")).Should().NotBeNull();
        using var raw = new SqliteConnection($"Data Source={DbPath};Pooling=False");
        raw.Open();
        using var version = raw.CreateCommand();
        version.CommandText = "PRAGMA user_version";
        version.ExecuteScalar().Should().Be(2L);
    }

    // ---- with the engine on a real host ----

    [Fact]
    public async Task UseSqlite_Default_SubscriptionStoreIsTheSqliteOne()
    {
        await using var host = await EngineHost.StartAsync(b => b.UseSqlite($"Data Source={DbPath}").AddNotifier(new RecordingNotifier()), start: false);

        host.Subscriptions.Should().BeOfType<SqliteSubscriptionStore>();
    }

    [Fact]
    public async Task UseSqlite_PersistSubscriptionsFalse_KeepsTheInMemoryStore()
    {
        await using var host = await EngineHost.StartAsync(b => b.UseSqlite($"Data Source={DbPath}", o => o.PersistSubscriptions = false).AddNotifier(new RecordingNotifier()), start: false);

        host.Subscriptions.Should().BeOfType<InMemorySubscriptionStore>();
    }

    [Fact]
    public async Task UseSqlite_AfterUseSubscriptionStore_KeepsTheChosenStore()
    {
        await using var host = await EngineHost.StartAsync(b => b.UseSubscriptionStore<OwnSubscriptionStore>().UseSqlite($"Data Source={DbPath}").AddNotifier(new RecordingNotifier()), start: false);

        host.Subscriptions.Should().BeOfType<OwnSubscriptionStore>();
    }

    [Fact]
    public async Task AddAsync_ChannelWithoutNotifier_IsRefusedByTheRegisteredValidatorsAndNothingIsStored()
    {
        await using (var host = await EngineHost.StartAsync(b => b.UseSqlite($"Data Source={DbPath}").AddNotifier(new RecordingNotifier())))
        {
            var act = async () => await host.Subscriptions.AddAsync(Sub("sub_sms") with { Channel = "sms" });

            await act.Should().ThrowAsync<SubscriptionValidationException>().WithMessage("*no registered notifier*");
        }

        RowCount().Should().Be(0);
    }

    /// <summary>
    /// Field case: subscription added at run time, deliveries pending at the stop; after the restart they were
    /// cancelled ("subscription disabled or removed") because the subscription was gone. They must be delivered.
    /// </summary>
    [Fact]
    public async Task Restart_SubscriptionAddedAtRuntime_PendingDeliveriesAreDeliveredNotCancelled()
    {
        var connectionString = $"Data Source={DbPath}";
        var sending = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stuck = new RecordingNotifier()
        {
            Behaviour = async (_, ct) =>
            {
                sending.TrySetResult();
                await new TaskCompletionSource().Task.WaitAsync(ct); // never answers: the delivery is in flight at the stop
                return DeliveryResult.Success();
            },
        };
        await using (var first = await EngineHost.StartAsync(
            b => b.UseSqlite(connectionString).AddNotifier(stuck),
            o =>
            {
                o.ShutdownTimeout = TimeSpan.FromMilliseconds(500);
                o.Channel("test").Concurrency = 1;
            }))
        {
            await first.Subscriptions.AddAsync(Sub("sub_runtime"));
            for (var i = 0; i < 5; i++)
            {
                await first.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = $"evt_rt_{i}" });
            }

            await sending.Task.WaitAsync(Timeout);
        }

        var second = new RecordingNotifier();
        await using var restarted = await EngineHost.StartAsync(b => b.UseSqlite(connectionString).AddNotifier(second));

        await restarted.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 5, Timeout);
        restarted.Outcomes.CountFinal(DeliveryStatus.Cancelled).Should().Be(0);
        second.Calls.Select(c => c.DeliveryId).Should().BeEquivalentTo(
            Enumerable.Range(0, 5).Select(i => Delivery.ForSubscription($"evt_rt_{i}", "sub_runtime")));
    }

    [Fact]
    public async Task Restart_SubscriptionDisabledByTheEngineOn410_StaysDisabledWithItsReason()
    {
        var connectionString = $"Data Source={DbPath}";
        var gone = new RecordingNotifier()
        {
            Behaviour = (_, _) => ValueTask.FromResult(DeliveryResult.Permanent("410 Gone", 410, disableSubscription: true)),
        };
        await using (var first = await EngineHost.StartAsync(b => b.UseSqlite(connectionString).AddNotifier(gone)))
        {
            await first.Subscriptions.AddAsync(Sub("sub_gone"));
            await first.Publisher.PublishAsync(NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_gone" });
            await first.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 1, Timeout);
        }

        await using var restarted = await EngineHost.StartAsync(b => b.UseSqlite(connectionString).AddNotifier(new RecordingNotifier()));

        var loaded = await restarted.Subscriptions.GetAsync("sub_gone");
        loaded!.Enabled.Should().BeFalse();
        loaded.DisabledReason.Should().NotBeNullOrEmpty();
    }

    private sealed class RefuseAddress(string address) : ISubscriptionValidator
    {
        public void Validate(Subscription subscription)
        {
            if (subscription.Address == address)
            {
                throw new SubscriptionValidationException($"Subscription.Address is refused by the test validator.", nameof(Subscription.Address));
            }
        }
    }

    private sealed class OwnSubscriptionStore() : ISubscriptionStore
    {
        private readonly InMemorySubscriptionStore _inner = new();

        public ValueTask<Subscription> AddAsync(Subscription subscription, CancellationToken cancellationToken = default) => _inner.AddAsync(subscription, cancellationToken);

        public ValueTask<Subscription> UpdateAsync(Subscription subscription, CancellationToken cancellationToken = default) => _inner.UpdateAsync(subscription, cancellationToken);

        public ValueTask<bool> SetEnabledAsync(string id, bool enabled, string? reason = null, CancellationToken cancellationToken = default) => _inner.SetEnabledAsync(id, enabled, reason, cancellationToken);

        public ValueTask<bool> RemoveAsync(string id, CancellationToken cancellationToken = default) => _inner.RemoveAsync(id, cancellationToken);

        public ValueTask<Subscription?> GetAsync(string id, CancellationToken cancellationToken = default) => _inner.GetAsync(id, cancellationToken);

        public ValueTask<IReadOnlyList<Subscription>> ListAsync(CancellationToken cancellationToken = default) => _inner.ListAsync(cancellationToken);

        public ValueTask<IReadOnlyList<Subscription>> MatchAsync(string eventType, string? tenantId, CancellationToken cancellationToken = default) => _inner.MatchAsync(eventType, tenantId, cancellationToken);
    }
}
