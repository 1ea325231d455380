using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace EventNotify.Webhooks.Tests.Network;

public sealed class EndpointGuardTests
{
    /// <summary>Field case W5 plus the rest of the refused ranges and their IPv6 spellings.</summary>
    public static TheoryData<string, string> RefusedUrls => new()
    {
        { "http://2130706433/", "loopback" },
        { "http://0x7f000001/", "loopback" },
        { "http://0177.0.0.1/", "loopback" },
        { "http://127.1/", "loopback" },
        { "http://[::1]/", "loopback" },
        { "http://[::ffff:127.0.0.1]/", "loopback" },
        { "https://169.254.169.254/latest/meta-data/", "link-local" },
        { "http://10.0.0.5/", "private" },
        { "http://[fc00::1]/", "unique-local" },
        { "http://0.0.0.0/", "unspecified" },
        { "http://127.0.0.1:8080/hook", "loopback" },
        { "http://0x7f.1/", "loopback" },
        { "http://017700000001/", "loopback" },
        { "http://127.0.0.1./", "loopback" },
        { "http://172.16.0.1/", "private" },
        { "http://172.31.255.255/", "private" },
        { "http://192.168.1.1/", "private" },
        { "http://100.64.0.1/", "carrier-grade NAT" },
        { "http://169.254.1.1/", "link-local" },
        { "http://[fe80::1]/", "link-local" },
        { "http://[fd12:3456::1]/", "unique-local" },
        { "http://224.0.0.1/", "multicast" },
        { "http://[ff02::1]/", "multicast" },
        { "http://255.255.255.255/", "broadcast" },
        { "http://0.1.2.3/", "this network" },
        { "http://[::]/", "unspecified" },
        { "http://[::127.0.0.1]/", "loopback" },
        { "http://[::ffff:10.0.0.1]/", "private" },
        { "http://[::ffff:a9fe:a9fe]/", "link-local" },
        { "http://[64:ff9b::a00:1]/", "private" },
        { "http://[2002:7f00:1::]/", "loopback" },
        { "http://localhost/", "loopback" },
        { "http://api.localhost/", "loopback" },
        { "http://192.0.2.2:18777/ssrf", "TEST-NET-1" },
        { "http://198.51.100.7/", "TEST-NET-2" },
        { "http://203.0.113.9/", "TEST-NET-3" },
        { "http://[64:ff9b:1::1]/", "local-use NAT64" },
        { "http://[::ffff:0:127.0.0.1]/", "IPv4-translated" },
        { "http://[2001::1]/", "Teredo" },
        { "http://[2001:db8::1]/", "documentation" },
    };

    private static EndpointGuard Guard(Action<WebhookOptions>? configure = null)
    {
        var options = new WebhookOptions();
        configure?.Invoke(options);
        return new EndpointGuard(Options.Create(options), NullLogger<EndpointGuard>.Instance);
    }

    [Theory]
    [MemberData(nameof(RefusedUrls))]
    public void CheckUrl_NonPublicAddress_RefusedNamingRule(string url, string rule)
    {
        var refusal = Guard().CheckUrl(url, out _);

        refusal.Should().NotBeNull().And.Contain(rule);
    }

    // Found by a new-user trial: the hint said to list the network in AllowedNetworks, which can never allow a name.
    [Fact]
    public void CheckUrl_LocalhostWithLoopbackListed_StillRefusedWithAHintThatWorks()
    {
        var guard = Guard(o => o.AllowedNetworks.Add("127.0.0.0/8"));

        guard.CheckUrl("http://localhost:5300/hook", out _).Should().Contain("whatever WebhookOptions.AllowedNetworks lists").And.Contain("127.0.0.1");
        guard.CheckUrl("http://127.0.0.1:5300/hook", out _).Should().BeNull("the address is in a listed network");
    }

    [Theory]
    [MemberData(nameof(RefusedUrls))]
    public void CheckUrl_NonPublicAddress_RefusalSaysHowToAllowLocalDevelopment(string url, string rule)
    {
        _ = rule;
        Guard().CheckUrl(url, out _).Should().Contain("AllowPrivateNetworks");
    }

    [Theory]
    [MemberData(nameof(RefusedUrls))]
    public void CheckUrl_NonPublicAddressWithPrivateNetworksAllowed_Allowed(string url, string rule)
    {
        _ = rule;
        Guard(o => o.AllowPrivateNetworks = true).CheckUrl(url, out _).Should().BeNull();
    }

    [Theory]
    [InlineData("https://example.com/hook")]
    [InlineData("http://93.184.216.34/hook")]
    [InlineData("https://[2606:2800:220:1:248:1893:25c8:1946]/hook")]
    [InlineData("https://hooks.example.com:8443/a/b?c=d")]
    [InlineData("http://100.128.0.1/")]
    [InlineData("http://172.32.0.1/")]
    public void CheckUrl_PublicEndpoint_Allowed(string url)
    {
        Guard().CheckUrl(url, out var uri).Should().BeNull();
        uri.Should().NotBeNull();
    }

