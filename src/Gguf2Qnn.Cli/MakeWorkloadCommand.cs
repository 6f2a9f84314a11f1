using System.CommandLine;
using System.Diagnostics;
using Gguf2Qnn.Evaluation;

namespace Gguf2Qnn.Cli;

/// <summary>
/// <c>gguf2qnn make-workload -o FILE [--layers N] [--seed S]</c>: writes the Qwen2-1.5B-shaped random Q4_0 GGUF used
/// for the benchmarks in docs/BENCHMARKS.md (about 1.0 GB; streamed, so memory stays small).
/// </summary>
internal static class MakeWorkloadCommand
{
    public static Command Create(CliIO io)
    {
        var output = new Option<string>("--output", "-o") { Description = "The .gguf file to write.", Required = true };
        var layers = new Option<int>("--layers") { Description = "Transformer blocks (Qwen2-1.5B: 28).", DefaultValueFactory = _ => 28 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the random weights.", DefaultValueFactory = _ => 1234UL };
        var cmd = new Command("make-workload", "Write the Qwen2-1.5B-shaped random Q4_0 benchmark GGUF.") { output, layers, seed };
        cmd.SetAction(p =>
        {
            var spec = new Qwen2WorkloadSpec { BlockCount = p.GetValue(layers), Seed = p.GetValue(seed) };
            var path = p.GetValue(output)!;
            var start = Stopwatch.GetTimestamp();
            long size = Qwen2Workload.Write(path, spec);
            io.Err.WriteLine($"Wrote {path}: {size:N0} bytes ({spec.BlockCount} layers, hidden {spec.HiddenSize}, vocab {spec.VocabSize}, Q4_0) in {Stopwatch.GetElapsedTime(start).TotalSeconds:F1} s.");
            return GgufCli.Success;
        });
        return cmd;
    }
}
