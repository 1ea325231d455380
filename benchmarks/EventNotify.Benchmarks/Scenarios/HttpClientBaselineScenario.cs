using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EventNotify.Benchmarks.Scenarios;

/// <summary>
/// The webhook limit: raw <see cref="HttpClient"/> POSTs of a Standard-Webhooks-sized request (JSON envelope plus
/// <c>webhook-id</c>, <c>webhook-timestamp</c> and a <c>v1,</c> signature header of the real length) to a Kestrel
/// receiver on 127.0.0.1 that reads the body and answers 204, from <see cref="Concurrency"/> concurrent senders (the
/// engine's default workers per channel). No signing, no store: the HTTP round trip alone.
/// </summary>
internal sealed class HttpClientBaselineScenario : IScenario
{
    public static readonly int Concurrency = new EventNotifyOptions().Concurrency;

    private static readonly byte[] Body = System.Text.Encoding.UTF8.GetBytes(
        "{\"type\":\"order.paid\",\"timestamp\":\"2026-12-03T16:00:00Z\",\"data\":" + Payload.Json + "}");

    // "v1," + base64 of an HMAC-SHA256 (32 bytes): the length a real signature header has.
    private static readonly string Signature = "v1," + Convert.ToBase64String(new byte[32]);

    private WebApplication? _receiver;
    private HttpClient _client = null!;
    private Uri _url = null!;

    public string Name => "httpclient-baseline";

    public async Task<string?> SetupAsync()
    {
        _receiver = await StartReceiverAsync().ConfigureAwait(false);
        var address = _receiver.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _url = new Uri(address + "/hook");
        _client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Concurrency, UseProxy = false, AllowAutoRedirect = false })
        {
            DefaultRequestVersion = HttpVersion.Version11,
        };
        return null;
    }

    public async Task RunAsync(int events)
    {
        var next = 0;
        var senders = new Task[Concurrency];
        for (var s = 0; s < senders.Length; s++)
        {
            senders[s] = Task.Run(async () =>
            {
                while (Interlocked.Increment(ref next) <= events)
                {
                    using var request = new HttpRequestMessage(HttpMethod.Post, _url) { Content = new ByteArrayContent(Body) };
                    request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                    request.Headers.TryAddWithoutValidation("webhook-id", NotificationEvent.NewId());
                    request.Headers.TryAddWithoutValidation("webhook-timestamp", "1764777600");
                    request.Headers.TryAddWithoutValidation("webhook-signature", Signature);
                    using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
                    if (response.StatusCode != HttpStatusCode.NoContent)
                    {
                        throw new InvalidOperationException($"Receiver answered {(int)response.StatusCode}.");
                    }
                }
            });
        }

        await Task.WhenAll(senders).ConfigureAwait(false);
    }

    /// <summary>A Kestrel receiver on 127.0.0.1, port chosen by the OS, that drains the body and answers 204.</summary>
    internal static async Task<WebApplication> StartReceiverAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapPost("/hook", static async (HttpContext context) =>
        {
            var buffer = new byte[4096];
            while (await context.Request.Body.ReadAsync(buffer).ConfigureAwait(false) > 0)
            {
            }

            context.Response.StatusCode = StatusCodes.Status204NoContent;
        });
        await app.StartAsync().ConfigureAwait(false);
        return app;
    }

    public async ValueTask DisposeAsync()
    {
        _client?.Dispose();
        if (_receiver is not null)
        {
            await _receiver.StopAsync().ConfigureAwait(false);
            await _receiver.DisposeAsync().ConfigureAwait(false);
        }
    }
}
