namespace EventNotify.Tests.Model;

public sealed class DeliveryIdTests
{
    [Fact]
    public void CreateId_SameInputs_SameId()
    {
        Delivery.CreateId("evt_1", "sub_1").Should().Be(Delivery.CreateId("evt_1", "sub_1"));
    }

    [Fact]
    public void CreateId_DifferentTargetOrEvent_DifferentIds()
    {
        var ids = new[] { Delivery.CreateId("evt_1", "sub_1"), Delivery.CreateId("evt_1", "sub_2"), Delivery.CreateId("evt_2", "sub_1") };
        ids.Should().OnlyHaveUniqueItems();
    }

    [Fact]
    public void CreateId_Format_IsPrefixAnd26Base32Chars()
    {
        Delivery.CreateId("evt_" + new string('x', 250), "email:bob@example.com").Should().MatchRegex("^dlv_[0-9a-hjkmnp-tv-z]{26}$");
    }

    [Fact]
    public void ForSubscriptionAndForRecipient_LookAlikeTargets_DifferentIds()
    {
        Delivery.ForSubscription("evt_1", "push:dev-B").Should().NotBe(Delivery.ForRecipient("evt_1", new Recipient("push", "dev-B")));
    }

    [Fact]
    public void ForSubscription_GeneratedEventIds_SortByCreationTimeAndStayStable()
    {
        // Version 7 GUIDs at known times, one millisecond apart and a day apart, out of order.
        var t0 = new DateTimeOffset(2026, 12, 3, 20, 0, 0, TimeSpan.Zero);
        var times = new[] { t0.AddDays(1), t0, t0.AddMilliseconds(1), t0.AddHours(5) };
        var events = times.Select(t => "evt_" + Guid.CreateVersion7(t).ToString("N")).ToArray();

        var ids = events.Select(e => Delivery.ForSubscription(e, "sub_1")).ToArray();

        ids.Should().OnlyContain(id => System.Text.RegularExpressions.Regex.IsMatch(id, "^dlv_[0-9a-hjkmnp-tv-z]{42}$"));
        ids.Order(StringComparer.Ordinal).Should().Equal(ids[1], ids[2], ids[3], ids[0]);
        ids.Should().Equal(events.Select(e => Delivery.ForSubscription(e, new string("sub_1".AsSpan()))), "an id is a function of the event and subscription only, not of the string instance");
        Delivery.ForSubscription(events[1], "sub_2").Should().NotBe(ids[1]).And.StartWith(ids[1][..30], "same event, other subscription: same event part, other tag");
    }

    [Fact]
    public void ForSubscription_GeneratedEventId_CarriesTheEventUuidWhole()
    {
        var uuid = Guid.CreateVersion7(new DateTimeOffset(2026, 12, 4, 17, 0, 0, TimeSpan.Zero));
        var a = "evt_" + uuid.ToString("N");
        // The same UUID but for its last bit: a hash of part of the id would miss it, the whole UUID cannot.
        var b = a[..^1] + (a[^1] == '0' ? '1' : '0');

        Delivery.ForSubscription(a, "sub_1").Should().NotBe(Delivery.ForSubscription(b, "sub_1"));
        Delivery.ForSubscription(a, "sub_1")[30..].Should().Be(Delivery.ForSubscription(b, "sub_1")[30..], "the subscription's tag does not depend on the event");
    }

    [Fact]
    public void ForSubscription_UpperCaseLookAlikeOfGeneratedId_NotReadAsTheSameUuid()
    {
        var lower = "evt_" + Guid.CreateVersion7().ToString("N");
        var upper = "evt_" + lower[4..].ToUpperInvariant();

        // Both ids are valid and different events; reading both as one UUID would give them one delivery id.
        Delivery.ForSubscription(upper, "sub_1").Should().NotBe(Delivery.ForSubscription(lower, "sub_1"));
        Delivery.ForSubscription(upper, "sub_1").Should().HaveLength(30, "an id not spelled as NewId spells it is hashed whole");
    }

    [Fact]
    public void ForSubscription_ManyEventsAndSubscriptions_AllIdsDistinct()
    {
        var events = Enumerable.Range(0, 2000).Select(_ => NotificationEvent.NewId()).ToArray();
        var subscriptions = Enumerable.Range(0, 50).Select(i => $"sub_{i}").ToArray();

        var ids = events.SelectMany(e => subscriptions.Select(s => Delivery.ForSubscription(e, s))).ToArray();

        ids.Should().OnlyHaveUniqueItems().And.HaveCount(100_000);
    }

    [Fact]
    public void CreateId_CallerChosenEventIds_AreHashedWhole()
    {
        // Ids that only look like generated ones (no version 7 marker) or are not hex get the full 128-bit hash.
        var lookAlike = "evt_0190a1b2c3d40000000000000000000a";
        var a = Delivery.ForSubscription(lookAlike, "sub_1");
        var b = Delivery.ForSubscription(lookAlike.Replace("0190a1b2c3d4", "0190a1b2c3d5", StringComparison.Ordinal), "sub_1");

        a[..14].Should().NotBe(b[..14], "without the version 7 marker the id is not read as a time");
    }
}
