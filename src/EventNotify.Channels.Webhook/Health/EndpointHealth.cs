using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace EventNotify.Webhooks;

/// <summary>
/// Tracks failures per endpoint URL (one subscriber's hooks on a shared host such as a SaaS integration platform
/// must not trip another's). After <see cref="WebhookOptions.CircuitBreakerThreshold"/>
/// consecutive failures the endpoint's circuit opens for <see cref="WebhookOptions.CircuitBreakDuration"/>: attempts
/// to it fail at once without connecting, so a dead endpoint does not hold the channel's workers. When the break ends
/// the circuit is half-open: one attempt goes out as a probe while the others are put off (<see cref="ProbeWait"/> at a
/// time, until the probe answers or <see cref="WebhookOptions.Timeout"/> passes); the probe's success (or any answer that
/// is not a failure to retry, such as 410) closes the circuit, its failure reopens it. (Every delivery put off during the break went out at once when it ended, each using up an
/// attempt against an endpoint that was most likely still down.) An endpoint failing without a single success
/// for <see cref="WebhookOptions.DisableAfter"/> is reported as given up. Deterministic: all time comes from the
/// <see cref="TimeProvider"/>.
/// </summary>
internal sealed class EndpointHealth(IOptions<WebhookOptions> options, TimeProvider time)
{
    private readonly WebhookOptions _options = options.Value;
    private readonly ConcurrentDictionary<string, State> _failing = new(StringComparer.Ordinal);

    /// <summary>The scheme, host and port of an endpoint: what logs and messages show (paths and queries may carry tokens).</summary>
    public static string KeyOf(Uri uri) => uri.GetLeftPart(UriPartial.Authority).ToLowerInvariant();

    /// <summary>The circuit key of an endpoint: its whole URL without fragment, since many receivers share one host.</summary>
    public static string CircuitOf(Uri uri) => uri.GetComponents(UriComponents.HttpRequestUrl, UriFormat.UriEscaped);

    /// <summary>Whether an attempt to <paramref name="endpoint"/> may go out now.</summary>
    public EndpointCheck Check(string endpoint)
    {
        if (!_failing.TryGetValue(endpoint, out var state))
        {
            return default;
        }

        var now = time.GetUtcNow();
        lock (state)
        {
            var giveUp = now - state.FailingSince >= _options.DisableAfter;
            if (state.OpenUntil > now)
            {
                return new EndpointCheck(true, state.OpenUntil - now, state.Failures, giveUp);
            }

            if (state.OpenUntil != default && state.ProbeUntil > now)
            {
                // Half-open with a probe out: wait for its answer rather than pile onto a likely dead endpoint.
                return new EndpointCheck(true, ProbeWait, state.Failures, giveUp);
            }

            if (state.OpenUntil != default)
            {
                state.ProbeUntil = now + _options.Timeout; // this attempt is the probe
                return new EndpointCheck(false, TimeSpan.Zero, state.Failures, giveUp, IsProbe: true);
            }

            return new EndpointCheck(false, TimeSpan.Zero, state.Failures, giveUp);
        }
    }

    /// <summary>
    /// How long an attempt is put off while a half-open circuit's probe is out. Five seconds, not the shortest deferral:
    /// a probe can take up to <see cref="WebhookOptions.Timeout"/>, and a whole backlog put off a second at a time was
    /// written back to the store every second meanwhile (a trial counted about 1,000 deferrals a second).
    /// </summary>
    public static readonly TimeSpan ProbeWait = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The probe <see cref="Check"/> let out did not reach the endpoint (turned away as busy): the next attempt may
    /// probe at once instead of everyone waiting <see cref="WebhookOptions.Timeout"/> for an answer that cannot come.
    /// </summary>
    public void AbandonProbe(string endpoint)
    {
        if (_failing.TryGetValue(endpoint, out var state))
        {
            lock (state)
            {
                state.ProbeUntil = default;
            }
        }
    }

    /// <summary>The consecutive failures of <paramref name="endpoint"/> (for log lines; unlike <see cref="Check"/> it never starts a probe).</summary>
    public int Failures(string endpoint) => _failing.TryGetValue(endpoint, out var state) ? state.Failures : 0;

    /// <summary>Forgets past failures of <paramref name="endpoint"/>; returns whether it had been failing.</summary>
    public bool RecordSuccess(string endpoint) =>
        // A healthy endpoint is not in the map: look (lock-free) before removing (which takes a bucket lock).
        _failing.ContainsKey(endpoint) && _failing.TryRemove(endpoint, out _);

    /// <summary>Counts a failure of <paramref name="endpoint"/>; returns whether the circuit opened and whether the endpoint has failed for <see cref="WebhookOptions.DisableAfter"/>.</summary>
    public (bool Opened, bool GiveUp) RecordFailure(string endpoint)
    {
        var now = time.GetUtcNow();
        var state = _failing.GetOrAdd(endpoint, static (_, now) => new State { FailingSince = now }, now);
        lock (state)
        {
            state.Failures++;
            var opened = false;
            if (state.Failures >= _options.CircuitBreakerThreshold && _options.CircuitBreakDuration > TimeSpan.Zero)
            {
                opened = state.OpenUntil <= now;
                state.OpenUntil = now + _options.CircuitBreakDuration;
                state.ProbeUntil = default; // a failed probe: the next break ends in another
            }

            return (opened, now - state.FailingSince >= _options.DisableAfter);
        }
    }

    /// <summary>
    /// Forgets <paramref name="endpoint"/>'s failure streak and circuit: after a give-up, a subscription enabled again
    /// gets a whole <see cref="WebhookOptions.DisableAfter"/> before it can be given up again.
    /// </summary>
    public void Forget(string endpoint) => _failing.TryRemove(endpoint, out _);

    /// <summary>Since when <paramref name="endpoint"/> has failed without a success, or <see langword="null"/> if it is not failing.</summary>
    public DateTimeOffset? FailingSince(string endpoint) => _failing.TryGetValue(endpoint, out var state) ? state.FailingSince : null;

    private sealed class State
    {
        public DateTimeOffset FailingSince { get; init; }

        public int Failures { get; set; }

        public DateTimeOffset OpenUntil { get; set; }

        /// <summary>While a half-open circuit's probe may still answer: until then no other attempt goes out.</summary>
        public DateTimeOffset ProbeUntil { get; set; }
    }
}

/// <summary>An endpoint's health before an attempt.</summary>
internal readonly record struct EndpointCheck(bool IsOpen, TimeSpan OpenFor, int Failures, bool GiveUp, bool IsProbe = false);
