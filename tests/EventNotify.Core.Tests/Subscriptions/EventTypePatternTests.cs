namespace EventNotify.Tests.Subscriptions;

public sealed class EventTypePatternTests
{
    [Theory]
    [InlineData("order.paid", "order.paid", true)]
    [InlineData("order.paid", "order.paid.partial", false)]
    [InlineData("order.paid", "order", false)]
    [InlineData("order.*", "order.paid", true)]
    [InlineData("order.*", "order.refund.issued", true)]
    [InlineData("order.*", "order", false)]
    [InlineData("order.*", "orders.paid", false)]
    [InlineData("order.*", "order_x.paid", false)]
    [InlineData("order.refund.*", "order.refund.issued", true)]
    [InlineData("order.refund.*", "order.paid", false)]
    [InlineData("*", "anything.at.all", true)]
    public void Matches_Pattern_FollowsExactPrefixAndWildcardRules(string pattern, string type, bool expected)
    {
        EventTypePattern.Parse(pattern).Matches(type).Should().Be(expected);
    }

    [Theory]
    [InlineData("")]
    [InlineData("order.**")]
    [InlineData("*.paid")]
    [InlineData("order.*.paid")]
    [InlineData("Order.*")]
    [InlineData(".*")]
    [InlineData("order*")]
    public void Parse_InvalidPattern_ThrowsNamingEventTypes(string pattern)
    {
        var act = () => EventTypePattern.Parse(pattern);
        act.Should().Throw<SubscriptionValidationException>().Where(e => e.ParamName == "EventTypes" && e.Message.Contains(pattern));
    }
}
