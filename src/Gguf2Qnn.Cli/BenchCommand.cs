using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Gguf2Qnn.Evaluation;
using Gguf2Qnn.Reference;
using Gguf2Qnn.Runtime;

namespace Gguf2Qnn.Cli;

/// <summary>
/// <c>gguf2qnn bench MODEL [-p 128] [-n 64] [-t THREADS] [-r REPS] [--vs llamacpp] [--json] [--profile PREFIX]</c>: prefill and decode
/// tokens/s, time to first token and peak resident memory of the converted model, as medians over repetitions with
/// their range; with <c>--vs llamacpp</c> llama.cpp runs the same token counts on the same threads in the same process,
/// alternating repetition by repetition, and the ratios (ours / llama.cpp; for time to first token llama.cpp / ours,
/// so above 1 means faster) are printed.
/// </summary>
internal static class BenchCommand
{
    public static Command Create(CliIO io)
    {
        var model = new Argument<string>("MODEL") { Description = "A .gguf file (converted into the cache folder on first use) or an artifact folder." };
        var prompt = new Option<int>("-p", "--prompt-tokens") { Description = "Prefill length.", DefaultValueFactory = _ => 128 };
        var gen = new Option<int>("-n", "--gen-tokens") { Description = "Decode steps.", DefaultValueFactory = _ => 64 };
        var threads = new Option<int>("-t", "--threads") { Description = "CPU threads for both runtimes (default: logical processors).", DefaultValueFactory = _ => Environment.ProcessorCount };
        var reps = new Option<int>("-r", "--repetitions") { Description = "Measured repetitions (after one warm-up).", DefaultValueFactory = _ => 3 };
        var vs = new Option<string?>("--vs") { Description = "Also run llama.cpp on the same GGUF, alternating: llamacpp." };
        vs.AcceptOnlyFromAmong("llamacpp");
        var gguf = new Option<string?>("--gguf") { Description = "The GGUF for --vs llamacpp when MODEL is an artifact folder (default: the source recorded in its conversion.json, if that file still exists); it must be the file the folder was converted from." };
        var json = new Option<bool>("--json") { Description = "Print {\"pp_tps\":x,\"tg_tps\":x,\"ttft_ms\":x,\"peak_rss_mb\":x,…} (and \"reference\", \"ratios\" with --vs)." };
        var profile = new Option<string?>("--profile") { Description = "Write ONNX Runtime's per-node profile (Chrome trace JSON) to PREFIX_<date>.json." };
        var cmd = new Command("bench", "Measure prefill and decode speed (optionally against llama.cpp).") { model, prompt, gen, threads, reps, vs, gguf, json, profile };
        cmd.SetAction(p =>
        {
            var settings = new BenchSettings(p.GetValue(prompt), p.GetValue(gen), p.GetValue(threads), p.GetValue(reps));
            settings.Validate();
            if (settings.Threads > Environment.ProcessorCount && !p.GetValue(json))
            {
                io.Err.WriteLine($"bench: warning: -t {settings.Threads} is more threads than the {Environment.ProcessorCount} logical processors; the figures will suffer from oversubscription.");
            }

            return Bench(io, p.GetValue(model)!, p.GetValue(gguf), p.GetValue(vs) == "llamacpp", settings, p.GetValue(json), p.GetValue(profile));
        });
        return cmd;
    }

