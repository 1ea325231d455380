namespace EventNotify.Tests.Subscriptions;

public sealed class InMemorySubscriptionStoreTests
{
    private static Subscription Sub(string id, string channel = "test", string? tenant = null, params string[] patterns) =>
        new() { Id = id, EventTypes = patterns, Channel = channel, Address = "a-" + id, TenantId = tenant };

    [Fact]
    public async Task MatchAsync_ExactPrefixAndWildcard_ReturnsEachMatchingSubscriptionOnce()
    {
        var store = new InMemorySubscriptionStore();
        await store.AddAsync(Sub("exact", patterns: "order.paid"));
        await store.AddAsync(Sub("prefix", patterns: "order.*"));
        await store.AddAsync(Sub("deep", patterns: "order.paid.*"));
        await store.AddAsync(Sub("all", patterns: "*"));
        await store.AddAsync(Sub("overlap", patterns: ["order.*", "order.paid", "*"]));
        await store.AddAsync(Sub("other", patterns: "user.*"));

        var matched = await store.MatchAsync("order.paid", null);

        matched.Select(s => s.Id).Should().BeEquivalentTo("exact", "prefix", "all", "overlap");
    }

    [Fact]
    public async Task MatchAsync_TenantSubscription_OnlyGetsItsTenantsEvents()
    {
        var store = new InMemorySubscriptionStore();
        await store.AddAsync(Sub("platform", patterns: "*"));
        await store.AddAsync(Sub("tenant-a", tenant: "a", patterns: "*"));
        await store.AddAsync(Sub("tenant-b", tenant: "b", patterns: "*"));

        (await store.MatchAsync("order.paid", "a")).Select(s => s.Id).Should().BeEquivalentTo("platform", "tenant-a");
        (await store.MatchAsync("order.paid", null)).Select(s => s.Id).Should().BeEquivalentTo("platform");
    }

    [Fact]
    public async Task MatchAsync_TenantFilterAcrossSeveralPatterns_DropsOtherTenantsAndRepeats()
    {
        var store = new InMemorySubscriptionStore();
        await store.AddAsync(Sub("platform", patterns: ["order.paid", "*"]));
        await store.AddAsync(Sub("tenant-a", tenant: "a", patterns: ["order.*", "order.paid"]));
        await store.AddAsync(Sub("tenant-b", tenant: "b", patterns: ["order.*", "*"]));

        (await store.MatchAsync("order.paid", "a")).Select(s => s.Id).Should().BeEquivalentTo("platform", "tenant-a");
        (await store.MatchAsync("order.paid", "b")).Select(s => s.Id).Should().BeEquivalentTo("platform", "tenant-b");
        (await store.MatchAsync("order.paid", null)).Select(s => s.Id).Should().Equal("platform");
    }

    [Fact]
    public async Task MatchAsync_DisabledSubscription_IsNotMatched()
    {
        var store = new InMemorySubscriptionStore();
        await store.AddAsync(Sub("s1", patterns: "order.*"));
        await store.SetEnabledAsync("s1", false, "paused");

        (await store.MatchAsync("order.paid", null)).Should().BeEmpty();
        (await store.GetAsync("s1"))!.DisabledReason.Should().Be("paused");
    }

    [Fact]
    public async Task MatchAsync_FiveThousandSubscriptions_FindsOnlyTheMatchingOnes()
    {
        var store = new InMemorySubscriptionStore();
        for (var i = 0; i < 5000; i++)
        {
            await store.AddAsync(Sub("s" + i, patterns: $"type{i}.*"));
        }

        var matched = await store.MatchAsync("type4242.created", null);

        matched.Select(s => s.Id).Should().Equal("s4242");
    }

