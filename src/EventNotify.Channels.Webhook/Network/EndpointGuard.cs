using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using EventNotify.Webhooks.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventNotify.Webhooks;

/// <summary>
/// The SSRF guard: decides which URLs and IP addresses webhooks may reach. It runs three times: when a subscription
/// is registered (URL shape and literal addresses), before an attempt (the same, so no refused address is ever
/// connected to), and inside the HTTP handler's connect callback after DNS resolution, where it connects to the very
/// address it checked (so a DNS answer cannot change between the check and the connection).
/// </summary>
internal sealed class EndpointGuard
{
    private readonly WebhookOptions _options;
    private readonly IPNetwork[] _allowed;
    private readonly ILogger _logger;

    public EndpointGuard(IOptions<WebhookOptions> options, ILogger<EndpointGuard> logger)
    {
        _options = options.Value;
        _logger = logger;
        _allowed = _options.AllowedNetworks.Select(n => IPNetwork.TryParse(n, out var parsed) ? parsed : default).Where(n => n.BaseAddress is not null).ToArray();
    }

    /// <summary>Checks the URL's shape and, when its host is an address literal (in any form the OS accepts), the address.</summary>
    /// <returns><see langword="null"/> when allowed, otherwise the refusal naming the rule.</returns>
    public string? CheckUrl(string address, out Uri? uri)
    {
        // Uri would read "/hooks" as a file path on Unix: demand an explicit http(s) scheme first.
        if (!address.Contains("://", StringComparison.Ordinal))
        {
            uri = null;
            return $"'{Redact(address)}' is not an absolute http(s) URL.";
        }

        if (!Uri.TryCreate(address, UriKind.Absolute, out uri))
        {
            return $"'{Redact(address)}' is not an absolute URL.";
        }

        if (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
        {
            return $"the scheme '{uri.Scheme}' is not allowed: use http or https.";
        }

        if (_options.RequireHttps && uri.Scheme != Uri.UriSchemeHttps)
        {
            return "the URL must use https (WebhookOptions.RequireHttps).";
        }

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            return "the URL must not contain user information (user:password@); authenticate receivers by the signature.";
        }

        if (!string.IsNullOrEmpty(uri.Fragment))
        {
            return "the URL must not contain a fragment ('#...').";
        }

        var host = uri.IdnHost;
        if (TryParseLiteral(host, out var ip))
        {
            return CheckAddress(ip) is { } rule ? $"the address {ip} is {rule}{PrivateHint}." : null;
        }

        if (!_options.AllowPrivateNetworks && IsLocalHostName(host))
        {
            // Refused by name, before any lookup: no AllowedNetworks entry can let it through, so the hint says so.
            return $"the host '{host}' is loopback (localhost names, refused whatever WebhookOptions.AllowedNetworks lists: use the address, e.g. 127.0.0.1 with \"127.0.0.1/32\" in AllowedNetworks, or set WebhookOptions.AllowPrivateNetworks).";
        }

        return null;
    }

    /// <summary>Returns <see langword="null"/> when <paramref name="address"/> may be reached, otherwise the rule refusing it.</summary>
    public string? CheckAddress(IPAddress address)
    {
        if (_options.AllowPrivateNetworks)
        {
            return null;
        }

        foreach (var network in _allowed)
        {
            if (network.Contains(address) || (address.IsIPv4MappedToIPv6 && network.Contains(address.MapToIPv4())))
            {
                return null;
            }
        }

        return ForbiddenRule(address);
    }

