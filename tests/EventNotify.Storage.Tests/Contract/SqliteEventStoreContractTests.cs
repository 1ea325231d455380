using EventNotify.Storage.Sqlite;
using Microsoft.Extensions.Options;

namespace EventNotify.Storage.Tests.Contract;

public sealed class SqliteEventStoreContractTests : DurableEventStoreContractTests
{
    private readonly TempFolder _folder = new();

    protected override async Task<IEventStore> CreateStoreAsync() =>
        await OpenAsync(_folder.File(Guid.NewGuid().ToString("N") + ".db"));

    protected override async Task<IEventStore> ReopenAsync(IEventStore store)
    {
        var sqlite = (SqliteEventStore)store;
        var path = sqlite.DatabasePath;
        await sqlite.DisposeAsync();
        var reopened = await OpenAsync(path);
        Track(reopened);
        return reopened;
    }

    private static async Task<SqliteEventStore> OpenAsync(string path)
    {
        var store = new SqliteEventStore(Options.Create(new SqliteStoreOptions { ConnectionString = $"Data Source={path}" }));
        await store.OpenAsync();
        return store;
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _folder.Dispose();
    }
}
