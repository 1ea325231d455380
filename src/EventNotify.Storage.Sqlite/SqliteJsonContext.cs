using System.Text.Json.Serialization;

namespace EventNotify.Storage.Sqlite;

/// <summary>
/// Source-generated JSON for the columns kept as JSON text: recipients and extension attributes of events, and whole
/// subscriptions (secrets included: see docs/sqlite.md on protecting the file).
/// </summary>
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(List<Recipient>))]
[JsonSerializable(typeof(Subscription))]
internal sealed partial class SqliteJsonContext : JsonSerializerContext;
