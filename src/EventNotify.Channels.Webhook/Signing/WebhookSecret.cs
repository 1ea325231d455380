using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace EventNotify.Webhooks;

/// <summary>
/// A Standard Webhooks signing secret: <c>whsec_</c> followed by the base64 of a 24 to 64 byte random key. The key
/// never appears in <see cref="ToString"/>, logs or exceptions.
/// </summary>
/// <remarks>
/// <see cref="Parse"/> also accepts the bare base64 key without the <c>whsec_</c> prefix, as the Standard Webhooks
/// reference libraries do, so secrets issued by other senders can be verified. The key length rule (24 to 64 bytes)
/// applies either way, which keeps a short password from being mistaken for a key.
/// </remarks>
public sealed class WebhookSecret
{
    /// <summary>The prefix of a secret in its text form: <c>whsec_</c>.</summary>
    public const string Prefix = "whsec_";

    /// <summary>The shortest key accepted, in bytes: 24.</summary>
    public const int MinKeyBytes = 24;

    /// <summary>The longest key accepted, in bytes: 64.</summary>
    public const int MaxKeyBytes = 64;

    private readonly byte[] _key;

    private WebhookSecret(byte[] key) => _key = key;

    /// <summary>The key length in bytes.</summary>
    public int KeyLength => _key.Length;

    internal ReadOnlySpan<byte> Key => _key;

    /// <summary>Returns a new random secret in text form: <c>whsec_</c> + base64 of <paramref name="keyBytes"/> random bytes.</summary>
    /// <param name="keyBytes">The key length, 24 to 64 bytes. The default value is 32.</param>
    public static string Generate(int keyBytes = 32)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keyBytes, MinKeyBytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(keyBytes, MaxKeyBytes);
        return Prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(keyBytes));
    }

    /// <summary>
    /// Parses <paramref name="secret"/> (<c>whsec_</c> + base64, or bare base64). Throws <see cref="FormatException"/>
    /// naming the broken rule (never the secret itself).
    /// </summary>
    public static WebhookSecret Parse(string secret)
    {
        ArgumentNullException.ThrowIfNull(secret);
        return TryParse(secret, out var parsed, out var error) ? parsed : throw new FormatException(error);
    }

    private static readonly System.Buffers.SearchValues<char> Base64Alphabet =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=");

    /// <summary>Parses <paramref name="secret"/>; returns <see langword="false"/> when it breaks a rule.</summary>
    public static bool TryParse([NotNullWhen(true)] string? secret, [NotNullWhen(true)] out WebhookSecret? parsed) =>
        TryParse(secret, out parsed, out _);

    /// <summary>Parses <paramref name="secret"/>; on failure <paramref name="error"/> names the rule it breaks.</summary>
    public static bool TryParse([NotNullWhen(true)] string? secret, [NotNullWhen(true)] out WebhookSecret? parsed, [NotNullWhen(false)] out string? error)
    {
        parsed = null;
        if (string.IsNullOrEmpty(secret))
        {
            error = "The webhook secret is empty: use 'whsec_' followed by the base64 of a 24 to 64 byte key (see WebhookSecret.Generate()).";
            return false;
        }

        var encoded = secret.StartsWith(Prefix, StringComparison.Ordinal) ? secret.AsSpan(Prefix.Length) : secret.AsSpan();
        var buffer = new byte[(encoded.Length * 3 / 4) + 3];
        // TryFromBase64Chars skips white space; a secret with spaces or a line break in it is a copy-paste slip, refused.
        if (encoded.IsEmpty || encoded.ContainsAnyExcept(Base64Alphabet) || !Convert.TryFromBase64Chars(encoded, buffer, out var written))
        {
            error = "The webhook secret is not valid: after the 'whsec_' prefix it must be standard base64 (A-Z, a-z, 0-9, '+', '/', '=' padding).";
            return false;
        }

        if (written is < MinKeyBytes or > MaxKeyBytes)
        {
            error = string.Create(CultureInfo.InvariantCulture, $"The webhook secret's key is {written} bytes: it must be {MinKeyBytes} to {MaxKeyBytes} bytes (base64 of that after 'whsec_').");
            return false;
        }

        parsed = new WebhookSecret(buffer[..written]);
        error = null;
        return true;
    }

    /// <summary>
    /// Returns the Standard Webhooks signature <c>v1,&lt;base64 HMAC-SHA256 of "id.timestamp.body"&gt;</c> of
    /// <paramref name="body"/> sent as message <paramref name="messageId"/> at <paramref name="timestamp"/>.
    /// </summary>
    public string Sign(string messageId, DateTimeOffset timestamp, ReadOnlySpan<byte> body)
    {
        ArgumentNullException.ThrowIfNull(messageId);
        Span<byte> mac = stackalloc byte[WebhookSignature.MacLength];
        WebhookSignature.Compute(_key, messageId, timestamp.ToUnixTimeSeconds(), body, mac);
        return "v1," + Convert.ToBase64String(mac);
    }

    /// <summary>Returns <c>whsec_***</c> with the key length: the key is never shown.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Prefix}*** ({_key.Length}-byte key)");
}