    [Theory]
    [InlineData("relative/hook", "absolute")]
    [InlineData("/hooks", "absolute http(s) URL")]
    [InlineData("not a url", "absolute")]
    [InlineData("ftp://example.com/hook", "scheme")]
    [InlineData("file:///etc/passwd", "scheme")]
    [InlineData("https://user:pw@example.com/hook", "user information")]
    [InlineData("https://example.com/hook#frag", "fragment")]
    public void CheckUrl_BadShape_RefusedNamingRule(string url, string rule)
    {
        Guard(o => o.AllowPrivateNetworks = true).CheckUrl(url, out _).Should().Contain(rule);
    }

    [Fact]
    public void CheckUrl_HttpWhenHttpsRequired_Refused()
    {
        var guard = Guard(o => o.RequireHttps = true);

        guard.CheckUrl("http://example.com/hook", out _).Should().Contain("https");
        guard.CheckUrl("https://example.com/hook", out _).Should().BeNull();
    }

    [Fact]
    public void CheckUrl_AddressInAllowedNetwork_Allowed()
    {
        var guard = Guard(o => o.AllowedNetworks.Add("10.20.0.0/16"));

        guard.CheckUrl("http://10.20.1.2/hook", out _).Should().BeNull();
        guard.CheckUrl("http://[::ffff:10.20.1.2]/hook", out _).Should().BeNull();
        guard.CheckUrl("http://10.21.1.2/hook", out _).Should().Contain("private");
    }

    [Theory]
    [InlineData("2130706433", "127.0.0.1")]
    [InlineData("0x7f000001", "127.0.0.1")]
    [InlineData("0177.0.0.1", "127.0.0.1")]
    [InlineData("127.1", "127.0.0.1")]
    [InlineData("127.0.1", "127.0.0.1")]
    [InlineData("0x7F.0.0.0x1", "127.0.0.1")]
    [InlineData("10.0.0.5", "10.0.0.5")]
    [InlineData("[::1]", "::1")]
    [InlineData("::ffff:127.0.0.1", "::ffff:127.0.0.1")]
    public void TryParseLiteral_OsAcceptedForms_ParsesAsOsWould(string host, string expected)
    {
        EndpointGuard.TryParseLiteral(host, out var address).Should().BeTrue();
        address.Should().Be(IPAddress.Parse(expected));
    }

    [Theory]
    [InlineData("example.com")]
    [InlineData("256.0.0.1")]
    [InlineData("1.2.3.4.5")]
    [InlineData("08.0.0.1")]
    [InlineData("1.2.3.256")]
    [InlineData("4294967296")]
    [InlineData("127.0.0.1a")]
    public void TryParseLiteral_NotAnAddress_ReturnsFalse(string host)
    {
        EndpointGuard.TryParseLiteral(host, out _).Should().BeFalse();
    }

    [Theory]
    [InlineData("2130706433")]
    [InlineData("0x7f000001")]
    [InlineData("0177.0.0.1")]
    [InlineData("127.1")]
    public void UriParse_OddIPv4Literals_RuntimeCanonicalisesToLoopback(string host)
    {
        // The runtime already turns these into 127.0.0.1; our own parser covers the forms it leaves as names
        // (e.g. "127.0.0.1." with a trailing dot) and the connect callback, which sees the raw host.
        var uri = new Uri($"http://{host}/");

        uri.HostNameType.Should().Be(UriHostNameType.IPv4);
        uri.Host.Should().Be("127.0.0.1");
    }

    [Fact]
    public void UriParse_TrailingDotLoopback_LeftAsNameButStillRefused()
    {
        new Uri("http://127.0.0.1./").HostNameType.Should().Be(UriHostNameType.Dns);
        Guard().CheckUrl("http://127.0.0.1./", out _).Should().Contain("loopback");
    }

    [Theory]
    [InlineData("2130706433")]
    [InlineData("0x7f000001")]
    [InlineData("0177.0.0.1")]
    [InlineData("127.1")]
    public void TryParseLiteral_OddForms_AgreeWithIPAddressTryParse(string host)
    {
        // What the runtime's own parser (used by the OS-level resolver path) makes of the same text.
        if (IPAddress.TryParse(host, out var runtime))
        {
            EndpointGuard.TryParseLiteral(host, out var ours).Should().BeTrue();
            ours.Should().Be(runtime);
        }
        else
        {
            EndpointGuard.TryParseLiteral(host, out _).Should().BeTrue("the OS resolver accepts it, so we must refuse it");
        }
    }
}