    internal static int Bench(CliIO io, string modelPath, string? ggufForReference, bool vsLlamaCpp, BenchSettings s, bool json, string? profilePrefix = null)
    {
        string? gguf = File.Exists(modelPath) ? modelPath : ggufForReference;
        if (vsLlamaCpp && gguf is null && Directory.Exists(modelPath) && ArtifactFolder.ReadSource(modelPath) is { } source && File.Exists(source.Path))
        {
            gguf = source.Path;
            if (!json)
            {
                io.Err.WriteLine($"bench: --vs llamacpp with the GGUF {modelPath} was converted from: {gguf}");
            }
        }

        if (vsLlamaCpp && gguf is null)
        {
            throw new ArgumentException("--vs llamacpp needs the GGUF: give MODEL as a .gguf, or --gguf FILE with an artifact folder.");
        }

        if (gguf is not null && !File.Exists(gguf))
        {
            throw new FileNotFoundException($"No such file: {gguf}", gguf);
        }

        var artifacts = RunCommand.ResolveArtifacts(io, modelPath, json);
        if (CausalLm.IsQnnTarget(artifacts))
        {
            throw new NotSupportedException($"'{artifacts}' is a qnn-target folder (static AR-N/AR-1 graphs for the QNN HTP): bench measures cpu-target folders on ONNX Runtime's CPU EP. Convert the GGUF with --target cpu (the default) to bench it; run and verify check a qnn-target folder on the CPU.");
        }

        if (gguf is not null && Directory.Exists(modelPath))
        {
            ArtifactFolder.RequireSource(artifacts, gguf);
        }
        ProcessMemory.ResetPeak();
        using var lm = OnnxCausalLm.Open(artifacts, io.RuntimeOptions() with { IntraOpThreads = s.Threads, ProfilePathPrefix = profilePrefix });
        io.NoteKernels(lm);
        if (!json)
        {
            io.Err.WriteLine($"bench: {artifacts}: prefill {s.PromptTokens}, decode {s.GenTokens}, {s.Threads} thread(s), {s.Repetitions} repetition(s) after a warm-up{(vsLlamaCpp ? ", alternating with llama.cpp" : string.Empty)}");
        }

        var ours = new List<BenchTimings>();
        var refTimings = new List<ReferenceTimings>();
        ProcessMemory oursMemory = null!;
        ProcessMemory? refBefore = null;
        ProcessMemory? refAfter = null;
        CliProgress.Run(io, "bench", json, bar =>
        {
            bar.Stage($"{s.Repetitions} repetition(s){(vsLlamaCpp ? " × 2 runtimes" : string.Empty)}", s.Repetitions * (vsLlamaCpp ? 2 : 1));
            ours.Add(OnnxBench.Run(lm, s.PromptTokens, s.GenTokens, seed: 42, warmUp: true));
            bar.Log($"bench: ours 1/{s.Repetitions}: {Line(ours[^1].PrefillTokensPerSecond, ours[^1].DecodeTokensPerSecond, ours[^1].TimeToFirstTokenMilliseconds)}");
            bar.Advance(1);
            oursMemory = ProcessMemory.Read();

            LlamaCppModel? reference = null;
            try
            {
                if (vsLlamaCpp)
                {
                    refBefore = ProcessMemory.Read();
                    ProcessMemory.ResetPeak();
                    reference = LlamaCppModel.Load(gguf!, new LlamaCppOptions
                    {
                        Threads = s.Threads,
                        ContextSize = Math.Max(s.PromptTokens + s.GenTokens, 256),
                        BatchSize = s.PromptTokens,
                        F32KvCache = false,   // llama.cpp's defaults: F16 KV cache and the flash-attention kernel on the CPU
                        FlashAttention = true,
                    });
                    refTimings.Add(reference.Bench(s.PromptTokens, s.GenTokens));
                    bar.Log($"bench: llama.cpp 1/{s.Repetitions}: {Line(refTimings[^1].PrefillTokensPerSecond, refTimings[^1].DecodeTokensPerSecond, refTimings[^1].TimeToFirstTokenMilliseconds)}");
                    bar.Advance(1);
                }

                for (int r = 1; r < s.Repetitions; r++)
                {
                    ours.Add(OnnxBench.Run(lm, s.PromptTokens, s.GenTokens, seed: 42 + r, warmUp: false));
                    bar.Log($"bench: ours {r + 1}/{s.Repetitions}: {Line(ours[^1].PrefillTokensPerSecond, ours[^1].DecodeTokensPerSecond, ours[^1].TimeToFirstTokenMilliseconds)}");
                    bar.Advance(1);
                    if (reference is not null)
                    {
                        refTimings.Add(reference.Bench(s.PromptTokens, s.GenTokens));
                        bar.Log($"bench: llama.cpp {r + 1}/{s.Repetitions}: {Line(refTimings[^1].PrefillTokensPerSecond, refTimings[^1].DecodeTokensPerSecond, refTimings[^1].TimeToFirstTokenMilliseconds)}");
                        bar.Advance(1);
                    }
                }

                refAfter = reference is null ? null : ProcessMemory.Read();
            }
            finally
            {
                reference?.Dispose();
            }
        });

        var oursResult = new BenchResult(
            Spread.Of(ours.Select(t => t.PrefillTokensPerSecond)),
            Spread.Of(ours.Select(t => t.DecodeTokensPerSecond)),
            Spread.Of(ours.Select(t => t.TimeToFirstTokenMilliseconds)),
            oursMemory.PeakRssMb,
            oursMemory.AnonMb);
        BenchResult? refResult = refAfter is null ? null : new BenchResult(
            Spread.Of(refTimings.Select(t => t.PrefillTokensPerSecond)),
            Spread.Of(refTimings.Select(t => t.DecodeTokensPerSecond)),
            Spread.Of(refTimings.Select(t => t.TimeToFirstTokenMilliseconds)),
            refAfter.PeakRssMb - refBefore!.RssMb,
            refAfter.AnonMb - refBefore.AnonMb);

        io.Out.WriteLine(json ? ToJson(s, oursResult, refResult, lm.Gguf2QnnKernelNodes, lm.Gguf2QnnQ6_KNodes).ToJsonString() : ToTable(s, oursResult, refResult, lm.Gguf2QnnKernelNodes, lm.Gguf2QnnQ6_KNodes));
        if (lm.EndProfiling() is { } profilePath)
        {
            io.Err.WriteLine($"bench: ONNX Runtime's profile: {profilePath}");
        }

        return GgufCli.Success;
    }