    // A soak trial found matching cost growing with the number of tenants sharing a pattern (every tenant's
    // subscriptions were collected, then filtered); matching now looks in the event's tenant and the tenantless ones.
    [Fact]
    public async Task MatchAsync_ThousandTenantsOnTheSamePatterns_ReturnsOnlyTheEventsTenantAndTenantless()
    {
        var store = new InMemorySubscriptionStore();
        await store.AddAsync(Sub("platform", patterns: "order.*"));
        for (var t = 0; t < 1000; t++)
        {
            await store.AddAsync(Sub($"t{t}-all", tenant: $"t{t}", patterns: "*"));
            await store.AddAsync(Sub($"t{t}-orders", tenant: $"t{t}", patterns: ["order.*", "order.paid"]));
        }

        (await store.MatchAsync("order.paid", "t42")).Select(s => s.Id).Should().BeEquivalentTo("platform", "t42-all", "t42-orders");
        (await store.MatchAsync("user.login", "t7")).Select(s => s.Id).Should().Equal("t7-all");
        (await store.MatchAsync("order.paid", "unknown-tenant")).Select(s => s.Id).Should().Equal("platform");
        (await store.MatchAsync("order.paid", null)).Select(s => s.Id).Should().Equal("platform");
    }

    [Fact]
    public async Task GetAsync_RightAfterChanges_SeesEachChange()
    {
        var store = new InMemorySubscriptionStore();
        await store.AddAsync(Sub("s1", patterns: "order.*"));
        (await store.MatchAsync("order.paid", null)).Should().ContainSingle();

        await store.SetEnabledAsync("s1", false, "paused");
        (await store.GetAsync("s1"))!.Enabled.Should().BeFalse();
        await store.UpdateAsync(Sub("s1", patterns: "user.*"));
        (await store.GetAsync("s1"))!.EventTypes.Should().Equal("user.*");
        await store.RemoveAsync("s1");

        (await store.GetAsync("s1")).Should().BeNull();
        (await store.ListAsync()).Should().BeEmpty();
        (await store.MatchAsync("user.login", null)).Should().BeEmpty();
    }

    [Fact]
    public async Task AddAsync_DuplicateId_ThrowsNamingId()
    {
        var store = new InMemorySubscriptionStore();
        await store.AddAsync(Sub("s1", patterns: "*"));
        var act = async () => await store.AddAsync(Sub("s1", patterns: "*"));
        (await act.Should().ThrowAsync<SubscriptionValidationException>()).Which.ParamName.Should().Be("Id");
    }

    [Fact]
    public async Task AddAsync_NoPatterns_ThrowsNamingEventTypes()
    {
        var store = new InMemorySubscriptionStore();
        var act = async () => await store.AddAsync(Sub("s1"));
        (await act.Should().ThrowAsync<SubscriptionValidationException>()).Which.ParamName.Should().Be("EventTypes");
    }

    [Fact]
    public async Task AddAsync_AddressWithNewline_ThrowsNamingAddress()
    {
        var store = new InMemorySubscriptionStore();
        var act = async () => await store.AddAsync(Sub("s1", patterns: "*") with { Address = "x\r\ny" });
        (await act.Should().ThrowAsync<SubscriptionValidationException>()).Which.ParamName.Should().Be("Address");
    }

    [Fact]
    public async Task UpdateAsync_ChangesPatterns_MatchingFollows()
    {
        var store = new InMemorySubscriptionStore();
        await store.AddAsync(Sub("s1", patterns: "order.*"));
        await store.UpdateAsync(Sub("s1", patterns: "user.*"));

        (await store.MatchAsync("order.paid", null)).Should().BeEmpty();
        (await store.MatchAsync("user.login", null)).Should().ContainSingle();
    }

    [Fact]
    public async Task RemoveAsync_Existing_RemovesAndReportsTrueThenFalse()
    {
        var store = new InMemorySubscriptionStore();
        await store.AddAsync(Sub("s1", patterns: "*"));
        (await store.RemoveAsync("s1")).Should().BeTrue();
        (await store.RemoveAsync("s1")).Should().BeFalse();
        (await store.ListAsync()).Should().BeEmpty();
    }

    [Fact]
    public async Task AddAsync_ValidatorRejects_NothingStored()
    {
        var store = new InMemorySubscriptionStore([new RejectAll()]);
        var act = async () => await store.AddAsync(Sub("s1", patterns: "*"));
        await act.Should().ThrowAsync<SubscriptionValidationException>();
        (await store.ListAsync()).Should().BeEmpty();
    }

    [Fact]
    public void SubscriptionSecret_ToString_HidesValue()
    {
        new SubscriptionSecret("whsec_topsecret").ToString().Should().NotContain("topsecret");
    }

    private sealed class RejectAll : ISubscriptionValidator
    {
        public void Validate(Subscription subscription) => throw new SubscriptionValidationException("no", "Address");
    }
}
