using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace EventNotify;

/// <summary>
/// Something that happened, to be told to whoever subscribed to it. Aligned with CloudEvents 1.0:
/// <see cref="Id"/>, <see cref="Type"/>, <see cref="Source"/>, <see cref="Subject"/>, <see cref="Time"/> and
/// <see cref="Data"/> map to the CloudEvents attributes of the same names.
/// </summary>
/// <remarks>
/// Create one with <see cref="Create{T}(string, T, JsonSerializerOptions?)"/> or <see cref="FromJson(string, ReadOnlyMemory{byte})"/>
/// and refine it with a <c>with</c> expression. The event is validated when it is published.
/// </remarks>
[DebuggerDisplay("{Type,nq} {Id,nq}")]
public sealed record NotificationEvent
{
    internal static readonly IReadOnlyDictionary<string, string> NoExtensions = System.Collections.Frozen.FrozenDictionary<string, string>.Empty;

    /// <summary>
    /// The unique id of the event. Publishing the same id twice is idempotent. No <c>.</c>, no whitespace, at most
    /// 256 characters. The default value is a new time-ordered id such as <c>evt_01939c...</c>.
    /// </summary>
    public string Id { get; init; } = NewId();

    /// <summary>The event type: dot-separated lowercase segments, most general first, e.g. <c>order.paid</c>.</summary>
    public required string Type { get; init; }

    /// <summary>
    /// Where the event happened (a URI reference). The default value is <see langword="null"/>, meaning
    /// <see cref="EventNotifyOptions.Source"/> is used when the event is published.
    /// </summary>
    public string? Source { get; init; }

    /// <summary>
    /// The entity the event is about (e.g. the order id); also the ordering key. The default value is <see langword="null"/>.
    /// </summary>
    public string? Subject { get; init; }

    /// <summary>When it happened. The default value (<see cref="DateTimeOffset.MinValue"/>) means "now" at publish.</summary>
    public DateTimeOffset Time { get; init; }

    /// <summary>
    /// The payload, kept as the exact UTF-8 JSON bytes given. May be empty (no data). Publishing copies bytes the
    /// caller still owns, so changing the buffer afterwards does not change what is delivered.
    /// </summary>
    public ReadOnlyMemory<byte> Data { get; init; }

    /// <summary>The array behind <see cref="Data"/> when a factory of this type made it (nobody else holds it).</summary>
    internal byte[]? OwnedData { get; init; }

    /// <summary>Whether <see cref="Data"/> is empty or an array only this event holds.</summary>
    internal bool OwnsData =>
        Data.IsEmpty || (OwnedData is { } owned && System.Runtime.InteropServices.MemoryMarshal.TryGetArray(Data, out var segment) && ReferenceEquals(segment.Array, owned));

    /// <summary>Returns this event, or a copy whose <see cref="Data"/> is an array only the event holds.</summary>
    internal NotificationEvent WithOwnedData()
    {
        if (OwnsData)
        {
            return this;
        }

        var copy = Data.ToArray();
        return this with { Data = copy, OwnedData = copy };
    }

    /// <summary>The media type of <see cref="Data"/>. The default value is <c>application/json</c>.</summary>
    public string DataContentType { get; init; } = "application/json";

    /// <summary>
    /// Explicit recipients that get the event whatever the subscriptions say (e.g. the customer's e-mail address).
    /// The default value is an empty list.
    /// </summary>
    public IReadOnlyList<Recipient> Recipients { get; init; } = [];

    /// <summary>
    /// Deliver no earlier than this time (scheduled delivery). The default value is <see langword="null"/> (deliver now).
    /// </summary>
    public DateTimeOffset? NotBefore { get; init; }

    /// <summary>
    /// The tenant the event belongs to. Only subscriptions of this tenant, or with no tenant, receive it.
    /// The default value is <see langword="null"/>.
    /// </summary>
    public string? TenantId { get; init; }

    /// <summary>
    /// CloudEvents extension attributes (lowercase alphanumeric names, at most 20 characters).
    /// The default value is an empty dictionary.
    /// </summary>
    public IReadOnlyDictionary<string, string> Extensions { get; init; } = NoExtensions;

