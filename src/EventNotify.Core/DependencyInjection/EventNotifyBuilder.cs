using EventNotify;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Configures EventNotify: notifiers, stores, channels. Returned by <c>AddEventNotify()</c>; every method chains.</summary>
public sealed class EventNotifyBuilder
{
    internal EventNotifyBuilder(IServiceCollection services) => Services = services;

    /// <summary>The service collection, for channel and store packages' extension methods.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Registers a notifier (a channel adapter) resolved from the container as a singleton.</summary>
    public EventNotifyBuilder AddNotifier<TNotifier>()
        where TNotifier : class, INotifier
    {
        Services.TryAddSingleton<TNotifier>();
        Services.TryAddEnumerable(ServiceDescriptor.Singleton<INotifier, TNotifier>(sp => sp.GetRequiredService<TNotifier>()));
        return this;
    }

    /// <summary>Registers a notifier instance.</summary>
    public EventNotifyBuilder AddNotifier(INotifier notifier)
    {
        ArgumentNullException.ThrowIfNull(notifier);
        Services.AddSingleton(notifier);
        return this;
    }

    /// <summary>Uses <typeparamref name="TStore"/> as the event store (replacing the in-memory default).</summary>
    public EventNotifyBuilder UseStore<TStore>()
        where TStore : class, IEventStore
    {
        Services.Replace(ServiceDescriptor.Singleton<IEventStore, TStore>());
        return this;
    }

    /// <summary>Uses the store built by <paramref name="factory"/> as the event store.</summary>
    public EventNotifyBuilder UseStore(Func<IServiceProvider, IEventStore> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        Services.Replace(ServiceDescriptor.Singleton(factory));
        return this;
    }

    /// <summary>Uses the non-durable <see cref="InMemoryEventStore"/> (the default).</summary>
    public EventNotifyBuilder UseInMemoryStore() => UseStore(InMemoryStoreFactory);

    /// <summary>Uses the non-durable <see cref="InMemoryEventStore"/> with the given options.</summary>
    /// <example>
    /// <code>
    /// services.AddEventNotify().UseInMemoryStore(o => o.MaxFinishedDeliveries = 100_000);
    /// </code>
    /// </example>
    public EventNotifyBuilder UseInMemoryStore(Action<InMemoryEventStoreOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure(configure);
        return UseStore(InMemoryStoreFactory);
    }

    internal static InMemoryEventStore InMemoryStoreFactory(IServiceProvider services) =>
        new(services.GetRequiredService<Microsoft.Extensions.Options.IOptions<InMemoryEventStoreOptions>>().Value);

    /// <summary>Uses <typeparamref name="TStore"/> as the subscription store (replacing the in-memory default).</summary>
    public EventNotifyBuilder UseSubscriptionStore<TStore>()
        where TStore : class, ISubscriptionStore
    {
        Services.Replace(ServiceDescriptor.Singleton<ISubscriptionStore, TStore>());
        return this;
    }

    /// <summary>Configures one channel's workers, timeout and retry schedule.</summary>
    public EventNotifyBuilder ConfigureChannel(string channel, Action<ChannelOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        if (!EventRules.IsValidChannelName(channel))
        {
            throw new ArgumentException($"Channel name '{channel}' is invalid: use lowercase letters, digits, '_' and '-'.", nameof(channel));
        }

        Services.Configure<EventNotifyOptions>(o => configure(o.Channel(channel)));
        return this;
    }

    /// <summary>Adds a subscription when the engine starts (validated then; replaced if its id exists).</summary>
    public EventNotifyBuilder AddSubscription(Subscription subscription)
    {
        ArgumentNullException.ThrowIfNull(subscription);
        SubscriptionRules.Validate(subscription);
        Services.Configure<EventNotifyOptions>(o => o.Subscriptions.Add(subscription));
        return this;
    }
}
