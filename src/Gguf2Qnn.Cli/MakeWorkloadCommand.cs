using System.CommandLine;
using System.Diagnostics;
using Gguf2Qnn.Evaluation;
using Gguf2Qnn.Reference;

namespace Gguf2Qnn.Cli;

/// <summary>
/// <c>gguf2qnn make-workload -o FILE [--layers N] [--seed S] [--llamacpp-q4_0]</c>: writes the Qwen2-1.5B-shaped random
/// Q4_0 GGUF used for the benchmarks in docs/BENCHMARKS.md (about 1.0 GB; streamed, so memory stays small). With
/// <c>--llamacpp-q4_0</c> llama.cpp then re-quantizes it to its own Q4_0 mix (<c>llama-quantize --allow-requantize
/// SRC DST Q4_0</c>, through LLamaSharp), which keeps <c>output.weight</c> in Q6_K as the founding
/// DeepSeek-R1-Distill-Qwen-1.5B-Q4_0.gguf does (about 1.06 GB).
/// </summary>
internal static class MakeWorkloadCommand
{
    public static Command Create(CliIO io)
    {
        var output = new Option<string>("--output", "-o") { Description = "The .gguf file to write.", Required = true };
        var layers = new Option<int>("--layers") { Description = "Transformer blocks (Qwen2-1.5B: 28).", DefaultValueFactory = _ => 28 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the random weights.", DefaultValueFactory = _ => 1234UL };
        var llamaCpp = new Option<bool>("--llamacpp-q4_0")
        {
            Description = "Then let llama.cpp re-quantize the file to its Q4_0 mix (llama-quantize --allow-requantize … Q4_0): output.weight becomes Q6_K, as in the Q4_0 files llama-quantize writes.",
        };
        var cmd = new Command("make-workload", "Write the Qwen2-1.5B-shaped random Q4_0 benchmark GGUF.") { output, layers, seed, llamaCpp };
        cmd.SetAction(p =>
        {
            var spec = new Qwen2WorkloadSpec { BlockCount = p.GetValue(layers), Seed = p.GetValue(seed) };
            var path = p.GetValue(output)!;
            bool requantize = p.GetValue(llamaCpp);
            var start = Stopwatch.GetTimestamp();
            long size = Write(path, spec, requantize);
            io.Err.WriteLine($"Wrote {path}: {size:N0} bytes ({spec.BlockCount} layers, hidden {spec.HiddenSize}, vocab {spec.VocabSize}, {(requantize ? "llama.cpp's Q4_0 mix, output.weight Q6_K" : "Q4_0")}) in {Stopwatch.GetElapsedTime(start).TotalSeconds:F1} s.");
            return GgufCli.Success;
        });
        return cmd;
    }

    /// <summary>
    /// Writes the workload to <paramref name="path"/> (with <paramref name="llamaCppQ4_0"/>: re-quantized by llama.cpp
    /// to its Q4_0 mix, through a temporary file beside it that is removed again); returns the file size in bytes.
    /// </summary>
    /// <exception cref="LlamaCppException">llama.cpp could not re-quantize the file.</exception>
    internal static long Write(string path, Qwen2WorkloadSpec spec, bool llamaCppQ4_0)
    {
        if (!llamaCppQ4_0)
        {
            return Qwen2Workload.Write(path, spec);
        }

        string full = Path.GetFullPath(path);
        string source = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.q4_0-{Guid.NewGuid():N}.tmp");
        string quantized = source + ".requantized";
        try
        {
            Qwen2Workload.Write(source, spec);
            LlamaCppQuantizer.Quantize(source, quantized, "Q4_0", allowRequantize: true);
            File.Move(quantized, full, overwrite: true);
            return new FileInfo(full).Length;
        }
        finally
        {
            File.Delete(source);
            File.Delete(quantized);
        }
    }
}
