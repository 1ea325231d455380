namespace EventNotify.Benchmarks.Scenarios;

/// <summary>Counts completions of one run and completes a task when the expected number arrived.</summary>
internal sealed class Completion
{
    private int _remaining;
    private TaskCompletionSource _done = NewTcs();

    /// <summary>Arms the counter for <paramref name="expected"/> completions.</summary>
    public void Reset(int expected)
    {
        _done = NewTcs();
        Volatile.Write(ref _remaining, expected);
    }

    public void Signal()
    {
        if (Interlocked.Decrement(ref _remaining) == 0)
        {
            _done.TrySetResult();
        }
    }

    /// <summary>Waits for the run; a lost item shows up as a timeout rather than a hang.</summary>
    public Task WaitAsync(int events)
    {
        var limit = TimeSpan.FromSeconds(60 + (events / 1000));
        return _done.Task.WaitAsync(limit);
    }

    private static TaskCompletionSource NewTcs() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>The payload every scenario carries: a small order-paid JSON document (about 200 bytes).</summary>
internal static class Payload
{
    public const string Json =
        "{\"orderId\":\"ord_0001234567\",\"amount\":1999,\"currency\":\"EUR\",\"paidAt\":\"2026-12-03T16:00:00Z\"," +
        "\"customer\":{\"id\":\"cus_42\",\"email\":\"buyer@shop.example\"},\"items\":[{\"sku\":\"SKU-1\",\"qty\":2}]}";

    public static readonly byte[] Utf8 = System.Text.Encoding.UTF8.GetBytes(Json);
}
