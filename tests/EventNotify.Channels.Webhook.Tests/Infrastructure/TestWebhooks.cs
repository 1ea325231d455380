namespace EventNotify.Webhooks.Tests.Infrastructure;

/// <summary>Shared values and helpers of the webhook tests.</summary>
public static class TestWebhooks
{
    /// <summary>The secret of the Standard Webhooks test vector (field case W1).</summary>
    public const string VectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    /// <summary>Starts an engine with the webhook channel allowed onto loopback, fast retries and the given extras.</summary>
    public static Task<EngineHost> StartAsync(
        Action<WebhookOptions>? webhook = null,
        Action<EventNotifyOptions>? options = null,
        TimeProvider? time = null,
        RetryOptions? retry = null) =>
        EngineHost.StartAsync(
            b => b.UseSubscriptionStore<SignallingSubscriptionStore>().AddWebhooks(w =>
            {
                w.AllowPrivateNetworks = true;
                webhook?.Invoke(w);
            }),
            o =>
            {
                o.Channel("webhook").Retry = retry ?? FastRetry(3);
                options?.Invoke(o);
            },
            time,
            randomizer: () => 0.5);

    /// <summary>Retries at once (no jitter), up to <paramref name="maxAttempts"/> attempts.</summary>
    public static RetryOptions FastRetry(int maxAttempts) => new()
    {
        MaxAttempts = maxAttempts,
        Delays = [TimeSpan.Zero],
        JitterFactor = 0,
    };

    public static Task<Subscription> SubscribeWebhookAsync(this EngineHost host, string url, params string[] secrets) =>
        host.Subscriptions.AddAsync(new Subscription
        {
            EventTypes = ["order.*"],
            Channel = "webhook",
            Address = url,
            Secrets = secrets.Length == 0 ? [new SubscriptionSecret(VectorSecret)] : secrets.Select(s => new SubscriptionSecret(s)).ToArray(),
        }).AsTask();

    /// <summary>Completes with the id of the first subscription the engine disables.</summary>
    public static Task<string> FirstDisabledAsync(this EngineHost host) =>
        ((SignallingSubscriptionStore)host.Subscriptions).FirstDisabled.WaitAsync(TimeSpan.FromSeconds(30));

    /// <summary>
    /// Stores an event with one due, unleased explicit-recipient webhook delivery per URL, as a delivery made before the
    /// publish-time checks (or by another version) would be; the scheduler finds them on its next poll.
    /// </summary>
    public static async Task StoreDueRecipientDeliveriesAsync(this EngineHost host, params string[] urls)
    {
        var e = OrderPaid() with { Source = "urn:test", Time = DateTimeOffset.UtcNow };
        var now = DateTimeOffset.UtcNow;
        var deliveries = urls.Select(u => new EventNotify.Delivery
        {
            Id = EventNotify.Delivery.CreateId(e.Id, "r:webhook:" + u),
            EventId = e.Id,
            EventType = e.Type,
            Channel = "webhook",
            Address = u,
            Status = DeliveryStatus.Pending,
            CreatedAt = now,
            NextAttemptAt = now,
        }).ToArray();
        (await host.Store.AppendRoutedAsync(e, deliveries)).Should().BeTrue();
    }

    public static NotificationEvent OrderPaid(int orderId = 42) =>
        NotificationEvent.FromJson("order.paid", $$"""{"orderId": {{orderId}}, "amount": 19.99}""");
}
