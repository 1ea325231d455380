using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace EventNotify.Webhooks.Tests.Health;

public sealed class EndpointHealthTests
{
    private const string Endpoint = "https://hooks.example.com:443";
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero));

    private EndpointHealth Health(int threshold = 3, int breakSeconds = 30, TimeSpan? disableAfter = null) => new(
        Options.Create(new WebhookOptions
        {
            CircuitBreakerThreshold = threshold,
            CircuitBreakDuration = TimeSpan.FromSeconds(breakSeconds),
            DisableAfter = disableAfter ?? TimeSpan.FromDays(5),
        }),
        _time);

    /// <summary>A health whose circuit opened (2 failures, 30 s break) and whose break has just ended: half-open.</summary>
    private EndpointHealth BreakJustOver()
    {
        var health = Health(threshold: 2, breakSeconds: 30);
        health.RecordFailure(Endpoint);
        health.RecordFailure(Endpoint);
        _time.Advance(TimeSpan.FromSeconds(30));
        return health;
    }

    [Fact]
    public void Check_UnknownEndpoint_Closed()
    {
        Health().Check(Endpoint).IsOpen.Should().BeFalse();
    }

    [Fact]
    public void RecordFailure_BelowThreshold_StaysClosed()
    {
        var health = Health(threshold: 3);

        health.RecordFailure(Endpoint).Opened.Should().BeFalse();
        health.RecordFailure(Endpoint).Opened.Should().BeFalse();

        health.Check(Endpoint).IsOpen.Should().BeFalse();
    }

    [Fact]
    public void RecordFailure_AtThreshold_OpensForBreakDuration()
    {
        var health = Health(threshold: 3, breakSeconds: 30);
        health.RecordFailure(Endpoint);
        health.RecordFailure(Endpoint);

        health.RecordFailure(Endpoint).Opened.Should().BeTrue();

        var check = health.Check(Endpoint);
        check.IsOpen.Should().BeTrue();
        check.OpenFor.Should().Be(TimeSpan.FromSeconds(30));
        check.Failures.Should().Be(3);
        _time.Advance(TimeSpan.FromSeconds(29));
        health.Check(Endpoint).OpenFor.Should().Be(TimeSpan.FromSeconds(1));
        _time.Advance(TimeSpan.FromSeconds(1));
        health.Check(Endpoint).IsOpen.Should().BeFalse();
    }

    [Fact]
    public void RecordFailure_AfterCircuitClosesAgain_ReopensAtOnce()
    {
        var health = Health(threshold: 2);
        health.RecordFailure(Endpoint);
        health.RecordFailure(Endpoint);
        _time.Advance(TimeSpan.FromSeconds(31));

        health.RecordFailure(Endpoint).Opened.Should().BeTrue();

        health.Check(Endpoint).IsOpen.Should().BeTrue();
    }

    // Found by a new-user trial: when the break ended, every delivery put off during it went out in the same
    // millisecond to an endpoint still down, each using up an attempt.
    [Fact]
    public void Check_BreakOver_OneProbeGoesOutTheRestWaitForIt()
    {
        var health = BreakJustOver();

        var probe = health.Check(Endpoint);
        var second = health.Check(Endpoint);

        probe.IsOpen.Should().BeFalse("the first attempt after the break is the probe");
        second.IsOpen.Should().BeTrue("the others wait for the probe's answer");
        second.OpenFor.Should().Be(EndpointHealth.ProbeWait);
        health.Failures(Endpoint).Should().Be(2, "reading the count starts no probe");
    }

    // Found by a trial of the half-open circuit: a probe turned away as busy never answered, and the URL waited a
    // whole Timeout for it, again and again.
    [Fact]
    public void AbandonProbe_ProbeNeverSent_NextAttemptProbesAtOnce()
    {
        var health = BreakJustOver();
        health.Check(Endpoint).IsProbe.Should().BeTrue();

        health.AbandonProbe(Endpoint);

        var next = health.Check(Endpoint);
        next.IsOpen.Should().BeFalse();
        next.IsProbe.Should().BeTrue();
        health.Check(Endpoint).IsOpen.Should().BeTrue("one probe at a time");
    }

    [Fact]
    public void Check_ProbeFails_ReopensForABreak()
    {
        var health = BreakJustOver();
        health.Check(Endpoint).IsOpen.Should().BeFalse();

        health.RecordFailure(Endpoint);

        health.Check(Endpoint).OpenFor.Should().Be(TimeSpan.FromSeconds(30));
        _time.Advance(TimeSpan.FromSeconds(30));
        health.Check(Endpoint).IsOpen.Should().BeFalse("the next break ends in another probe");
    }

    [Fact]
    public void Check_ProbeSucceeds_ClosesForEveryone()
    {
        var health = BreakJustOver();
        health.Check(Endpoint);

        health.RecordSuccess(Endpoint).Should().BeTrue();

        health.Check(Endpoint).IsOpen.Should().BeFalse();
        health.Check(Endpoint).IsOpen.Should().BeFalse();
    }

    [Fact]
    public void Check_ProbeNeverAnswers_AnotherProbeAfterTheTimeout()
    {
        var health = BreakJustOver();
        health.Check(Endpoint);

        _time.Advance(new WebhookOptions().Timeout);

        health.Check(Endpoint).IsOpen.Should().BeFalse("the probe is presumed lost after WebhookOptions.Timeout");
    }

    [Fact]
    public void RecordSuccess_AfterFailures_ForgetsThem()
    {
        var health = Health(threshold: 2);
        health.RecordFailure(Endpoint);

        health.RecordSuccess(Endpoint);
        health.RecordFailure(Endpoint);

        health.Check(Endpoint).IsOpen.Should().BeFalse();
    }

    [Fact]
    public void RecordFailure_OtherEndpoint_DoesNotAffectThisOne()
    {
        var health = Health(threshold: 1);

        health.RecordFailure("https://dead.example.com:443");

        health.Check(Endpoint).IsOpen.Should().BeFalse();
        health.Check("https://dead.example.com:443").IsOpen.Should().BeTrue();
    }

    [Fact]
    public void RecordFailure_FailingLongerThanDisableAfter_GivesUp()
    {
        var health = Health(threshold: 100, disableAfter: TimeSpan.FromDays(5));
        health.RecordFailure(Endpoint).GiveUp.Should().BeFalse();
        _time.Advance(TimeSpan.FromDays(5) - TimeSpan.FromSeconds(1));
        health.RecordFailure(Endpoint).GiveUp.Should().BeFalse();
        _time.Advance(TimeSpan.FromSeconds(1));

        health.RecordFailure(Endpoint).GiveUp.Should().BeTrue();
    }

    [Fact]
    public void RecordFailure_SuccessInBetween_RestartsDisableClock()
    {
        var health = Health(threshold: 100, disableAfter: TimeSpan.FromDays(5));
        health.RecordFailure(Endpoint);
        _time.Advance(TimeSpan.FromDays(4));
        health.RecordSuccess(Endpoint);
        health.RecordFailure(Endpoint);
        _time.Advance(TimeSpan.FromDays(2));

        health.RecordFailure(Endpoint).GiveUp.Should().BeFalse();
    }

    [Theory]
    [InlineData("https://Hooks.Example.com/a?b=c", "https://hooks.example.com")]
    [InlineData("http://hooks.example.com:8080/a", "http://hooks.example.com:8080")]
    public void KeyOf_Url_IsSchemeHostAndPort(string url, string key)
    {
        EndpointHealth.KeyOf(new Uri(url)).Should().Be(key);
    }

    [Theory]
    [InlineData("https://Hooks.Example.com/catch/1?t=x#frag", "https://hooks.example.com/catch/1?t=x")]
    [InlineData("https://hooks.example.com/catch/2", "https://hooks.example.com/catch/2")]
    public void CircuitOf_Url_IsWholeUrlWithoutFragment(string url, string key)
    {
        EndpointHealth.CircuitOf(new Uri(url)).Should().Be(key);
    }
}
