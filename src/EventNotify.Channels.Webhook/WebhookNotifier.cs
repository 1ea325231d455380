using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Reflection;
using System.Text;
using EventNotify.Webhooks.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventNotify.Webhooks;

/// <summary>
/// The <c>webhook</c> channel: POSTs the event as signed JSON (Standard Webhooks headers) and classifies the answer.
/// 2xx is success; 410 Gone is permanent and disables the subscription; everything else (3xx not followed, 4xx, 408,
/// 429, 5xx, timeouts, connection errors) is transient, with the receiver's <c>Retry-After</c> honoured. Addresses
/// refused by the SSRF guard fail permanently without a connection.
/// </summary>
internal sealed class WebhookNotifier : INotifier
{
    /// <summary>The channel name: <c>webhook</c>.</summary>
    public const string ChannelName = "webhook";

    /// <summary>The name of the <see cref="IHttpClientFactory"/> client used for deliveries.</summary>
    public const string HttpClientName = WebhookOptions.HttpClientName;

    internal static readonly string UserAgent = "EventNotify/" + ProductVersion();

    private readonly IHttpClientFactory _clients;
    private readonly WebhookOptions _options;
    private readonly EndpointGuard _guard;
    private readonly EndpointHealth _health;
    private readonly TimeProvider _time;
    private readonly WebhookMetrics _metrics;
    private readonly ILogger _logger;

    private readonly EndpointSlots _slots;
    // Resolved on first use: the subscription store's validators depend on the registered notifiers, this one included.
    private readonly Lazy<ISubscriptionStore> _subscriptions;

    public WebhookNotifier(IHttpClientFactory clients, IOptions<WebhookOptions> options, IOptions<EventNotifyOptions> engine, EndpointGuard guard, EndpointHealth health, IServiceProvider services, TimeProvider time, WebhookMetrics metrics, ILogger<WebhookNotifier> logger)
    {
        _subscriptions = new Lazy<ISubscriptionStore>(() => Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<ISubscriptionStore>(services));
        _slots = new EndpointSlots(PerEndpointLimit(options.Value, engine.Value), time);
        _metrics = metrics;
        _clients = clients;
        _options = options.Value;
        _guard = guard;
        _health = health;
        _time = time;
        _logger = logger;
    }

    public string Channel => ChannelName;

    /// <summary>Every await of an attempt (slot wait, HTTP send, body read) takes the token: the engine need not guard it.</summary>
    public bool HonoursCancellation => true;

    /// <summary>The cap on attempts in flight to one endpoint URL (<see cref="WebhookOptions.MaxConcurrencyPerEndpoint"/>).</summary>
    internal int MaxConcurrencyPerEndpoint => _slots.Limit;

    internal static int PerEndpointLimit(WebhookOptions webhook, EventNotifyOptions engine)
    {
        if (webhook.MaxConcurrencyPerEndpoint is { } limit)
        {
            return limit;
        }

        var workers = engine.Channels.TryGetValue(ChannelName, out var channel) && channel.Concurrency is { } c ? c : engine.Concurrency;
        return Math.Max(1, workers / 2);
    }

    /// <summary>
    /// The URL check and the keys derived from an address depend on nothing but the address and the options, so they
    /// are computed once per address rather than on every attempt (parsing a <see cref="Uri"/> is not cheap). The DNS
    /// answer is still checked at every connection. Bounded: cleared when it holds <see cref="MaxCached"/> entries.
    /// </summary>
    private Target Resolve(string address)
    {
        if (_targets.TryGetValue(address, out var target))
        {
            return target;
        }

        var refusal = _guard.CheckUrl(address, out var uri);
        target = uri is null || refusal is not null
            ? new Target(uri, refusal ?? "the URL could not be parsed.", "", "")
            : new Target(uri, null, EndpointHealth.KeyOf(uri), EndpointHealth.CircuitOf(uri));
        if (_targets.Count >= MaxCached)
        {
            _targets.Clear();
        }

        _targets[address] = target;
        return target;
    }

