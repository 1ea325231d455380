using System.Buffers;
using System.Text.Json;

namespace EventNotify.Webhooks;

/// <summary>
/// Builds the request body of one attempt. The bytes built here are the bytes signed and the bytes sent: nothing
/// re-serialises them in between, so the receiver's signature check sees exactly what we hashed.
/// </summary>
internal static class WebhookPayload
{
    public const string JsonContentType = "application/json";
    public const string CloudEventsContentType = "application/cloudevents+json";

    public static string ContentType(WebhookPayloadFormat format) =>
        format == WebhookPayloadFormat.CloudEvents ? CloudEventsContentType : JsonContentType;

    public static byte[] Build(NotificationEvent e, WebhookPayloadFormat format)
    {
        // The buffer and writer are kept per thread and reset: only the exact-size body is allocated per attempt.
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        var writer = t_writer;
        if (writer is null)
        {
            writer = t_writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = false });
        }
        else
        {
            writer.Reset(buffer);
        }

        try
        {
            if (format == WebhookPayloadFormat.CloudEvents)
            {
                WriteCloudEvent(writer, e);
            }
            else
            {
                WriteStandardWebhook(writer, e);
            }

            writer.Flush();
            return buffer.WrittenSpan.ToArray();
        }
        finally
        {
            if (buffer.Capacity > MaxKeptBuffer)
            {
                t_buffer = null; // an unusually large event: do not keep its buffer alive on this thread
                t_writer = null;
            }
        }
    }

    private const int MaxKeptBuffer = 64 * 1024;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    private static void WriteStandardWebhook(Utf8JsonWriter w, NotificationEvent e)
    {
        w.WriteStartObject();
        w.WriteString("type", e.Type);
        w.WriteString("timestamp", e.Time);
        if (e.Data.IsEmpty)
        {
            w.WriteNull("data");
        }
        else if (IsJson(e.DataContentType))
        {
            // The engine checked the data is well-formed JSON when the event was published.
            w.WritePropertyName("data");
            w.WriteRawValue(e.Data.Span, skipInputValidation: true);
        }
        else if (System.Text.Unicode.Utf8.IsValid(e.Data.Span))
        {
            w.WriteString("data", e.Data.Span); // non-JSON text (e.g. text/plain) travels as a JSON string
        }
        else
        {
            // Binary data cannot be a JSON string without loss: send it base64-encoded, as CloudEvents does.
            w.WriteNull("data");
            w.WriteBase64String("data_base64", e.Data.Span);
        }

        w.WriteEndObject();
    }

    private static void WriteCloudEvent(Utf8JsonWriter w, NotificationEvent e)
    {
        w.WriteStartObject();
        w.WriteString("specversion", "1.0");
        w.WriteString("id", e.Id);
        w.WriteString("source", e.Source ?? "urn:eventnotify");
        w.WriteString("type", e.Type);
        if (e.Subject is not null)
        {
            w.WriteString("subject", e.Subject);
        }

        w.WriteString("time", e.Time);
        if (e.TenantId is not null)
        {
            w.WriteString("tenantid", e.TenantId);
        }

        foreach (var (name, value) in e.Extensions)
        {
            if (!IsReserved(name))
            {
                w.WriteString(name, value);
            }
        }

        if (!e.Data.IsEmpty)
        {
            w.WriteString("datacontenttype", e.DataContentType);
            if (IsJson(e.DataContentType))
            {
                w.WritePropertyName("data");
                w.WriteRawValue(e.Data.Span, skipInputValidation: true);
            }
            else
            {
                w.WriteBase64String("data_base64", e.Data.Span);
            }
        }

        w.WriteEndObject();
    }

    // The same rule the engine validated the data with at publish.
    private static bool IsJson(string contentType) => EventRules.IsJsonMediaType(contentType);

    // Refused at publish (EventRules.ValidateEvent); still skipped here for an event stored before that rule.
    private static bool IsReserved(string name) => EventRules.IsReservedAttributeName(name);
}
