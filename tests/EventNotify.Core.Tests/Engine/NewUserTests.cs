using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace EventNotify.Tests.Engine;

/// <summary>The README's snippet, as a new user would write it: register, add a custom notifier, publish, see it delivered.</summary>
public sealed class NewUserTests
{
    public sealed class MyPushNotifier : INotifier
    {
        public static readonly TaskCompletionSource<string> Received = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Channel => "push";

        public async ValueTask<DeliveryResult> SendAsync(Notification n, CancellationToken ct)
        {
            await Task.Yield();
            Received.TrySetResult($"{n.Event.Type} {n.Address} {System.Text.Encoding.UTF8.GetString(n.Event.Data.Span)}");
            return DeliveryResult.Success();
        }

        public bool HonoursCancellation => false; // as the README shows it
    }

    [Fact]
    public async Task ReadmeSnippet_CustomNotifier_ReceivesPublishedEvent()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddEventNotify(o => o.Source = "https://api.shop.example")
                        .AddNotifier<MyPushNotifier>();
        using var app = builder.Build();
        await app.StartAsync();

        var subscriptions = app.Services.GetRequiredService<ISubscriptionStore>();
        await subscriptions.AddAsync(new Subscription { EventTypes = ["order.*"], Channel = "push", Address = "device-123" });

        var publisher = app.Services.GetRequiredService<IEventPublisher>();
        await publisher.PublishAsync(NotificationEvent.Create("order.paid", new { orderId = 42, amount = 19.99m }));

        (await MyPushNotifier.Received.Task.WaitAsync(TimeSpan.FromSeconds(10))).Should().Be("order.paid device-123 {\"orderId\":42,\"amount\":19.99}");
        await app.StopAsync();
    }
}