    /// <summary>Parses a subscription secret once (base64 decoding on every attempt is wasted work); bounded like <see cref="Resolve"/>.</summary>
    private bool TryParseSecret(string value, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out WebhookSecret[]? parsed, out string? error)
    {
        error = null;
        if (_secrets.TryGetValue(value, out parsed))
        {
            return true;
        }

        if (!WebhookSecret.TryParse(value, out var secret, out error))
        {
            return false;
        }

        if (_secrets.Count >= MaxCached)
        {
            _secrets.Clear();
        }

        parsed = [secret];
        _secrets[value] = parsed;
        return true;
    }

    private const int MaxCached = 10_000;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Target> _targets = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, WebhookSecret[]> _secrets = new(StringComparer.Ordinal);

    private sealed record Target(Uri? Uri, string? Refusal, string Key, string Circuit);

    // Pooled state machines (here and in PostAsync): an attempt would otherwise allocate a box per method that waits.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<DeliveryResult> SendAsync(Notification notification, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notification);
        var target = Resolve(notification.Address);
        var uri = target.Uri;
        if (target.Refusal is { } refusal)
        {
            // Refused before any connection: registration may have happened before a rule changed, or this is an explicit recipient.
            Log.Refused(_logger, notification.DeliveryId, refusal);
            _metrics.Refused("ssrf");
            return DeliveryResult.Permanent("Webhook endpoint refused by the SSRF guard: " + refusal);
        }

        var now = _time.GetUtcNow();
        var secrets = ActiveSecrets(notification.Subscription, now, out var secretError);
        if (secretError is not null)
        {
            Log.Refused(_logger, notification.DeliveryId, secretError);
            _metrics.Refused("unsigned");
            return DeliveryResult.Permanent(secretError);
        }

        var endpoint = target.Key;
        var circuit = target.Circuit;
        var health = _health.Check(circuit);
        if (health.IsOpen)
        {
            if (health.GiveUp)
            {
                if (notification.Subscription is { FailingSince: not null } given)
                {
                    await SetStreakAsync(given.Id, null).ConfigureAwait(false); // re-enabled later, it starts afresh
                }

                return GiveUp(notification, endpoint, circuit, null, null);
            }

            _metrics.Refused("circuit_open");
            // Not an attempt: an outage must not burn the delivery's retry budget faster than its schedule.
            return DeliveryResult.Deferred(
                $"Circuit open for {endpoint} after {health.Failures} consecutive failures: not attempted.",
                health.OpenFor);
        }

        // Per host and port, not per URL: a server that hangs hangs every path on it.
        var slot = await _slots.EnterAsync(endpoint, cancellationToken).ConfigureAwait(false);
        if (slot is null)
        {
            if (health.IsProbe)
            {
                _health.AbandonProbe(circuit); // never sent: the next attempt probes instead
            }

            _metrics.Refused("endpoint_busy");
            return DeliveryResult.Deferred(
                $"Host {endpoint} already has {_slots.InFlight(endpoint)} attempt(s) in flight, as many as it may have now ({_slots.Window(endpoint)} of WebhookOptions.MaxConcurrencyPerEndpoint {_slots.Limit}, per host and port; a host earns more by answering), and none is expected to free up soon: not attempted.",
                _slots.DeferralFor(endpoint));
        }

