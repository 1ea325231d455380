using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;

namespace EventNotify;

/// <summary>One event for one recipient on one channel, and where it stands.</summary>
[DebuggerDisplay("{Id,nq} {Channel,nq} {Status} attempts={Attempts}")]
public sealed record Delivery
{
    /// <summary>The stable delivery id, the same on every attempt (sent as <c>webhook-id</c> / idempotency key).</summary>
    public required string Id { get; init; }

    /// <summary>The event delivered.</summary>
    public required string EventId { get; init; }

    /// <summary>The event's type (kept here so deliveries can be filtered by it).</summary>
    public required string EventType { get; init; }

    /// <summary>The subscription that caused the delivery, or <see langword="null"/> for an explicit recipient.</summary>
    public string? SubscriptionId { get; init; }

    /// <summary>The channel name.</summary>
    public required string Channel { get; init; }

    /// <summary>The address at routing time.</summary>
    public required string Address { get; init; }

    /// <summary>The event's tenant.</summary>
    public string? TenantId { get; init; }

    /// <summary>Where the delivery stands.</summary>
    public DeliveryStatus Status { get; init; }

    /// <summary>Attempts made since the delivery was created or last redelivered.</summary>
    public int Attempts { get; init; }

    /// <summary>When the delivery was created (the event was routed).</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When the next attempt is due (pending deliveries).</summary>
    public DateTimeOffset NextAttemptAt { get; init; }

    /// <summary>Until when a worker holds the delivery; after that another may take it (crash recovery).</summary>
    public DateTimeOffset? LeasedUntil { get; init; }

    /// <summary>When the delivery reached a final status.</summary>
    public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>The last error, kept for dead letters.</summary>
    public string? LastError { get; init; }

    /// <summary>The last status code (HTTP status, SMTP reply code, provider code) if any.</summary>
    public int? LastStatusCode { get; init; }

    [ThreadStatic]
    private static IncrementalHash? t_sha256;

    /// <summary>
    /// Each subscription id's 16-character tag (see <see cref="ForSubscription"/>), kept as long as the id string is
    /// alive: the subscription stores hand out the same instances, so routing hashes a subscription id once, not once
    /// per event.
    /// </summary>
    private static readonly ConditionalWeakTable<string, string> s_subscriptionTags = new();

    private static readonly System.Buffers.SearchValues<char> s_lowerHex = System.Buffers.SearchValues.Create("0123456789abcdef");

    /// <summary>
    /// Returns the stable id of the delivery of <paramref name="eventId"/> to subscription <paramref name="subscriptionId"/>.
    /// For an event id made by <see cref="NotificationEvent.NewId"/> (the default) it is <c>dlv_</c>, the event's
    /// 128-bit UUID in 26 base32 characters, then 16 base32 characters of a SHA-256 hash of the subscription id,
    /// computed once per subscription: no hashing per event, distinct events never share an id, and ids sort by the
    /// event's creation time. For any other event id it is 30 characters: <c>dlv_</c> + 26 base32 characters of a
    /// SHA-256 hash of the event id and <c>s:</c> + the subscription id (not the same as
    /// <see cref="CreateId(string, string)"/> with the subscription id as target: compute it with this method).
    /// </summary>
    public static string ForSubscription(string eventId, string subscriptionId)
    {
        ArgumentNullException.ThrowIfNull(eventId);
        ArgumentNullException.ThrowIfNull(subscriptionId);
        if (!TryReadGeneratedEventId(eventId, out var uuid))
        {
            return CreateId(eventId, "s:", subscriptionId);
        }

        if (!s_subscriptionTags.TryGetValue(subscriptionId, out var tag))
        {
            tag = s_subscriptionTags.GetValue(subscriptionId, static id => SubscriptionTag(id));
        }

        return string.Create(46, (uuid, tag), static (chars, state) =>
        {
            "dlv_".CopyTo(chars);
            Span<byte> bytes = stackalloc byte[16];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(bytes, state.uuid);
            WriteBase32(bytes, chars.Slice(4, 26));
            state.tag.CopyTo(chars[30..]);
        });
    }

