using System.CommandLine;
using Gguf2Qnn.Conversion;

namespace Gguf2Qnn.Cli;

/// <summary><c>gguf2qnn convert [MODEL.gguf] [-o DIR] [--json] [--target cpu|qnn] [--weights keep|f16|f32] [--context N] [--prefill N]
/// [--parts auto|N] [--soc NAME] [--activations fp32|fp16|uint16] [--calibration FILE] [--allow-cpu-fallback] [--accuracy-level 0..4]</c>.
/// With no MODEL: the single .gguf in ./models (<see cref="ModelDiscovery"/>), else the demo model; with no -o:
/// <c>./STEM-TARGET</c> (e.g. <c>./stories260K-cpu</c>). An existing folder is replaced only when it is empty or a
/// previous conversion output, or with <c>--force</c>; one holding the source .gguf never (exit code 2).</summary>
internal static class ConvertCommand
{
    public static Command Create(CliIO io)
    {
        var model = new Argument<string?>("MODEL") { Description = "The .gguf file to convert. Omitted: the single .gguf in ./models, else the built-in demo model.", Arity = ArgumentArity.ZeroOrOne };
        var output = new Option<string?>("--output", "-o") { Description = "Artifact folder to write (default: ./MODELNAME-TARGET)." };
        var json = new Option<bool>("--json") { Description = "Print {\"output\":\"DIR\",\"target\":\"cpu|qnn\",\"files\":[{\"name\":…,\"bytes\":N}]} and no progress." };
        var target = new Option<string>("--target") { Description = "cpu (dynamic shapes, ONNX Runtime contrib ops) or qnn (static AR-N/AR-1 parts for the QNN EP's HTP).", DefaultValueFactory = _ => "cpu" };
        target.AcceptOnlyFromAmong("cpu", "qnn");
        var weights = new Option<string>("--weights") { Description = "keep: quantized weights as MatMulNBits (Q4_0, Q8_0, Q3_K exactly; Q4_1, Q2_K, Q4_K with the ggml min as a per-block offset term; Q5_0, Q5_1, Q5_K, Q6_K as 8-bit MatMulNBits at accuracy level 4, the default, else float32; other types float32; the qnn target keeps only Q4_0); f16/f32: dequantize everything.", DefaultValueFactory = _ => "keep" };
        weights.AcceptOnlyFromAmong("keep", "f16", "f32");
        var context = new Option<int?>("--context") { Description = "Positions the graphs hold (default: the GGUF's context_length; qnn: fixed context)." };
        var prefill = new Option<int>("--prefill") { Description = "qnn: prompt-processor window (AR-N).", DefaultValueFactory = _ => 128 };
        var parts = new Option<string>("--parts") { Description = "qnn: auto (fewest parts with each part's weights under 2 GB) or a count.", DefaultValueFactory = _ => "auto" };
        var soc = new Option<string?>("--soc") { Description = "qnn: target SoC recorded for compile (8gen3, xelite, 8elite)." };
        var activations = new Option<string>("--activations") { Description = "qnn: fp32 (float32 graphs, fp16 on HTP via enable_htp_fp16_precision) fp16 (float16 graph I/O, KV cache and activations) or uint16 (calibrated uint16 QDQ around MatMul activations).", DefaultValueFactory = _ => "fp32" };
        activations.AcceptOnlyFromAmong("fp32", "fp16", "uint16");
        var calibration = new Option<string?>("--calibration") { Description = "qnn, --activations uint16: text file to calibrate activation ranges on (default: the text shipped with gguf2qnn)." };
        var fallback = new Option<bool>("--allow-cpu-fallback") { Description = "qnn: accept graphs whose HTP op coverage is under 100%." };
        var accuracy = new Option<int?>("--accuracy-level") { Description = "cpu: MatMulNBits accuracy_level, the lowest precision ONNX Runtime may compute with: 0 (unset) / 1 fp32 / 2 fp16 / 3 bf16 keep float activations, 4 quantizes them to int8 per block as llama.cpp does (the form gguf2qnn's own kernels run). Default: 4." };
        var force = new Option<bool>("--force") { Description = "Replace the output folder even when it holds files that are not a conversion output (a folder holding the source .gguf is always refused)." };
        var cmd = new Command("convert", "Convert a GGUF model to an ONNX artifact folder. An existing output folder is replaced only when it is empty or a previous conversion output (or with --force).") { model, output, json, target, weights, context, prefill, parts, soc, activations, calibration, fallback, accuracy, force };
        cmd.SetAction(p =>
        {
            var gguf = p.GetValue(model) ?? ModelDiscovery.Resolve(io, io.ModelsFolder) ?? DemoGguf.Write(io);
            var dir = p.GetValue(output);
            if (dir is null)
            {
                dir = io.InWorkingDirectory(ModelDiscovery.Stem(gguf) + "-" + p.GetValue(target));
                io.Err.WriteLine($"No -o given: writing {dir}"); // kept with --json: it says what was chosen for the user

            }

            bool quiet = p.GetValue(json);
            WarnPastTrainedContext(io, gguf, p.GetValue(context));
            if (p.GetValue(target) == "qnn")
            {
                return ConvertQnn(io, gguf, dir, ParseWeights(p.GetValue(weights)!), p.GetValue(context), p.GetValue(prefill), p.GetValue(parts)!, p.GetValue(soc), p.GetValue(fallback),
                    p.GetValue(activations) switch { "fp16" => QnnActivations.Float16, "uint16" => QnnActivations.Uint16, _ => QnnActivations.Float32 }, p.GetValue(calibration), quiet, p.GetValue(force));
            }

            var result = Convert(io, gguf, dir, ParseWeights(p.GetValue(weights)!), p.GetValue(accuracy), quiet, p.GetValue(force), p.GetValue(context));
            Report(io, result.OutputDirectory, "cpu", quiet);
            return GgufCli.Success;
        });
        return cmd;
    }

