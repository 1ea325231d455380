using System.Diagnostics.Metrics;
using EventNotify;
using EventNotify.Storage.Sqlite;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the SQLite event store.</summary>
public static class SqliteEventNotifyBuilderExtensions
{
    /// <summary>
    /// Uses a SQLite file as the durable event store (replacing the in-memory default). The file and its schema are
    /// created at host start; leases of a previous process are cleared then, so its in-flight deliveries are attempted
    /// again at once with the same delivery ids. One host process per file.
    /// Subscriptions are kept in the same file (see <see cref="SqliteStoreOptions.PersistSubscriptions"/>, default
    /// <see langword="true"/>): this replaces the in-memory subscription store, unless another one was chosen with
    /// <c>UseSubscriptionStore&lt;T&gt;()</c>.
    /// </summary>
    /// <param name="builder">The EventNotify builder.</param>
    /// <param name="connectionString">The Microsoft.Data.Sqlite connection string, e.g. <c>Data Source=eventnotify.db</c>; validated at start.</param>
    /// <param name="configure">Further settings; see <see cref="SqliteStoreOptions"/> for the defaults (synchronous FULL, busy timeout 5 s). How long finished work is kept is the engine's <see cref="EventNotifyOptions.RetentionPeriod"/> (7 days), whatever the store.</param>
    /// <example>
    /// <code>
    /// services.AddEventNotify()
    ///         .UseSqlite("Data Source=/var/lib/shop/eventnotify.db", o => o.Synchronous = SqliteSynchronousMode.Full);
    /// </code>
    /// </example>
    public static EventNotifyBuilder UseSqlite(this EventNotifyBuilder builder, string connectionString, Action<SqliteStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(connectionString);
        var services = builder.Services;
        services.AddOptions<SqliteStoreOptions>()
            .Configure(o =>
            {
                o.ConnectionString = connectionString;
                configure?.Invoke(o);
            })
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SqliteStoreOptions>, SqliteStoreOptionsValidator>());
        services.TryAddSingleton(sp => new SqliteEventStore(
            sp.GetRequiredService<IOptions<SqliteStoreOptions>>(),
            sp.GetService<TimeProvider>(),
            sp.GetService<ILogger<SqliteEventStore>>(),
            sp.GetService<IMeterFactory>()));
        services.TryAddSingleton(sp => new SqliteSubscriptionStore(
            sp.GetRequiredService<SqliteEventStore>(),
            sp.GetServices<ISubscriptionValidator>(),
            sp.GetService<ILogger<SqliteSubscriptionStore>>()));

        // Replace only Core's in-memory default: a store the host chose with UseSubscriptionStore<T>() is kept.
        var current = services.LastOrDefault(d => d.ServiceType == typeof(ISubscriptionStore));
        if (current is null || current.ImplementationType == typeof(InMemorySubscriptionStore))
        {
            services.Replace(ServiceDescriptor.Singleton<ISubscriptionStore>(sp =>
                sp.GetRequiredService<IOptions<SqliteStoreOptions>>().Value.PersistSubscriptions
                    ? sp.GetRequiredService<SqliteSubscriptionStore>()
                    : new InMemorySubscriptionStore(sp.GetServices<ISubscriptionValidator>())));
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, SqliteStoreLifecycle>());
        return builder.UseStore(sp => sp.GetRequiredService<SqliteEventStore>());
    }
}