        DeliveryResult result = default;
        var slotTaken = _time.GetTimestamp();
        try
        {
            // The attempt's time: a wait for a slot must not age the signature timestamp.
            now = _time.GetUtcNow();
            result = await PostAsync(notification, uri!, endpoint, secrets, now, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            EndpointSlots.Release(slot, _time.GetElapsedTime(slotTaken), answered: result.StatusCode is not null);
        }

        if (result.Outcome == AttemptOutcome.PermanentFailure && result.StatusCode is not null)
        {
            // An answer not worth retrying (410 Gone): the endpoint is up, so its circuit closes and a probe is over.
            _health.RecordSuccess(circuit);
        }
        else if (result.IsSuccess)
        {
            var wasFailing = _health.RecordSuccess(circuit);
            if (notification.Subscription is { } recovered && (recovered.FailingSince is not null || wasFailing))
            {
                // The streak is over. Also after a streak this delivery's copy of the subscription may predate: the
                // store clears it only if it is set.
                await SetStreakAsync(recovered.Id, null).ConfigureAwait(false);
            }
        }
        else if (result.Outcome == AttemptOutcome.TransientFailure)
        {
            var (opened, giveUp) = _health.RecordFailure(circuit);
            if (notification.Subscription is { } subscription)
            {
                giveUp |= await TrackStreakAsync(subscription, circuit).ConfigureAwait(false);
            }

            if (giveUp)
            {
                if (notification.Subscription is { FailingSince: not null } given)
                {
                    await SetStreakAsync(given.Id, null).ConfigureAwait(false); // re-enabled later, it starts afresh
                }

                return GiveUp(notification, endpoint, circuit, result.StatusCode, result.Response);
            }

            if (opened)
            {
                _metrics.CircuitOpened();
                Log.CircuitOpened(_logger, notification.Subscription?.Id, endpoint, _health.Failures(circuit));
            }
        }

        return result;
    }

    /// <summary>
    /// How long a failure streak lasts before it is written to the subscription (<see cref="Subscription.FailingSince"/>),
    /// so that the <see cref="WebhookOptions.DisableAfter"/> clock survives restarts. Shorter streaks, e.g. a flapping
    /// endpoint, cost no writes.
    /// </summary>
    internal static readonly TimeSpan RecordStreakAfter = TimeSpan.FromMinutes(1);

    /// <summary>Records a long failure streak on the subscription; returns whether the recorded streak is old enough to give up.</summary>
    private async ValueTask<bool> TrackStreakAsync(Subscription subscription, string circuit)
    {
        var now = _time.GetUtcNow();
        if (subscription.FailingSince is { } recorded)
        {
            return now - recorded >= _options.DisableAfter; // e.g. failing since before this process started
        }

        if (_health.FailingSince(circuit) is { } since && now - since >= RecordStreakAfter)
        {
            await SetStreakAsync(subscription.Id, since).ConfigureAwait(false);
        }

        return false;
    }