    /// <summary>
    /// The <see cref="SocketsHttpHandler.ConnectCallback"/>: resolves the host, refuses forbidden addresses, and connects
    /// to an allowed one it checked. Throws <see cref="WebhookAddressRefusedException"/> when every address is refused.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var endPoint = context.DnsEndPoint;
        var addresses = TryParseLiteral(endPoint.Host, out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(endPoint.Host, cancellationToken).ConfigureAwait(false);

        // A name that resolves to any forbidden address is refused as a whole, even if other addresses are public:
        // trying "the next one" would let a hostile DNS answer (rebinding) pick which address is used.
        foreach (var address in addresses)
        {
            if (CheckAddress(address) is { } rule)
            {
                Log.AddressRefused(_logger, endPoint.Host, address.ToString(), rule);
                throw new WebhookAddressRefusedException($"the host '{endPoint.Host}' resolved to {address}, which is {rule}{PrivateHint}.");
            }
        }

        Exception? lastError = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, endPoint.Port), cancellationToken).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (Exception ex) when (ex is SocketException or IOException)
            {
                socket.Dispose();
                lastError = ex;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        if (lastError is not null)
        {
            ExceptionDispatchInfo.Throw(lastError);
        }

        throw new WebhookAddressRefusedException($"the host '{endPoint.Host}' resolved to no address.");
    }

    /// <summary>
    /// Parses an IP literal the way the OS resolver would (<c>inet_aton</c>): besides dotted quads, IPv4 in 1 to 4
    /// parts, each decimal, octal (leading 0) or hex (0x), so <c>2130706433</c>, <c>0x7f000001</c>, <c>0177.0.0.1</c>
    /// and <c>127.1</c> all mean 127.0.0.1; and IPv6 with or without brackets.
    /// </summary>
    public static bool TryParseLiteral(string host, out IPAddress address)
    {
        address = IPAddress.None;
        if (string.IsNullOrEmpty(host))
        {
            return false;
        }

        if (host.Contains(':', StringComparison.Ordinal))
        {
            var bare = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
            if (IPAddress.TryParse(bare, out var v6) && v6.AddressFamily == AddressFamily.InterNetworkV6)
            {
                address = v6;
                return true;
            }

            return false;
        }

        var trimmed = host.EndsWith('.') ? host[..^1] : host; // a trailing dot is the absolute form of the same name
        var parts = trimmed.Split('.');
        if (parts.Length is < 1 or > 4)
        {
            return false;
        }

        var values = new ulong[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!TryParsePart(parts[i], out values[i]))
            {
                return false;
            }
        }

        // The last part fills the bytes the earlier parts left: a.b.c.d, a.b.c(16 bits), a.b(24 bits), a(32 bits).
        var lastBits = 8 * (5 - parts.Length);
        ulong result = 0;
        for (var i = 0; i < parts.Length - 1; i++)
        {
            if (values[i] > 0xFF)
            {
                return false;
            }

            result |= values[i] << (24 - (8 * i));
        }

        if (values[^1] >= 1UL << lastBits)
        {
            return false;
        }

        result |= values[^1];
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)result);
        address = new IPAddress(bytes);
        return true;
    }

    private static bool TryParsePart(string part, out ulong value)
    {
        value = 0;
        if (part.Length == 0 || part.Length > 12)
        {
            return false;
        }

        if (part.Length > 2 && part[0] == '0' && (part[1] == 'x' || part[1] == 'X'))
        {
            return ulong.TryParse(part.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
        }

        if (part is "0x" or "0X")
        {
            return true; // inet_aton reads a bare "0x" as 0
        }

        if (part.Length > 1 && part[0] == '0')
        {
            foreach (var c in part)
            {
                if (c is < '0' or > '7')
                {
                    return false;
                }

                value = (value * 8) + (ulong)(c - '0');
            }

            return true;
        }

        foreach (var c in part)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return ulong.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>The rule refusing <paramref name="address"/> as a non-public destination, or <see langword="null"/>.</summary>
    public static string? ForbiddenRule(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            Span<byte> b = stackalloc byte[4];
            address.TryWriteBytes(b, out _);
            return ForbiddenV4(b);
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return "not an IP address family webhooks use";
        }

        Span<byte> v6 = stackalloc byte[16];
        address.TryWriteBytes(v6, out _);
        if (v6[..10].IndexOfAnyExcept((byte)0) < 0 && v6[10] == 0xFF && v6[11] == 0xFF)
        {
            return Embedded(ForbiddenV4(v6[12..]), "IPv4-mapped");
        }

        if (v6[..12].IndexOfAnyExcept((byte)0) < 0)
        {
            if (v6[12..15].IndexOfAnyExcept((byte)0) < 0 && v6[15] <= 1)
            {
                return v6[15] == 0 ? "unspecified (::)" : "loopback (::1)";
            }

            return Embedded(ForbiddenV4(v6[12..]), "IPv4-compatible");
        }

        if (v6[0] == 0x00 && v6[1] == 0x64 && v6[2] == 0xFF && v6[3] == 0x9B && v6[4..12].IndexOfAnyExcept((byte)0) < 0)
        {
            return Embedded(ForbiddenV4(v6[12..]), "NAT64 (64:ff9b::/96)");
        }

        if (v6[0] == 0x00 && v6[1] == 0x64 && v6[2] == 0xFF && v6[3] == 0x9B && v6[4] == 0x00 && v6[5] == 0x01)
        {
            return "local-use NAT64 (64:ff9b:1::/48)";
        }

        if (v6[..8].IndexOfAnyExcept((byte)0) < 0 && v6[8] == 0xFF && v6[9] == 0xFF && v6[10] == 0 && v6[11] == 0)
        {
            return Embedded(ForbiddenV4(v6[12..]), "IPv4-translated (::ffff:0:0/96)") ?? "IPv4-translated (::ffff:0:0/96)";
        }

        if (v6[0] == 0x20 && v6[1] == 0x01 && v6[2] == 0x00 && v6[3] == 0x00)
        {
            return "Teredo (2001::/32)"; // tunnels to an IPv4 address the guard cannot see
        }

        if (v6[0] == 0x20 && v6[1] == 0x01 && v6[2] == 0x0D && v6[3] == 0xB8)
        {
            return "documentation (2001:db8::/32)";
        }

        if (v6[0] == 0x01 && v6[1..8].IndexOfAnyExcept((byte)0) < 0)
        {
            return "discard-only (100::/64)";
        }

        if (v6[0] == 0x20 && v6[1] == 0x02)
        {
            return Embedded(ForbiddenV4(v6[2..6]), "6to4 (2002::/16)");
        }

        return v6[0] switch
        {
            0xFF => "multicast (ff00::/8)",
            0xFE when (v6[1] & 0xC0) == 0x80 => "link-local (fe80::/10)",
            0xFE when (v6[1] & 0xC0) == 0xC0 => "site-local (fec0::/10)",
            0xFC or 0xFD => "unique-local (fc00::/7)",
            _ => null,
        };

        static string? Embedded(string? rule, string form) => rule is null ? null : $"{rule}, in {form} form";
    }

    private static string? ForbiddenV4(ReadOnlySpan<byte> b) => b[0] switch
    {
        0 when b[1] == 0 && b[2] == 0 && b[3] == 0 => "unspecified (0.0.0.0)",
        0 => "'this network' (0.0.0.0/8)",
        10 => "private (10.0.0.0/8)",
        100 when (b[1] & 0xC0) == 64 => "carrier-grade NAT (100.64.0.0/10)",
        127 => "loopback (127.0.0.0/8)",
        169 when b[1] == 254 => "link-local (169.254.0.0/16, cloud metadata)",
        172 when (b[1] & 0xF0) == 16 => "private (172.16.0.0/12)",
        192 when b[1] == 168 => "private (192.168.0.0/16)",
        192 when b[1] == 0 && b[2] == 0 => "IETF protocol assignments (192.0.0.0/24)",
        192 when b[1] == 0 && b[2] == 2 => "documentation TEST-NET-1 (192.0.2.0/24)",
        192 when b[1] == 88 && b[2] == 99 => "deprecated 6to4 relay anycast (192.88.99.0/24)",
        198 when b[1] == 51 && b[2] == 100 => "documentation TEST-NET-2 (198.51.100.0/24)",
        203 when b[1] == 0 && b[2] == 113 => "documentation TEST-NET-3 (203.0.113.0/24)",
        198 when (b[1] & 0xFE) == 18 => "benchmarking (198.18.0.0/15)",
        >= 224 and <= 239 => "multicast (224.0.0.0/4)",
        255 when b[1] == 255 && b[2] == 255 && b[3] == 255 => "broadcast (255.255.255.255)",
        >= 240 => "reserved (240.0.0.0/4)",
        _ => null,
    };

    private const string PrivateHint = " (for local development set WebhookOptions.AllowPrivateNetworks or list the network in WebhookOptions.AllowedNetworks)";

    private static bool IsLocalHostName(string host)
    {
        var name = host.TrimEnd('.');
        return name.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || name.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase);
    }

    private static string Truncate(string value) => value.Length <= 100 ? value : value[..100] + "...";

    /// <summary>
    /// An address that could not be parsed, as a refusal may repeat it: without its user information (before an
    /// <c>@</c> in the authority) and its query or fragment, where credentials and tokens travel, and at most 100
    /// characters. Messages end up in host logs.
    /// </summary>
    internal static string Redact(string address)
    {
        var value = address;
        var tail = value.IndexOfAny(['?', '#']);
        if (tail >= 0)
        {
            value = string.Concat(value.AsSpan(0, tail), value[tail] == '?' ? "?..." : "#...");
        }

        var scheme = value.IndexOf("://", StringComparison.Ordinal);
        var start = scheme >= 0 ? scheme + 3 : 0;
        var end = value.IndexOfAny(['/', '\\'], start);
        var at = value.AsSpan(start, (end < 0 ? value.Length : end) - start).LastIndexOf('@');
        if (at >= 0)
        {
            value = string.Concat(value.AsSpan(0, start), "...@", value.AsSpan(start + at + 1));
        }

        return Truncate(value);
    }
}

/// <summary>The SSRF guard refused to connect to a webhook endpoint's address. The message names the address and the rule.</summary>
internal sealed class WebhookAddressRefusedException(string message) : Exception("Webhook endpoint refused by the SSRF guard: " + message);
