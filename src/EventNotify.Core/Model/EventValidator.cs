using System.Text.Json;

namespace EventNotify;

/// <summary>The validation rules for events, subscriptions and names, shared by the publisher and the stores.</summary>
public static class EventRules
{
    /// <summary>The longest event id, subscription id or event type accepted: 256 characters.</summary>
    public const int MaxIdLength = 256;

    /// <summary>
    /// Returns <see langword="true"/> when <paramref name="type"/> is dot-separated segments of lowercase letters,
    /// digits, <c>_</c> and <c>-</c>, each starting with a letter or digit (e.g. <c>order.paid</c>).
    /// </summary>
    public static bool IsValidEventType(ReadOnlySpan<char> type)
    {
        if (type.IsEmpty || type.Length > MaxIdLength)
        {
            return false;
        }

        var segmentStart = true;
        foreach (var c in type)
        {
            if (c == '.')
            {
                if (segmentStart)
                {
                    return false;
                }

                segmentStart = true;
                continue;
            }

            var letterOrDigit = c is (>= 'a' and <= 'z') or (>= '0' and <= '9');
            if (!letterOrDigit && (segmentStart || c is not ('_' or '-')))
            {
                return false;
            }

            segmentStart = false;
        }

        return !segmentStart;
    }

    /// <summary>Returns <see langword="true"/> when <paramref name="channel"/> is a valid channel name (lowercase letters, digits, <c>_</c>, <c>-</c>).</summary>
    public static bool IsValidChannelName(ReadOnlySpan<char> channel) =>
        !channel.IsEmpty && channel.Length <= 64 && !channel.Contains('.') && IsValidEventType(channel);

    /// <summary>Returns <see langword="true"/> when <paramref name="id"/> is a valid id: 1–256 characters, no <c>.</c>, no whitespace or control characters.</summary>
    public static bool IsValidId(ReadOnlySpan<char> id)
    {
        if (id.IsEmpty || id.Length > MaxIdLength)
        {
            return false;
        }

        foreach (var c in id)
        {
            if (c == '.' || char.IsWhiteSpace(c) || char.IsControl(c))
            {
                return false;
            }
        }

        // Lone surrogates would be replaced by U+FFFD when stored or hashed as UTF-8, so two ids could become one.
        return IsWellFormedUtf16(id);
    }

    /// <summary>
    /// No unpaired surrogate (stored or sent as UTF-8 it would become U+FFFD) and no Unicode noncharacter (U+FDD0 to
    /// U+FDEF, and U+xFFFE and U+xFFFF in every plane), which CloudEvents string attributes may not contain.
    /// </summary>
    private static bool IsWellFormedUtf16(ReadOnlySpan<char> value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            int codePoint = value[i];
            if (char.IsHighSurrogate(value[i]))
            {
                if (i + 1 >= value.Length || !char.IsLowSurrogate(value[i + 1]))
                {
                    return false;
                }

                codePoint = char.ConvertToUtf32(value[i], value[i + 1]);
                i++;
            }
            else if (char.IsLowSurrogate(value[i]))
            {
                return false;
            }

            if (codePoint is >= 0xFDD0 and <= 0xFDEF || (codePoint & 0xFFFE) == 0xFFFE)
            {
                return false;
            }
        }