/// <summary>The HMAC-SHA256 at the heart of Standard Webhooks, shared by the sender and <see cref="WebhookVerifier"/>.</summary>
internal static class WebhookSignature
{
    public const int MacLength = 32;

    /// <summary>Writes HMAC-SHA256(key, "<paramref name="id"/>.<paramref name="unixSeconds"/>.<paramref name="body"/>") into <paramref name="destination"/>.</summary>
    public static void Compute(ReadOnlySpan<byte> key, string id, long unixSeconds, ReadOnlySpan<byte> body, Span<byte> destination)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        Compute(hmac, id, unixSeconds, body, destination);
    }

    /// <summary>
    /// As <see cref="Compute(ReadOnlySpan{byte}, string, long, ReadOnlySpan{byte}, Span{byte})"/> for a sender's key:
    /// the HMAC context of the last key used on this thread is kept and reused (creating one per signature, which
    /// sets up an OpenSSL context and the key schedule, cost more than hashing a typical payload).
    /// </summary>
    public static void Compute(byte[] key, string id, long unixSeconds, ReadOnlySpan<byte> body, Span<byte> destination)
    {
        if (!ReferenceEquals(t_key, key) || t_hmac is null)
        {
            t_hmac?.Dispose();
            t_hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
            t_key = key;
        }

        try
        {
            Compute(t_hmac, id, unixSeconds, body, destination);
        }
        catch
        {
            // Never reuse a context left in an unknown state.
            t_hmac.Dispose();
            t_hmac = null;
            throw;
        }
    }

    [ThreadStatic]
    private static byte[]? t_key;

    [ThreadStatic]
    private static IncrementalHash? t_hmac;

    private static void Compute(IncrementalHash hmac, string id, long unixSeconds, ReadOnlySpan<byte> body, Span<byte> destination)
    {
        // GetHashAndReset below leaves the context ready for the next message with the same key.
        Span<byte> prefix = stackalloc byte[256];
        var maxPrefix = Encoding.UTF8.GetMaxByteCount(id.Length) + 22;
        var rented = maxPrefix <= prefix.Length ? null : new byte[maxPrefix];
        Span<byte> buffer = rented is null ? prefix : rented;
        var n = Encoding.UTF8.GetBytes(id, buffer);
        buffer[n++] = (byte)'.';
        unixSeconds.TryFormat(buffer[n..], out var digits, provider: CultureInfo.InvariantCulture);
        n += digits;
        buffer[n++] = (byte)'.';
        hmac.AppendData(buffer[..n]);
        hmac.AppendData(body);
        hmac.GetHashAndReset(destination);
    }
}
