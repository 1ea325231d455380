using EventNotify;

namespace EventNotify.Demo.Tests;

public sealed class DemoTests
{
    [Fact]
    public async Task Demo_BuiltInEventsInMemory_EveryDeliverySucceedsAndExitsZero()
    {
        var result = await DemoRunner.RunAsync("--store", "memory");

        result.ExitCode.Should().Be(0, result.Output);
        result.Summary["published"].Should().Be(240);
        result.Summary["deliveries"].Should().Be(result.Summary["succeeded"] + result.Summary["dead_lettered"]);
        result.Summary["deliveries"].Should().BeGreaterThan(result.Summary["published"], "several subscriptions match most events");
        result.Summary["signature_failures"].Should().Be(0);
        result.Output.Should().Contain("answered 503 on purpose").And.NotContain(" 0 answered 503", "the flaky endpoint makes retries happen");
    }

    [GitHubPayloadsFact]
    public async Task Demo_GitHubPayloadFolderOnSqlite_EveryFileDeliveredAndVerified()
    {
        var files = Directory.EnumerateFiles(DemoRunner.GitHubPayloads!, "*.json", SearchOption.AllDirectories).Count();
        var db = Path.Combine(Path.GetTempPath(), $"eventnotify-demo-test-{Guid.NewGuid():N}.db");
        try
        {
            var result = await DemoRunner.RunAsync("--events", DemoRunner.GitHubPayloads!, "--db", db);

            result.ExitCode.Should().Be(0, result.Output);
            result.Summary["published"].Should().Be(files);
            result.Summary["succeeded"].Should().Be(result.Summary["deliveries"]);
            result.Summary["signature_failures"].Should().Be(0);
        }
        finally
        {
            DeleteDatabase(db);
        }
    }

    [Fact]
    public async Task Demo_SecondRunWithSameDb_DeliversWhatTheFirstLeftPending()
    {
        var db = Path.Combine(Path.GetTempPath(), $"eventnotify-demo-test-{Guid.NewGuid():N}.db");
        try
        {
            // No time to wait: the first run stops at once, leaving the scheduled retries pending in the file.
            var first = await DemoRunner.RunAsync("--db", db, "--timeout", "0");
            var second = await DemoRunner.RunAsync("--db", db);

            first.ExitCode.Should().Be(1, "events or deliveries were left pending: " + first.Output);
            first.Output.Should().Contain("still pending after 0 s");
            second.ExitCode.Should().Be(0, second.Output);
            second.Summary["deliveries"].Should().Be(2 * 450, "the built-in set makes 450 deliveries per run and both runs are in the file");
            second.Summary["succeeded"].Should().Be(second.Summary["deliveries"], "the first run's pending deliveries were delivered by the second");
        }
        finally
        {
            DeleteDatabase(db);
        }
    }

