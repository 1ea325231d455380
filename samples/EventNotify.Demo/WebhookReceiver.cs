using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using EventNotify.Webhooks;
using Microsoft.Extensions.DependencyInjection;

namespace EventNotify.Demo;

/// <summary>
/// Third-party webhook endpoints on 127.0.0.1 (Kestrel, random port). Every request is verified with
/// <see cref="WebhookVerifier"/> exactly as an integrator would; the "flaky" endpoint answers 503 to the first attempt of
/// one message in three so retries show.
/// </summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Dictionary<string, WebhookVerifier> _verifiers;
    private readonly ConcurrentDictionary<string, int> _seen = new(StringComparer.Ordinal);

    private WebhookReceiver(WebApplication app, Dictionary<string, WebhookVerifier> verifiers)
    {
        _app = app;
        _verifiers = verifiers;
    }

    public int Requests;
    public int SignatureFailures;
    public int Rejected503;
    public int DuplicateIds;

    public string BaseUrl { get; private set; } = "";

    public static async Task<WebhookReceiver> StartAsync(IReadOnlyDictionary<string, string> secretsByEndpoint)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, secretsByEndpoint.ToDictionary(kv => kv.Key, kv => new WebhookVerifier(kv.Value)));
        app.MapPost("/hooks/{endpoint}", receiver.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.BaseUrl = address.TrimEnd('/');
        return receiver;
    }

    private async Task<IResult> HandleAsync(HttpContext context, string endpoint)
    {
        Interlocked.Increment(ref Requests);
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        var body = buffer.ToArray();
        if (!_verifiers.TryGetValue(endpoint, out var verifier))
        {
            return Results.NotFound();
        }

        var result = verifier.Verify(name => context.Request.Headers[name].FirstOrDefault(), body);
        if (!result.IsValid)
        {
            Interlocked.Increment(ref SignatureFailures);
            return Results.BadRequest(result.Message);
        }

        var id = context.Request.Headers["webhook-id"].ToString();
        var seen = _seen.AddOrUpdate(id, 1, (_, n) => n + 1);
        if (endpoint == "flaky" && seen == 1 && (SHA256.HashData(Encoding.UTF8.GetBytes(id))[0] % 3) == 0)
        {
            Interlocked.Increment(ref Rejected503);
            return Results.StatusCode(StatusCodes.Status503ServiceUnavailable);
        }

        if (seen > 1 && endpoint != "flaky")
        {
            Interlocked.Increment(ref DuplicateIds); // a receiver would drop it by webhook-id
        }

        return Results.Ok();
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
