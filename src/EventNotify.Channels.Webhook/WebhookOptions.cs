namespace EventNotify.Webhooks;

/// <summary>Settings of the webhook channel, given to <c>AddWebhooks(...)</c>. Validated when the host starts.</summary>
public sealed class WebhookOptions
{
    /// <summary>
    /// The name of the <see cref="System.Net.Http.IHttpClientFactory"/> client deliveries use: <c>EventNotify.Webhooks</c>.
    /// Add message handlers to it with <c>services.AddHttpClient(WebhookOptions.HttpClientName).AddHttpMessageHandler(...)</c>;
    /// do not replace its primary handler, which carries the SSRF guard.
    /// </summary>
    public const string HttpClientName = "EventNotify.Webhooks";

    /// <summary>
    /// The longest one HTTP attempt may take (connect, send, response headers and the kept part of the body). Unless
    /// configured, the <c>webhook</c> channel's attempt timeout is this plus two seconds (up to one second waiting for a
    /// slot at a busy endpoint, and one to spare), so this timeout fires first. The default value is 15 seconds.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How much of the response body is kept in the attempt record, in bytes (0 keeps none). The default value is 4096 (4 KiB).</summary>
    public int MaxResponseBytes { get; set; } = 4 * 1024;

    /// <summary>The shape of the JSON body. The default value is <see cref="WebhookPayloadFormat.StandardWebhooks"/>.</summary>
    public WebhookPayloadFormat PayloadFormat { get; set; } = WebhookPayloadFormat.StandardWebhooks;

    /// <summary>
    /// Whether every delivery must be signed. When <see langword="true"/>, a webhook subscription without a secret is
    /// refused when it is registered, and a delivery with no active secret (an explicit recipient, or every secret
    /// expired) fails permanently instead of going out unsigned. The default value is <see langword="true"/>.
    /// </summary>
    public bool RequireSignature { get; set; } = true;

    /// <summary>
    /// Whether endpoints may be on loopback, private, link-local and other non-public networks (the SSRF guard is off
    /// for addresses; URL rules still apply). Meant for tests and closed networks. The default value is <see langword="false"/>.
    /// </summary>
    public bool AllowPrivateNetworks { get; set; }

    /// <summary>
    /// Networks in CIDR notation (<c>10.20.0.0/16</c>, <c>fd00:1::/64</c>) allowed even though the SSRF guard would
    /// refuse them, e.g. a partner reached over a private link. The default value is an empty list.
    /// </summary>
    public IList<string> AllowedNetworks { get; } = [];

    /// <summary>Whether endpoint URLs must use <c>https</c>. The default value is <see langword="false"/>.</summary>
    public bool RequireHttps { get; set; }

    /// <summary>
    /// Consecutive failed attempts to one endpoint URL after which its circuit opens: for
    /// <see cref="CircuitBreakDuration"/> its deliveries are deferred without connecting and without using up an
    /// attempt. The default value is 5.
    /// </summary>
    public int CircuitBreakerThreshold { get; set; } = 5;

    /// <summary>How long an endpoint's circuit stays open. The default value is 30 seconds.</summary>
    public TimeSpan CircuitBreakDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// An endpoint that has failed every attempt for this long is given up: the delivery fails permanently and its
    /// subscription is disabled. The default value is 5 days.
    /// </summary>
    public TimeSpan DisableAfter { get; set; } = TimeSpan.FromDays(5);

    /// <summary>
    /// The most attempts in flight at once to one host and port (every URL on it: a server that hangs hangs all its
    /// paths), so a receiver that hangs holds only part of the channel's workers and deliveries to other receivers go
    /// on. A host earns the cap by answering: it starts with one attempt in flight, each answer adds one up to the cap,
    /// each attempt without an answer (timeout, connection failure) takes one away down to one, so a receiver that never
    /// answers holds a single worker. A delivery that finds its host with its window full waits for a slot (up to a
    /// second, and only while slots keep coming free) only while the host's recent answer times promise one within
    /// 50 ms, and not at all while the host's last finished attempt got no answer; otherwise, or if the host stays that
    /// busy, it is deferred (not counted as an attempt) to a turn of its own at the host's pace, at least a second
    /// later, and its worker goes on with other receivers' deliveries.
    /// A receiver that needs more than a second per answer is therefore held to this many at once: raise it (with the
    /// channel's <c>Concurrency</c>) for a known slow or high-volume host. The default value is <see langword="null"/>: half of the webhook
    /// channel's workers (<c>EventNotifyOptions.Channel("webhook").Concurrency</c>, else
    /// <c>EventNotifyOptions.Concurrency</c>), at least 1.
    /// </summary>
    public int? MaxConcurrencyPerEndpoint { get; set; }

    internal IEnumerable<string> Validate()
    {
        if (MaxConcurrencyPerEndpoint is < 1 or > 4096)
        {
            yield return $"WebhookOptions.MaxConcurrencyPerEndpoint must be between 1 and 4096, or null for half the channel's workers (was {MaxConcurrencyPerEndpoint}).";
        }

        if (Timeout <= TimeSpan.Zero || Timeout > TimeSpan.FromHours(1))
        {
            yield return $"WebhookOptions.Timeout must be positive and at most 1 hour (was {Timeout}); the channel's attempt timeout, Timeout + 2 s, must also stay under EventNotifyOptions.LeaseDuration (5 min by default).";
        }

        if (MaxResponseBytes is < 0 or > 1024 * 1024)
        {
            yield return $"WebhookOptions.MaxResponseBytes must be between 0 and 1048576 (was {MaxResponseBytes}).";
        }

        if (!Enum.IsDefined(PayloadFormat))
        {
            yield return $"WebhookOptions.PayloadFormat '{PayloadFormat}' is not a defined value.";
        }

        if (CircuitBreakerThreshold < 1)
        {
            yield return $"WebhookOptions.CircuitBreakerThreshold must be at least 1 (was {CircuitBreakerThreshold}).";
        }

        if (CircuitBreakDuration < TimeSpan.Zero || CircuitBreakDuration > TimeSpan.FromDays(1))
        {
            yield return $"WebhookOptions.CircuitBreakDuration must be between 0 and 1 day (was {CircuitBreakDuration}).";
        }

        if (DisableAfter <= TimeSpan.Zero || DisableAfter > TimeSpan.FromDays(365))
        {
            yield return $"WebhookOptions.DisableAfter must be positive and at most 365 days (was {DisableAfter}).";
        }

        for (var i = 0; i < AllowedNetworks.Count; i++)
        {
            if (!System.Net.IPNetwork.TryParse(AllowedNetworks[i], out _))
            {
                yield return $"WebhookOptions.AllowedNetworks[{i}] '{AllowedNetworks[i]}' is not a network in CIDR notation (e.g. '10.20.0.0/16').";
            }
        }
    }
}

/// <summary>The shape of a webhook's JSON body.</summary>
public enum WebhookPayloadFormat
{
    /// <summary>
    /// Standard Webhooks: <c>{"type": ..., "timestamp": "&lt;event time, ISO 8601&gt;", "data": &lt;the event's data&gt;}</c>,
    /// content type <c>application/json</c>.
    /// </summary>
    StandardWebhooks = 0,

    /// <summary>
    /// A structured-mode CloudEvents 1.0 JSON event (<c>specversion</c>, <c>id</c>, <c>source</c>, <c>type</c>,
    /// <c>subject</c>, <c>time</c>, <c>datacontenttype</c>, <c>data</c>, extension attributes), content type
    /// <c>application/cloudevents+json</c>.
    /// </summary>
    CloudEvents = 1,
}