    /// <summary>
    /// The UUID of an id made by <see cref="NotificationEvent.NewId"/>: <c>evt_</c> + 32 lowercase hex digits of a
    /// version 7 UUID. Only that exact spelling is read (not upper case), so two different event ids never give the
    /// same UUID.
    /// </summary>
    private static bool TryReadGeneratedEventId(string eventId, out UInt128 uuid)
    {
        uuid = default;
        if (eventId.Length != 36 || !eventId.StartsWith("evt_", StringComparison.Ordinal) || eventId[16] != '7')
        {
            return false;
        }

        var hex = eventId.AsSpan(4);
        if (hex.ContainsAnyExcept(s_lowerHex))
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[16];
        Convert.FromHexString(hex, bytes, out _, out _);
        uuid = System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(bytes);
        return true;
    }

    /// <summary>16 base32 characters of the first 80 bits of SHA-256("s:" + subscription id).</summary>
    private static string SubscriptionTag(string subscriptionId)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes("s:" + subscriptionId));
        return string.Create(16, hash, static (chars, h) => WriteBase32(h.AsSpan(0, 10), chars));
    }

    /// <summary>Writes <paramref name="bytes"/> as base32 (Crockford's alphabet, lowercase) into all of <paramref name="chars"/>, padding the last digit with zero bits.</summary>
    private static void WriteBase32(ReadOnlySpan<byte> bytes, Span<char> chars)
    {
        const string Alphabet = "0123456789abcdefghjkmnpqrstvwxyz";
        var bits = 0;
        var acc = 0;
        var j = 0;
        foreach (var b in bytes)
        {
            acc = (acc << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                chars[j++] = Alphabet[(acc >> (bits - 5)) & 31];
                bits -= 5;
            }
        }

        if (bits > 0)
        {
            chars[j] = Alphabet[(acc << (5 - bits)) & 31];
        }
    }

    /// <summary>Returns the stable id of the delivery of <paramref name="eventId"/> to an explicit recipient.</summary>
    public static string ForRecipient(string eventId, Recipient recipient)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        return CreateId(eventId, string.Concat("r:", recipient.Channel, ":", recipient.Address));
    }

    /// <summary>
    /// Returns the stable id of the delivery of <paramref name="eventId"/> to <paramref name="target"/> (a subscription
    /// id or a channel+address): <c>dlv_</c> + 26 base32 characters of a SHA-256 hash. Routing the same event again
    /// (after a crash) yields the same ids, so no delivery is created twice. For an event id made by
    /// <see cref="NotificationEvent.NewId"/> the id's leading bits are the event's creation time in
    /// milliseconds (48 bits, the first 9 characters and part of the 10th), so such delivery ids sort by time; the
    /// other 80 bits are the hash.
    /// </summary>
    public static string CreateId(string eventId, string target)
    {
        ArgumentNullException.ThrowIfNull(target);
        return CreateId(eventId, "", target);
    }

    /// <summary>
    /// The 48-bit Unix time in milliseconds at the start of an id made by <see cref="NotificationEvent.NewId"/>
    /// (<c>evt_</c> + the hex of a version 7 GUID); <see langword="false"/> for any other id.
    /// </summary>
    private static bool TryGetCreationMilliseconds(string eventId, out ulong milliseconds)
    {
        milliseconds = 0;
        return eventId.Length == 36
            && eventId.StartsWith("evt_", StringComparison.Ordinal)
            && eventId[16] == '7'
            && ulong.TryParse(eventId.AsSpan(4, 12), System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out milliseconds);
    }

    /// <summary>The id of <paramref name="eventId"/> to the target <paramref name="prefix"/> + <paramref name="target"/>, hashed without concatenating them.</summary>
    private static string CreateId(string eventId, string prefix, string target)
    {
        ArgumentNullException.ThrowIfNull(eventId);
        var length = Encoding.UTF8.GetMaxByteCount(eventId.Length + prefix.Length + target.Length + 1);
        var rented = length <= 1024 ? null : System.Buffers.ArrayPool<byte>.Shared.Rent(length);
        Span<byte> buffer = rented ?? stackalloc byte[1024];
        var n = Encoding.UTF8.GetBytes(eventId, buffer);
        buffer[n++] = (byte)'\n';
        n += Encoding.UTF8.GetBytes(prefix, buffer[n..]);
        n += Encoding.UTF8.GetBytes(target, buffer[n..]);
        Span<byte> hash = stackalloc byte[32];

        // One reusable hash context per thread: SHA256.HashData creates and frees an OpenSSL context on every call,
        // which the profile showed costing about as much as the hashing itself.
        var sha = t_sha256 ??= IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(buffer[..n]);
        sha.GetHashAndReset(hash);
        if (rented is not null)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }

        // The first 16 bytes travel as a value (no array per id) into the string's own buffer.
        var first16 = System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(hash);
        if (TryGetCreationMilliseconds(eventId, out var milliseconds))
        {
            // An id from NotificationEvent.NewId: the delivery id starts with the event's creation time, so ids sort
            // by time and a store's index on them grows at one end (a random key dirties a random index page per
            // insert, which made most of the SQLite store's commit time). The remaining 80 bits are the hash.
            first16 = ((UInt128)milliseconds << 80) | (first16 >> 48);
        }

        return string.Create(30, first16, static (chars, value) =>
        {
            "dlv_".CopyTo(chars);
            Span<byte> bytes = stackalloc byte[16];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(bytes, value);
            WriteBase32(bytes, chars[4..]); // 16 bytes = 128 bits; 26 base32 digits carry 130 bits.
        });
    }
}

