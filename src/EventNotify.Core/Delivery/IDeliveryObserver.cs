namespace EventNotify;

/// <summary>
/// Told of every recorded delivery outcome, after the store recorded it: for progress displays, custom metrics,
/// tests that wait for deliveries. Register with <c>services.AddSingleton&lt;IDeliveryObserver, T&gt;()</c>.
/// Calls come from the channel workers: keep them short and non-blocking. Exceptions are caught and ignored.
/// </summary>
public interface IDeliveryObserver
{
    /// <summary>
    /// Called once per attempt, and with <paramref name="attempt"/> <see langword="null"/> when a delivery changes
    /// without an attempt (cancelled, or deferred by its channel). <paramref name="delivery"/> is the delivery's new state.
    /// </summary>
    void OnDeliveryUpdated(Delivery delivery, DeliveryAttempt? attempt);
}
