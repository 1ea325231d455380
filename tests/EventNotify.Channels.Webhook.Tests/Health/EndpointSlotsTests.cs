using Microsoft.Extensions.Time.Testing;

namespace EventNotify.Webhooks.Tests.Health;

public sealed class EndpointSlotsTests
{
    private const string Endpoint = "https://hooks.example.com/a";
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task EnterAsync_BelowLimit_TakesSlotAtOnce()
    {
        var slots = new EndpointSlots(2, _time);
        await AnswerAsync(slots, 1, TimeSpan.FromMilliseconds(5)); // one answer opens the window to the limit of 2

        var first = slots.EnterAsync(Endpoint, default);
        var second = slots.EnterAsync(Endpoint, default);

        first.IsCompletedSuccessfully.Should().BeTrue();
        second.IsCompletedSuccessfully.Should().BeTrue();
        (await first).Should().NotBeNull();
        slots.InFlight(Endpoint).Should().Be(2);
    }

    // Found by a trial of misbehaving receivers: with the whole cap (8) from the start, two receivers that accept
    // connections and never answer held all 16 default workers, and every other receiver waited a whole Timeout.
    [Fact]
    public async Task EnterAsync_EndpointThatHasNotAnswered_GetsOneSlotAndTheWindowOpensByOnePerAnswer()
    {
        var slots = new EndpointSlots(4, _time);

        var first = await slots.EnterAsync(Endpoint, default);
        var second = slots.EnterAsync(Endpoint, default).AsTask();

        first.Should().NotBeNull();
        second.IsCompleted.Should().BeFalse("until the endpoint answers, one attempt at a time");
        slots.Window(Endpoint).Should().Be(1);
        EndpointSlots.Release(first!, TimeSpan.FromMilliseconds(5));
        var secondGate = await second.WaitAsync(TimeSpan.FromSeconds(10));
        secondGate.Should().NotBeNull();
        slots.Window(Endpoint).Should().Be(2, "each answer opens one more slot");
        var third = await slots.EnterAsync(Endpoint, default);
        third.Should().NotBeNull();
        slots.InFlight(Endpoint).Should().Be(2);
        EndpointSlots.Release(secondGate!, TimeSpan.FromMilliseconds(5));
        EndpointSlots.Release(third!, TimeSpan.FromMilliseconds(5));

        await AnswerAsync(slots, 5, TimeSpan.FromMilliseconds(5));
        slots.Window(Endpoint).Should().Be(4, "never past the limit");
    }

    [Fact]
    public async Task Release_NotAnswered_ClosesTheWindowByOneDownToOne()
    {
        var slots = new EndpointSlots(4, _time);
        await AnswerAsync(slots, 3, TimeSpan.FromMilliseconds(5));
        var held = new List<EndpointSlots.Gate>();
        for (var i = 0; i < 4; i++)
        {
            held.Add((await slots.EnterAsync(Endpoint, default))!);
        }

        foreach (var gate in held)
        {
            EndpointSlots.Release(gate, TimeSpan.FromSeconds(15), answered: false); // four timeouts
        }

        slots.Window(Endpoint).Should().Be(1);
        slots.InFlight(Endpoint).Should().Be(0);
        (await slots.EnterAsync(Endpoint, default)).Should().NotBeNull();
        var second = slots.EnterAsync(Endpoint, default);
        second.IsCompletedSuccessfully.Should().BeTrue();
        (await second).Should().BeNull("one slot again until the endpoint answers, and after attempts without an answer nobody waits for it");
    }

    // Found by a trial of the window: after each Timeout of a receiver that never answered, every worker that met its
    // other deliveries waited a whole SlotWait before it counted as saturated again, and a healthy receiver's
    // deliveries came 1-2 s late after every such timeout until the hung receiver's circuit opened.
    [Fact]
    public async Task EnterAsync_LastAttemptGotNoAnswer_DefersAtOnceUntilTheEndpointAnswersAgain()
    {
        var slots = new EndpointSlots(4, _time);
        var hung = await slots.EnterAsync(Endpoint, default);
        EndpointSlots.Release(hung!, TimeSpan.FromSeconds(15), answered: false); // its Timeout
        var next = await slots.EnterAsync(Endpoint, default); // the slot that gave back

        var other = slots.EnterAsync(Endpoint, default);

        next.Should().NotBeNull();
        other.IsCompletedSuccessfully.Should().BeTrue("its last attempt got no answer: no slot is coming soon, so no worker waits for one");
        (await other).Should().BeNull();

        EndpointSlots.Release(next!, TimeSpan.FromMilliseconds(5)); // it answers: window 2
        var a = await slots.EnterAsync(Endpoint, default);
        var b = await slots.EnterAsync(Endpoint, default);
        var waiting = slots.EnterAsync(Endpoint, default);
        a.Should().NotBeNull();
        b.Should().NotBeNull();
        waiting.IsCompleted.Should().BeFalse("an endpoint that answered is waited for again");
        EndpointSlots.Release(a!, TimeSpan.FromMilliseconds(5));
        (await waiting).Should().NotBeNull();
    }