        return true;
    }

    // Unpaired surrogates would be stored and sent as U+FFFD: what a receiver gets would differ from what was published.
    private static bool IsPlainText(string value) => !HasControlCharacters(value) && IsWellFormedUtf16(value);

    // The last source and content type found valid on this thread: a host publishes the same few strings again and
    // again (often the very same instance, such as EventNotifyOptions.Source), and parsing a Uri or a media type
    // allocates on every call (about 200 B and a few hundred nanoseconds per publish in the profile).
    [ThreadStatic]
    private static string? t_validSource;

    [ThreadStatic]
    private static string? t_validContentType;

    private static bool IsUriReference(string source)
    {
        if (ReferenceEquals(source, t_validSource) || string.Equals(source, t_validSource, StringComparison.Ordinal))
        {
            return true;
        }

        // RFC 3986 (IRIs too: non-ASCII is accepted as Uri reads it), fragments and relative references included; no
        // white space, which a URI reference never holds (Uri would quietly escape it).
        if (source.Length == 0 || !IsPlainText(source) || HasWhiteSpace(source)
            || !Uri.TryCreate(source, UriKind.RelativeOrAbsolute, out _))
        {
            return false;
        }

        t_validSource = source;
        return true;
    }

    private static bool IsMediaType(string? contentType)
    {
        if (contentType is null)
        {
            return false;
        }

        if (ReferenceEquals(contentType, t_validContentType) || string.Equals(contentType, t_validContentType, StringComparison.Ordinal)
            || string.Equals(contentType, "application/json", StringComparison.Ordinal))
        {
            return true;
        }

        // A media type, not a media range ('*/*', 'application/*'): the content has one type.
        if (string.IsNullOrWhiteSpace(contentType) || contentType.Length > 256 || HasControlCharacters(contentType)
            || !System.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var parsed) || parsed.MediaType is null || parsed.MediaType.Contains('*'))
        {
            return false;
        }

        t_validContentType = contentType;
        return true;
    }

    private static bool HasWhiteSpace(string value)
    {
        foreach (var c in value)
        {
            if (char.IsWhiteSpace(c))
            {
                return true;
            }
        }

        return false;
    }

    internal static bool HasControlCharacters(ReadOnlySpan<char> value)
    {
        foreach (var c in value)
        {
            if (char.IsControl(c))
            {
                return true;
            }
        }

        return false;
    }

    internal static void ValidateEvent(NotificationEvent e, int maxDataBytes)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (string.IsNullOrEmpty(e.Type))
        {
            throw new EventValidationException("NotificationEvent.Type is required: give a dotted lowercase event type such as 'order.paid'.", nameof(NotificationEvent.Type));
        }

        if (!IsValidEventType(e.Type))
        {
            throw new EventValidationException(
                $"NotificationEvent.Type '{Truncate(e.Type)}' is invalid: it must be dot-separated segments of lowercase letters, digits, '_' and '-' (e.g. 'order.paid'), at most {MaxIdLength} characters.",
                nameof(NotificationEvent.Type));
        }

        if (!IsValidId(e.Id))
        {
            throw new EventValidationException(
                $"NotificationEvent.Id '{Truncate(e.Id)}' is invalid: it must be 1 to {MaxIdLength} characters with no '.', whitespace, control characters, unpaired surrogates or Unicode noncharacters.",
                nameof(NotificationEvent.Id));
        }

        if (e.Data.Length > maxDataBytes)
        {
            throw new EventValidationException(
                $"NotificationEvent.Data is {e.Data.Length} bytes, over the limit of {maxDataBytes} bytes (EventNotifyOptions.MaxDataBytes).",
                nameof(NotificationEvent.Data));
        }

        if (!IsMediaType(e.DataContentType))
        {
            throw new EventValidationException(
                $"NotificationEvent.DataContentType '{Truncate(e.DataContentType ?? "")}' must be a media type (RFC 2046) such as 'application/json' or 'text/plain; charset=utf-8': type/subtype with optional parameters, 1 to 256 characters.",
                nameof(NotificationEvent.DataContentType));
        }

        if (!e.Data.IsEmpty && IsJsonMediaType(e.DataContentType) && !IsWellFormedJson(e.Data.Span))
        {
            throw new EventValidationException(
                $"NotificationEvent.Data is not well-formed UTF-8 JSON (or nests deeper than 256 levels) although DataContentType is '{e.DataContentType}'.",
                nameof(NotificationEvent.Data));
        }

        if (e.Subject is { Length: 0 or > 1024 } || (e.Subject is not null && !IsPlainText(e.Subject)))
        {
            throw new EventValidationException("NotificationEvent.Subject must be null or 1 to 1024 characters (CloudEvents: if present, non-empty) with no control characters, unpaired surrogates or Unicode noncharacters.", nameof(NotificationEvent.Subject));
        }

        if (e.TenantId is not null && !IsValidId(e.TenantId))
        {
            throw new EventValidationException(
                $"NotificationEvent.TenantId '{Truncate(e.TenantId)}' is invalid: it must be 1 to {MaxIdLength} characters with no '.', whitespace or control characters.",
                nameof(NotificationEvent.TenantId));
        }

        if (e.Source is not null && !IsUriReference(e.Source))
        {
            throw new EventValidationException(
                $"NotificationEvent.Source '{Truncate(e.Source)}' must be a non-empty URI reference (CloudEvents), such as 'https://api.shop.example' or '/orders', with no spaces, control characters, unpaired surrogates or Unicode noncharacters.",
                nameof(NotificationEvent.Source));
        }

        ArgumentNullException.ThrowIfNull(e.Recipients, nameof(NotificationEvent.Recipients));
        for (var i = 0; i < e.Recipients.Count; i++)
        {
            var r = e.Recipients[i];
            if (r is null || !IsValidChannelName(r.Channel))
            {
                throw new EventValidationException(
                    $"NotificationEvent.Recipients[{i}].Channel '{r?.Channel}' is invalid: it must be a channel name of lowercase letters, digits, '_' and '-'.",
                    nameof(NotificationEvent.Recipients));
            }

            if (string.IsNullOrWhiteSpace(r.Address) || r.Address.Length > 2048 || HasControlCharacters(r.Address))
            {
                throw new EventValidationException(
                    $"NotificationEvent.Recipients[{i}].Address is invalid: it must be 1 to 2048 characters with no control characters (CR/LF injection is refused).",
                    nameof(NotificationEvent.Recipients));
            }
        }

        ArgumentNullException.ThrowIfNull(e.Extensions, nameof(NotificationEvent.Extensions));
        foreach (var (name, value) in e.Extensions)
        {
            if (!IsValidExtensionName(name))
            {
                throw new EventValidationException(
                    $"NotificationEvent.Extensions name '{Truncate(name)}' is invalid: CloudEvents extension names are 1 to 20 lowercase letters or digits.",
                    nameof(NotificationEvent.Extensions));
            }

            if (IsReservedAttributeName(name))
            {
                throw new EventValidationException(
                    $"NotificationEvent.Extensions name '{name}' is reserved: it is a CloudEvents context attribute (or the event's tenant) that the event's own properties set; choose another name.",
                    nameof(NotificationEvent.Extensions));
            }

            if (value is null || !IsPlainText(value))
            {
                throw new EventValidationException(
                    $"NotificationEvent.Extensions['{name}'] must be a string with no control characters, unpaired surrogates or Unicode noncharacters.",
                    nameof(NotificationEvent.Extensions));
            }
        }
    }

    private static bool IsValidExtensionName(string name)
    {
        if (name.Length is 0 or > 20)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9')))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Returns whether <paramref name="name"/> is taken by a CloudEvents context attribute (<c>specversion</c>, <c>id</c>,
    /// <c>source</c>, <c>type</c>, <c>subject</c>, <c>time</c>, <c>datacontenttype</c>, <c>dataschema</c>, <c>data</c>)
    /// or by <c>tenantid</c>, which carries <see cref="NotificationEvent.TenantId"/>: not usable as an extension name.
    /// </summary>
    public static bool IsReservedAttributeName(string name) => name is "specversion" or "id" or "source" or "type" or "subject"
        or "time" or "datacontenttype" or "dataschema" or "data" or "data_base64" or "tenantid";

    /// <summary>Returns whether <paramref name="mediaType"/> is JSON: <c>application/json</c>, <c>text/json</c> or a <c>+json</c> suffix, parameters ignored.</summary>
    public static bool IsJsonMediaType(string mediaType)
    {
        var type = mediaType.AsSpan();
        var semicolon = type.IndexOf(';');
        if (semicolon >= 0)
        {
            type = type[..semicolon];
        }

        type = type.Trim();
        return type.EndsWith("/json", StringComparison.OrdinalIgnoreCase) || type.EndsWith("+json", StringComparison.OrdinalIgnoreCase);
    }

    private static bool IsWellFormedJson(ReadOnlySpan<byte> utf8)
    {
        // Utf8JsonReader does not validate every byte inside strings; receivers parse the payload, so check it all.
        if (!System.Text.Unicode.Utf8.IsValid(utf8))
        {
            return false;
        }

        try
        {
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 256 });
            while (reader.Read())
            {
            }

            return reader.BytesConsumed == utf8.Length || utf8[(int)reader.BytesConsumed..].Trim(" \t\r\n"u8).IsEmpty;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    internal static string Truncate(string? value) =>
        value is null ? "(null)" : value.Length <= 64 ? value : string.Concat(value.AsSpan(0, 61), "...");
}
