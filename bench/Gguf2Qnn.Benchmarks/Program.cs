using BenchmarkDotNet.Running;

namespace Gguf2Qnn.Benchmarks;

/// <summary>
/// Entry point: <c>dotnet run -c Release --project bench/Gguf2Qnn.Benchmarks -- --filter '*'</c>.
/// Arguments are BenchmarkDotNet's command line; the config (in-process, short job, GB/s columns) is
/// <see cref="ThroughputConfig"/>.
/// </summary>
public static class Program
{
    /// <summary>Runs the benchmarks selected by <paramref name="args"/>.</summary>
    public static void Main(string[] args) =>
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, new ThroughputConfig());
}