    [Fact]
    public async Task EnterAsync_AnsweringEndpointStopsFreeingSlots_SaturatedAfterStallAfterNotTheWholeSlotWait()
    {
        var slots = new EndpointSlots(1, _time);
        await AnswerAsync(slots, 1, TimeSpan.FromMilliseconds(5)); // answered in 5 ms: waiting stops after 250 ms without a free slot
        var held = await slots.EnterAsync(Endpoint, default); // then hangs

        var waiting = slots.EnterAsync(Endpoint, default).AsTask();
        _time.Advance(EndpointSlots.StallAfter);

        (await waiting.WaitAsync(TimeSpan.FromSeconds(10))).Should().BeNull("nothing came free for StallAfter: the worker goes on");
        var next = slots.EnterAsync(Endpoint, default);
        next.IsCompletedSuccessfully.Should().BeTrue("saturated: deferred at once");
        (await next).Should().BeNull();
        EndpointSlots.Release(held!, TimeSpan.Zero);
    }

    // Found by a trial of the window: giving up after 250 ms at an endpoint that had not answered yet put a receiver
    // answering in 300 ms off two seconds at a time while its window opened (100 deliveries drained in 13 s, not 4.5 s).
    [Fact]
    public async Task EnterAsync_EndpointNotAnsweredYet_WaitersWaitTheWholeSlotWaitAndTakeSlotsAsTheWindowOpens()
    {
        var slots = new EndpointSlots(8, _time);
        var first = await slots.EnterAsync(Endpoint, default);
        var waiters = Enumerable.Range(0, 3).Select(_ => slots.EnterAsync(Endpoint, default).AsTask()).ToArray();

        _time.Advance(TimeSpan.FromMilliseconds(300));
        waiters.Should().OnlyContain(w => !w.IsCompleted, "slow or hung cannot be told apart before the first answer");
        EndpointSlots.Release(first!, TimeSpan.FromMilliseconds(300)); // the first answer: the window opens to 2

        var served = new List<Task<EndpointSlots.Gate?>>();
        while (served.Count < 2)
        {
            served.Add(await Task.WhenAny(waiters.Except(served)).WaitAsync(TimeSpan.FromSeconds(10)));
        }

        var gates = await Task.WhenAll(served);
        gates.Should().OnlyContain(g => g != null);
        waiters.Except(served).Single().IsCompleted.Should().BeFalse("the window is 2: the third waits on");
        slots.InFlight(Endpoint).Should().Be(2);
        foreach (var gate in gates)
        {
            EndpointSlots.Release(gate!, TimeSpan.FromMilliseconds(300)); // the window opens to 4
        }

        (await Task.WhenAll(waiters).WaitAsync(TimeSpan.FromSeconds(10))).Should().OnlyContain(g => g != null);
    }

    // Found by a trial of the window, and in the demo under load: the waiters left over when a fresh host's second ran
    // out marked it saturated while its window was still opening, so its whole backlog was put off at once for two
    // seconds and its slots stood idle (100 deliveries at 300 ms drained in 7.5 s instead of 4.5 s; the demo's p50 went
    // from 0.25 s to 1.8 s in one run).
    [Fact]
    public async Task EnterAsync_SlotWaitRunsOutWhileTheWindowOpens_OnlyThatDeliveryGoesBack()
    {
        var slots = new EndpointSlots(8, _time);
        var first = await slots.EnterAsync(Endpoint, default);
        var waiters = Enumerable.Range(0, 5).Select(_ => slots.EnterAsync(Endpoint, default).AsTask()).ToArray();
        var served = new List<Task<EndpointSlots.Gate?>>();

        _time.Advance(TimeSpan.FromMilliseconds(300));
        EndpointSlots.Release(first!, TimeSpan.FromMilliseconds(300)); // window 2
        await ServeAsync(2);
        _time.Advance(TimeSpan.FromMilliseconds(600));
        EndpointSlots.Release((await served[0])!, TimeSpan.FromMilliseconds(600)); // window 3
        await ServeAsync(4);
        _time.Advance(TimeSpan.FromMilliseconds(100)); // a second since the waiters began

        var late = await waiters.Except(served).Single().WaitAsync(TimeSpan.FromSeconds(10));
        var next = slots.EnterAsync(Endpoint, default);

        late.Should().BeNull("a waiter waits a second in all");
        next.IsCompleted.Should().BeFalse("the host is answering: not saturated, so the next delivery may wait for a slot");
        slots.Window(Endpoint).Should().Be(3);
        foreach (var gate in served.Skip(1))
        {
            EndpointSlots.Release((await gate)!, TimeSpan.FromMilliseconds(300));
        }

        (await next.AsTask().WaitAsync(TimeSpan.FromSeconds(10))).Should().NotBeNull();

        async Task ServeAsync(int count)
        {
            while (served.Count < count)
            {
                served.Add(await Task.WhenAny(waiters.Except(served)).WaitAsync(TimeSpan.FromSeconds(10)));
            }

            served.Should().OnlyContain(t => t.Result != null);
        }
    }

