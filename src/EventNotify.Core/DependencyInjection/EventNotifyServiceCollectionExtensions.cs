using EventNotify;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers EventNotify in a service collection.</summary>
public static class EventNotifyServiceCollectionExtensions
{
    /// <summary>
    /// Adds the EventNotify engine (hosted service), <see cref="IEventPublisher"/>, <see cref="IEventNotifyAdmin"/>,
    /// the in-memory stores (replace them with <c>UseSqlite()</c> or another store) and options validated at start.
    /// </summary>
    /// <example>
    /// <code>
    /// services.AddEventNotify(o => o.Source = "https://api.shop.example")
    ///         .AddNotifier&lt;MyPushNotifier&gt;();
    /// </code>
    /// </example>
    public static EventNotifyBuilder AddEventNotify(this IServiceCollection services, Action<EventNotifyOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = new EventNotifyBuilder(services);
        if (configure is not null)
        {
            services.Configure(configure);
        }

        if (services.Any(d => d.ServiceType == typeof(EventNotifyEngine)))
        {
            return builder; // already added: only the extra configuration applies
        }

        services.AddOptions<EventNotifyOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<EventNotifyOptions>, EventNotifyOptionsValidator>());
        services.AddOptions<InMemoryEventStoreOptions>()
            .Validate(o => o.MaxFinishedDeliveries is null or >= 0, "InMemoryEventStoreOptions.MaxFinishedDeliveries must be 0 or more, or null for no limit.")
            .ValidateOnStart();
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IEventStore>(EventNotifyBuilder.InMemoryStoreFactory);
        services.TryAddSingleton<ISubscriptionStore, InMemorySubscriptionStore>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISubscriptionValidator, KnownChannelValidator>());
        services.TryAddSingleton<EventNotify.Diagnostics.EventNotifyMetrics>();
        services.TryAddSingleton<EventNotifyEngine>();
        services.TryAddSingleton<IEventPublisher>(sp => sp.GetRequiredService<EventNotifyEngine>());
        services.TryAddSingleton<IEventNotifyAdmin, EventNotifyAdmin>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<EventNotifyEngine>());
        return builder;
    }
}

/// <summary>Refuses subscriptions for channels that have no notifier.</summary>
internal sealed class KnownChannelValidator(IEnumerable<INotifier> notifiers) : ISubscriptionValidator
{
    private readonly HashSet<string> _channels = notifiers.Select(n => n.Channel).ToHashSet(StringComparer.Ordinal);

    public void Validate(Subscription subscription)
    {
        if (!_channels.Contains(subscription.Channel))
        {
            var known = _channels.Count == 0 ? "none" : string.Join(", ", _channels.Order(StringComparer.Ordinal));
            throw new SubscriptionValidationException($"Subscription.Channel '{subscription.Channel}' has no registered notifier (registered: {known}). Add one with AddNotifier<T>() or a channel package.", nameof(Subscription.Channel));
        }
    }
}
