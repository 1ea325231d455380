using System.Text;
using System.Text.Json;

namespace EventNotify.Webhooks.Tests.Payload;

public sealed class WebhookPayloadTests
{
    private static readonly DateTimeOffset Time = new(2026, 12, 3, 10, 0, 0, TimeSpan.FromHours(8));

    private static string Build(NotificationEvent e, WebhookPayloadFormat format) =>
        Encoding.UTF8.GetString(WebhookPayload.Build(e, format));

    [Fact]
    public void Build_StandardWebhooks_KeepsDataBytesVerbatim()
    {
        var e = NotificationEvent.FromJson("order.paid", "{ \"b\" : 1,\n  \"a\": [1.50, \"\\u00e9\"] }") with { Time = Time };

        Build(e, WebhookPayloadFormat.StandardWebhooks).Should().Be(
            "{\"type\":\"order.paid\",\"timestamp\":\"2026-12-03T10:00:00+08:00\",\"data\":{ \"b\" : 1,\n  \"a\": [1.50, \"\\u00e9\"] }}");
    }

    [Fact]
    public void Build_StandardWebhooksNoData_DataIsNull()
    {
        var e = new NotificationEvent { Type = "user.login", Time = Time };

        using var json = JsonDocument.Parse(WebhookPayload.Build(e, WebhookPayloadFormat.StandardWebhooks));

        json.RootElement.GetProperty("data").ValueKind.Should().Be(JsonValueKind.Null);
    }

    [Fact]
    public void Build_StandardWebhooksTextData_DataIsJsonString()
    {
        var e = new NotificationEvent { Type = "note.added", Time = Time, Data = "a \"quoted\" line"u8.ToArray(), DataContentType = "text/plain" };

        using var json = JsonDocument.Parse(WebhookPayload.Build(e, WebhookPayloadFormat.StandardWebhooks));

        json.RootElement.GetProperty("data").GetString().Should().Be("a \"quoted\" line");
    }

    [Fact]
    public void Build_StandardWebhooksBinaryData_SentAsBase64WithoutLoss()
    {
        byte[] bytes = [0xC3, 0x28, 0xFF, 0x00, 0x41];
        var e = new NotificationEvent { Type = "file.uploaded", Time = Time, Data = bytes, DataContentType = "application/octet-stream" };

        using var json = JsonDocument.Parse(WebhookPayload.Build(e, WebhookPayloadFormat.StandardWebhooks));

        json.RootElement.GetProperty("data").ValueKind.Should().Be(JsonValueKind.Null);
        json.RootElement.GetProperty("data_base64").GetBytesFromBase64().Should().Equal(bytes);
    }

    [Fact]
    public void Build_MediaTypeMentioningJsonOnlyInAParameter_NotWrittenAsRawJson()
    {
        var e = new NotificationEvent { Type = "note.added", Time = Time, Data = "<a/>"u8.ToArray(), DataContentType = "text/xml; note=jsonish" };

        using var json = JsonDocument.Parse(WebhookPayload.Build(e, WebhookPayloadFormat.StandardWebhooks));

        json.RootElement.GetProperty("data").GetString().Should().Be("<a/>");
    }

    [Fact]
    public void Build_CloudEventsTextData_DataBase64()
    {
        var e = new NotificationEvent { Type = "note.added", Source = "urn:test", Time = Time, Data = "hi"u8.ToArray(), DataContentType = "text/plain" };

        using var json = JsonDocument.Parse(WebhookPayload.Build(e, WebhookPayloadFormat.CloudEvents));

        json.RootElement.GetProperty("data_base64").GetString().Should().Be("aGk=");
        json.RootElement.GetProperty("datacontenttype").GetString().Should().Be("text/plain");
        json.RootElement.TryGetProperty("data", out _).Should().BeFalse();
    }

    [Fact]
    public void Build_CloudEventsNoSubjectNoData_OmitsOptionalAttributes()
    {
        var e = new NotificationEvent { Type = "user.login", Source = "urn:test", Time = Time };

        using var json = JsonDocument.Parse(WebhookPayload.Build(e, WebhookPayloadFormat.CloudEvents));

        json.RootElement.EnumerateObject().Select(p => p.Name).Should().BeEquivalentTo(["specversion", "id", "source", "type", "time"]);
    }

    [Fact]
    public void Build_CloudEventsExtensionNamedLikeCoreAttribute_CoreAttributeWins()
    {
        var e = NotificationEvent.FromJson("order.paid", "{}") with
        {
            Source = "urn:test",
            Time = Time,
            Extensions = new Dictionary<string, string> { ["type"] = "spoofed", ["region"] = "eu" },
        };

        using var json = JsonDocument.Parse(WebhookPayload.Build(e, WebhookPayloadFormat.CloudEvents));

        json.RootElement.EnumerateObject().Count(p => p.Name == "type").Should().Be(1);
        json.RootElement.GetProperty("type").GetString().Should().Be("order.paid");
        json.RootElement.GetProperty("region").GetString().Should().Be("eu");
    }

    [Theory]
    [InlineData("ok\u0000\u001b[31mred\u0007", "ok\uFFFD\uFFFD[31mred\uFFFD")]
    [InlineData("line 1\r\nline 2\tend", "line 1\r\nline 2\tend")]
    [InlineData("caf\u00e9 \u0085next", "caf\u00e9 \uFFFDnext")]
    public void ResponseText_ControlCharacters_ReplacedButLineBreaksAndTabsKept(string body, string kept) =>
        WebhookNotifier.ResponseText(System.Text.Encoding.UTF8.GetBytes(body), cut: false).Should().Be(kept);

    [Fact]
    public void ResponseText_CutInsideACharacter_DropsTheCutCharacter()
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes("aa\u20ac"); // € is 3 bytes
        WebhookNotifier.ResponseText(bytes.AsSpan(0, 3), cut: true).Should().Be("aa", "one byte of three was kept");
        WebhookNotifier.ResponseText(bytes.AsSpan(0, 4), cut: true).Should().Be("aa", "two bytes of three were kept");
        WebhookNotifier.ResponseText(bytes, cut: true).Should().Be("aa\u20ac", "a whole character at the end is kept");
        WebhookNotifier.ResponseText(bytes.AsSpan(0, 4), cut: false).Should().Be("aa\uFFFD", "not cut by us: the receiver sent a broken character");
    }
}
