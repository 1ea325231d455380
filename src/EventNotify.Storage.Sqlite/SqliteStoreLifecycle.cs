using Microsoft.Extensions.Hosting;

namespace EventNotify.Storage.Sqlite;

/// <summary>
/// Opens the SQLite store while the host is starting, before any hosted service's StartAsync (the engine's
/// included), so a missing folder, a locked or foreign file fails the start with a clear error instead of the first
/// publish. Then loads the stored subscriptions (when the SQLite subscription store is used), so they are there
/// before the engine seeds its configured ones and the scheduler claims the deliveries a previous process left:
/// a delivery whose subscription is missing is cancelled. Closes the store after every hosted service stopped (the
/// engine releases its leases while stopping).
/// </summary>
internal sealed class SqliteStoreLifecycle(SqliteEventStore store, ISubscriptionStore subscriptions) : IHostedLifecycleService
{
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        await store.OpenAsync(cancellationToken).ConfigureAwait(false);
        if (subscriptions is SqliteSubscriptionStore sqlite)
        {
            await sqlite.LoadAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => store.DisposeAsync().AsTask();
}
