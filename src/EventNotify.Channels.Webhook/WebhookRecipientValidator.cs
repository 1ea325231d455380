using Microsoft.Extensions.Options;

namespace EventNotify.Webhooks;

/// <summary>
/// Refuses explicit webhook recipients at publish that the channel could never deliver to: URLs the SSRF guard refuses
/// (checked again at connect time, after DNS), and any recipient while <see cref="WebhookOptions.RequireSignature"/>
/// is on, since a recipient has no secret to sign with.
/// </summary>
internal sealed class WebhookRecipientValidator(EndpointGuard guard, IOptions<WebhookOptions> options) : IRecipientValidator
{
    public string? Check(Recipient recipient)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        if (recipient.Channel != WebhookNotifier.ChannelName)
        {
            return null;
        }

        if (guard.CheckUrl(recipient.Address, out _) is { } refusal)
        {
            return refusal;
        }

        return options.Value.RequireSignature
            ? "an explicit webhook recipient has no secret to sign with and WebhookOptions.RequireSignature is true: send to a subscription that has a secret, or set WebhookOptions.RequireSignature = false to send unsigned webhooks."
            : null;
    }
}
