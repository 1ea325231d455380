using EventNotify;
using EventNotify.Webhooks;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the webhook channel to EventNotify.</summary>
public static class WebhookEventNotifyBuilderExtensions
{
    /// <summary>
    /// Adds the <c>webhook</c> channel: signed HTTP POST deliveries (Standard Webhooks), the SSRF guard, endpoint
    /// health, validation of webhook subscriptions (URL and secrets) when they are registered, and of explicit webhook
    /// recipients (URL, and no recipient while <see cref="WebhookOptions.RequireSignature"/>) when an event is published. Unless configured
    /// otherwise, the channel retries on <see cref="RetryOptions.WebhookDefault"/> and its attempt timeout is
    /// <see cref="WebhookOptions.Timeout"/> plus two seconds (up to one second waiting for a free slot at a busy endpoint,
    /// see <see cref="WebhookOptions.MaxConcurrencyPerEndpoint"/>, and one to spare, so the channel's own timeout, which also counts towards
    /// endpoint health, fires first).
    /// </summary>
    /// <example>
    /// <code>
    /// services.AddEventNotify(o => o.Source = "https://api.shop.example")
    ///         .AddWebhooks(w => w.Timeout = TimeSpan.FromSeconds(10));
    /// </code>
    /// </example>
    public static EventNotifyBuilder AddWebhooks(this EventNotifyBuilder builder, Action<WebhookOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var options = services.AddOptions<WebhookOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        if (services.Any(d => d.ServiceType == typeof(WebhookNotifier)))
        {
            return builder; // already added: only the extra configuration applies
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<WebhookOptions>, WebhookOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<EndpointGuard>();
        services.TryAddSingleton<EndpointHealth>();
        services.AddMetrics();
        services.TryAddSingleton<EventNotify.Webhooks.Diagnostics.WebhookMetrics>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISubscriptionValidator, WebhookSubscriptionValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IRecipientValidator, WebhookRecipientValidator>());

        services.AddHttpClient(WebhookNotifier.HttpClientName, client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(sp => new SocketsHttpHandler
            {
                // Redirects would lead past the SSRF guard's URL check and change what the receiver signed up for.
                AllowAutoRedirect = false,
                // A proxy would make the connect callback check the proxy, not the endpoint.
                UseProxy = false,
                UseCookies = false,
                AutomaticDecompression = System.Net.DecompressionMethods.None,
                PooledConnectionLifetime = TimeSpan.FromMinutes(2),
                ConnectCallback = sp.GetRequiredService<EndpointGuard>().ConnectAsync,
            })
            .RemoveAllLoggers(); // our own log lines carry ids and status codes, never URLs with their queries

        services.AddOptions<EventNotifyOptions>().PostConfigure<IOptions<WebhookOptions>>((o, webhook) =>
        {
            var channel = o.Channel(WebhookNotifier.ChannelName);
            channel.Retry ??= RetryOptions.WebhookDefault();
            channel.AttemptTimeout ??= webhook.Value.Timeout + EndpointSlots.SlotWait + TimeSpan.FromSeconds(1);
        });

        builder.AddNotifier<WebhookNotifier>();
        return builder;
    }
}
