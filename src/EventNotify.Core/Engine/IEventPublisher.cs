namespace EventNotify;

/// <summary>Publishes events into EventNotify. Registered by <c>AddEventNotify()</c>.</summary>
public interface IEventPublisher
{
    /// <summary>
    /// Validates and accepts one event. Returns once the store has accepted it (the durable point): from then on it
    /// will be routed and delivered, even across a restart with a durable store. Publishing an id that was accepted
    /// before returns a receipt with <see cref="PublishReceipt.Duplicate"/> set and delivers nothing new.
    /// Publishing before the engine has started (from a hosted service that starts first, say) is allowed: the event
    /// is stored, and routed to the subscriptions (those added in code included) once the engine starts.
    /// </summary>
    /// <exception cref="EventValidationException">The event breaks a rule; the exception names the field.</exception>
    /// <exception cref="EventQueueFullException">The queue is full and <see cref="EventNotifyOptions.QueueFullMode"/> is <see cref="QueueFullMode.Reject"/>.</exception>
    /// <exception cref="EventNotifyStoppedException">The engine has begun to stop.</exception>
    /// <exception cref="OperationCanceledException">Cancelled while waiting for room (the event was not accepted).</exception>
    ValueTask<PublishReceipt> PublishAsync(NotificationEvent @event, CancellationToken cancellationToken = default);

    /// <summary>
    /// Validates every event first (nothing is accepted if one is invalid), then accepts them in one store write.
    /// Returns one receipt per event, in order.
    /// </summary>
    ValueTask<IReadOnlyList<PublishReceipt>> PublishManyAsync(IEnumerable<NotificationEvent> events, CancellationToken cancellationToken = default);
}
