using Microsoft.Extensions.Hosting;

namespace EventNotify.Storage.Sqlite;

/// <summary>
/// Opens the SQLite store while the host is starting, before any hosted service's StartAsync (the engine's
/// included), so a missing folder, a locked or foreign file fails the start with a clear error instead of the first
/// publish. Closes it after every hosted service stopped (the engine releases its leases while stopping).
/// </summary>
internal sealed class SqliteStoreLifecycle(SqliteEventStore store) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => store.OpenAsync(cancellationToken).AsTask();

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => store.DisposeAsync().AsTask();
}
