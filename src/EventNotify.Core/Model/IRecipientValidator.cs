namespace EventNotify;

/// <summary>
/// Checks an event's explicit <see cref="NotificationEvent.Recipients"/> when the event is published, so an address
/// the channel can tell it could never deliver to is refused at once, naming the recipient, instead of becoming a dead
/// letter at its first attempt. Channel packages register one for their channel (the webhook channel checks the URL
/// with its SSRF guard, without a name lookup: a host name resolving to a forbidden address is still only refused when
/// connecting); register your own with <c>services.AddSingleton&lt;IRecipientValidator, MyValidator&gt;()</c>.
/// </summary>
/// <remarks>
/// Called on the publishing thread for every recipient of every published event, whatever its channel: return
/// quickly, and return <see langword="null"/> for channels you do not know. The publish that carries a refused
/// recipient throws an <see cref="EventValidationException"/> and nothing of the event (nor of its
/// <c>PublishManyAsync</c> batch) is stored. An exception thrown by a validator reaches the publisher as it is, with
/// the same effect: nothing is stored.
/// </remarks>
public interface IRecipientValidator
{
    /// <summary>
    /// Returns <see langword="null"/> when <paramref name="recipient"/> can be delivered to, otherwise the rule it
    /// breaks, as a sentence (it becomes part of the exception's message).
    /// </summary>
    string? Check(Recipient recipient);
}