    private static int ConvertQnn(CliIO io, string gguf, string outputDir, WeightFormat weights, int? context, int prefill, string parts, string? soc, bool allowFallback, QnnActivations activations, string? calibration, bool json, bool force)
    {
        int? partCount = parts == "auto" ? null
            : int.TryParse(parts, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && n > 0 ? n
            : throw new CliException($"--parts must be 'auto' or a positive count, not '{parts}'.", GgufCli.BadInput);
        if (soc is not null)
        {
            _ = Qnn.QnnSoc.Find(soc);
        }

        ConversionResult result;
        try
        {
            var options = new ConvertOptions
            {
                GgufPath = gguf,
                OutputDirectory = outputDir,
                Weights = weights,
                Target = ConversionTarget.Qnn,
                ContextLength = context,
                PrefillLength = prefill,
                PartCount = partCount,
                Soc = soc,
                AllowCpuFallback = allowFallback,
                Activations = activations,
                CalibrationPath = calibration,
                ReplaceOutput = force,
            };
            result = CliProgress.Run(io, "convert", json, p => OnnxConverter.Convert(options, p.ForConversion()));
        }
        catch (Qnn.HtpCoverageException ex)
        {
            ex.Report.Print(io.Err);
            throw new CliException(ex.Message, GgufCli.WorkFailed);
        }

        if (!json)
        {
            Qnn.HtpCoverage.Check(result.OutputDirectory).Print(io.Err);
        }

        Report(io, result.OutputDirectory, "qnn", json);
        return GgufCli.Success;
    }

    internal static WeightFormat ParseWeights(string s) => s switch
    {
        "f16" => WeightFormat.F16,
        "f32" => WeightFormat.F32,
        _ => WeightFormat.Keep,
    };

    /// <summary>Converts <paramref name="gguf"/> into <paramref name="outputDir"/>, adding the tokenizer files, with
    /// <see cref="CliProgress"/> on stderr (none when <paramref name="quiet"/>); <paramref name="force"/>: replace a
    /// folder that is not a conversion output (<see cref="ConvertOptions.ReplaceOutput"/>).</summary>
    internal static ConversionResult Convert(CliIO io, string gguf, string outputDir, WeightFormat weights, int? accuracyLevel = null, bool quiet = false, bool force = false, int? context = null)
    {
        var options = new ConvertOptions
        {
            GgufPath = gguf,
            OutputDirectory = outputDir,
            Weights = weights,
            ReplaceOutput = force,
            ContextLength = context,
        };
        if (accuracyLevel is { } level)
        {
            options = options with { AccuracyLevel = level };
        }

        return CliProgress.Run(io, "convert", quiet, p => OnnxConverter.Convert(options, p.ForConversion()));
    }

    /// <summary>One warning line when <c>--context</c> asks for more positions than the GGUF's <c>{arch}.context_length</c>.</summary>
    private static void WarnPastTrainedContext(CliIO io, string gguf, int? context)
    {
        if (context is not { } n || !File.Exists(gguf))
        {
            return;
        }

        using var model = Gguf.GgufModel.Open(gguf);
        int trained = Architectures.ModelConfig.FromGguf(model).ContextLength;
        if (n > trained)
        {
            io.Err.WriteLine($"warning: --context {n} is more than the model's context_length {trained}; positions past {trained} were not trained.");
        }
    }

    /// <summary>The artifact list: on stderr, or with <paramref name="json"/> as one JSON object on stdout.</summary>
    private static void Report(CliIO io, string dir, string target, bool json)
    {
        if (!json)
        {
            PrintArtifacts(io, dir);
            return;
        }

        var files = new System.Text.Json.Nodes.JsonArray();
        foreach (var f in Directory.GetFiles(dir).OrderBy(f => f, StringComparer.Ordinal))
        {
            files.Add(new System.Text.Json.Nodes.JsonObject { ["name"] = Path.GetFileName(f), ["bytes"] = new FileInfo(f).Length });
        }

        io.Out.WriteLine(new System.Text.Json.Nodes.JsonObject { ["output"] = Path.GetFullPath(dir), ["target"] = target, ["files"] = files }.ToJsonString());
    }

    internal static void PrintArtifacts(CliIO io, string dir)
    {
        io.Err.WriteLine($"Artifacts in {Path.GetFullPath(dir)}:");
        foreach (var f in Directory.GetFiles(dir).OrderBy(f => f, StringComparer.Ordinal))
        {
            io.Err.WriteLine($"  {Path.GetFileName(f),-24} {new FileInfo(f).Length,14:N0} bytes");
        }
    }
}
