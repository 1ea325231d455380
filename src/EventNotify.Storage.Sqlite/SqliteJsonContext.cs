using System.Text.Json.Serialization;

namespace EventNotify.Storage.Sqlite;

/// <summary>Source-generated JSON for the event columns kept as JSON text (recipients, extension attributes).</summary>
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(List<Recipient>))]
internal sealed partial class SqliteJsonContext : JsonSerializerContext;
