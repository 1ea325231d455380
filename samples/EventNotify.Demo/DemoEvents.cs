using System.Text.Json;

namespace EventNotify.Demo;

/// <summary>Where the demo's events come from: a built-in realistic set, a .jsonl file, or a folder of JSON payloads.</summary>
internal static class DemoEvents
{
    // Where each event read from a file came from ("file:line", or the payload file), to name it if publishing refuses it.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<NotificationEvent, string> Origins = new();

    /// <summary>The file and line (or payload file) <paramref name="e"/> was read from; <see langword="null"/> for built-in events.</summary>
    public static string? OriginOf(NotificationEvent e) => Origins.TryGetValue(e, out var origin) ? origin : null;

    /// <summary>A self-contained, deterministic set of open-platform events: orders, payments, refunds, logins.</summary>
    public static IEnumerable<NotificationEvent> BuiltIn(int count = 240)
    {
        var random = new Random(20261203);
        string[] customers = ["Ada Lovelace", "李雷", "Zoë Saldaña", "Søren Kierkegaard", "محمد", "Chloé Dubois"];
        string[] products = ["USB-C cable", "机械键盘", "Café grinder", "Noise-cancelling headphones", "Trail shoes"];
        string[] currencies = ["USD", "EUR", "CNY", "GBP"];
        for (var i = 0; i < count; i++)
        {
            var orderId = $"ord_{1000 + (i / 4)}";
            var customer = customers[random.Next(customers.Length)];
            var amount = Math.Round(5 + (random.NextDouble() * 495), 2);
            var currency = currencies[random.Next(currencies.Length)];
            NotificationEvent e = (i % 8) switch
            {
                0 => NotificationEvent.Create("order.created", new { orderId, customer, items = new[] { new { sku = "sku-" + random.Next(100, 999), name = products[random.Next(products.Length)], quantity = random.Next(1, 4) } }, currency, amount }),
                1 => NotificationEvent.Create("payment.succeeded", new { paymentId = $"pay_{i:D5}", orderId, amount, currency, method = random.Next(2) == 0 ? "card" : "wallet" }),
                2 => NotificationEvent.Create("order.paid", new { orderId, amount, currency, paidAt = DateTimeOffset.UtcNow }),
                3 => NotificationEvent.Create("user.login", new { userId = $"usr_{random.Next(1, 60):D3}", ip = $"203.0.113.{random.Next(1, 254)}", userAgent = "Mozilla/5.0 (X11; Linux x86_64)", mfa = random.Next(3) > 0 }),
                4 => NotificationEvent.Create("order.shipped", new { orderId, carrier = "顺丰速运", trackingNumber = $"SF{random.NextInt64(1_000_000_000, 9_999_999_999)}", note = "您的订单已发货，请注意查收" }),
                5 => NotificationEvent.Create("refund.issued", new { refundId = $"re_{i:D5}", orderId, amount = Math.Round(amount / 2, 2), currency, reason = "Item arrived damaged — customer sent photos 📦" }),
                6 => NotificationEvent.Create("user.logged_out", new { userId = $"usr_{random.Next(1, 60):D3}", reason = "session_expired" }),
                _ => NotificationEvent.Create("payment.failed", new { paymentId = $"pay_{i:D5}", orderId, amount, currency, declineCode = "insufficient_funds" }),
            };
            yield return e with { Subject = orderId, TenantId = "shop-" + (i % 3) };
        }
    }

    /// <summary>
    /// Reads events from <paramref name="path"/>: a <c>.jsonl</c> file (one object per line with <c>type</c>, <c>data</c> and
    /// optional <c>id</c>, <c>subject</c>, <c>tenant</c>) or a folder of <c>*.json</c> payloads laid out as
    /// <c>&lt;event&gt;/&lt;action&gt;[.variant].payload.json</c> (the GitHub webhook examples), typed <c>event.action</c>.
    /// </summary>
    public static IEnumerable<NotificationEvent> FromPath(string path)
    {
        if (File.Exists(path))
        {
            return FromJsonLines(path);
        }

        if (Directory.Exists(path))
        {
            return FromFolder(path);
        }

        throw new FileNotFoundException($"'{path}' does not exist (expected a .jsonl file or a folder of .json payloads)", path);
    }

