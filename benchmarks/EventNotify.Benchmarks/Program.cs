using System.Globalization;
using BenchmarkDotNet.Running;
using EventNotify.Benchmarks.Harness;
using EventNotify.Benchmarks.Scenarios;

// dotnet run -c Release --project benchmarks/EventNotify.Benchmarks -- --quick [--events N] [--rounds R] [--scenarios a,b]
// dotnet run -c Release --project benchmarks/EventNotify.Benchmarks -- --latency [--rate 10000] [--seconds 5] [--store memory|sqlite]
// dotnet run -c Release --project benchmarks/EventNotify.Benchmarks -- --filter '*' --job short   (BenchmarkDotNet)
if (args.Contains("--quick"))
{
    var names = Option("--scenarios") is { } list ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : ScenarioCatalog.Names.ToArray();
    return await QuickRunner.RunAsync(IntOption("--events", 50_000), IntOption("--rounds", 5), names);
}

if (args.Contains("--latency"))
{
    var store = Option("--store") ?? "memory";
    return await LatencyRunner.RunAsync(IntOption("--rate", store == "sqlite" ? 2_000 : 10_000), IntOption("--seconds", 5), store);
}

if (args.Contains("--hotpath"))
{
    return await HotPathRunner.RunAsync(IntOption("--events", 200_000), IntOption("--rounds", 5));
}

BenchmarkSwitcher.FromAssembly(typeof(QuickRunner).Assembly).Run(args);
return 0;

string? Option(string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

int IntOption(string name, int fallback) =>
    Option(name) is { } value ? int.Parse(value, NumberStyles.Integer, CultureInfo.InvariantCulture) : fallback;
