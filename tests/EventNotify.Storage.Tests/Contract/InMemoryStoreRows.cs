using System.Text;

namespace EventNotify.Storage.Tests.Contract;

/// <summary>The minimal events and pending deliveries the in-memory store's own tests put in it.</summary>
internal static class InMemoryStoreRows
{
    public static readonly DateTimeOffset T0 = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    public static NotificationEvent Event(string id) => new()
    {
        Id = id,
        Type = "order.paid",
        Source = "urn:test",
        Time = T0,
        Data = Encoding.UTF8.GetBytes("{}"),
    };

    /// <summary>A pending delivery of <paramref name="eventId"/>, due at <paramref name="due"/> (default <see cref="T0"/>).</summary>
    public static Delivery PendingDelivery(string id, string eventId, DateTimeOffset? due = null) => new()
    {
        Id = id,
        EventId = eventId,
        EventType = "order.paid",
        SubscriptionId = "sub_1",
        Channel = "test",
        Address = "addr",
        Status = DeliveryStatus.Pending,
        CreatedAt = T0,
        NextAttemptAt = due ?? T0,
    };
}
