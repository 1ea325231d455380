using System.Diagnostics.Metrics;
using System.Text;
using EventNotify.Storage.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace EventNotify.Storage.Tests.Sqlite;

/// <summary>What the SQLite store does beyond the shared contract: open/recovery, group commit, bad files and disks, retention.</summary>
public sealed class SqliteEventStoreTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

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

    private string DbPath(string name = "store.db") => _folder.File(name);

    private SqliteEventStore Create(string path, Action<SqliteStoreOptions>? configure = null, TimeProvider? time = null)
    {
        var options = new SqliteStoreOptions { ConnectionString = $"Data Source={path}" };
        configure?.Invoke(options);
        var store = new SqliteEventStore(Options.Create(options), time);
        _stores.Add(store);
        return store;
    }

    private async Task<SqliteEventStore> OpenAsync(string path, Action<SqliteStoreOptions>? configure = null, TimeProvider? time = null)
    {
        var store = Create(path, configure, time);
        await store.OpenAsync();
        return store;
    }

    private static NotificationEvent Event(string id, int dataBytes = 16) => new()
    {
        Id = id,
        Type = "order.paid",
        Source = "urn:test",
        Time = T0,
        Data = Encoding.UTF8.GetBytes("{\"p\":\"" + new string('x', dataBytes) + "\"}"),
    };

    private static Delivery Delivery(string id, string eventId, DeliveryStatus status = DeliveryStatus.Pending, DateTimeOffset? leasedUntil = null, DateTimeOffset? completedAt = null) => new()
    {
        Id = id,
        EventId = eventId,
        EventType = "order.paid",
        Channel = "test",
        Address = "addr",
        Status = status,
        CreatedAt = T0,
        NextAttemptAt = T0,
        LeasedUntil = leasedUntil,
        CompletedAt = completedAt,
    };

    private static SqliteConnection RawConnection(string path)
    {
        var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        return connection;
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    // ---- open and recovery ----

    // By index: xunit serialises theory data, which would replace a lone surrogate before the test sees it.
    private static readonly string[] SurrogateTexts = ["a\uD800b", "a\uDC00bc", "ab\uD800", "pair \uD83D\uDE00 ok"];

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Append_TextWithLoneSurrogates_StoredAsUtf8WithReplacementCharactersAndNothingElseChanged(int which)
    {
        var text = SurrogateTexts[which];
        // Subject, source and error texts are not checked for lone surrogates (a truncated error can end in half a
        // pair): each lone one must become U+FFFD, and the characters after it must survive.
        var store = await OpenAsync(DbPath());
        var e = Event("evt_surrogate") with { Subject = text, Source = "urn:" + text };
        (await store.AppendAsync(e)).Should().BeTrue();
        await store.SaveRoutedAsync("evt_surrogate", [Delivery("dlv_s", "evt_surrogate")]);
        var attempt = new DeliveryAttempt { DeliveryId = "dlv_s", AttemptNumber = 1, StartedAt = T0, Outcome = AttemptOutcome.TransientFailure, Error = text, Response = text };
        await store.RecordAttemptAsync(attempt, new DeliveryUpdate(DeliveryStatus.Pending, 1, T0.AddMinutes(1), null, text, 503));

        var expected = Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(text));
        var back = await store.GetEventAsync("evt_surrogate");
        back!.Subject.Should().Be(expected);
        back.Source.Should().Be("urn:" + expected);
        (await store.GetDeliveryAsync("dlv_s"))!.LastError.Should().Be(expected);
        var stored = (await store.GetAttemptsAsync("dlv_s")).Single();
        stored.Error.Should().Be(expected);
        stored.Response.Should().Be(expected);
    }

    [Fact]
    public async Task OpenAsync_NewFile_CreatesTheSchemaVersionInWalMode()
    {
        var path = DbPath();
        await using (await OpenAsync(path))
        {
        }

        using var raw = RawConnection(path);
        Scalar(raw, "PRAGMA user_version").Should().Be(SqliteSchema.CurrentVersion);
        Scalar(raw, "PRAGMA journal_mode").Should().Be("wal");
    }

    [Theory]
    [InlineData(SqliteSynchronousMode.Full, 2L)]
    [InlineData(SqliteSynchronousMode.Normal, 1L)]
    public async Task OpenAsync_SynchronousOption_IsSetOnTheWriterConnection(SqliteSynchronousMode mode, long pragmaValue)
    {
        var store = Create(DbPath(), o => o.Synchronous = mode);
        object? seen = null;
        store.ConfigureWriter = connection => seen = Scalar(connection, "PRAGMA synchronous");

        await store.OpenAsync();

        seen.Should().Be(pragmaValue);
    }

    [Fact]
    public async Task OpenAsync_LeasesLeftByAPreviousProcess_AreClearedSoTheDeliveryIsDueAtOnceWithTheSameId()
    {
        var path = DbPath();
        var first = await OpenAsync(path);
        await first.AppendAsync(Event("evt_1"));
        await first.SaveRoutedAsync("evt_1", [Delivery("dlv_1", "evt_1", leasedUntil: T0.AddMinutes(5))]);
        (await first.ClaimDueDeliveriesAsync(T0, T0.AddMinutes(5), 10)).Should().BeEmpty("the router's lease holds it");
        await first.DisposeAsync();

        var second = await OpenAsync(path);

        var claimed = await second.ClaimDueDeliveriesAsync(T0, T0.AddMinutes(5), 10);
        claimed.Should().ContainSingle().Which.Delivery.Id.Should().Be("dlv_1");
    }

    [Fact]
    public async Task OpenAsync_FileAlreadyOpenedByAnotherStore_ThrowsNamingTheLock()
    {
        var path = DbPath();
        await OpenAsync(path);

        var act = async () => await OpenAsync(path);

        (await act.Should().ThrowAsync<SqliteEventStoreException>()).WithMessage("*another process or store instance holds*one host*");
    }

    [Theory]
    [InlineData("file symlink")]
    [InlineData("folder symlink")]
    [InlineData("hard link")]
    [InlineData("dot-dot")]
    [InlineData("file URI")]
    [InlineData("file URI with authority and query")]
    public async Task OpenAsync_FileOpenedByAnotherStoreUnderAnotherPath_ThrowsAndTheFirstStoreKeepsWorking(string alias)
    {
        var path = DbPath();
        var first = await OpenAsync(path);
        var otherPath = LockPaths.Alias(_folder, path, alias);

        var act = async () => await OpenAsync(otherPath);

        (await act.Should().ThrowAsync<SqliteEventStoreException>()).WithMessage("*another process or store instance holds*One SQLite file serves one host*")
            .Which.Message.Should().NotContain("PostgreSQL");
        (await first.AppendAsync(Event("evt_after_refusal"))).Should().BeTrue();
        (await first.GetEventAsync("evt_after_refusal")).Should().NotBeNull();
    }

    [Theory]
    [InlineData("file symlink")]
    [InlineData("hard link")]
    [InlineData("file URI")]
    public async Task OpenAsync_OtherPathAfterTheFirstStoreClosed_Opens(string alias)
    {
        var path = DbPath();
        var first = await OpenAsync(path);
        await first.AppendAsync(Event("evt_1"));
        var otherPath = LockPaths.Alias(_folder, path, alias);
        await first.DisposeAsync();

        var second = await OpenAsync(otherPath);

        (await second.GetEventAsync("evt_1")).Should().NotBeNull();
    }

    [Fact]
    public async Task OpenAsync_FileIsNotSqlite_ThrowsSayingSo()
    {
        var path = DbPath("notes.db");
        await File.WriteAllTextAsync(path, string.Concat(Enumerable.Repeat("These are my notes, not a database. ", 200)));

        var act = async () => await OpenAsync(path);

        (await act.Should().ThrowAsync<SqliteEventStoreException>()).WithMessage($"*{path}*not a SQLite database*");
        (await File.ReadAllTextAsync(path)).Should().StartWith("These are my notes", "a foreign file is never overwritten");
    }

    [Fact]
    public async Task OpenAsync_PathIsAFolder_ThrowsSayingTheFileCannotBeOpened()
    {
        // Unreadable as a database whoever the tests run as (root ignores permission bits on a file).
        var path = DbPath("store.db");
        Directory.CreateDirectory(path);

        var act = async () => await OpenAsync(path);

        (await act.Should().ThrowAsync<SqliteEventStoreException>()).WithMessage($"Cannot open the SQLite event store at '{path}': *cannot be opened*");
        Directory.Exists(path).Should().BeTrue();
    }

    [Fact]
    public async Task OpenAsync_FolderWhereNoFileCanBeCreated_ThrowsSayingSoRatherThanBlamingALock()
    {
        // /proc exists but takes no new files: nobody holds a lock there, the file just cannot be made.
        var path = "/proc/eventnotify-test-" + Guid.NewGuid().ToString("N") + ".db";

        var act = async () => await OpenAsync(path);

        var thrown = (await act.Should().ThrowAsync<SqliteEventStoreException>()).Which;
        thrown.Message.Should().Contain("cannot be created or opened").And.NotContain("another process");
    }

    [Fact]
    public async Task OpenAsync_CorruptSchemaPage_ThrowsSayingTheFileIsCorruptAndLeavesIt()
    {
        var path = DbPath();
        var store = await OpenAsync(path);
        await store.AppendAsync(Event("evt_1"));
        await store.DisposeAsync();
        _stores.Remove(store);
        // Keep SQLite's 100-byte file header (so it is still recognised as a database) and overwrite the rest of the
        // first page, which holds the schema: what a torn write or a bad disk sector leaves behind.
        var bytes = await File.ReadAllBytesAsync(path);
        var pageSize = (bytes[16] << 8) | bytes[17];
        for (var i = 100; i < pageSize; i++)
        {
            bytes[i] = 0xA5;
        }

        await File.WriteAllBytesAsync(path, bytes);

        var act = async () => await OpenAsync(path);

        (await act.Should().ThrowAsync<SqliteEventStoreException>()).WithMessage($"Cannot open the SQLite event store at '{path}': *corrupt*");
        (await File.ReadAllBytesAsync(path)).Should().Equal(bytes, "a damaged file is left as it was, for recovery tools");
    }

    [Fact]
    public async Task OpenAsync_SqliteDatabaseOfAnotherApplication_ThrowsWithoutTouchingIt()
    {
        var path = DbPath("other.db");
        using (var raw = RawConnection(path))
        {
            Scalar(raw, "CREATE TABLE customers (id INTEGER PRIMARY KEY)");
        }

        var act = async () => await OpenAsync(path);

        (await act.Should().ThrowAsync<SqliteEventStoreException>()).WithMessage("*another application*");
        using var check = RawConnection(path);
        Scalar(check, "SELECT count(*) FROM sqlite_master WHERE name = 'events'").Should().Be(0L);
    }

    [Fact]
    public async Task OpenAsync_NewerSchemaVersion_ThrowsAskingForAnUpgrade()
    {
        var path = DbPath();
        using (var raw = RawConnection(path))
        {
            Scalar(raw, $"PRAGMA user_version = {SqliteSchema.CurrentVersion + 1}");
        }

        var act = async () => await OpenAsync(path);

        (await act.Should().ThrowAsync<SqliteEventStoreException>()).WithMessage("*newer than*Upgrade*");
    }

    [Fact]
    public async Task OpenAsync_FolderDoesNotExist_ThrowsNamingTheFolder()
    {
        var path = _folder.File(Path.Combine("missing", "store.db"));

        var act = async () => await OpenAsync(path);

        (await act.Should().ThrowAsync<SqliteEventStoreException>()).WithMessage("*folder*missing*does not exist*");
    }

    /// <summary>Makes a folder read-only even for root (the tests run as root, who ignores permission bits).</summary>
    private static void SetImmutable(string folder, bool on)
    {
        using var chattr = System.Diagnostics.Process.Start("chattr", [on ? "+i" : "-i", folder])!;
        chattr.WaitForExit();
        chattr.ExitCode.Should().Be(0, "chattr must work on the temp folder's file system for this test");
    }

    [Fact]
    public async Task OpenAsync_EmptyReadOnlyFolder_ThrowsSayingTheFolderIsReadOnly()
    {
        var folder = _folder.File("readonly");
        Directory.CreateDirectory(folder);
        SetImmutable(folder, true);
        try
        {
            var act = async () => await OpenAsync(Path.Combine(folder, "store.db"));

            (await act.Should().ThrowAsync<SqliteEventStoreException>()).WithMessage("*read-only*");
        }
        finally
        {
            SetImmutable(folder, false);
        }
    }

    [Fact]
    public async Task OpenAsync_ExistingDatabaseInAReadOnlyFolder_ThrowsSayingItCannotBeOpened()
    {
        var folder = _folder.File("readonly");
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, "store.db");
        var store = await OpenAsync(path);
        await store.AppendAsync(Event("evt_1"));
        await store.DisposeAsync();
        SetImmutable(folder, true);
        try
        {
            var act = async () => await OpenAsync(path);

            (await act.Should().ThrowAsync<SqliteEventStoreException>()).WithMessage($"Cannot open the SQLite event store at '{path}': *cannot be opened*permissions*");
        }
        finally
        {
            SetImmutable(folder, false);
        }
    }

    [Fact]
    public async Task OpenAsync_DatabaseLockedByAnotherConnection_FailsAfterTheBusyTimeout()
    {
        var path = DbPath();
        await (await OpenAsync(path)).DisposeAsync();
        using var holder = RawConnection(path);
        Scalar(holder, "BEGIN EXCLUSIVE");

        var act = async () => await OpenAsync(path, o => o.BusyTimeout = TimeSpan.FromMilliseconds(200));

        (await act.Should().ThrowAsync<SqliteEventStoreException>()).WithMessage("*locked by another connection*BusyTimeout*");
    }

    [Fact]
    public async Task OpenAsync_InvalidOptions_ThrowsNamingTheField()
    {
        var store = Create(DbPath(), o => o.MaxBatchSize = 0);

        var act = async () => await store.OpenAsync();

        (await act.Should().ThrowAsync<OptionsValidationException>()).WithMessage("*SqliteStoreOptions.MaxBatchSize*");
    }

    [Fact]
    public void ClaimQuery_Plan_UsesThePartialDueIndex()
    {
        var path = DbPath();
        using (var raw = RawConnection(path))
        {
            foreach (var migration in SqliteSchema.Migrations)
            {
                Scalar(raw, migration);
            }

            using var command = raw.CreateCommand();
            command.CommandText = "EXPLAIN QUERY PLAN " + SqliteEventStore.ClaimSql;
            command.Parameters.AddWithValue("$now", 0L);
            command.Parameters.AddWithValue("$max", 10);
            var plan = new StringBuilder();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                plan.AppendLine(reader.GetString(3));
            }

            plan.ToString().Should().Contain("ix_deliveries_due").And.NotContain("SCAN d");
        }
    }

    [Fact]
    public async Task ClaimDueDeliveriesAsync_ManyFinishedDeliveries_ReturnsThePendingOnes()
    {
        var store = await OpenAsync(DbPath());
        await store.AppendAsync(Event("evt_1"));
        var deliveries = Enumerable.Range(0, 20_000)
            .Select(i => Delivery($"dlv_{i:D5}", "evt_1", i % 1000 == 0 ? DeliveryStatus.Pending : DeliveryStatus.Succeeded, completedAt: i % 1000 == 0 ? null : T0))
            .ToArray();
        await store.SaveRoutedAsync("evt_1", deliveries);

        var claimed = await store.ClaimDueDeliveriesAsync(T0, T0.AddMinutes(5), 100);

        claimed.Select(d => d.Delivery.Id).Should().BeEquivalentTo(deliveries.Where(d => d.Status == DeliveryStatus.Pending).Select(d => d.Id));
    }

    [Fact]
    public async Task PurgeAsync_MoreThanOneChunk_DeletesEveryOldFinishedDelivery()
    {
        var store = await OpenAsync(DbPath());
        await store.AppendAsync(Event("evt_1"));
        await store.SaveRoutedAsync("evt_1", Enumerable.Range(0, 2500)
            .Select(i => Delivery($"dlv_{i:D4}", "evt_1", DeliveryStatus.Succeeded, completedAt: T0)).Append(Delivery("dlv_pending", "evt_1")).ToArray());

        var purged = await store.PurgeAsync(T0.AddSeconds(1));

        purged.Should().Be(2500);
        (await store.CountDeliveriesAsync(new DeliveryQuery())).Should().Be(1);
        (await store.GetEventAsync("evt_1")).Should().NotBeNull("its pending delivery still needs it");
    }

    // ---- group commit ----

    [Fact]
    public async Task AppendAsync_ConcurrentCallers_CommitTogetherInOneTransaction()
    {
        var store = await OpenAsync(DbPath());
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.BeforeBatch = () => gate.Task;
        var before = store.CommittedBatches;

        var appends = Enumerable.Range(0, 100).Select(i => store.AppendAsync(Event($"evt_{i:D3}")).AsTask()).ToArray();
        appends.Should().OnlyContain(t => !t.IsCompleted, "nothing is acknowledged before its commit");
        gate.SetResult();
        var results = await Task.WhenAll(appends).WaitAsync(Timeout);

        results.Should().OnlyContain(r => r);
        (store.CommittedBatches - before).Should().Be(1);
        (await store.GetUnroutedEventsAsync(null, 1000)).Should().HaveCount(100);
    }

    [Fact]
    public async Task Metrics_GroupCommit_RecordsTheBatchSizeAndFailedWrites()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meters = services.GetRequiredService<IMeterFactory>();
        using var batchSize = new MetricCollector<long>(meters, "EventNotify", "eventnotify.store.batch.size");
        using var failed = new MetricCollector<long>(meters, "EventNotify", "eventnotify.store.writes.failed");
        var store = new SqliteEventStore(Options.Create(new SqliteStoreOptions { ConnectionString = $"Data Source={DbPath()}" }), meterFactory: meters);
        _stores.Add(store);
        await store.OpenAsync();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.BeforeBatch = () => gate.Task;

        var appends = Enumerable.Range(0, 50).Select(i => store.AppendAsync(Event($"evt_{i:D2}")).AsTask()).ToArray();
        var bad = store.RecordAttemptAsync(new DeliveryAttempt { DeliveryId = "dlv_missing" }, new DeliveryUpdate(DeliveryStatus.Succeeded, 1, T0, T0, null, null)).AsTask();
        gate.SetResult();
        await Task.WhenAll(appends).WaitAsync(Timeout);
        await FluentActions.Awaiting(() => bad).Should().ThrowAsync<KeyNotFoundException>();

        batchSize.GetMeasurementSnapshot().Select(m => m.Value).Should().Contain(50);
        failed.GetMeasurementSnapshot().Sum(m => m.Value).Should().Be(1);
    }

    [Fact]
    public async Task WriteBatch_OneWriteFails_OnlyThatCallerFailsAndTheOthersAreStored()
    {
        var store = await OpenAsync(DbPath());
        await store.AppendAsync(Event("evt_0"));
        await store.SaveRoutedAsync("evt_0", [Delivery("dlv_1", "evt_0")]);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.BeforeBatch = () => gate.Task;
        var before = store.CommittedBatches;

        var first = store.AppendAsync(Event("evt_a")).AsTask();
        var bad = store.RecordAttemptAsync(new DeliveryAttempt { DeliveryId = "dlv_missing", AttemptNumber = 1 }, new DeliveryUpdate(DeliveryStatus.Succeeded, 1, T0, T0, null, null)).AsTask();
        var good = store.RecordAttemptAsync(new DeliveryAttempt { DeliveryId = "dlv_1", AttemptNumber = 1 }, new DeliveryUpdate(DeliveryStatus.Succeeded, 1, T0, T0, null, null)).AsTask();
        var last = store.AppendAsync(Event("evt_b")).AsTask();
        gate.SetResult();

        (await first.WaitAsync(Timeout)).Should().BeTrue();
        await good.WaitAsync(Timeout);
        (await last.WaitAsync(Timeout)).Should().BeTrue();
        await FluentActions.Awaiting(() => bad.WaitAsync(Timeout)).Should().ThrowAsync<KeyNotFoundException>();
        (store.CommittedBatches - before).Should().Be(1);
        (await store.GetAttemptsAsync("dlv_1")).Should().ContainSingle();
        (await store.GetAttemptsAsync("dlv_missing")).Should().BeEmpty();
        (await store.GetEventAsync("evt_a")).Should().NotBeNull();
        (await store.GetEventAsync("evt_b")).Should().NotBeNull();
    }

    [Fact]
    public async Task AppendAsync_CancelledWhileQueued_IsNotStored()
    {
        var store = await OpenAsync(DbPath());
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.BeforeBatch = () => gate.Task;
        using var cts = new CancellationTokenSource();

        var append = store.AppendAsync(Event("evt_cancelled"), cts.Token).AsTask();
        await cts.CancelAsync();
        gate.SetResult();

        await FluentActions.Awaiting(() => append.WaitAsync(Timeout)).Should().ThrowAsync<OperationCanceledException>();
        (await store.GetEventAsync("evt_cancelled")).Should().BeNull();
    }

    [Fact]
    public async Task DisposeAsync_WritesStillQueued_CommitsThemBeforeClosing()
    {
        var path = DbPath();
        var store = await OpenAsync(path);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.BeforeBatch = () => gate.Task;
        var appends = Enumerable.Range(0, 10).Select(i => store.AppendAsync(Event($"evt_{i}")).AsTask()).ToArray();

        var dispose = store.DisposeAsync().AsTask();
        gate.SetResult();
        await dispose.WaitAsync(Timeout);

        (await Task.WhenAll(appends)).Should().OnlyContain(r => r);
        var reopened = await OpenAsync(path);
        (await reopened.GetUnroutedEventsAsync(null, 100)).Should().HaveCount(10);
    }

    [Fact]
    public async Task AppendAsync_AfterDispose_ThrowsObjectDisposed()
    {
        var store = await OpenAsync(DbPath());
        await store.DisposeAsync();

        var act = async () => await store.AppendAsync(Event("evt_late"));

        await act.Should().ThrowAsync<ObjectDisposedException>();
    }

    // ---- bad state while running ----

    [Fact]
    public async Task AppendAsync_DatabaseLockedByAnotherConnection_FailsThatCallerAndWorksAgainOnceUnlocked()
    {
        var path = DbPath();
        var store = await OpenAsync(path, o => o.BusyTimeout = TimeSpan.FromMilliseconds(200));
        using var holder = RawConnection(path);
        Scalar(holder, "BEGIN IMMEDIATE");

        var locked = async () => await store.AppendAsync(Event("evt_locked"));
        (await locked.Should().ThrowAsync<SqliteEventStoreException>()).WithMessage("*locked by another connection*It was not stored*");
        Scalar(holder, "ROLLBACK");

        (await store.AppendAsync(Event("evt_after"))).Should().BeTrue();
        (await store.GetEventAsync("evt_locked")).Should().BeNull();
    }

    [Fact]
    public async Task AppendAsync_DiskFull_FailsTheCallersItCouldNotStoreAndKeepsEveryAcknowledgedOne()
    {
        var path = DbPath();
        var store = Create(path);
        store.ConfigureWriter = connection =>
        {
            using var command = connection.CreateCommand();
            // A database limited to a few pages beyond the schema: a full disk, without needing one.
            command.CommandText = "PRAGMA max_page_count = 40";
            command.ExecuteNonQuery();
        };
        await store.OpenAsync();

        var attempts = Enumerable.Range(0, 60).Select(i => (Id: $"evt_{i:D2}", Task: store.AppendAsync(Event($"evt_{i:D2}", 3000)).AsTask())).ToArray();
        await Task.WhenAll(attempts.Select(a => a.Task)).ContinueWith(_ => { }, TaskScheduler.Default).WaitAsync(Timeout);

        var acknowledged = attempts.Where(a => a.Task.IsCompletedSuccessfully).Select(a => a.Id).ToArray();
        var failed = attempts.Where(a => a.Task.IsFaulted).ToArray();
        acknowledged.Should().NotBeEmpty();
        failed.Should().NotBeEmpty();
        failed[0].Task.Exception!.InnerException.Should().BeOfType<SqliteEventStoreException>()
            .Which.Message.Should().Contain("full").And.Contain("not stored");
        await store.DisposeAsync();

        var reopened = await OpenAsync(path);
        var stored = (await reopened.GetUnroutedEventsAsync(null, 1000)).Select(e => e.Id);
        stored.Should().BeEquivalentTo(acknowledged, "exactly what was acknowledged is stored: nothing lost, nothing unreported");
    }

    [TinyDiskFact]
    public async Task AppendAsync_RealFileSystemFull_FailsTheCallersItCouldNotStoreAndKeepsEveryAcknowledgedOne()
    {
        // A 384 KiB tmpfs: the database and its WAL fill it; SQLite gets ENOSPC from the file system itself.
        using var disk = TinyDisk.TryMount(384, out var error) ?? throw new InvalidOperationException(error);
        var path = Path.Combine(disk.Path, "store.db");
        var store = await OpenAsync(path);

        var acknowledged = new List<string>();
        SqliteEventStoreException? failure = null;
        for (var i = 0; i < 2000 && failure is null; i++)
        {
            var id = $"evt_{i:D4}";
            try
            {
                await store.AppendAsync(Event(id, 2000)).AsTask().WaitAsync(Timeout);
                acknowledged.Add(id);
            }
            catch (SqliteEventStoreException ex)
            {
                failure = ex;
            }
        }

        failure.Should().NotBeNull("384 KiB cannot hold 2,000 events of 2 KB");
        failure!.Message.Should().Contain("full").And.Contain("not stored");
        acknowledged.Should().NotBeEmpty();
        await store.DisposeAsync();
        _stores.Remove(store);

        // Read back with a plain connection (reopening the store would need room for its own writes).
        using var check = RawConnection(path);
        using var command = check.CreateCommand();
        command.CommandText = "SELECT id FROM events";
        var stored = new List<string>();
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                stored.Add(reader.GetString(0));
            }
        }

        stored.Should().BeEquivalentTo(acknowledged, "exactly what was acknowledged is stored: nothing lost, nothing unreported");
        SqliteConnection.ClearAllPools();
    }
}
