using System.Text;

namespace EventNotify.Tests.Model;

public sealed class NotificationEventValidationTests
{
    private static void Validate(NotificationEvent e, int maxData = 256 * 1024) => EventRules.ValidateEvent(e, maxData);

    [Theory]
    [InlineData("order.paid")]
    [InlineData("order")]
    [InlineData("pull_request_review_comment.created")]
    [InlineData("a1.b-2.c_3")]
    public void Validate_WellFormedType_Passes(string type)
    {
        var act = () => Validate(NotificationEvent.FromJson(type, "{}"));
        act.Should().NotThrow();
    }

    [Theory]
    [InlineData("")]
    [InlineData("Order.Paid")]
    [InlineData("order..paid")]
    [InlineData(".order")]
    [InlineData("order.")]
    [InlineData("order paid")]
    [InlineData("order.*")]
    [InlineData("_order.paid")]
    public void Validate_MalformedType_ThrowsNamingType(string type)
    {
        var act = () => Validate(NotificationEvent.FromJson(type, "{}"));
        act.Should().Throw<EventValidationException>().Where(e => e.ParamName == "Type" && e.Message.Contains("NotificationEvent.Type"));
    }

    [Fact]
    public void Validate_NullType_ThrowsNamingType()
    {
        var act = () => Validate(new NotificationEvent { Type = null! });
        act.Should().Throw<EventValidationException>().Where(e => e.ParamName == "Type" && e.Message.Contains("required"));
    }

    [Theory]
    [InlineData("evt.1")]
    [InlineData("evt 1")]
    [InlineData("")]
    [InlineData("evt\n1")]
    public void Validate_BadId_ThrowsNamingId(string id)
    {
        var act = () => Validate(NotificationEvent.FromJson("order.paid", "{}") with { Id = id });
        act.Should().Throw<EventValidationException>().Where(e => e.ParamName == "Id");
    }

    [Fact]
    public void Validate_IdOf257Characters_ThrowsNamingId()
    {
        var act = () => Validate(NotificationEvent.FromJson("order.paid", "{}") with { Id = new string('x', 257) });
        act.Should().Throw<EventValidationException>().Where(e => e.ParamName == "Id" && e.Message.Contains("256"));
    }

    [Fact]
    public void Validate_DataOverLimit_ThrowsNamingDataAndLimit()
    {
        var json = "\"" + new string('a', 100) + "\"";
        var act = () => Validate(NotificationEvent.FromJson("order.paid", json), maxData: 50);
        act.Should().Throw<EventValidationException>().Where(e => e.ParamName == "Data" && e.Message.Contains("50 bytes"));
    }

    [Fact]
    public void Validate_DataExactlyAtLimit_Passes()
    {
        var json = "\"" + new string('a', 48) + "\"";
        var act = () => Validate(NotificationEvent.FromJson("order.paid", json), maxData: 50);
        act.Should().NotThrow();
    }

    [Theory]
    [InlineData("{\"a\":")]
    [InlineData("{} {}")]
    [InlineData("not json")]
    public void Validate_MalformedJsonData_ThrowsNamingData(string json)
    {
        var act = () => Validate(NotificationEvent.FromJson("order.paid", json));
        act.Should().Throw<EventValidationException>().Where(e => e.ParamName == "Data");
    }

    [Fact]
    public void Validate_NonJsonContentType_AcceptsAnyBytes()
    {
        var e = new NotificationEvent { Type = "file.uploaded", Data = Encoding.UTF8.GetBytes("plain text"), DataContentType = "text/plain" };
        var act = () => Validate(e);
        act.Should().NotThrow();
    }

    [Fact]
    public void Validate_RecipientAddressWithCrLf_ThrowsNamingRecipients()
    {
        var e = NotificationEvent.FromJson("order.paid", "{}") with
        {
            Recipients = [new Recipient("email", "bob@example.com\r\nRCPT TO:<x@evil.example>")],
        };
        var act = () => Validate(e);
        act.Should().Throw<EventValidationException>().Where(x => x.ParamName == "Recipients" && x.Message.Contains("Recipients[0].Address"));
    }

