using System.Globalization;
using System.Security.Cryptography;

namespace EventNotify.Webhooks;

/// <summary>
/// Verifies Standard Webhooks requests on the receiving side (<c>webhook-id</c>, <c>webhook-timestamp</c>,
/// <c>webhook-signature</c>), with no ASP.NET dependency. Thread-safe; create one per set of secrets and reuse it.
/// </summary>
/// <example>
/// <code>
/// var verifier = new WebhookVerifier("whsec_...");
/// var result = verifier.Verify(name => request.Headers[name].FirstOrDefault(), body);
/// if (!result.IsValid) return Results.Unauthorized(); // result.Message says why
/// </code>
/// </example>
public sealed class WebhookVerifier
{
    /// <summary>The id header: <c>webhook-id</c>.</summary>
    public const string IdHeader = "webhook-id";

    /// <summary>The timestamp header (unix seconds): <c>webhook-timestamp</c>.</summary>
    public const string TimestampHeader = "webhook-timestamp";

    /// <summary>The signature header (space-separated <c>v1,&lt;base64&gt;</c> values): <c>webhook-signature</c>.</summary>
    public const string SignatureHeader = "webhook-signature";

    private const int MaxSignatureHeaderLength = 16 * 1024;

    // base64 of a 32-byte HMAC-SHA256, with its one '=' of padding.
    private const int CanonicalMacLength = 44;
    private readonly WebhookSecret[] _secrets;
    private readonly TimeProvider _time;

    /// <summary>Creates a verifier accepting a signature by any of <paramref name="secrets"/> (text form, see <see cref="WebhookSecret.Parse"/>).</summary>
    public WebhookVerifier(params string[] secrets)
        : this((IEnumerable<string>)secrets)
    {
    }

