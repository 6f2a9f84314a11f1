using System.CommandLine;
using Gguf2Qnn.Conversion;

namespace Gguf2Qnn.Cli;

/// <summary><c>gguf2qnn convert MODEL.gguf -o DIR [--target cpu] [--weights keep|f16|f32]</c>.</summary>
internal static class ConvertCommand
{
    public static Command Create(CliIO io)
    {
        var model = new Argument<string>("MODEL") { Description = "The .gguf file to convert." };
        var output = new Option<string>("--output", "-o") { Description = "Artifact folder to write.", Required = true };
        var target = new Option<string>("--target") { Description = "cpu (dynamic shapes, ONNX Runtime contrib ops).", DefaultValueFactory = _ => "cpu" };
        target.AcceptOnlyFromAmong("cpu", "qnn");
        var weights = new Option<string>("--weights") { Description = "keep: re-pack quantized weights where exact (Q4_0, Q8_0 → MatMulNBits); f16/f32: dequantize everything.", DefaultValueFactory = _ => "keep" };
        weights.AcceptOnlyFromAmong("keep", "f16", "f32");
        var cmd = new Command("convert", "Convert a GGUF model to an ONNX artifact folder.") { model, output, target, weights };
        cmd.SetAction(p =>
        {
            if (p.GetValue(target) == "qnn")
            {
                throw new CliException("--target qnn is not implemented yet; only --target cpu converts today.", GgufCli.WorkFailed);
            }

            var result = Convert(io, p.GetValue(model)!, p.GetValue(output)!, ParseWeights(p.GetValue(weights)!));
            PrintArtifacts(io, result.OutputDirectory);
            return GgufCli.Success;
        });
        return cmd;
    }

    internal static WeightFormat ParseWeights(string s) => s switch
    {
        "f16" => WeightFormat.F16,
        "f32" => WeightFormat.F32,
        _ => WeightFormat.Keep,
    };

    /// <summary>Converts <paramref name="gguf"/> into <paramref name="outputDir"/>, adding the tokenizer files.</summary>
    internal static ConversionResult Convert(CliIO io, string gguf, string outputDir, WeightFormat weights)
    {
        var options = new ConvertOptions
        {
            GgufPath = gguf,
            OutputDirectory = outputDir,
            Weights = weights,
        };
        return OnnxConverter.Convert(options);
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
