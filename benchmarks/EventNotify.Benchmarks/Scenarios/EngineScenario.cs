using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EventNotify.Benchmarks.Scenarios;

/// <summary>
/// EventNotify end to end: publish → store → route → push → notifier → outcome recorded. One event type, a number
/// of subscriptions on one channel whose notifier succeeds at once; an <see cref="IDeliveryObserver"/> counts the
/// recorded successes, so "delivered" means the store has the outcome.
/// </summary>
/// <param name="name">The scenario name.</param>
/// <param name="subscriptions">How many subscriptions match each event (fan-out).</param>
/// <param name="configure">Extra configuration: the store or channel under test (e.g. <c>b => b.UseSqlite(...)</c>).</param>
internal class EngineScenario(string name, int subscriptions, Action<EventNotifyBuilder>? configure = null) : IScenario
{
    private readonly Completion _completion = new();
    private IHost? _host;
    private IEventPublisher _publisher = null!;
    private IEventStore _store = null!;

    public string Name { get; } = name;

    public async Task<string?> SetupAsync()
    {
        if (await PrepareAsync().ConfigureAwait(false) is { } skip)
        {
            return skip;
        }

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<IDeliveryObserver>(new CountingObserver(_completion));
        var en = builder.Services.AddEventNotify();
        Configure(en);
        configure?.Invoke(en);
        for (var i = 0; i < subscriptions; i++)
        {
            en.AddSubscription(CreateSubscription(i));
        }

        _host = builder.Build();
        await _host.StartAsync().ConfigureAwait(false);
        _publisher = _host.Services.GetRequiredService<IEventPublisher>();
        _store = _host.Services.GetRequiredService<IEventStore>();
        return null;
    }

    /// <summary>
    /// How many publishers run at once. One for the in-memory scenarios (like the peers); a durable store is measured
    /// with concurrent publishers, as a web host calls it, because one publisher waits for one commit per event.
    /// </summary>
    protected virtual int Publishers => 1;

    public async Task RunAsync(int events)
    {
        _completion.Reset(events * subscriptions);
        var publishers = Publishers;
        if (publishers == 1)
        {
            await PublishAsync(events).ConfigureAwait(false);
        }
        else
        {
            var share = events / publishers;
            await Task.WhenAll(Enumerable.Range(0, publishers).Select(p => Task.Run(() => PublishAsync(p == 0 ? events - (share * (publishers - 1)) : share)))).ConfigureAwait(false);
        }

        await _completion.WaitAsync(events).ConfigureAwait(false);
    }

    private async Task PublishAsync(int events)
    {
        var data = new ReadOnlyMemory<byte>(Payload.Utf8);
        for (var i = 0; i < events; i++)
        {
            await _publisher.PublishAsync(NotificationEvent.FromJson("order.paid", data)).ConfigureAwait(false);
        }
    }

    /// <summary>Drops finished work so every run starts from a store of the same size.</summary>
    public async Task CleanupAsync() => await _store.PurgeAsync(DateTimeOffset.UtcNow.AddMinutes(1)).ConfigureAwait(false);

    public virtual async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.StopAsync().ConfigureAwait(false);
            _host.Dispose();
        }
    }

    /// <summary>Starts what the store or channel under test needs (a receiver, a database file).</summary>
    protected virtual Task<string?> PrepareAsync() => Task.FromResult<string?>(null);

    /// <summary>Registers the notifier (and store) under test; the default is the instant in-memory notifier.</summary>
    protected virtual void Configure(EventNotifyBuilder builder) => builder.AddNotifier(new InstantNotifier());

    /// <summary>The <paramref name="index"/>th subscription matching every published event.</summary>
    protected virtual Subscription CreateSubscription(int index) =>
        new() { Id = $"sub_bench_{index}", EventTypes = ["order.*"], Channel = InstantNotifier.Name, Address = $"bench-{index}" };

    /// <summary>Succeeds at once, synchronously: the engine's own cost is all that is measured.</summary>
    internal sealed class InstantNotifier : INotifier
    {
        public const string Name = "bench";

        private static readonly ValueTask<DeliveryResult> Done = ValueTask.FromResult(DeliveryResult.Success());

        public string Channel => Name;

        public ValueTask<DeliveryResult> SendAsync(Notification notification, CancellationToken cancellationToken) => Done;
    }

    private sealed class CountingObserver(Completion completion) : IDeliveryObserver
    {
        public void OnDeliveryUpdated(Delivery delivery, DeliveryAttempt? attempt)
        {
            if (delivery.Status == DeliveryStatus.Succeeded)
            {
                completion.Signal();
            }
        }
    }
}