    /// <summary>Creates a verifier accepting a signature by any of <paramref name="secrets"/>.</summary>
    /// <param name="secrets">One or more secrets (current and, while rotating, previous ones).</param>
    /// <param name="tolerance">How far the timestamp may be from now, either way. The default value is 5 minutes.</param>
    /// <param name="timeProvider">The clock. The default value is <see cref="TimeProvider.System"/>.</param>
    /// <exception cref="FormatException">A secret breaks a rule (the message names it, never the secret).</exception>
    public WebhookVerifier(IEnumerable<string> secrets, TimeSpan? tolerance = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        _secrets = secrets.Select(WebhookSecret.Parse).ToArray();
        if (_secrets.Length == 0)
        {
            throw new ArgumentException("Give at least one webhook secret.", nameof(secrets));
        }

        Tolerance = tolerance ?? TimeSpan.FromMinutes(5);
        ArgumentOutOfRangeException.ThrowIfLessThan(Tolerance, TimeSpan.Zero, nameof(tolerance));
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>How far the timestamp may be from now, either way (replay protection). The default value is 5 minutes.</summary>
    public TimeSpan Tolerance { get; }

    /// <summary>Verifies a request given its three header values and its raw body bytes (exactly as received).</summary>
    public WebhookVerificationResult Verify(string? id, string? timestamp, string? signatureHeader, ReadOnlySpan<byte> body)
    {
        if (string.IsNullOrEmpty(id))
        {
            return WebhookVerificationResult.Fail(WebhookVerificationFailure.MissingHeader, $"The '{IdHeader}' header is missing.");
        }

        if (string.IsNullOrEmpty(timestamp))
        {
            return WebhookVerificationResult.Fail(WebhookVerificationFailure.MissingHeader, $"The '{TimestampHeader}' header is missing.");
        }

        if (string.IsNullOrEmpty(signatureHeader))
        {
            return WebhookVerificationResult.Fail(WebhookVerificationFailure.MissingHeader, $"The '{SignatureHeader}' header is missing.");
        }

        if (!long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || seconds > DateTimeOffset.MaxValue.ToUnixTimeSeconds())
        {
            return WebhookVerificationResult.Fail(WebhookVerificationFailure.InvalidTimestamp, $"The '{TimestampHeader}' header is not a number of unix seconds.");
        }

        var sent = DateTimeOffset.FromUnixTimeSeconds(seconds);
        var now = _time.GetUtcNow();
        if (now - sent > Tolerance)
        {
            return WebhookVerificationResult.Fail(WebhookVerificationFailure.TimestampTooOld, $"The message timestamp is more than {Tolerance} in the past.");
        }

        if (sent - now > Tolerance)
        {
            return WebhookVerificationResult.Fail(WebhookVerificationFailure.TimestampTooNew, $"The message timestamp is more than {Tolerance} in the future.");
        }

        if (signatureHeader.Length > MaxSignatureHeaderLength)
        {
            return WebhookVerificationResult.Fail(WebhookVerificationFailure.NoMatchingSignature, $"The '{SignatureHeader}' header is too long.");
        }

        const int Mac = WebhookSignature.MacLength;
        Span<byte> expected = _secrets.Length <= 8 ? stackalloc byte[Mac * 8] : new byte[Mac * _secrets.Length];
        for (var i = 0; i < _secrets.Length; i++)
        {
            WebhookSignature.Compute(_secrets[i].Key, id, seconds, body, expected.Slice(i * Mac, Mac));
        }

        Span<byte> given = stackalloc byte[Mac];
        Span<char> canonical = stackalloc char[CanonicalMacLength];
        var header = signatureHeader.AsSpan();
        foreach (var range in header.Split(' '))
        {
            var token = header[range];
            var comma = token.IndexOf(',');
            // Only v1 (HMAC-SHA256) is ours; other versions (v1a = ed25519, future ones) are ignored, as the spec asks.
            if (comma < 0 || !token[..comma].SequenceEqual("v1"))
            {
                continue;
            }

            // Canonical base64 only, as the reference libraries compare the text: the decoder alone would skip
            // whitespace inside the value and ignore the unused low bits of its last character.
            var encoded = token[(comma + 1)..];
            if (encoded.Length != CanonicalMacLength
                || !Convert.TryFromBase64Chars(encoded, given, out var written) || written != Mac
                || !Convert.TryToBase64Chars(given, canonical, out _) || !encoded.SequenceEqual(canonical))
            {
                continue;
            }

            for (var i = 0; i < _secrets.Length; i++)
            {
                if (CryptographicOperations.FixedTimeEquals(expected.Slice(i * Mac, Mac), given))
                {
                    return WebhookVerificationResult.Success;
                }
            }
        }

        return WebhookVerificationResult.Fail(WebhookVerificationFailure.NoMatchingSignature, "No 'v1' signature in the 'webhook-signature' header matches the body with any of the secrets.");
    }

    /// <summary>Verifies a request whose headers are read through <paramref name="header"/> (given a header name, returns its value or <see langword="null"/>).</summary>
    public WebhookVerificationResult Verify(Func<string, string?> header, ReadOnlySpan<byte> body)
    {
        ArgumentNullException.ThrowIfNull(header);
        return Verify(header(IdHeader), header(TimestampHeader), header(SignatureHeader), body);
    }

    /// <summary>Verifies a request given its headers as name/value pairs (names compared case-insensitively).</summary>
    public WebhookVerificationResult Verify(IEnumerable<KeyValuePair<string, string>> headers, ReadOnlySpan<byte> body)
    {
        ArgumentNullException.ThrowIfNull(headers);
        string? id = null, timestamp = null, signature = null;
        foreach (var (name, value) in headers)
        {
            if (string.Equals(name, IdHeader, StringComparison.OrdinalIgnoreCase))
            {
                id = value;
            }
            else if (string.Equals(name, TimestampHeader, StringComparison.OrdinalIgnoreCase))
            {
                timestamp = value;
            }
            else if (string.Equals(name, SignatureHeader, StringComparison.OrdinalIgnoreCase))
            {
                signature = value;
            }
        }

        return Verify(id, timestamp, signature, body);
    }
}

/// <summary>The result of <see cref="WebhookVerifier.Verify(string?, string?, string?, ReadOnlySpan{byte})"/>.</summary>
public readonly record struct WebhookVerificationResult
{
    private WebhookVerificationResult(WebhookVerificationFailure failure, string? message)
    {
        Failure = failure;
        Message = message;
    }

    /// <summary>A successful verification.</summary>
    public static WebhookVerificationResult Success => default;

    /// <summary>Whether the request is authentic and fresh.</summary>
    public bool IsValid => Failure == WebhookVerificationFailure.None;

    /// <summary>Why verification failed, or <see cref="WebhookVerificationFailure.None"/>.</summary>
    public WebhookVerificationFailure Failure { get; }

    /// <summary>A readable reason for the failure (safe to log: no secret or body), or <see langword="null"/> on success.</summary>
    public string? Message { get; }

    internal static WebhookVerificationResult Fail(WebhookVerificationFailure failure, string message) => new(failure, message);
}

/// <summary>Why a webhook request failed verification.</summary>
public enum WebhookVerificationFailure
{
    /// <summary>It did not fail.</summary>
    None = 0,

    /// <summary>A <c>webhook-id</c>, <c>webhook-timestamp</c> or <c>webhook-signature</c> header is missing or empty.</summary>
    MissingHeader = 1,

    /// <summary>The timestamp is not a number of unix seconds.</summary>
    InvalidTimestamp = 2,

    /// <summary>The timestamp is older than the tolerance (a replay, or a long-delayed message).</summary>
    TimestampTooOld = 3,

    /// <summary>The timestamp is further in the future than the tolerance.</summary>
    TimestampTooNew = 4,

    /// <summary>No <c>v1</c> signature matches the body under any of the secrets.</summary>
    NoMatchingSignature = 5,
}