    [Fact]
    public async Task EnterAsync_WaitingWhileSlotsComeFreeToOthers_GoesOnWaitingUpToSlotWait()
    {
        var slots = new EndpointSlots(1, _time);
        await AnswerAsync(slots, 1, TimeSpan.FromMilliseconds(5)); // waiting would stop after 250 ms without a free slot
        var held = await slots.EnterAsync(Endpoint, default);
        var first = slots.EnterAsync(Endpoint, default).AsTask();
        var second = slots.EnterAsync(Endpoint, default).AsTask();

        _time.Advance(TimeSpan.FromMilliseconds(200));
        EndpointSlots.Release(held!, TimeSpan.FromMilliseconds(200)); // to one of the waiters
        var served = await Task.WhenAny(first, second).WaitAsync(TimeSpan.FromSeconds(10));
        var other = served == first ? second : first;
        _time.Advance(TimeSpan.FromMilliseconds(200)); // past StallAfter since it began waiting, but a slot came free meanwhile

        other.IsCompleted.Should().BeFalse("the endpoint is answering: the waiter goes on waiting");
        EndpointSlots.Release((await served)!, TimeSpan.FromMilliseconds(200));
        (await other.WaitAsync(TimeSpan.FromSeconds(10))).Should().NotBeNull();
    }

    [Fact]
    public async Task EnterAsync_AtLimit_WaitsUntilAnAttemptEnds()
    {
        var slots = new EndpointSlots(1, _time);
        var held = await slots.EnterAsync(Endpoint, default);

        var waiting = slots.EnterAsync(Endpoint, default).AsTask();
        waiting.IsCompleted.Should().BeFalse();
        EndpointSlots.Release(held!, TimeSpan.Zero);

        (await waiting.WaitAsync(TimeSpan.FromSeconds(10))).Should().NotBeNull();
        slots.InFlight(Endpoint).Should().Be(1);
    }

    [Fact]
    public async Task EnterAsync_NoSlotWithinSlotWait_SaturatedUntilAnAttemptEnds()
    {
        var slots = new EndpointSlots(1, _time);
        var held = await slots.EnterAsync(Endpoint, default);

        var waiting = slots.EnterAsync(Endpoint, default).AsTask();
        _time.Advance(EndpointSlots.SlotWait);

        (await waiting.WaitAsync(TimeSpan.FromSeconds(10))).Should().BeNull("no slot freed within the wait");
        var next = slots.EnterAsync(Endpoint, default);
        next.IsCompletedSuccessfully.Should().BeTrue("a saturated endpoint defers at once, without waiting");
        (await next).Should().BeNull();

        EndpointSlots.Release(held!, TimeSpan.Zero);
        var after = slots.EnterAsync(Endpoint, default);
        after.IsCompletedSuccessfully.Should().BeTrue();
        (await after).Should().NotBeNull("an attempt ended, so the endpoint is no longer saturated");
    }

