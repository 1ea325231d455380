using Microsoft.Extensions.Options;

namespace EventNotify.Webhooks.Tests;

public sealed class WebhookRegistrationTests
{
    [Fact]
    public async Task AddWebhooks_ChannelNotConfigured_UsesWebhookScheduleAndTimeout()
    {
        await using var host = await EngineHost.StartAsync(b => b.AddWebhooks(w => w.Timeout = TimeSpan.FromSeconds(7)), start: false);

        var channel = host.Services.GetRequiredService<IOptions<EventNotifyOptions>>().Value.Channels["webhook"];

        channel.Retry!.Delays.Should().Equal(RetryOptions.WebhookDefault().Delays);
        channel.Retry.MaxAttempts.Should().Be(8);
        channel.AttemptTimeout.Should().Be(TimeSpan.FromSeconds(9)); // 7 s + up to 1 s waiting for an endpoint slot + 1 s to spare
    }

    [Fact]
    public async Task AddWebhooks_NothingConfigured_DocumentedDefaults()
    {
        await using var host = await EngineHost.StartAsync(b => b.AddWebhooks(), start: false);

        var webhook = host.Services.GetRequiredService<IOptions<WebhookOptions>>().Value;
        webhook.Timeout.Should().Be(TimeSpan.FromSeconds(15));
        webhook.MaxResponseBytes.Should().Be(4096);
        webhook.PayloadFormat.Should().Be(WebhookPayloadFormat.StandardWebhooks);
        webhook.RequireSignature.Should().BeTrue();
        webhook.AllowPrivateNetworks.Should().BeFalse("the SSRF guard is on by default");
        webhook.RequireHttps.Should().BeFalse();
        webhook.CircuitBreakerThreshold.Should().Be(5);
        webhook.CircuitBreakDuration.Should().Be(TimeSpan.FromSeconds(30));
        webhook.DisableAfter.Should().Be(TimeSpan.FromDays(5));
        host.Services.GetRequiredService<IOptions<EventNotifyOptions>>().Value.Channels["webhook"].AttemptTimeout
            .Should().Be(TimeSpan.FromSeconds(17), "15 s for the request, up to 1 s waiting for an endpoint slot, 1 s to spare");
        host.Services.GetServices<INotifier>().OfType<WebhookNotifier>().Single().MaxConcurrencyPerEndpoint.Should().Be(8);
    }

    [Fact]
    public async Task AddWebhooks_ChannelConfiguredByUser_KeepsUserSettings()
    {
        var retry = new RetryOptions { MaxAttempts = 2 };
        await using var host = await EngineHost.StartAsync(
            b => b.AddWebhooks().ConfigureChannel("webhook", c =>
            {
                c.Retry = retry;
                c.AttemptTimeout = TimeSpan.FromSeconds(3);
            }),
            start: false);

        var channel = host.Services.GetRequiredService<IOptions<EventNotifyOptions>>().Value.Channels["webhook"];

        channel.Retry.Should().BeSameAs(retry);
        channel.AttemptTimeout.Should().Be(TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task AddWebhooks_Registered_ExposesWebhookNotifier()
    {
        await using var host = await EngineHost.StartAsync(b => b.AddWebhooks().AddWebhooks(), start: false);

        host.Services.GetServices<INotifier>().Should().ContainSingle().Which.Channel.Should().Be("webhook");
    }

    [Theory]
    [InlineData("Timeout")]
    [InlineData("MaxResponseBytes")]
    [InlineData("CircuitBreakerThreshold")]
    [InlineData("AllowedNetworks[0]")]
    [InlineData("MaxConcurrencyPerEndpoint")]
    [InlineData("CircuitBreakDuration")] // TimeSpan.MaxValue passed and made every failure throw (now + duration)
    [InlineData("DisableAfter")]
    public async Task Start_InvalidOption_FailsNamingIt(string option)
    {
        Action<WebhookOptions> configure = option switch
        {
            "CircuitBreakDuration" => w => w.CircuitBreakDuration = TimeSpan.MaxValue,
            "DisableAfter" => w => w.DisableAfter = TimeSpan.MaxValue,
            "MaxConcurrencyPerEndpoint" => w => w.MaxConcurrencyPerEndpoint = 0,
            "Timeout" => w => w.Timeout = TimeSpan.Zero,
            "MaxResponseBytes" => w => w.MaxResponseBytes = -1,
            "CircuitBreakerThreshold" => w => w.CircuitBreakerThreshold = 0,
            _ => w => w.AllowedNetworks.Add("10.0.0.0/33"),
        };

        var act = () => EngineHost.StartAsync(b => b.AddWebhooks(configure));

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Message.Should().Contain("WebhookOptions." + option);
    }

    [Fact]
    public async Task Start_WebhookTimeoutTooLongForTheLease_FailsNamingWebhookTimeout()
    {
        // 299 s is within WebhookOptions.Timeout's own rule, but the channel's attempt timeout (Timeout + 2 s) must stay
        // under the 5 min lease: the message used to name only an AttemptTimeout the host never set.
        var act = () => EngineHost.StartAsync(b => b.AddWebhooks(w => w.Timeout = TimeSpan.FromSeconds(299)));

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Message.Should()
            .Contain("Channels[\"webhook\"].AttemptTimeout (00:05:01)").And.Contain("WebhookOptions.Timeout + 2 s");
    }

    [Theory]
    [InlineData(null, null, 8)] // half of the default 16 workers
    [InlineData(6, null, 3)] // half of the webhook channel's own workers
    [InlineData(1, null, 1)] // never below one
    [InlineData(6, 5, 5)] // set explicitly
    public void MaxConcurrencyPerEndpoint_Default_IsHalfTheChannelsWorkers(int? channelWorkers, int? configured, int expected)
    {
        var engine = new EventNotifyOptions();
        if (channelWorkers is { } workers)
        {
            engine.Channel("webhook").Concurrency = workers;
        }

        WebhookNotifier.PerEndpointLimit(new WebhookOptions { MaxConcurrencyPerEndpoint = configured }, engine).Should().Be(expected);
    }
}
