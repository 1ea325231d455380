using Microsoft.Extensions.Options;

namespace EventNotify.Webhooks;

/// <summary>
/// Refuses bad webhook subscriptions when they are registered: URLs the SSRF guard refuses, secrets that are not
/// <c>whsec_</c> + base64 of a 24 to 64 byte key, and (when <see cref="WebhookOptions.RequireSignature"/>) no secret.
/// </summary>
internal sealed class WebhookSubscriptionValidator(EndpointGuard guard, IOptions<WebhookOptions> options) : ISubscriptionValidator
{
    public void Validate(Subscription subscription)
    {
        ArgumentNullException.ThrowIfNull(subscription);
        if (subscription.Channel != WebhookNotifier.ChannelName)
        {
            return;
        }

        if (guard.CheckUrl(subscription.Address, out _) is { } refusal)
        {
            throw new SubscriptionValidationException($"Subscription.Address is refused for the webhook channel: {refusal}", nameof(Subscription.Address));
        }

        for (var i = 0; i < subscription.Secrets.Count; i++)
        {
            if (!WebhookSecret.TryParse(subscription.Secrets[i]?.Value, out _, out var error))
            {
                throw new SubscriptionValidationException($"Subscription.Secrets[{i}] is invalid: {error}", nameof(Subscription.Secrets));
            }
        }

        if (subscription.Secrets.Count == 0 && options.Value.RequireSignature)
        {
            throw new SubscriptionValidationException(
                "Subscription.Secrets is required for a webhook subscription: add one (e.g. new SubscriptionSecret(WebhookSecret.Generate())), or set WebhookOptions.RequireSignature = false to send unsigned webhooks.",
                nameof(Subscription.Secrets));
        }
    }
}

/// <summary>Checks <see cref="WebhookOptions"/> at start; each failure names the option and the rule.</summary>
internal sealed class WebhookOptionsValidator : IValidateOptions<WebhookOptions>
{
    public ValidateOptionsResult Validate(string? name, WebhookOptions options)
    {
        var failures = options.Validate().ToList();
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