    /// <summary>Creates an event whose data is <paramref name="data"/> serialised with System.Text.Json.</summary>
    /// <param name="type">The event type, e.g. <c>order.paid</c>.</param>
    /// <param name="data">The payload.</param>
    /// <param name="options">Serializer options; the default value uses <see cref="JsonSerializerOptions.Web"/>.</param>
    [System.Diagnostics.CodeAnalysis.RequiresUnreferencedCode("Serialises T by reflection; use the JsonTypeInfo overload for trimmed apps.")]
    [System.Diagnostics.CodeAnalysis.RequiresDynamicCode("Serialises T by reflection; use the JsonTypeInfo overload for AOT apps.")]
    public static NotificationEvent Create<T>(string type, T data, JsonSerializerOptions? options = null) =>
        Owned(type, JsonSerializer.SerializeToUtf8Bytes(data, options ?? JsonSerializerOptions.Web));

    /// <summary>Creates an event whose data is <paramref name="data"/> serialised with source-generated metadata.</summary>
    public static NotificationEvent Create<T>(string type, T data, JsonTypeInfo<T> typeInfo) =>
        Owned(type, JsonSerializer.SerializeToUtf8Bytes(data, typeInfo));

    /// <summary>Creates an event from UTF-8 JSON bytes, kept exactly as given (copied when published).</summary>
    public static NotificationEvent FromJson(string type, ReadOnlyMemory<byte> utf8Json) =>
        new() { Type = type, Data = utf8Json };

    /// <summary>Creates an event from a JSON string (stored as UTF-8).</summary>
    public static NotificationEvent FromJson(string type, string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        return Owned(type, System.Text.Encoding.UTF8.GetBytes(json));
    }

    private static NotificationEvent Owned(string type, byte[] data) => new() { Type = type, Data = data, OwnedData = data };

    /// <summary>Returns a new event id: <c>evt_</c> followed by a time-ordered UUID (version 7, RFC 9562) in hex.</summary>
    public static string NewId()
    {
        // The UUID's bytes: 48 bits of Unix milliseconds, the version (7), 12 random bits, the variant (10), 62 random
        // bits. The random bits come from a per-thread buffer refilled by the cryptographic generator, so a publish
        // does not make the system call that Guid.NewGuid makes for every id (a read of /dev/urandom in the profile).
        Span<byte> uuid = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(uuid, (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() << 16);
        TakeRandom(uuid[6..]);
        uuid[6] = (byte)(0x70 | (uuid[6] & 0x0F));
        uuid[8] = (byte)(0x80 | (uuid[8] & 0x3F));
        return string.Create(36, new UInt128(
            System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(uuid),
            System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(uuid[8..])), static (chars, value) =>
        {
            "evt_".CopyTo(chars);
            // Hex through the vectorised byte encoder: UInt128's own "x32" formatting took its slow path (2 % of a publish).
            Span<byte> bytes = stackalloc byte[16];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(bytes, value);
            Convert.TryToHexStringLower(bytes, chars[4..], out _);
        });
    }

    /// <summary>Random bytes per thread, drawn from the cryptographic generator 40 ids at a time.</summary>
    [ThreadStatic]
    private static byte[]? t_random;

    [ThreadStatic]
    private static int t_randomUsed;

    private static void TakeRandom(Span<byte> destination)
    {
        var buffer = t_random ??= new byte[400];
        if (t_randomUsed == 0 || t_randomUsed + destination.Length > buffer.Length)
        {
            System.Security.Cryptography.RandomNumberGenerator.Fill(buffer);
            t_randomUsed = 0;
        }

        buffer.AsSpan(t_randomUsed, destination.Length).CopyTo(destination);
        t_randomUsed += destination.Length;
    }
}

/// <summary>An explicit recipient of one event: a channel and an address on it (URL, e-mail address, phone number).</summary>
/// <param name="Channel">The channel name, e.g. <c>email</c>; a notifier for it must be registered.</param>
/// <param name="Address">The address on that channel.</param>
public sealed record Recipient(string Channel, string Address);

/// <summary>What <see cref="IEventPublisher"/> returns once the store accepted an event.</summary>
/// <param name="EventId">The event id.</param>
/// <param name="Duplicate"><see langword="true"/> when an event with this id had been accepted before; nothing new is delivered.</param>
public readonly record struct PublishReceipt(string EventId, bool Duplicate);