    [Fact]
    public async Task EnterAsync_AtLimitOfEndpointAnswering200Ms_TwoWaitThenDefersAtOnceWithoutSaturating()
    {
        // Found by a soak trial: a receiver answering in 100-600 ms is never a second late, so it never counted as
        // saturated, and every worker ended up waiting for its slots while other receivers' deliveries queued.
        var slots = new EndpointSlots(8, _time);
        await AnswerAsync(slots, 8 + EndpointSlots.TrustedAfter, TimeSpan.FromMilliseconds(200)); // the first 8 are not counted
        var held = new List<EndpointSlots.Gate>();
        for (var i = 0; i < 8; i++)
        {
            held.Add((await slots.EnterAsync(Endpoint, default))!);
        }

        // 200 ms / 8 slots: a slot every 25 ms, so places 1 and 2 expect 25 and 50 ms (at most MaxExpectedWait), place 3 75 ms.
        var waiters = new[] { slots.EnterAsync(Endpoint, default).AsTask(), slots.EnterAsync(Endpoint, default).AsTask() };
        var third = slots.EnterAsync(Endpoint, default);

        waiters.Should().OnlyContain(w => !w.IsCompleted);
        third.IsCompletedSuccessfully.Should().BeTrue("a third waiter could not expect a slot within 50 ms");
        (await third).Should().BeNull();

        EndpointSlots.Release(held[0], TimeSpan.FromMilliseconds(200));
        (await waiters[0].WaitAsync(TimeSpan.FromSeconds(10))).Should().NotBeNull("a freed slot goes to a waiter");
        var again = slots.EnterAsync(Endpoint, default);
        again.IsCompleted.Should().BeFalse("a waiter left, so another may wait: the endpoint is busy, not saturated");
        EndpointSlots.Release(held[1], TimeSpan.FromMilliseconds(200));
        EndpointSlots.Release(held[2], TimeSpan.FromMilliseconds(200));
        (await again.AsTask().WaitAsync(TimeSpan.FromSeconds(10))).Should().NotBeNull();
        (await waiters[1].WaitAsync(TimeSpan.FromSeconds(10))).Should().NotBeNull();
    }

    [Fact]
    public async Task EnterAsync_AtLimitOfFastEndpoint_EveryoneWaitsItsTurn()
    {
        var slots = new EndpointSlots(8, _time);
        await AnswerAsync(slots, 8 + EndpointSlots.TrustedAfter, TimeSpan.FromMilliseconds(2));
        var held = new List<EndpointSlots.Gate>();
        for (var i = 0; i < 8; i++)
        {
            held.Add((await slots.EnterAsync(Endpoint, default))!);
        }

        // 2 ms / 8 slots: even the 16th in line expects 4 ms, so a burst waits instead of being put off for seconds.
        var waiters = Enumerable.Range(0, 16).Select(_ => slots.EnterAsync(Endpoint, default).AsTask()).ToArray();

        waiters.Should().OnlyContain(w => !w.IsCompleted);
        foreach (var gate in held)
        {
            EndpointSlots.Release(gate, TimeSpan.FromMilliseconds(2));
        }

        (await Task.WhenAll(waiters.Take(8)).WaitAsync(TimeSpan.FromSeconds(10))).Should().OnlyContain(g => g != null);
    }

    [Fact]
    public async Task EnterAsync_FirstWaveSlowFromConnectionSetUp_NotHeldAgainstTheEndpoint()
    {
        var slots = new EndpointSlots(8, _time);
        await AnswerAsync(slots, 8, TimeSpan.FromSeconds(2)); // connection set-up and warm-up: not counted
        await AnswerAsync(slots, EndpointSlots.TrustedAfter, TimeSpan.FromMilliseconds(2));
        for (var i = 0; i < 8; i++)
        {
            await slots.EnterAsync(Endpoint, default);
        }

        var waiting = slots.EnterAsync(Endpoint, default);

        waiting.IsCompleted.Should().BeFalse("judged by its answers since the first wave, the endpoint is fast");
    }

    // Found by a new-user trial: every busy deferral was the same 2 s, so a backlog came back at once, a few got slots,
    // the rest were deferred together again, and the slots stood idle in between (200 deliveries to a 50 ms receiver
    // took 27 s). Each deferral now gets a turn of its own at the endpoint's pace.
    [Fact]
    public async Task DeferralFor_EndpointOfKnownPace_GivesEachDeliveryItsOwnTurnFromASecondOn()
    {
        var slots = new EndpointSlots(8, _time);
        await AnswerAsync(slots, 8 + EndpointSlots.TrustedAfter, TimeSpan.FromMilliseconds(200)); // a slot every 25 ms

        var turns = Enumerable.Range(0, 4).Select(_ => slots.DeferralFor(Endpoint)).ToArray();

        turns.Should().Equal(
            TimeSpan.FromMilliseconds(1025), TimeSpan.FromMilliseconds(1050), TimeSpan.FromMilliseconds(1075), TimeSpan.FromMilliseconds(1100));
        _time.Advance(TimeSpan.FromSeconds(5)); // the turns given out are past: the next starts a second from now again
        slots.DeferralFor(Endpoint).Should().Be(TimeSpan.FromMilliseconds(1025));
    }