    [Fact]
    public void Validate_RecipientWithBadChannel_ThrowsNamingRecipients()
    {
        var e = NotificationEvent.FromJson("order.paid", "{}") with { Recipients = [new Recipient("E-Mail", "bob@example.com")] };
        var act = () => Validate(e);
        act.Should().Throw<EventValidationException>().Where(x => x.Message.Contains("Recipients[0].Channel"));
    }

    [Theory]
    [InlineData("TraceParent")]
    [InlineData("averyveryverylongextensionname")]
    [InlineData("with-dash")]
    public void Validate_BadExtensionName_ThrowsNamingExtensions(string name)
    {
        var e = NotificationEvent.FromJson("order.paid", "{}") with { Extensions = new Dictionary<string, string> { [name] = "x" } };
        var act = () => Validate(e);
        act.Should().Throw<EventValidationException>().Where(x => x.ParamName == "Extensions");
    }

    [Theory]
    [InlineData("data")]
    [InlineData("id")]
    [InlineData("specversion")]
    [InlineData("tenantid")]
    public void Validate_ReservedExtensionName_ThrowsSayingItIsReserved(string name)
    {
        // Accepted before, then silently left out of the CloudEvents body.
        var e = NotificationEvent.FromJson("order.paid", "{}") with { Extensions = new Dictionary<string, string> { [name] = "x" } };
        var act = () => Validate(e);
        act.Should().Throw<EventValidationException>().Where(x => x.ParamName == "Extensions" && x.Message.Contains($"'{name}' is reserved"));
    }

