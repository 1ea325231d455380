namespace EventNotify.Tests.Engine;

public sealed class EndToEndTests
{
    [Fact]
    public async Task Publish_MatchingSubscription_DeliversOnceWithEventData()
    {
        var notifier = new RecordingNotifier();
        await using var host = await EngineHost.StartAsync(b => b.AddNotifier(notifier));
        var sub = await host.SubscribeAsync("test", "order.*");

        var receipt = await host.Publisher.PublishAsync(NotificationEvent.Create("order.paid", new { orderId = 42 }));

        await notifier.WaitForCallsAsync(1);
        var call = notifier.Calls.Single();
        call.Event.Id.Should().Be(receipt.EventId);
        call.Subscription!.Id.Should().Be(sub.Id);
        System.Text.Encoding.UTF8.GetString(call.Event.Data.Span).Should().Be("{\"orderId\":42}");
        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1);
        (await host.Store.CountDeliveriesAsync(new DeliveryQuery { Status = DeliveryStatus.Succeeded })).Should().Be(1);
    }
}