    private static string Line(double pp, double tg, double ttft) =>
        string.Format(CultureInfo.InvariantCulture, "pp {0:F1} t/s, tg {1:F1} t/s, ttft {2:F1} ms", pp, tg, ttft);

    /// <summary>The <c>--json</c> document; <c>kernels</c> says whose kernels ran our Q4_0 and Q6_K weights (gguf2qnn's on
    /// <paramref name="gguf2qnnKernelNodes"/> nodes, <paramref name="q6KNodes"/> of them Q6_K, then also counted in
    /// <c>kernel_nodes</c>; or ONNX Runtime's on all when 0).</summary>
    private static JsonObject ToJson(BenchSettings s, BenchResult ours, BenchResult? reference, int gguf2qnnKernelNodes, int q6KNodes)
    {
        var o = ours.ToJson();
        o["kernels"] = gguf2qnnKernelNodes > 0 ? "gguf2qnn" : "onnxruntime";
        if (gguf2qnnKernelNodes > 0)
        {
            o["kernel_nodes"] = new JsonObject { ["q4_0"] = gguf2qnnKernelNodes - q6KNodes, ["q6_k"] = q6KNodes };
        }

        o["prompt_tokens"] = s.PromptTokens;
        o["gen_tokens"] = s.GenTokens;
        o["threads"] = s.Threads;
        o["repetitions"] = s.Repetitions;
        if (reference is not null)
        {
            o["reference"] = reference.ToJson();
            o["ratios"] = new JsonObject
            {
                ["pp"] = ours.Prefill.Median / reference.Prefill.Median,
                ["tg"] = ours.Decode.Median / reference.Decode.Median,
                ["ttft"] = reference.FirstToken.Median / ours.FirstToken.Median,
            };
        }

        return o;
    }

