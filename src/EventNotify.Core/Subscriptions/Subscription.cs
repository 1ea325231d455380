using System.Diagnostics;

namespace EventNotify;

/// <summary>
/// Who wants which events, on which channel, at which address. Kept in an <see cref="ISubscriptionStore"/>.
/// </summary>
[DebuggerDisplay("{Id,nq} {Channel,nq} {Address,nq}")]
public sealed record Subscription
{
    private static readonly IReadOnlyDictionary<string, string> NoMetadata = new Dictionary<string, string>(0);

    /// <summary>The subscription id (no <c>.</c> or whitespace, at most 256 characters). The default value is a new id such as <c>sub_01939c...</c>.</summary>
    public string Id { get; init; } = "sub_" + Guid.CreateVersion7().ToString("N");

    /// <summary>
    /// Event-type patterns: an exact type (<c>order.paid</c>), a prefix with any depth below it (<c>order.*</c>
    /// matches <c>order.paid</c> and <c>order.refund.issued</c> but not <c>order</c>), or <c>*</c> for every event.
    /// </summary>
    public required IReadOnlyList<string> EventTypes { get; init; }

    /// <summary>The channel name (<c>webhook</c>, <c>email</c>, <c>sms</c> or a custom notifier's).</summary>
    public required string Channel { get; init; }

    /// <summary>The address on the channel: a URL, an e-mail address, a phone number.</summary>
    public required string Address { get; init; }

    /// <summary>An optional template name or body the channel renders the message with. The default value is <see langword="null"/>.</summary>
    public string? Template { get; init; }

    /// <summary>Signing secrets (current first, then previous ones until they expire). The default value is an empty list.</summary>
    public IReadOnlyList<SubscriptionSecret> Secrets { get; init; } = [];

    /// <summary>Whether deliveries are made. The default value is <see langword="true"/>.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Why the subscription was disabled (e.g. the endpoint answered 410 Gone). The default value is <see langword="null"/>.</summary>
    public string? DisabledReason { get; init; }

    /// <summary>
    /// Since when deliveries to this subscription have failed without a single success, as its channel recorded it
    /// (the webhook channel records a failure streak once it has lasted a minute, and clears it on the next success),
    /// so that giving up on an endpoint after days of failures survives restarts. Set by the engine's channels through
    /// <see cref="ISubscriptionStore.SetFailingSinceAsync"/>, not by hosts. The default value is <see langword="null"/> (not failing).
    /// </summary>
    public DateTimeOffset? FailingSince { get; init; }

    /// <summary>
    /// The tenant the subscription belongs to: it receives only that tenant's events. <see langword="null"/> (the default)
    /// receives events of every tenant — use it for platform-level subscriptions only.
    /// </summary>
    public string? TenantId { get; init; }

    /// <summary>Free-form metadata for the host and the channel. The default value is an empty dictionary.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = NoMetadata;

    /// <summary>Returns whether this subscription's patterns match <paramref name="eventType"/>.</summary>
    public bool Matches(string eventType)
    {
        foreach (var pattern in EventTypes)
        {
            if (EventTypePattern.Parse(pattern).Matches(eventType))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>A signing secret of a subscription, with an optional expiry used while secrets rotate.</summary>
/// <param name="Value">The secret as the channel expects it (webhooks: <c>whsec_</c> + base64).</param>
/// <param name="ExpiresAt">When the secret stops being used; <see langword="null"/> for the current secret.</param>
public sealed record SubscriptionSecret(string Value, DateTimeOffset? ExpiresAt = null)
{
    /// <summary>Hides the secret value from logs and debugger displays.</summary>
    public override string ToString() => $"SubscriptionSecret {{ Value = ***, ExpiresAt = {ExpiresAt?.ToString("O") ?? "never"} }}";
}

/// <summary>A parsed event-type pattern: exact, <c>prefix.*</c> or <c>*</c>.</summary>
public readonly record struct EventTypePattern
{
    private EventTypePattern(EventTypePatternKind kind, string value)
    {
        Kind = kind;
        Value = value;
    }

    /// <summary>The kind of pattern.</summary>
    public EventTypePatternKind Kind { get; }

    /// <summary>The exact type or the prefix (without <c>.*</c>); empty for <c>*</c>.</summary>
    public string Value { get; }

    /// <summary>Parses <paramref name="pattern"/>, throwing <see cref="SubscriptionValidationException"/> naming the rule when it is invalid.</summary>
    public static EventTypePattern Parse(string pattern) =>
        TryParse(pattern, out var parsed)
            ? parsed
            : throw new SubscriptionValidationException(
                $"Subscription.EventTypes pattern '{EventRules.Truncate(pattern)}' is invalid: use an exact type ('order.paid'), a prefix followed by '.*' ('order.*') or '*'.",
                nameof(Subscription.EventTypes));

    /// <summary>Parses <paramref name="pattern"/>; returns <see langword="false"/> when it is invalid.</summary>
    public static bool TryParse(string? pattern, out EventTypePattern parsed)
    {
        parsed = default;
        if (pattern is null)
        {
            return false;
        }

        if (pattern == "*")
        {
            parsed = new(EventTypePatternKind.All, string.Empty);
            return true;
        }

        if (pattern.EndsWith(".*", StringComparison.Ordinal))
        {
            var prefix = pattern[..^2];
            if (!EventRules.IsValidEventType(prefix))
            {
                return false;
            }

            parsed = new(EventTypePatternKind.Prefix, prefix);
            return true;
        }

        if (!EventRules.IsValidEventType(pattern))
        {
            return false;
        }

        parsed = new(EventTypePatternKind.Exact, pattern);
        return true;
    }

    /// <summary>
    /// Whether <paramref name="pattern"/>, already validated (a stored subscription's), matches
    /// <paramref name="eventType"/>: what <see cref="Matches(string)"/> says, without parsing or allocating.
    /// </summary>
    internal static bool MatchesValidated(string pattern, string eventType) =>
        pattern == "*"
        || (pattern.EndsWith(".*", StringComparison.Ordinal)
            ? eventType.Length > pattern.Length - 1 && eventType.AsSpan().StartsWith(pattern.AsSpan(0, pattern.Length - 1), StringComparison.Ordinal)
            : string.Equals(pattern, eventType, StringComparison.Ordinal));

    /// <summary>Returns whether <paramref name="eventType"/> matches this pattern.</summary>
    public bool Matches(string eventType) => Kind switch
    {
        EventTypePatternKind.All => true,
        EventTypePatternKind.Exact => string.Equals(eventType, Value, StringComparison.Ordinal),
        _ => eventType.Length > Value.Length + 1
             && eventType.StartsWith(Value, StringComparison.Ordinal)
             && eventType[Value.Length] == '.',
    };

    /// <inheritdoc />
    public override string ToString() => Kind switch
    {
        EventTypePatternKind.All => "*",
        EventTypePatternKind.Exact => Value,
        _ => Value + ".*",
    };
}

/// <summary>The kinds of <see cref="EventTypePattern"/>.</summary>
public enum EventTypePatternKind
{
    /// <summary>Matches one type exactly.</summary>
    Exact,

    /// <summary>Matches every type below a prefix, at any depth.</summary>
    Prefix,

    /// <summary>Matches every type (<c>*</c>).</summary>
    All,
}
