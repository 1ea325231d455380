using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace EventNotify.Webhooks.Tests.Infrastructure;

/// <summary>One request as the receiver saw it: the raw body bytes and every header.</summary>
public sealed record ReceivedRequest(string Method, string Path, IHeaderDictionary Headers, byte[] Body)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var v) ? v.ToString() : null;
}

/// <summary>
/// A real Kestrel server on 127.0.0.1 (port 0) that records every request and answers as the test scripts.
/// Tests await <see cref="WaitForRequestsAsync"/> instead of sleeping.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedRequest> _requests = new();
    private readonly object _gate = new();
    private readonly List<(int Count, TaskCompletionSource Done)> _waiters = [];
    private readonly CancellationTokenSource _stopping = new();

    private WebhookReceiver(WebApplication app) => _app = app;

    /// <summary>How to answer request number n (from 1). The default value answers 200 with body "ok".</summary>
    public Func<int, ReceivedRequest, HttpContext, CancellationToken, Task> Respond { get; set; } = (_, _, ctx, _) =>
    {
        ctx.Response.StatusCode = 200;
        return ctx.Response.WriteAsync("ok");
    };

    public string Url { get; private set; } = "";

    public int Port { get; private set; }

    public IReadOnlyList<ReceivedRequest> Requests => _requests.ToArray();

    /// <summary>Cancelled when the receiver is disposed: hanging responders await it.</summary>
    public CancellationToken Stopping => _stopping.Token;

    public static async Task<WebhookReceiver> StartAsync(string path = "/hook")
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        app.Run(receiver.HandleAsync);
        await app.StartAsync();
        var bound = new Uri(app.Urls.First());
        receiver.Port = bound.Port;
        receiver.Url = $"http://127.0.0.1:{bound.Port}{path}";
        return receiver;
    }

    private async Task HandleAsync(HttpContext ctx)
    {
        using var body = new MemoryStream();
        await ctx.Request.Body.CopyToAsync(body, ctx.RequestAborted);
        var headers = new HeaderDictionary();
        foreach (var (name, value) in ctx.Request.Headers)
        {
            headers[name] = value;
        }

        var request = new ReceivedRequest(ctx.Request.Method, ctx.Request.Path, headers, body.ToArray());
        int number;
        lock (_gate)
        {
            _requests.Enqueue(request);
            number = _requests.Count;
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (number >= _waiters[i].Count)
                {
                    _waiters[i].Done.TrySetResult();
                    _waiters.RemoveAt(i);
                }
            }
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, _stopping.Token);
        try
        {
            await Respond(number, request, ctx, linked.Token);
        }
        catch (OperationCanceledException)
        {
            ctx.Abort();
        }
    }

    public Task WaitForRequestsAsync(int count, TimeSpan? timeout = null)
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (_requests.Count >= count)
            {
                return Task.CompletedTask;
            }

            _waiters.Add((count, tcs));
        }

        return tcs.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(30));
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _stopping.Dispose();
    }
}
