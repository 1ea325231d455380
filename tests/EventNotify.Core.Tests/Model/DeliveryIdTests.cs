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
}