    /// <summary>The table: one row per figure, columns padded to their widest cell (wide numbers keep the alignment);
    /// its first line also says whose kernels ran our Q4_0 and Q6_K weights (<paramref name="gguf2qnnKernelNodes"/>: see
    /// <see cref="OnnxCausalLm.Gguf2QnnKernelNodes"/>; <paramref name="q6KNodes"/> of them Q6_K).</summary>
    internal static string ToTable(BenchSettings s, BenchResult ours, BenchResult? reference, int gguf2qnnKernelNodes, int q6KNodes = 0)
    {
        var c = CultureInfo.InvariantCulture;
        static string Cell(Spread v) => string.Format(CultureInfo.InvariantCulture, "{0:F2} [{1:F2} – {2:F2}]", v.Median, v.Min, v.Max);
        static string Ratio(double x) => x.ToString("F2", CultureInfo.InvariantCulture) + "×";
        var rows = new List<string[]>
        {
            new[] { string.Empty, "gguf2qnn (ONNX Runtime)" }.Concat(reference is null ? [] : new[] { "llama.cpp", RatioHeader }).ToArray(),
        };
        void Add(string name, Spread o, Spread? r, Func<double, double, double> ratio) =>
            rows.Add(r is { } rr ? [name, Cell(o), Cell(rr), Ratio(ratio(o.Median, rr.Median))] : [name, Cell(o)]);
        Add("prefill tok/s", ours.Prefill, reference?.Prefill, (o, r) => o / r);
        Add("decode tok/s", ours.Decode, reference?.Decode, (o, r) => o / r);
        Add("first token ms", ours.FirstToken, reference?.FirstToken, (o, r) => r / o);
        rows.Add(reference is null
            ? ["peak RSS MiB", ours.PeakRssMb.ToString("F0", c)]
            : ["peak RSS MiB", ours.PeakRssMb.ToString("F0", c), string.Format(c, "+{0:F0} (added to the process)", reference.PeakRssMb), string.Empty]);

        int columns = rows.Max(r => r.Length);
        var widths = Enumerable.Range(0, columns).Select(i => rows.Max(r => i < r.Length ? r[i].Length : 0)).ToArray();
        var sb = new StringBuilder();
        string kernels = gguf2qnnKernelNodes == 0 ? "ONNX Runtime's kernels"
            : q6KNodes == 0 ? string.Format(c, "gguf2qnn's Q4_0 kernels ({0} nodes)", gguf2qnnKernelNodes)
            : string.Format(c, "gguf2qnn's Q4_0 and Q6_K kernels ({0} + {1} nodes)", gguf2qnnKernelNodes - q6KNodes, q6KNodes);
        sb.AppendLine(string.Format(c, "prefill {0}, decode {1}, {2} thread(s), {3} repetition(s), ours on {4}: median [min – max]", s.PromptTokens, s.GenTokens, s.Threads, s.Repetitions, kernels));
        foreach (var row in rows)
        {
            var cells = row.Select((cell, i) => i == row.Length - 1 ? cell : cell.PadRight(widths[i]));
            sb.AppendLine(string.Join("  ", cells).TrimEnd());
        }

        return sb.ToString().TrimEnd('\n', '\r');
    }

    /// <summary>The ratio column's header: which way the ratios go.</summary>
    internal const string RatioHeader = "ratio: ours ÷ llama.cpp (first token: llama.cpp ÷ ours); > 1 = gguf2qnn faster";
}

/// <summary>Token counts, threads and repetitions of one bench run.</summary>
internal sealed record BenchSettings(int PromptTokens, int GenTokens, int Threads, int Repetitions)
{
    public void Validate()
    {
        if (PromptTokens < 1 || GenTokens < 1 || Threads < 1 || Repetitions < 1)
        {
            throw new ArgumentException("-p, -n, -t and -r must each be at least 1.");
        }
    }
}

/// <summary>One side's medians and ranges.</summary>
internal sealed record BenchResult(Spread Prefill, Spread Decode, Spread FirstToken, double PeakRssMb, double AnonMb)
{
    public JsonObject ToJson() => new()
    {
        ["pp_tps"] = Prefill.Median,
        ["tg_tps"] = Decode.Median,
        ["ttft_ms"] = FirstToken.Median,
        ["peak_rss_mb"] = PeakRssMb,
        ["anon_mb"] = AnonMb,
        ["spread"] = new JsonObject
        {
            ["pp_tps"] = new JsonArray(Prefill.Min, Prefill.Max),
            ["tg_tps"] = new JsonArray(Decode.Min, Decode.Max),
            ["ttft_ms"] = new JsonArray(FirstToken.Min, FirstToken.Max),
        },
    };
}