    [Fact]
    public async Task Demo_NoArguments_StoresInANewSqliteFileUnderTheTempFolderAndDeliversEverything()
    {
        var temp = Directory.CreateTempSubdirectory("eventnotify-demo-default-");
        try
        {
            var result = await DemoRunner.RunAsync(new Dictionary<string, string> { ["TMPDIR"] = temp.FullName });

            result.ExitCode.Should().Be(0, result.Output);
            var files = Directory.GetFiles(Path.Combine(temp.FullName, "eventnotify-demo"), "demo-*.db");
            files.Should().ContainSingle("the main command's default store is one new SQLite file per run");
            result.Output.Should().Contain(files[0], "the demo prints where its database is");
            result.Summary["published"].Should().Be(240);
            result.Summary["deliveries"].Should().Be(450);
            result.Summary["succeeded"].Should().Be(result.Summary["deliveries"]);
            result.Summary["signature_failures"].Should().Be(0);
        }
        finally
        {
            temp.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Demo_JsonLinesFile_ReplaysEveryLine()
    {
        var file = Path.Combine(Path.GetTempPath(), $"eventnotify-demo-{Guid.NewGuid():N}.jsonl");
        await File.WriteAllLinesAsync(file,
        [
            """{"type": "order.paid", "id": "evt_jsonl_1", "subject": "ord_1", "data": {"orderId": "ord_1", "amount": 12.5}}""",
            "",
            """{"type": "refund.issued", "data": {"refundId": "re_1", "orderId": "ord_1"}, "tenant": "shop-1"}""",
            """{"type": "user.login", "data": {"userId": "u_7", "ip": "203.0.113.9"}}""",
        ]);
        try
        {
            var result = await DemoRunner.RunAsync("--store", "memory", "--events", file);

            result.ExitCode.Should().Be(0, result.Output);
            result.Summary["published"].Should().Be(3, "the blank line is skipped");
            // audit takes every event, flaky order.*, finance refund.*, security user.login.
            result.Summary["deliveries"].Should().Be(6);
            result.Summary["succeeded"].Should().Be(6);
            result.Summary["signature_failures"].Should().Be(0);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("""{"data": {}}""", "needs a string \"type\"")]
    [InlineData("""{"type": "order.paid", "id": 7}""", "\"id\" must be a string")]
    [InlineData("not json", "not a JSON object")]
    [InlineData("[1, 2]", "not a JSON object (was Array)")]
    [InlineData("""{"type": "Order Paid!"}""", "is not an event type")]
    [InlineData("""{"type": "order.paid", "id": "evt.1"}""", "refused at publish (Id)")] // the library's rules, at publish
    [InlineData("""{"type": "order.paid", "data": {"x": 1}, "subject": "a\u0001b"}""", "refused at publish (Subject)")]
    public async Task Demo_JsonLinesBadLine_ExitsWithTheFileAndLineNumber(string badLine, string expected)
    {
        var file = Path.Combine(Path.GetTempPath(), $"eventnotify-demo-{Guid.NewGuid():N}.jsonl");
        await File.WriteAllLinesAsync(file, ["""{"type": "order.paid", "data": {}}""", badLine]);
        try
        {
            var result = await DemoRunner.RunAsync("--store", "memory", "--events", file);

            result.ExitCode.Should().Be(2, result.Output);
            result.Output.Should().Contain($"{file}:2:").And.Contain(expected);
        }
        finally
        {
            File.Delete(file);
        }
    }

    // The tests below come from a demo trial on a fresh clone.
    [Fact]
    public async Task Demo_JsonLinesNotUtf8_ExitsWithTheFileAndLineInsteadOfSendingU_FFFD()
    {
        var file = Path.Combine(Path.GetTempPath(), $"eventnotify-demo-{Guid.NewGuid():N}.jsonl");
        var latin1Cafe = "{\"type\": \"order.paid\", \"data\": {\"name\": \"caf"u8.ToArray().Append((byte)0xE9).Concat("\"}}\n"u8.ToArray());
        await File.WriteAllBytesAsync(file, [.. "{\"type\": \"order.paid\", \"data\": {}}\n"u8, .. latin1Cafe]);
        try
        {
            var result = await DemoRunner.RunAsync("--store", "memory", "--events", file);

            result.ExitCode.Should().Be(2, result.Output);
            result.Output.Should().Contain($"{file}:2: not UTF-8");
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Demo_InMemoryRunOfMoreThanAThousandDeliveries_SummaryCountsThemAll()
    {
        var file = Path.Combine(Path.GetTempPath(), $"eventnotify-demo-{Guid.NewGuid():N}.jsonl");
        await File.WriteAllLinesAsync(file, Enumerable.Range(0, 600).Select(i => $$$"""{"type": "user.login", "data": {"userId": "u_{{{i}}}"}}"""));
        try
        {
            var result = await DemoRunner.RunAsync("--store", "memory", "--events", file);

            result.ExitCode.Should().Be(0, result.Output);
            // audit (every event) and security (user.login): 1,200, past the store's default history of 1,000.
            result.Summary["deliveries"].Should().Be(1200);
            result.Summary["succeeded"].Should().Be(1200);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Demo_DbPathWithSemicolonAndEquals_UsedAsAFileName()
    {
        var folder = Directory.CreateTempSubdirectory("eventnotify-demo-db-");
        var db = Path.Combine(folder.FullName, "a;Mode=Memory;b=c.db");
        try
        {
            var result = await DemoRunner.RunAsync("--db", db);

            result.ExitCode.Should().Be(0, result.Output);
            File.Exists(db).Should().BeTrue("the whole path is the file name");
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [GitHubPayloadsFact]
    public async Task Demo_SecondRunWithSameDbOnOtherInput_KeepsAndDeliversWhatTheFirstLeftPending()
    {
        // The demo's subscriptions used to get input-dependent patterns, so the second run's registration changed them
        // and cancelled the first run's pending deliveries.
        var db = Path.Combine(Path.GetTempPath(), $"eventnotify-demo-test-{Guid.NewGuid():N}.db");
        try
        {
            var first = await DemoRunner.RunAsync("--events", DemoRunner.GitHubPayloads!, "--db", db, "--timeout", "0");
            var second = await DemoRunner.RunAsync("--db", db);

            first.ExitCode.Should().Be(1, first.Output);
            second.ExitCode.Should().Be(0, second.Output);
            second.Output.Should().NotContain("cancelled");
            second.Summary["succeeded"].Should().Be(second.Summary["deliveries"], "nothing of the first run was cancelled or left");
        }
        finally
        {
            DeleteDatabase(db);
        }
    }

    [Fact]
    public async Task Demo_Sigterm_StopsPromptlyWithExitCode130()
    {
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "EventNotify.Demo.dll"));
        psi.ArgumentList.Add("--store");
        psi.ArgumentList.Add("memory");
        using var process = System.Diagnostics.Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();

        // The header is printed as publishing starts; the flaky endpoint's retries keep the run going for seconds after.
        while (await process.StandardOutput.ReadLineAsync() is { } line && !line.StartsWith("EventNotify demo", StringComparison.Ordinal))
        {
        }

        using (var kill = System.Diagnostics.Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill!.WaitForExitAsync();
        }

        var rest = process.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60)); // the default --timeout is 120 s
        await process.WaitForExitAsync(timeout.Token);
        process.ExitCode.Should().Be(130, await rest + await stderr);
        (await stderr).Should().Contain("interrupted");
        (await rest).Should().Contain("summary:");
    }

    [Fact]
    public void FromPath_FolderWithHiddenFolder_SkipsIt()
    {
        var folder = Directory.CreateTempSubdirectory("eventnotify-demo-folder-");
        try
        {
            Directory.CreateDirectory(Path.Combine(folder.FullName, "issues"));
            Directory.CreateDirectory(Path.Combine(folder.FullName, ".git"));
            File.WriteAllText(Path.Combine(folder.FullName, "issues", "opened.payload.json"), "{}");
            File.WriteAllText(Path.Combine(folder.FullName, ".git", "config.json"), "{}");

            DemoEvents.FromPath(folder.FullName).Select(e => e.Type).Should().Equal("issues.opened");
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void FromPath_JsonLinesWithDataNested100Deep_Read()
    {
        var file = Path.Combine(Path.GetTempPath(), $"eventnotify-demo-{Guid.NewGuid():N}.jsonl");
        File.WriteAllText(file, "{\"type\": \"order.paid\", \"data\": " + new string('[', 100) + new string(']', 100) + "}\n");
        try
        {
            DemoEvents.FromPath(file).Should().ContainSingle();
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Demo_HelpAfterOtherArguments_PrintsUsageAndExitsZero()
    {
        var result = await DemoRunner.RunAsync("--events", "whatever.jsonl", "--help");

        result.ExitCode.Should().Be(0, result.Output);
        result.Output.Should().StartWith("usage: EventNotify.Demo");
    }

    [Fact]
    public async Task Demo_Help_PrintsUsageAndExitsZero()
    {
        var result = await DemoRunner.RunAsync("--help");

        result.ExitCode.Should().Be(0, result.Output);
        result.Output.Should().StartWith("usage: EventNotify.Demo");
    }

    [Theory]
    [InlineData("folder", "that path is a folder")]
    [InlineData("/proc/eventnotify-demo-test.db", "cannot be created or opened")]
    public async Task Demo_DbThatCannotBeOpened_ExitsWithTheStoresMessage(string db, string expected)
    {
        var folder = Directory.CreateTempSubdirectory("eventnotify-demo-db-");
        try
        {
            var result = await DemoRunner.RunAsync("--db", db == "folder" ? folder.FullName : db);

            result.ExitCode.Should().Be(2, result.Output);
            result.Output.Should().Contain("error: Cannot open the SQLite event store").And.Contain(expected).And.NotContain("Unhandled exception");
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Demo_UnknownArgument_ExitsWithUsageError()
    {
        var result = await DemoRunner.RunAsync("--bogus");
        result.ExitCode.Should().Be(2);
        result.Output.Should().Contain("unknown argument '--bogus'");
    }

    [GitHubPayloadsFact]
    public void FromPath_GitHubFolder_EveryFileBecomesAValidEvent()
    {
        var events = DemoEvents.FromPath(DemoRunner.GitHubPayloads!).ToList();
        events.Should().HaveCount(Directory.EnumerateFiles(DemoRunner.GitHubPayloads!, "*.json", SearchOption.AllDirectories).Count());
        events.Should().OnlyContain(e => EventRules.IsValidEventType(e.Type));
    }

    [Theory]
    [InlineData("issues/opened.payload.json", "issues.opened")]
    [InlineData("push/payload.json", "push")]
    [InlineData("push/with-installation.payload.json", "push")]
    [InlineData("push/1.payload.json", "push")]
    [InlineData("check_run/created.with-organization.payload.json", "check_run.created")]
    [InlineData("check_suite/requested.payload.with-email-with-special-characters.json", "check_suite.requested")]
    public void TypeFromPath_GitHubLayout_GivesEventDotAction(string path, string expected)
    {
        DemoEvents.TypeFromPath(path).Should().Be(expected);
    }

    /// <summary>Deletes a test's SQLite file and its companions (-wal, -shm, .lock).</summary>
    private static void DeleteDatabase(string db)
    {
        foreach (var f in Directory.EnumerateFiles(Path.GetDirectoryName(db)!, Path.GetFileName(db) + "*"))
        {
            File.Delete(f);
        }
    }
}
