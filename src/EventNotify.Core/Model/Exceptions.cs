namespace EventNotify;

/// <summary>An event failed validation at publish. <see cref="ArgumentException.ParamName"/> names the field.</summary>
public sealed class EventValidationException : ArgumentException
{
    /// <summary>Creates the exception for <paramref name="field"/> broken by the rule in <paramref name="message"/>.</summary>
    public EventValidationException(string message, string field) : base(message, field) { }
}

/// <summary>A subscription failed validation when it was added or updated. <see cref="ArgumentException.ParamName"/> names the field.</summary>
public sealed class SubscriptionValidationException : ArgumentException
{
    /// <summary>Creates the exception for <paramref name="field"/> broken by the rule in <paramref name="message"/>.</summary>
    public SubscriptionValidationException(string message, string field) : base(message, field) { }
}

/// <summary>
/// Thrown by <see cref="IEventPublisher"/> when <see cref="EventNotifyOptions.QueueFullMode"/> is
/// <see cref="QueueFullMode.Reject"/> and the routing queue is full. The event was not accepted.
/// </summary>
public sealed class EventQueueFullException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public EventQueueFullException(string message) : base(message) { }
}

/// <summary>
/// Thrown by <see cref="IEventPublisher"/> once the engine has begun to stop. The event was not accepted.
/// </summary>
public sealed class EventNotifyStoppedException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public EventNotifyStoppedException(string message) : base(message) { }
}