/// <summary>Where a delivery stands.</summary>
public enum DeliveryStatus
{
    /// <summary>Waiting for its first or next attempt.</summary>
    Pending = 0,

    /// <summary>Delivered.</summary>
    Succeeded = 1,

    /// <summary>Gave up: a permanent failure or the last allowed attempt failed. Can be redelivered.</summary>
    DeadLettered = 2,

    /// <summary>Not attempted any more because its subscription was disabled or removed.</summary>
    Cancelled = 3,
}

/// <summary>The outcome of one attempt. There is no zero value: a <c>default(DeliveryResult)</c> is not a success.</summary>
public enum AttemptOutcome
{
    /// <summary>The receiver accepted it.</summary>
    Succeeded = 1,

    /// <summary>A failure worth retrying (timeout, connection error, 5xx, throttling, an exception in the notifier).</summary>
    TransientFailure = 2,

    /// <summary>A failure that retrying cannot fix (bad address, 4xx rejection, 410 Gone).</summary>
    PermanentFailure = 3,
}

/// <summary>The record of one attempt at a delivery.</summary>
public sealed record DeliveryAttempt
{
    /// <summary>The delivery attempted.</summary>
    public required string DeliveryId { get; init; }

    /// <summary>1 for the first attempt (counting restarts from 1 after a redelivery).</summary>
    public int AttemptNumber { get; init; }

    /// <summary>When the attempt started.</summary>
    public DateTimeOffset StartedAt { get; init; }

    /// <summary>How long it took.</summary>
    public TimeSpan Duration { get; init; }

    /// <summary>The outcome.</summary>
    public AttemptOutcome Outcome { get; init; }

    /// <summary>The status code (HTTP status, SMTP reply code), if any.</summary>
    public int? StatusCode { get; init; }

    /// <summary>The error, if it failed.</summary>
    public string? Error { get; init; }

    /// <summary>The first few KB of the response body, if the channel kept it.</summary>
    public string? Response { get; init; }

    /// <summary>The provider's message id on success, if any.</summary>
    public string? ProviderMessageId { get; init; }
}
