namespace EventNotify.Tests.Retry;

public sealed class RetryScheduleTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 4)]
    [InlineData(6, 32)]
    [InlineData(7, 60)]
    [InlineData(30, 60)]
    public void GetDelay_ExponentialWithoutJitterSpread_DoublesUpToCap(int failures, int expectedSeconds)
    {
        var schedule = new RetrySchedule(new RetryOptions { BaseDelay = TimeSpan.FromSeconds(1), BackoffMultiplier = 2, MaxDelay = TimeSpan.FromSeconds(60) }, () => 0.5);
        schedule.GetDelay(failures).Should().Be(TimeSpan.FromSeconds(expectedSeconds));
    }

    [Fact]
    public void GetDelay_JitterExtremes_StayWithinFactorAndCap()
    {
        var options = new RetryOptions { BaseDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(60), JitterFactor = 0.2 };
        new RetrySchedule(options, () => 0.0).GetDelay(3).Should().Be(TimeSpan.FromSeconds(3.2));
        new RetrySchedule(options, () => 0.9999999).GetDelay(3).TotalSeconds.Should().BeApproximately(4.8, 0.001);
        new RetrySchedule(options, () => 0.9999999).GetDelay(10).Should().Be(TimeSpan.FromSeconds(60), "jitter never pushes a delay above the cap");
    }

    // Field case N7: 100 deliveries failing together must not retry together, and never wait beyond the cap.
    [Fact]
    public void GetDelay_HundredSimultaneousFailures_SpreadAroundTwoToTheNAndNeverAboveCap()
    {
        var schedule = new RetrySchedule(new RetryOptions { BaseDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(60), MaxAttempts = 10 });
        for (var n = 1; n <= 9; n++)
        {
            var delays = Enumerable.Range(0, 100).Select(_ => schedule.GetDelay(n).TotalSeconds).ToArray();
            var nominal = Math.Min(Math.Pow(2, n - 1), 60);
            delays.Should().OnlyContain(d => d >= nominal * 0.8 - 1e-9 && d <= Math.Min(nominal * 1.2, 60) + 1e-9);
            delays.Should().OnlyContain(d => d <= 60);
            if (nominal < 60)
            {
                delays.Distinct().Count().Should().BeGreaterThan(90, "jitter must spread the retries of deliveries that failed at the same instant");
                delays.Average().Should().BeApproximately(nominal, nominal * 0.08);
            }
        }
    }

    [Fact]
    public void GetDelay_ExplicitList_UsesListThenRepeatsLast()
    {
        var schedule = new RetrySchedule(new RetryOptions { Delays = [TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5)], JitterFactor = 0, MaxDelay = TimeSpan.FromHours(1) });
        schedule.GetDelay(1).Should().Be(TimeSpan.FromSeconds(5));
        schedule.GetDelay(2).Should().Be(TimeSpan.FromMinutes(5));
        schedule.GetDelay(3).Should().Be(TimeSpan.FromMinutes(5));
    }

    [Fact]
    public void GetDelay_RetryAfterLongerThanBackoff_WaitsAtLeastRetryAfter()
    {
        var schedule = new RetrySchedule(new RetryOptions { JitterFactor = 0 }, () => 0.5);
        schedule.GetDelay(1, TimeSpan.FromSeconds(30)).Should().Be(TimeSpan.FromSeconds(30));
        schedule.GetDelay(1, TimeSpan.FromMilliseconds(10)).Should().Be(TimeSpan.FromSeconds(1), "a shorter Retry-After does not shorten our backoff");
    }

    [Fact]
    public void GetDelay_RetryAfterBeyondMax_IsCappedByMaxRetryAfter()
    {
        var schedule = new RetrySchedule(new RetryOptions { JitterFactor = 0, MaxRetryAfter = TimeSpan.FromMinutes(10) }, () => 0.5);
        schedule.GetDelay(1, TimeSpan.FromDays(2)).Should().Be(TimeSpan.FromMinutes(10));
    }

    [Fact]
    public void WebhookDefault_IsTheIndustrySchedule()
    {
        var o = RetryOptions.WebhookDefault();
        o.MaxAttempts.Should().Be(8);
        o.Delays.Should().Equal(
            TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(2),
            TimeSpan.FromHours(5), TimeSpan.FromHours(10), TimeSpan.FromHours(10));
    }
}
