using System.Collections.Concurrent;
using System.Globalization;

namespace EventNotify.Core.Tests.Model;

public sealed class EventIdTests
{
    [Fact]
    public void NewId_Format_IsEvtAndThirtyTwoLowercaseHexDigits() =>
        NotificationEvent.NewId().Should().MatchRegex("^evt_[0-9a-f]{32}$");

    [Fact]
    public void NewId_AsUuid_IsVersion7WithTheRfcVariant()
    {
        var uuid = Guid.ParseExact(NotificationEvent.NewId()[4..], "N");

        uuid.Version.Should().Be(7);
        uuid.Variant.Should().BeInRange(8, 11, "the RFC 9562 variant is the bits 10xx");
    }

    [Fact]
    public void NewId_LeadingBits_AreTheCreationTimeInMilliseconds()
    {
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var id = NotificationEvent.NewId();
        var after = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        long.Parse(id.AsSpan(4, 12), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture).Should().BeInRange(before, after);
    }

    [Fact]
    public void NewId_ManyFromSeveralThreads_AreAllDistinctAndDifferInTheirRandomBits()
    {
        var ids = new ConcurrentBag<string>();
        Parallel.For(0, 8, _ =>
        {
            for (var i = 0; i < 5_000; i++)
            {
                ids.Add(NotificationEvent.NewId());
            }
        });

        ids.Distinct(StringComparer.Ordinal).Should().HaveCount(40_000);
        // Within one millisecond the ids differ only in the random part: their last 16 hex digits do not repeat either.
        ids.Select(id => id[^16..]).Distinct(StringComparer.Ordinal).Should().HaveCount(40_000);
    }

    [Fact]
    public void NewId_ConsecutiveIdsOfOneThread_SortByTime()
    {
        var first = NotificationEvent.NewId();
        var millisecond = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        SpinWait.SpinUntil(() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() > millisecond + 1);
        var second = NotificationEvent.NewId();

        string.CompareOrdinal(first[..16], second[..16]).Should().BeLessThan(0);
    }
}