    private static IEnumerable<NotificationEvent> FromJsonLines(string file)
    {
        // Strict UTF-8, line by line: a byte that is not UTF-8 is an error naming its line, not a U+FFFD sent in its place.
        var strict = new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        var bytes = File.ReadAllBytes(file);
        var next = bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0; // a byte order mark
        var lineNumber = 0;
        while (next < bytes.Length)
        {
            var newline = Array.IndexOf(bytes, (byte)'\n', next);
            var end = newline < 0 ? bytes.Length : newline;
            var length = end > next && bytes[end - 1] == (byte)'\r' ? end - next - 1 : end - next;
            var start = next;
            next = end + 1;
            lineNumber++;
            string line;
            try
            {
                line = strict.GetString(bytes, start, length);
            }
            catch (System.Text.DecoderFallbackException ex)
            {
                throw new FormatException($"{file}:{lineNumber}: not UTF-8 ({ex.Message})", ex);
            }

            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(line, new JsonDocumentOptions { MaxDepth = 257 }); // data may nest 256 deep, as the library allows
            }
            catch (JsonException ex)
            {
                throw new FormatException($"{file}:{lineNumber}: not a JSON object ({ex.Message})", ex);
            }

            using var _ = doc;
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException($"{file}:{lineNumber}: not a JSON object (was {root.ValueKind}).");
            }

            if (!root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            {
                throw new FormatException($"{file}:{lineNumber}: each line needs a string \"type\".");
            }

            if (!EventRules.IsValidEventType(type.GetString()))
            {
                throw new FormatException($"{file}:{lineNumber}: \"type\" '{type.GetString()}' is not an event type (dot-separated lowercase segments such as order.paid).");
            }

            var data = root.TryGetProperty("data", out var d) ? System.Text.Encoding.UTF8.GetBytes(d.GetRawText()) : [];
            var e = NotificationEvent.FromJson(type.GetString()!, data);
            if (OptionalString(root, "id", file, lineNumber) is { } id)
            {
                e = e with { Id = id };
            }

            if (OptionalString(root, "subject", file, lineNumber) is { } subject)
            {
                e = e with { Subject = subject };
            }

            if (OptionalString(root, "tenant", file, lineNumber) is { } tenant)
            {
                e = e with { TenantId = tenant };
            }

            Origins.AddOrUpdate(e, $"{file}:{lineNumber}");
            yield return e;
        }
    }

    private static string? OptionalString(JsonElement line, string name, string file, int lineNumber) =>
        !line.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? null
        : value.ValueKind == JsonValueKind.String ? value.GetString()
        : throw new FormatException($"{file}:{lineNumber}: \"{name}\" must be a string (was {value.ValueKind}).");

    private static IEnumerable<NotificationEvent> FromFolder(string folder)
    {
        foreach (var file in Directory.EnumerateFiles(folder, "*.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var relative = Path.GetRelativePath(folder, file);
            if (relative.Replace('\\', '/').Split('/').Any(part => part.StartsWith('.')))
            {
                continue; // hidden files and folders (.git, .vscode): not payloads
            }

            var type = TypeFromPath(relative);
            var bytes = File.ReadAllBytes(file);
            var data = bytes.AsSpan().StartsWith("\uFEFF"u8) ? bytes[3..] : bytes;
            var e = NotificationEvent.FromJson(type, data) with { Subject = relative.Replace('\\', '/') };
            Origins.AddOrUpdate(e, file);
            yield return e;
        }
    }

    /// <summary>
    /// <c>issues/opened.payload.json</c> → <c>issues.opened</c>; <c>push/payload.json</c> or
    /// <c>push/with-installation.payload.json</c> → <c>push</c>; a flat <c>a.b.json</c> → <c>a.b</c>.
    /// </summary>
    public static string TypeFromPath(string relativePath)
    {
        var parts = relativePath.Replace('\\', '/').Split('/');
        var name = Path.GetFileNameWithoutExtension(parts[^1]);
        var segments = name.Split('.')
            .Where(s => s.Length > 0 && s != "payload" && !s.StartsWith("with-", StringComparison.Ordinal) && !s.All(char.IsAsciiDigit))
            .Select(Normalise)
            .ToList();
        var folders = parts[..^1].Select(Normalise);
        var action = parts.Length > 1 ? segments.Take(1) : segments;
        return string.Join('.', folders.Concat(action).Where(s => s.Length > 0));
    }

    private static string Normalise(string segment)
    {
        var chars = segment.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' ? c : '_').ToArray();
        var s = new string(chars).TrimStart('_', '-');
        return s;
    }
}
