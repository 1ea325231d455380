using System.Text;

namespace EventNotify.Webhooks.Tests.Signing;

public sealed class WebhookSecretTests
{
    private static readonly byte[] VectorBody = Encoding.UTF8.GetBytes("""{"test": 2432232314}""");
    private static readonly DateTimeOffset VectorTime = DateTimeOffset.FromUnixTimeSeconds(1614265330);

    [Fact]
    public void Sign_StandardWebhooksVector_ProducesPublishedSignature()
    {
        var secret = WebhookSecret.Parse(TestWebhooks.VectorSecret);

        var signature = secret.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", VectorTime, VectorBody);

        signature.Should().Be("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    [Fact]
    public void Sign_StandardWebhooksVector_MatchesIndependentImplementation()
    {
        var reference = new StandardWebhooks.StandardWebhook(TestWebhooks.VectorSecret)
            .Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", VectorTime, """{"test": 2432232314}""");

        WebhookSecret.Parse(TestWebhooks.VectorSecret).Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", VectorTime, VectorBody)
            .Should().Be(reference);
    }

    [Fact]
    public void Parse_BareBase64Key_SignsLikePrefixedForm()
    {
        var bare = WebhookSecret.Parse(TestWebhooks.VectorSecret["whsec_".Length..]);

        bare.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", VectorTime, VectorBody).Should().Be("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    [Theory]
    [InlineData("whsec_not base64!!", "base64")]
    [InlineData("whsec_%%%%", "base64")]
    [InlineData("whsec_", "base64")]
    [InlineData("", "empty")]
    [InlineData("whsec_c2hvcnQ=", "5 bytes")]
    [InlineData("hunter2hunter2hu", "12 bytes")]
    public void Parse_InvalidSecret_ThrowsNamingRule(string secret, string rule)
    {
        var act = () => WebhookSecret.Parse(secret);

        act.Should().Throw<FormatException>().WithMessage($"*{rule}*");
    }

    [Theory]
    [InlineData(" ")]
    [InlineData("\n")]
    [InlineData("\t")]
    public void Parse_SecretWithWhiteSpace_ThrowsBase64Rule(string space)
    {
        // Convert.TryFromBase64Chars skips white space, so these decoded to a valid key before.
        var key = TestWebhooks.VectorSecret["whsec_".Length..];
        foreach (var secret in new[] { "whsec_" + space + key, "whsec_" + key[..8] + space + key[8..], TestWebhooks.VectorSecret + space })
        {
            var act = () => WebhookSecret.Parse(secret);
            act.Should().Throw<FormatException>().WithMessage("*standard base64*");
        }
    }

    [Fact]
    public void Parse_InvalidSecret_MessageDoesNotContainSecret()
    {
        var act = () => WebhookSecret.Parse("whsec_TopSecretValue!!");

        act.Should().Throw<FormatException>().Which.Message.Should().NotContain("TopSecretValue");
    }

    [Fact]
    public void Generate_Default_Is32ByteKeyWithPrefix()
    {
        var text = WebhookSecret.Generate();

        text.Should().StartWith("whsec_");
        Convert.FromBase64String(text["whsec_".Length..]).Should().HaveCount(32);
        WebhookSecret.Parse(text).KeyLength.Should().Be(32);
    }

    [Fact]
    public void Generate_TwoCalls_DifferentKeys()
    {
        WebhookSecret.Generate().Should().NotBe(WebhookSecret.Generate());
    }

    [Theory]
    [InlineData(23)]
    [InlineData(65)]
    public void Generate_KeyLengthOutOfRange_Throws(int bytes)
    {
        var act = () => WebhookSecret.Generate(bytes);

        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void ToString_Always_HidesKey()
    {
        var secret = WebhookSecret.Parse(TestWebhooks.VectorSecret);

        secret.ToString().Should().NotContain("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").And.Contain("***");
    }

    [Fact]
    public void Sign_KeysAlternatingOnOneThread_EachSignatureMatchesAFreshHmac()
    {
        // Signing keeps the last key's HMAC context per thread: switching keys back and forth (rotation, several
        // subscriptions on one worker) must never sign with a stale key or a half-reset context.
        var a = WebhookSecret.Parse(WebhookSecret.Generate());
        var b = WebhookSecret.Parse(WebhookSecret.Generate(64));
        var secrets = new[] { a, b, a, a, b, TestSecret(), a };
        for (var i = 0; i < secrets.Length; i++)
        {
            var body = Encoding.UTF8.GetBytes($$"""{"n":{{i}}}""");
            var signature = secrets[i].Sign($"msg_{i}", VectorTime, body);

            var expected = System.Security.Cryptography.HMACSHA256.HashData(secrets[i].Key.ToArray(), Encoding.UTF8.GetBytes($"msg_{i}.{VectorTime.ToUnixTimeSeconds()}.").Concat(body).ToArray());
            signature.Should().Be("v1," + Convert.ToBase64String(expected), $"signature {i} uses its own key");
        }

        static WebhookSecret TestSecret() => WebhookSecret.Parse(TestWebhooks.VectorSecret);
    }
}