    // Found by a trial of the turns: turns far ahead at a slow pace stayed late after the host sped up, and a timeout
    // counted as an answer time spaced a whole backlog's turns for an instant receiver.
    [Fact]
    public async Task DeferralFor_BacklogBeyondTheHorizon_ComesBackThenInsteadOfFurtherAhead()
    {
        var slots = new EndpointSlots(8, _time);
        await AnswerAsync(slots, 8 + EndpointSlots.TrustedAfter, TimeSpan.FromMilliseconds(800)); // a slot every 100 ms

        var turns = Enumerable.Range(0, 200).Select(_ => slots.DeferralFor(Endpoint)).ToArray();

        turns.Max().Should().Be(EndpointSlots.MaxTurnAhead);
        turns.Count(t => t < EndpointSlots.MaxTurnAhead).Should().Be(89, "1.1 s to 9.9 s, a turn every 100 ms");
    }

    [Fact]
    public async Task Release_NotAnswered_LeavesThePaceAlone()
    {
        var slots = new EndpointSlots(8, _time);
        await AnswerAsync(slots, 8 + EndpointSlots.TrustedAfter, TimeSpan.FromMilliseconds(8)); // a slot every 1 ms

        EndpointSlots.Release((await slots.EnterAsync(Endpoint, default))!, TimeSpan.FromSeconds(15), answered: false);

        slots.Window(Endpoint).Should().Be(7, "an attempt without an answer closes the window by one");
        slots.DeferralFor(Endpoint).Should().Be(
            TimeSpan.FromSeconds(1) + TimeSpan.FromTicks(TimeSpan.FromMilliseconds(8).Ticks / 7), "still 8 ms per answer, now shared by 7 slots: the timeout is not the host's answer time");
    }

    [Fact]
    public async Task DeferralFor_PaceNotKnownOrSaturated_TwoSeconds()
    {
        var slots = new EndpointSlots(1, _time);
        slots.DeferralFor(Endpoint).Should().Be(EndpointSlots.BusyDelay, "no answers yet");

        await AnswerAsync(slots, 1 + EndpointSlots.TrustedAfter, TimeSpan.FromMilliseconds(1)); // fast: a delivery may wait
        var held = await slots.EnterAsync(Endpoint, default);
        var waiting = slots.EnterAsync(Endpoint, default).AsTask();
        _time.Advance(EndpointSlots.SlotWait);
        (await waiting.WaitAsync(TimeSpan.FromSeconds(10))).Should().BeNull();

        slots.DeferralFor(Endpoint).Should().Be(EndpointSlots.BusyDelay, "a saturated endpoint's pace says nothing about when it answers");
        EndpointSlots.Release(held!, TimeSpan.Zero);
    }

    /// <summary>Makes <paramref name="count"/> attempts that each hold a slot for <paramref name="held"/>.</summary>
    private static async Task AnswerAsync(EndpointSlots slots, int count, TimeSpan held)
    {
        for (var i = 0; i < count; i++)
        {
            EndpointSlots.Release((await slots.EnterAsync(Endpoint, default))!, held);
        }
    }

    [Fact]
    public async Task EnterAsync_OtherEndpointAtLimit_NotAffected()
    {
        var slots = new EndpointSlots(1, _time);
        await slots.EnterAsync(Endpoint, default);

        var other = slots.EnterAsync("https://hooks.example.com/b", default);

        other.IsCompletedSuccessfully.Should().BeTrue();
        (await other).Should().NotBeNull();
    }

    [Fact]
    public async Task EnterAsync_CallerCancelsWhileWaiting_NoSlotButNotSaturated()
    {
        // The attempt's timeout firing during the wait: nothing was sent, so the notifier defers instead of timing out.
        var slots = new EndpointSlots(1, _time);
        var held = await slots.EnterAsync(Endpoint, default);
        using var cts = new CancellationTokenSource();

        var waiting = slots.EnterAsync(Endpoint, cts.Token).AsTask();
        await cts.CancelAsync();

        (await waiting.WaitAsync(TimeSpan.FromSeconds(10))).Should().BeNull();
        slots.InFlight(Endpoint).Should().Be(1, "the cancelled waiter took no slot");
        var next = slots.EnterAsync(Endpoint, default);
        next.IsCompleted.Should().BeFalse("not saturated: the next delivery still waits for a slot rather than deferring at once");
        EndpointSlots.Release(held!, TimeSpan.Zero);
        (await next.AsTask().WaitAsync(TimeSpan.FromSeconds(10))).Should().NotBeNull();
    }
}
