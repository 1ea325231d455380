using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace EventNotify.Testing;

/// <summary>A real generic host running EventNotify, for end-to-end tests.</summary>
public sealed class EngineHost : IAsyncDisposable
{
    private EngineHost(IHost host) => Host = host;

    public IHost Host { get; }

    public IServiceProvider Services => Host.Services;

    /// <summary>Every delivery outcome the engine reported, to wait on.</summary>
    public DeliveryOutcomes Outcomes { get; private init; } = new();

    public IEventPublisher Publisher => Services.GetRequiredService<IEventPublisher>();

    public ISubscriptionStore Subscriptions => Services.GetRequiredService<ISubscriptionStore>();

    public IEventStore Store => Services.GetRequiredService<IEventStore>();

    public IEventNotifyAdmin Admin => Services.GetRequiredService<IEventNotifyAdmin>();

    public static async Task<EngineHost> StartAsync(
        Action<EventNotifyBuilder> configure,
        Action<EventNotifyOptions>? options = null,
        TimeProvider? time = null,
        Func<double>? randomizer = null,
        bool start = true)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        if (time is not null)
        {
            builder.Services.AddSingleton(time);
        }

        var outcomes = new DeliveryOutcomes();
        builder.Services.AddSingleton<IDeliveryObserver>(outcomes);
        var en = builder.Services.AddEventNotify(o =>
        {
            o.PollInterval = TimeSpan.FromMilliseconds(100);
            options?.Invoke(o);
        });
        configure(en);
        var host = builder.Build();
        if (randomizer is not null)
        {
            host.Services.GetRequiredService<EventNotifyEngine>().Randomizer = randomizer;
        }

        if (start)
        {
            await host.StartAsync();
        }

        return new EngineHost(host) { Outcomes = outcomes };
    }

    public async Task<Subscription> SubscribeAsync(string channel, params string[] patterns) =>
        await Subscriptions.AddAsync(new Subscription { EventTypes = patterns, Channel = channel, Address = "addr-" + channel });

    public async ValueTask DisposeAsync()
    {
        await Host.StopAsync();
        Host.Dispose();
    }
}