    [Fact]
    public void Validate_TraceContextExtension_IsAccepted()
    {
        var e = NotificationEvent.FromJson("order.paid", "{}") with { Extensions = new Dictionary<string, string> { ["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" } };
        var act = () => Validate(e);
        act.Should().NotThrow();
    }

    [Fact]
    public void Create_SerialisesDataWithWebDefaults()
    {
        var e = NotificationEvent.Create("order.paid", new { OrderId = 7, Amount = 9.5m });
        Encoding.UTF8.GetString(e.Data.Span).Should().Be("{\"orderId\":7,\"amount\":9.5}");
        e.Id.Should().StartWith("evt_").And.HaveLength(36);
    }

    [Fact]
    public void FromJson_KeepsBytesExactly()
    {
        var bytes = Encoding.UTF8.GetBytes("{ \"b\" : 1,\n \"a\":\"é\" }");
        var e = NotificationEvent.FromJson("order.paid", bytes);
        e.Data.ToArray().Should().Equal(bytes);
    }

    [Fact]
    public void Validate_IdWithLoneSurrogate_ThrowsNamingId()
    {
        // Theory data would be serialised (and repaired) by the runner, so the ids are built here.
        foreach (var id in new[] { "evt" + '\ud800', "evt" + '\udc00' + "x" })
        {
            var act = () => Validate(NotificationEvent.FromJson("order.paid", "{}") with { Id = id });
            act.Should().Throw<EventValidationException>().Where(e => e.ParamName == "Id");
        }
    }

    [Fact]
    public void Validate_IdWithSurrogatePair_Passes()
    {
        var act = () => Validate(NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt_🐳" });
        act.Should().NotThrow();
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("application/json\r\nX-Injected: 1")]
    [InlineData("not a media type")] // found by a CloudEvents trial: sent as datacontenttype, which must follow RFC 2046
    [InlineData("json")]
    [InlineData("/json")]
    [InlineData("application/")]
    [InlineData("*/*")] // a media range, not the type of some content
    [InlineData("application/*")]
    public void Validate_BadDataContentType_ThrowsNamingIt(string? contentType)
    {
        var act = () => Validate(NotificationEvent.FromJson("order.paid", "{}") with { DataContentType = contentType?.Replace("\\r\\n", "\r\n", StringComparison.Ordinal)! });
        act.Should().Throw<EventValidationException>().Where(e => e.ParamName == "DataContentType");
    }

    [Fact]
    public void Validate_InvalidUtf8InsideJsonString_ThrowsNamingData()
    {
        var bytes = new byte[] { (byte)'"', 0xC3, 0x28, (byte)'"' };
        var act = () => Validate(NotificationEvent.FromJson("order.paid", bytes));
        act.Should().Throw<EventValidationException>().Where(e => e.ParamName == "Data");
    }

    [Fact]
    public void Validate_JsonNested100Deep_Passes()
    {
        var json = new string('[', 100) + new string(']', 100);
        var act = () => Validate(NotificationEvent.FromJson("order.paid", json));
        act.Should().NotThrow();
    }

    [Theory]
    [InlineData("application/json", true)]
    [InlineData("application/cloudevents+json; charset=utf-8", true)]
    [InlineData("text/json", true)]
    [InlineData("text/xml; note=jsonish", false)]
    [InlineData("text/plain", false)]
    public void IsJsonMediaType_ParsesTypeNotSubstring(string mediaType, bool expected)
    {
        EventRules.IsJsonMediaType(mediaType).Should().Be(expected);
    }

    [Theory]
    [InlineData("application/json")]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("application/vnd.shop.order+json")]
    [InlineData("text/plain")]
    [InlineData("APPLICATION/JSON")]
    public void Validate_MediaTypeDataContentType_Passes(string contentType)
    {
        var act = () => Validate(NotificationEvent.FromJson("order.paid", "{}") with { DataContentType = contentType });
        act.Should().NotThrow();
    }

    // Found by a CloudEvents trial: CloudEvents says subject, if present, must be non-empty, and string attributes may
    // not contain Unicode noncharacters; the SDK refused the bodies we sent.
    [Fact]
    public void Validate_EmptySubject_ThrowsNamingSubject()
    {
        var act = () => Validate(NotificationEvent.FromJson("order.paid", "{}") with { Subject = "" });
        act.Should().Throw<EventValidationException>().Where(e => e.ParamName == "Subject" && e.Message.Contains("non-empty"));
    }

    [Theory]
    [InlineData("\uFDD0")]
    [InlineData("\uFDEF")]
    [InlineData("\uFFFE")]
    [InlineData("\uFFFF")]
    [InlineData("\U0001FFFE")]
    [InlineData("\U0010FFFF")]
    public void Validate_NoncharacterInIdSubjectOrExtension_ThrowsNamingTheField(string nonCharacter)
    {
        var e = NotificationEvent.FromJson("order.paid", "{}");

        var inId = () => Validate(e with { Id = "evt-" + nonCharacter });
        var inSubject = () => Validate(e with { Subject = "s" + nonCharacter });
        var inExtension = () => Validate(e with { Extensions = new Dictionary<string, string> { ["x"] = "a" + nonCharacter } });

        inId.Should().Throw<EventValidationException>().Where(x => x.ParamName == "Id");
        inSubject.Should().Throw<EventValidationException>().Where(x => x.ParamName == "Subject");
        inExtension.Should().Throw<EventValidationException>().Where(x => x.ParamName == "Extensions");
    }

    [Fact]
    public void Validate_OtherSupplementaryCharacters_Pass()
    {
        var act = () => Validate(NotificationEvent.FromJson("order.paid", "{}") with { Id = "evt-\U0001F433", Subject = "客服 😀 \uFDCF\uFDF0\uFFFD" });
        act.Should().NotThrow();
    }

    [Theory]
    [InlineData("not a uri ref")]
    [InlineData("https://api.shop.example/a b")]
    [InlineData("http://[::1")]
    public void Validate_SourceNotAUriReference_ThrowsNamingSource(string source)
    {
        var act = () => Validate(NotificationEvent.FromJson("order.paid", "{}") with { Source = source });
        act.Should().Throw<EventValidationException>().Where(e => e.ParamName == "Source" && e.Message.Contains("URI reference"));
    }

    [Theory]
    [InlineData("https://api.shop.example")]
    [InlineData("/orders")]
    [InlineData("urn:eventnotify")]
    [InlineData("#frag")] // found by a regression trial: relative references with a fragment were refused
    [InlineData("/a#frag")]
    [InlineData("/orders/ä")] // and IRIs, inconsistently
    [InlineData("urn:x:😀")]
    [InlineData("mailto:ops@shop.example")]
    [InlineData("1-555-123-4567")]
    public void Validate_SourceUriReference_Passes(string source)
    {
        var act = () => Validate(NotificationEvent.FromJson("order.paid", "{}") with { Source = source });
        act.Should().NotThrow();
    }
}
