using System.Diagnostics.Metrics;
using System.Globalization;
using EventNotify.Webhooks.Diagnostics;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace EventNotify.Webhooks.Tests.Network;

/// <summary>Field case W5: refused at registration and again when sending, with no connection made.</summary>
public sealed class SsrfGuardEndToEndTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private static readonly string[] W5 =
    [
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "https://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/",
        "http://[fc00::1]/",
        "http://0.0.0.0/",
    ];

    public static TheoryData<string> W5Urls => new(W5);

    private static Task<EngineHost> StartGuardedAsync(Action<WebhookOptions>? configure = null) =>
        EngineHost.StartAsync(b => b.AddWebhooks(configure), o => o.Channel("webhook").Retry = TestWebhooks.FastRetry(1));

    [Theory]
    [MemberData(nameof(W5Urls))]
    public async Task AddSubscription_NonPublicAddress_RejectedNamingAddressField(string url)
    {
        await using var host = await StartGuardedAsync();

        var act = () => host.Subscriptions.AddAsync(new Subscription
        {
            EventTypes = ["order.*"],
            Channel = "webhook",
            Address = url,
            Secrets = [new SubscriptionSecret(WebhookSecret.Generate())],
        }).AsTask();

        var thrown = (await act.Should().ThrowAsync<SubscriptionValidationException>()).Which;
        thrown.ParamName.Should().Be("Address");
        thrown.Message.Should().Match("Subscription.Address is refused for the webhook channel: *the * is *(*)*");
    }

    [Fact]
    public async Task AddSubscription_PublicHttpsAddress_Accepted()
    {
        await using var host = await StartGuardedAsync();

        var added = await host.Subscriptions.AddAsync(new Subscription
        {
            EventTypes = ["order.*"],
            Channel = "webhook",
            Address = "https://example.com/hook",
            Secrets = [new SubscriptionSecret(WebhookSecret.Generate())],
        });

        (await host.Subscriptions.GetAsync(added.Id)).Should().NotBeNull();
    }

    [Theory]
    [InlineData("whsec_not base64!!", "base64")]
    [InlineData("whsec_c2hvcnQ=", "24 to 64 bytes")]
    [InlineData("", "empty")]
    public async Task AddSubscription_BadSecret_RejectedNamingRule(string secret, string rule)
    {
        await using var host = await StartGuardedAsync();

        var act = () => host.Subscriptions.AddAsync(new Subscription
        {
            EventTypes = ["order.*"],
            Channel = "webhook",
            Address = "https://example.com/hook",
            Secrets = [new SubscriptionSecret(WebhookSecret.Generate()), new SubscriptionSecret(secret)],
        }).AsTask();

        var thrown = (await act.Should().ThrowAsync<SubscriptionValidationException>()).Which;
        thrown.ParamName.Should().Be("Secrets");
        thrown.Message.Should().Contain("Secrets[1]").And.Contain(rule);
    }

    [Fact]
    public async Task AddSubscription_NoSecret_RejectedUnlessSignatureOptional()
    {
        await using var strict = await StartGuardedAsync();
        await using var lax = await StartGuardedAsync(w => w.RequireSignature = false);
        var sub = new Subscription { EventTypes = ["order.*"], Channel = "webhook", Address = "https://example.com/hook" };

        var act = () => strict.Subscriptions.AddAsync(sub).AsTask();

        (await act.Should().ThrowAsync<SubscriptionValidationException>()).Which.Message.Should().Contain("RequireSignature");
        (await lax.Subscriptions.AddAsync(sub)).Id.Should().Be(sub.Id);
    }

    [Fact]
    public async Task AddSubscription_OtherChannel_NotJudgedByWebhookRules()
    {
        await using var host = await EngineHost.StartAsync(b => b.AddWebhooks().AddNotifier(new RecordingNotifier("push")));

        var added = await host.Subscriptions.AddAsync(new Subscription { EventTypes = ["order.*"], Channel = "push", Address = "http://127.0.0.1/" });

        added.Channel.Should().Be("push");
    }

    // Found by a tenant/security trial: an unparseable URL was repeated whole, password and token included.
    [Theory]
    [InlineData("http://admin:hunter2@exa mple.com/?token=SEKRIT", "'http://...@exa mple.com/?...'")]
    [InlineData("http://admin:hunter2@[::1/?token=SEKRIT", "'http://...@[::1/?...'")]
    [InlineData("admin:hunter2@hooks.example.com/path#SEKRIT", "'...@hooks.example.com/path#...'")]
    public async Task Refusals_UnparseableUrlWithCredentials_RepeatedWithoutThem(string url, string shown)
    {
        await using var host = await StartGuardedAsync(w => w.RequireSignature = false);

        var subscribe = () => host.Subscriptions.AddAsync(new Subscription { EventTypes = ["order.*"], Channel = "webhook", Address = url }).AsTask();
        var publish = () => host.Publisher.PublishAsync(TestWebhooks.OrderPaid() with { Recipients = [new Recipient("webhook", url)] }).AsTask();

        var refusedSubscription = (await subscribe.Should().ThrowAsync<SubscriptionValidationException>()).Which.Message;
        var refusedPublish = (await publish.Should().ThrowAsync<EventValidationException>()).Which.Message;
        foreach (var message in new[] { refusedSubscription, refusedPublish })
        {
            message.Should().Contain(shown).And.NotContain("hunter2").And.NotContain("SEKRIT");
        }
    }

    [Theory]
    [MemberData(nameof(W5Urls))]
    public async Task Publish_NonPublicRecipient_RefusedNamingRecipientAndNothingStored(string url)
    {
        await using var host = await StartGuardedAsync(w => w.RequireSignature = false);
        var e = TestWebhooks.OrderPaid() with { Recipients = [new Recipient("webhook", "https://hooks.example.com/a"), new Recipient("webhook", url)] };

        var act = () => host.Publisher.PublishAsync(e).AsTask();

        var thrown = (await act.Should().ThrowAsync<EventValidationException>()).Which;
        thrown.ParamName.Should().Be(nameof(NotificationEvent.Recipients));
        thrown.Message.Should().Contain("Recipients[1].Address").And.Contain("webhook");
        (await host.Store.GetEventAsync(e.Id)).Should().BeNull();
    }

    [Fact]
    public async Task Publish_LocalhostRecipientWhenPrivateNetworksAllowed_Accepted()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await StartGuardedAsync(w => { w.RequireSignature = false; w.AllowPrivateNetworks = true; });

        await host.Publisher.PublishAsync(TestWebhooks.OrderPaid() with { Recipients = [new Recipient("webhook", receiver.Url)] });

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1, Wait);
        receiver.Requests.Should().ContainSingle();
    }

    [Fact]
    public async Task Send_StoredDeliveriesToNonPublicAddresses_PermanentFailureWithoutConnecting()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var port = receiver.Port.ToString(CultureInfo.InvariantCulture);
        // The W5 literals, plus the same tricks aimed at the port a live receiver listens on: if the guard let any
        // through, the receiver would see a request. Publishing refuses these now, so they are put in the store as a
        // delivery made before the rule (or by another version) would be, and the send-time check must still hold.
        string[] urls =
        [
            .. W5,
            $"http://127.0.0.1:{port}/hook",
            $"http://2130706433:{port}/hook",
            $"http://0x7f000001:{port}/hook",
            $"http://0177.0.0.1:{port}/hook",
            $"http://127.1:{port}/hook",
            $"http://[::ffff:127.0.0.1]:{port}/hook",
            $"http://localhost:{port}/hook",
        ];
        await using var host = await StartGuardedAsync(w => w.RequireSignature = false);

        await host.StoreDueRecipientDeliveriesAsync(urls);

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, urls.Length, Wait);
        host.Outcomes.Attempts.Should().HaveCount(urls.Length).And.AllSatisfy(a =>
        {
            a.Outcome.Should().Be(AttemptOutcome.PermanentFailure);
            a.Error.Should().Contain("SSRF guard");
        });
        receiver.Requests.Should().BeEmpty();
    }

    [Fact]
    public async Task Send_StoredDeliveryToNonPublicAddress_CountedAsSsrfRefusal()
    {
        await using var host = await StartGuardedAsync(w => w.RequireSignature = false);
        using var refusals = new MetricCollector<long>(host.Services.GetRequiredService<IMeterFactory>(), "EventNotify", WebhookMetrics.RefusalsName);

        await host.StoreDueRecipientDeliveriesAsync(["http://10.0.0.5/"]);

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.DeadLettered, 1, Wait);
        refusals.GetMeasurementSnapshot().Should().ContainSingle()
            .Which.Tags.Should().Contain(new KeyValuePair<string, object?>("reason", "ssrf"));
    }

    [Fact]
    public async Task ConnectCallback_HostResolvingToLoopback_RefusedBeforeConnecting()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await StartGuardedAsync();
        var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient(WebhookNotifier.HttpClientName);

        // Past the URL check: the name is only known to be loopback once it is resolved, inside the connect callback.
        var act = () => client.GetAsync(new Uri($"http://localhost:{receiver.Port.ToString(CultureInfo.InvariantCulture)}/hook"));

        var thrown = (await act.Should().ThrowAsync<HttpRequestException>()).Which;
        thrown.InnerException.Should().BeOfType<WebhookAddressRefusedException>()
            .Which.Message.Should().Contain("loopback").And.Contain("localhost");
        receiver.Requests.Should().BeEmpty();
    }

    [Fact]
    public async Task ConnectCallback_LoopbackInAllowedNetworks_Connects()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await StartGuardedAsync(w =>
        {
            w.AllowedNetworks.Add("127.0.0.0/8");
            w.AllowedNetworks.Add("::1/128");
        });
        var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient(WebhookNotifier.HttpClientName);

        using var response = await client.GetAsync(new Uri($"http://localhost:{receiver.Port.ToString(CultureInfo.InvariantCulture)}/hook"));

        response.IsSuccessStatusCode.Should().BeTrue();
        receiver.Requests.Should().ContainSingle();
    }

    [Fact]
    public async Task Publish_AllowedNetworkEndpoint_Delivered()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await StartGuardedAsync(w => w.AllowedNetworks.Add("127.0.0.1/32"));
        await host.SubscribeWebhookAsync(receiver.Url);

        await host.Publisher.PublishAsync(TestWebhooks.OrderPaid());

        await host.Outcomes.WaitForStatusAsync(DeliveryStatus.Succeeded, 1, Wait);
        receiver.Requests.Should().ContainSingle();
    }
}
