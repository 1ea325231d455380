using EventNotify.Webhooks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EventNotify.Benchmarks.Scenarios;

/// <summary>
/// Diagnostic, not one of the ten (<c>--scenarios webhook-notifier</c>): the webhook notifier alone, called from
/// <see cref="HttpClientBaselineScenario.Concurrency"/> loops like the raw loop, without the engine's store, queues
/// and workers. engine-webhook / webhook-notifier is what the pipeline costs; webhook-notifier / httpclient-baseline
/// what signing, the payload and the notifier's bookkeeping cost.
/// </summary>
internal sealed class WebhookNotifierScenario : IScenario
{
    private WebApplication? _receiver;
    private IHost? _host;
    private INotifier _notifier = null!;
    private Subscription _subscription = null!;
    private NotificationEvent _event = null!;

    public string Name => "webhook-notifier";

    public async Task<string?> SetupAsync()
    {
        _receiver = await HttpClientBaselineScenario.StartReceiverAsync().ConfigureAwait(false);
        var url = _receiver.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/hook";
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Services.AddEventNotify().AddWebhooks(o =>
        {
            o.AllowPrivateNetworks = true;
            o.MaxConcurrencyPerEndpoint = HttpClientBaselineScenario.Concurrency;
        });
        _host = builder.Build();
        _notifier = _host.Services.GetServices<INotifier>().First(n => n.Channel == "webhook");
        _subscription = new Subscription
        {
            Id = "sub_bench_0",
            EventTypes = ["order.*"],
            Channel = "webhook",
            Address = url,
            Secrets = [new SubscriptionSecret(WebhookSecret.Generate())],
        };
        _event = NotificationEvent.FromJson("order.paid", Payload.Utf8) with { Id = NotificationEvent.NewId(), Source = "urn:bench", Time = DateTimeOffset.UtcNow };
        return null;
    }

    public async Task RunAsync(int events)
    {
        var next = 0;
        var senders = new Task[HttpClientBaselineScenario.Concurrency];
        var now = DateTimeOffset.UtcNow;
        for (var s = 0; s < senders.Length; s++)
        {
            senders[s] = Task.Run(async () =>
            {
                while (Interlocked.Increment(ref next) <= events)
                {
                    var id = NotificationEvent.NewId();
                    var delivery = new Delivery
                    {
                        Id = Delivery.CreateId(id, _subscription.Id),
                        EventId = id,
                        EventType = _event.Type,
                        SubscriptionId = _subscription.Id,
                        Channel = "webhook",
                        Address = _subscription.Address,
                        CreatedAt = now,
                        NextAttemptAt = now,
                    };
                    var result = await _notifier.SendAsync(new Notification(delivery, _event, _subscription, _subscription.Address), CancellationToken.None).ConfigureAwait(false);
                    if (!result.IsSuccess)
                    {
                        throw new InvalidOperationException("Send failed: " + result.Error);
                    }
                }
            });
        }

        await Task.WhenAll(senders).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        _host?.Dispose();
        if (_receiver is not null)
        {
            await _receiver.StopAsync().ConfigureAwait(false);
            await _receiver.DisposeAsync().ConfigureAwait(false);
        }
    }
}