    private async ValueTask SetStreakAsync(string subscriptionId, DateTimeOffset? since)
    {
        try
        {
            await _subscriptions.Value.SetFailingSinceAsync(subscriptionId, since, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Only the restart-proof clock is lost; delivery goes on.
            Log.StreakNotRecorded(_logger, ex, subscriptionId);
        }
    }

    private DeliveryResult GiveUp(Notification notification, string endpoint, string circuit, int? statusCode, string? response)
    {
        // The subscription is disabled; if it is enabled again, its streak (and the circuit) starts afresh. The URL's
        // state was shared with any other subscription to it: theirs restarts too, which can only delay their give-up.
        _health.Forget(circuit);
        Log.GivenUp(_logger, endpoint, _options.DisableAfter, notification.Subscription?.Id);
        return DeliveryResult.Permanent(
            $"Endpoint {endpoint} has failed every attempt for longer than {_options.DisableAfter} (WebhookOptions.DisableAfter): given up.",
            statusCode,
            disableSubscription: true,
            response);
    }

    private IReadOnlyList<WebhookSecret> ActiveSecrets(Subscription? subscription, DateTimeOffset now, out string? error)
    {
        error = null;
        if (subscription is { Secrets: [{ ExpiresAt: null } only] } && TryParseSecret(only.Value, out var single, out _))
        {
            return single; // the usual case: one secret, no rotation under way (a cached one-element array)
        }

        var active = new List<WebhookSecret>(2);
        if (subscription is not null)
        {
            for (var i = 0; i < subscription.Secrets.Count; i++)
            {
                var s = subscription.Secrets[i];
                if (s.ExpiresAt is { } expires && expires <= now)
                {
                    continue; // a rotated-out secret: no longer signed with
                }

                if (!TryParseSecret(s.Value, out var parsed, out var parseError))
                {
                    error = $"Subscription.Secrets[{i}] is invalid: {parseError}";
                    return active;
                }

                active.Add(parsed[0]);
            }
        }

        if (active.Count == 0 && _options.RequireSignature)
        {
            error = subscription is null
                ? "An explicit webhook recipient has no secret to sign with and WebhookOptions.RequireSignature is true: use a subscription with a secret."
                : "The subscription has no active (unexpired) secret and WebhookOptions.RequireSignature is true: add a secret.";
        }

        return active;
    }

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<DeliveryResult> PostAsync(Notification notification, Uri uri, string endpoint, IReadOnlyList<WebhookSecret> secrets, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // Built once per attempt: these exact bytes are signed and sent.
        var body = WebhookPayload.Build(notification.Event, _options.PayloadFormat);
        using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new ByteArrayContent(body) };

        // Our own constant, well-formed values: added as they are, not parsed into header objects on every attempt.
        request.Content.Headers.TryAddWithoutValidation("Content-Type", WebhookPayload.ContentType(_options.PayloadFormat));
        var headers = request.Headers;
        headers.TryAddWithoutValidation(WebhookVerifier.IdHeader, notification.DeliveryId);
        headers.TryAddWithoutValidation(WebhookVerifier.TimestampHeader, UnixSecondsText(now));
        if (secrets.Count > 0)
        {
            string signature;
            if (secrets.Count == 1)
            {
                signature = secrets[0].Sign(notification.DeliveryId, now, body); // the usual case: no rotation under way
            }
            else
            {
                var signatures = new StringBuilder();
                foreach (var secret in secrets)
                {
                    signatures.Append(signatures.Length == 0 ? "" : " ").Append(secret.Sign(notification.DeliveryId, now, body));
                }

                signature = signatures.ToString();
            }

            headers.TryAddWithoutValidation(WebhookVerifier.SignatureHeader, signature);
        }

        headers.TryAddWithoutValidation("User-Agent", UserAgent);
        if (Activity.Current is { IdFormat: ActivityIdFormat.W3C } activity)
        {
            headers.TryAddWithoutValidation("traceparent", activity.Id);
            if (activity.TraceStateString is { Length: > 0 } state)
            {
                headers.TryAddWithoutValidation("tracestate", state);
            }
        }
        else if (notification.Event.Extensions.TryGetValue("traceparent", out var published) && ActivityContext.TryParse(published, null, out _))
        {
            // (a publisher's own extension that is not a W3C traceparent is not sent as one)
            // Nobody listens to the engine's activities, so there is no send span: the receiver joins the publisher's trace.
            headers.TryAddWithoutValidation("traceparent", published);
        }

        // One source for both the caller's token and this channel's own timeout (on the TimeProvider), instead of a
        // timeout source plus a linked one per attempt; sources whose attempt ended without cancellation are reused.
        var linked = RentTimeoutSource();
        var callerCancels = cancellationToken.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), linked);
        var started = _time.GetTimestamp();
        try
        {
            var client = Client();
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            // The status decides the outcome: a body that trickles in past the timeout costs only its text (a 2xx
            // answer recorded as a timeout was sent again, a duplicate, while one whose body broke off counted as done).
            var text = await ReadStartAsync(response, linked, cancellationToken).ConfigureAwait(false);
            Log.Answered(_logger, notification.DeliveryId, endpoint, status, _time.GetElapsedTime(started).TotalMilliseconds);
            if (status is >= 200 and <= 299)
            {
                return DeliveryResult.Success(statusCode: status, response: text);
            }

            if (response.StatusCode == HttpStatusCode.Gone)
            {
                return DeliveryResult.Permanent("Endpoint answered 410 Gone: the receiver asked for no more deliveries.", status, disableSubscription: true, response: text);
            }

            var what = status is >= 300 and <= 399
                ? $"Endpoint answered {status} (redirects are not followed; register the final URL)."
                : $"Endpoint answered {status} {response.ReasonPhrase}.";
            return DeliveryResult.Transient(what, status, RetryAfter(response), text);
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            var error = $"Timed out after {_options.Timeout.TotalSeconds:0.###} s (WebhookOptions.Timeout).";
            Log.Failed(_logger, notification.DeliveryId, endpoint, error);
            return DeliveryResult.Transient(error);
        }
        catch (HttpRequestException ex) when (FindRefusal(ex) is { } refused)
        {
            Log.Refused(_logger, notification.DeliveryId, refused.Message);
            _metrics.Refused("ssrf");
            return DeliveryResult.Permanent(refused.Message);
        }
        catch (HttpRequestException ex)
        {
            var error = $"Connection failed ({ex.HttpRequestError}): {ex.Message}{Causes(ex)}";
            Log.Failed(_logger, notification.DeliveryId, endpoint, error);
            return DeliveryResult.Transient(error, ex.StatusCode is { } code ? (int)code : null);
        }
        finally
        {
            callerCancels.Dispose();
            ReturnTimeoutSource(linked);
        }
    }

    private const int MaxPooledTimeoutSources = 256;

    private readonly System.Collections.Concurrent.ConcurrentQueue<CancellationTokenSource> _timeoutSources = new();

    private CancellationTokenSource RentTimeoutSource()
    {
        if (_timeoutSources.TryDequeue(out var source))
        {
            source.CancelAfter(_options.Timeout);
            return source;
        }

        return new CancellationTokenSource(_options.Timeout, _time);
    }

    /// <summary>Keeps a source for the next attempt if it was never cancelled (TryReset also stops its timer).</summary>
    private void ReturnTimeoutSource(CancellationTokenSource source)
    {
        if (_timeoutSources.Count < MaxPooledTimeoutSources && source.TryReset())
        {
            _timeoutSources.Enqueue(source);
        }
        else
        {
            source.Dispose();
        }
    }

    /// <summary>
    /// The factory's client for this channel, taken again every <see cref="ClientRefresh"/>. A client per attempt cost
    /// an allocation and a handler look-up each time; the factory's handler rotation still applies (the primary
    /// handler's own PooledConnectionLifetime also renews connections, so DNS changes are followed).
    /// </summary>
    private HttpClient Client()
    {
        var cached = _client;
        var now = _time.GetTimestamp();
        if (cached is null || _time.GetElapsedTime(cached.Taken, now) >= ClientRefresh)
        {
            cached = new CachedClient(_clients.CreateClient(HttpClientName), now);
            _client = cached;
        }

        return cached.Client;
    }

    /// <summary>
    /// The <c>webhook-timestamp</c> value of <paramref name="now"/>: the last one formatted is kept, since attempts
    /// within the same second share it (one string per second instead of one per attempt).
    /// </summary>
    private static string UnixSecondsText(DateTimeOffset now)
    {
        var seconds = now.ToUnixTimeSeconds();
        var last = s_lastSeconds;
        if (last is not null && last.Seconds == seconds)
        {
            return last.Text;
        }

        var fresh = new FormattedSeconds(seconds, seconds.ToString(CultureInfo.InvariantCulture));
        s_lastSeconds = fresh;
        return fresh.Text;
    }

    private sealed record FormattedSeconds(long Seconds, string Text);

    private static volatile FormattedSeconds? s_lastSeconds;

    private static readonly TimeSpan ClientRefresh = TimeSpan.FromSeconds(30);

    private volatile CachedClient? _client;

    private sealed record CachedClient(HttpClient Client, long Taken);

    /// <summary>
    /// The first <see cref="WebhookOptions.MaxResponseBytes"/> of the answer's body as text, for the attempt record:
    /// cut at a character boundary, with control characters other than tab and line breaks replaced by U+FFFD (a
    /// receiver's NULs or terminal escape sequences are not kept for an admin screen or a log to show raw). What has
    /// arrived when the attempt's timeout fires is kept; only the caller's token (shutdown) ends the read with an error.
    /// </summary>
    private async ValueTask<string?> ReadStartAsync(HttpResponseMessage response, CancellationTokenSource timeout, CancellationToken callerToken)
    {
        if (_options.MaxResponseBytes == 0)
        {
            return null;
        }

        if (response.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.ResetContent or HttpStatusCode.NotModified
            || response.Content.Headers.ContentLength == 0)
        {
            return null; // most receivers answer 204, or 200 with no body: nothing to read (204 without touching the headers)
        }

        // Pooled: a fresh buffer of MaxResponseBytes per attempt would be most of the channel's allocations.
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(_options.MaxResponseBytes);
        var total = 0;
        try
        {
            var stream = await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                while (total < _options.MaxResponseBytes)
                {
                    var n = await stream.ReadAsync(buffer.AsMemory(total, _options.MaxResponseBytes - total), timeout.Token).ConfigureAwait(false);
                    if (n == 0)
                    {
                        break;
                    }

                    total += n;
                }
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException
            || (ex is OperationCanceledException && timeout.IsCancellationRequested && !callerToken.IsCancellationRequested))
        {
            // The status decides the outcome; a broken or slow body only loses the rest of the diagnostic text.
        }

        try
        {
            return total == 0 ? null : ResponseText(buffer.AsSpan(0, total), cut: total == _options.MaxResponseBytes);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The kept bytes as text: a character cut by the byte limit dropped, control characters replaced.</summary>
    internal static string ResponseText(ReadOnlySpan<byte> bytes, bool cut)
    {
        if (cut)
        {
            // Back up over the start of a multi-byte character whose end fell past the limit (at most 3 bytes).
            var end = bytes.Length;
            for (var i = 1; i <= 3 && i <= bytes.Length; i++)
            {
                var b = bytes[^i];
                if ((b & 0xC0) != 0x80)
                {
                    var needed = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
                    if (needed > i)
                    {
                        end = bytes.Length - i;
                    }

                    break;
                }
            }

            bytes = bytes[..end];
        }

        var text = Encoding.UTF8.GetString(bytes);
        return text.AsSpan().IndexOfAnyInRange('\0', '\u001f') < 0 && text.AsSpan().IndexOfAnyInRange('\u007f', '\u009f') < 0
            ? text
            : string.Create(text.Length, text, static (span, source) =>
            {
                for (var i = 0; i < span.Length; i++)
                {
                    var c = source[i];
                    span[i] = char.IsControl(c) && c is not ('\t' or '\n' or '\r') ? '\uFFFD' : c;
                }
            });
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header is null && response.Headers.NonValidated.TryGetValues("Retry-After", out var raw)
            && raw.Count == 1 && raw.ToString().Trim() is { Length: > 0 } digits && digits.AsSpan().IndexOfAnyExceptInRange('0', '9') < 0)
        {
            // More seconds than .NET parses (past int.MaxValue): longer than any limit, so the schedule's MaxRetryAfter applies.
            return TimeSpan.MaxValue;
        }

        if (header?.Delta is { } delta)
        {
            return delta < TimeSpan.Zero ? null : delta;
        }

        if (header?.Date is { } date)
        {
            var wait = date - _time.GetUtcNow();
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }

        return null;
    }

    /// <summary>The inner exceptions' messages (the reset or refusal behind "An error occurred while sending the request.").</summary>
    private static string Causes(Exception ex)
    {
        var causes = new StringBuilder();
        for (var inner = ex.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (!string.IsNullOrEmpty(inner.Message) && !ex.Message.Contains(inner.Message, StringComparison.Ordinal))
            {
                causes.Append(" (").Append(inner.Message).Append(')');
            }
        }

        return causes.ToString();
    }

    private static WebhookAddressRefusedException? FindRefusal(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is WebhookAddressRefusedException refused)
            {
                return refused;
            }
        }

        return null;
    }

    private static string ProductVersion()
    {
        var assembly = typeof(WebhookNotifier).Assembly;
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString()
            ?? "0.0.0";
        var plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? version : version[..plus];
    }
}
