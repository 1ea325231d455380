using System.Text;
using Microsoft.Extensions.Time.Testing;

namespace EventNotify.Webhooks.Tests.Verification;

public sealed class WebhookVerifierTests
{
    private const string Id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    private const string Timestamp = "1614265330";
    private const string Good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    private static readonly byte[] Body = Encoding.UTF8.GetBytes("""{"test": 2432232314}""");
    private static readonly DateTimeOffset SentAt = DateTimeOffset.FromUnixTimeSeconds(1614265330);

    private static WebhookVerifier Verifier(TimeSpan? clockOffset = null, params string[] secrets) =>
        new(secrets.Length == 0 ? [TestWebhooks.VectorSecret] : secrets, timeProvider: new FakeTimeProvider(SentAt + (clockOffset ?? TimeSpan.Zero)));

    [Fact]
    public void Verify_StandardWebhooksVector_IsValid()
    {
        var result = Verifier().Verify(Id, Timestamp, Good, Body);

        result.IsValid.Should().BeTrue(result.Message);
    }

    // Field case W3: any matching v1 signature among several verifies; unknown versions are ignored.
    [Theory]
    [InlineData("v1,bm9wZQ== " + Good)]
    [InlineData("v1a,xxx " + Good)]
    [InlineData(Good + " v1,bm9wZQ==")]
    [InlineData("v2,whatever v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= " + Good)]
    public void Verify_SeveralSignaturesOneGood_IsValid(string header)
    {
        Verifier().Verify(Id, Timestamp, header, Body).IsValid.Should().BeTrue();
    }

    [Theory]
    [InlineData("v1,bm9wZQ==")]
    [InlineData("v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")]
    [InlineData("g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")]
    [InlineData("v1,g1hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")]
    [InlineData("v1,not-base64")]
    public void Verify_NoGoodV1Signature_FailsNoMatchingSignature(string header)
    {
        var result = Verifier().Verify(Id, Timestamp, header, Body);

        result.Failure.Should().Be(WebhookVerificationFailure.NoMatchingSignature);
    }

    // The same MAC written non-canonically: the reference implementations compare the text and refuse these, so a
    // receiver using ours must too (found by replaying requests into the standardwebhooks npm package).
    [Theory]
    [InlineData("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=")] // a padding bit set: decodes to the same bytes
    [InlineData("v1,g0hM9SsE+OTPJ\tTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")]
    [InlineData("v1,g0hM9SsE+OTPJ\r\nTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")]
    [InlineData("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE")] // padding left out
    public void Verify_RightMacInNonCanonicalBase64_FailsNoMatchingSignature(string header)
    {
        Verifier().Verify(Id, Timestamp, header, Body).Failure.Should().Be(WebhookVerificationFailure.NoMatchingSignature);
    }

    [Fact]
    public void Verify_TamperedBody_FailsNoMatchingSignature()
    {
        var tampered = Encoding.UTF8.GetBytes("""{"test": 2432232315}""");

        Verifier().Verify(Id, Timestamp, Good, tampered).Failure.Should().Be(WebhookVerificationFailure.NoMatchingSignature);
    }

    [Fact]
    public void Verify_OtherMessageId_FailsNoMatchingSignature()
    {
        Verifier().Verify("msg_other", Timestamp, Good, Body).Failure.Should().Be(WebhookVerificationFailure.NoMatchingSignature);
    }

    [Fact]
    public void Verify_RotatedSecretsSigningWithPrevious_IsValid()
    {
        var verifier = Verifier(null, WebhookSecret.Generate(), TestWebhooks.VectorSecret);

        verifier.Verify(Id, Timestamp, Good, Body).IsValid.Should().BeTrue();
    }

    [Fact]
    public void Verify_WrongSecret_FailsNoMatchingSignature()
    {
        Verifier(null, WebhookSecret.Generate()).Verify(Id, Timestamp, Good, Body).Failure.Should().Be(WebhookVerificationFailure.NoMatchingSignature);
    }

    [Theory]
    [InlineData(null, Timestamp, Good)]
    [InlineData(Id, null, Good)]
    [InlineData(Id, Timestamp, null)]
    [InlineData("", Timestamp, Good)]
    public void Verify_MissingHeader_FailsMissingHeader(string? id, string? timestamp, string? signature)
    {
        var result = Verifier().Verify(id, timestamp, signature, Body);

        result.Failure.Should().Be(WebhookVerificationFailure.MissingHeader);
        result.Message.Should().Contain("webhook-");
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("-1614265330")]
    [InlineData("1614265330.5")]
    [InlineData(" 1614265330")]
    [InlineData("99999999999999999999")]
    public void Verify_BadTimestamp_FailsInvalidTimestamp(string timestamp)
    {
        Verifier().Verify(Id, timestamp, Good, Body).Failure.Should().Be(WebhookVerificationFailure.InvalidTimestamp);
    }

    [Fact]
    public void Verify_TimestampSixMinutesOld_FailsTooOld()
    {
        Verifier(TimeSpan.FromMinutes(6)).Verify(Id, Timestamp, Good, Body).Failure.Should().Be(WebhookVerificationFailure.TimestampTooOld);
    }

    [Fact]
    public void Verify_TimestampSixMinutesAhead_FailsTooNew()
    {
        Verifier(TimeSpan.FromMinutes(-6)).Verify(Id, Timestamp, Good, Body).Failure.Should().Be(WebhookVerificationFailure.TimestampTooNew);
    }

    [Theory]
    [InlineData(-4)]
    [InlineData(4)]
    public void Verify_TimestampWithinFiveMinutes_IsValid(int minutes)
    {
        Verifier(TimeSpan.FromMinutes(minutes)).Verify(Id, Timestamp, Good, Body).IsValid.Should().BeTrue();
    }

    [Fact]
    public void Verify_HeaderLookup_ReadsStandardHeaders()
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["Webhook-Id"] = Id,
            ["Webhook-Timestamp"] = Timestamp,
            ["Webhook-Signature"] = Good,
        };

        Verifier().Verify(name => headers.GetValueOrDefault(name), Body).IsValid.Should().BeTrue();
        Verifier().Verify(headers, Body).IsValid.Should().BeTrue();
    }

    [Fact]
    public void Verify_SignedByIndependentImplementation_IsValid()
    {
        var now = DateTimeOffset.UtcNow;
        var secret = WebhookSecret.Generate();
        var signature = new StandardWebhooks.StandardWebhook(secret).Sign("msg_1", now, "{\"a\":1}");
        var verifier = new WebhookVerifier([secret], timeProvider: new FakeTimeProvider(now));

        verifier.Verify("msg_1", now.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture), signature, "{\"a\":1}"u8)
            .IsValid.Should().BeTrue();
    }

    [Fact]
    public void Constructor_InvalidSecret_ThrowsFormatException()
    {
        var act = () => new WebhookVerifier("whsec_!!!");

        act.Should().Throw<FormatException>();
    }
}
