using Gguf2Qnn.Cli;
using Gguf2Qnn.Conversion;
using Gguf2Qnn.Tests.EndToEnd;
using Gguf2Qnn.Tests.Runtime.Kernels;
using Xunit;
using static Gguf2Qnn.Tests.Cli.CliRun;

namespace Gguf2Qnn.Tests.Cli;

/// <summary>
/// <c>--kernels gguf2qnn</c> where gguf2qnn's Q4_0 kernels cannot run: a model with no Q4_0 weight (stories260K, F32)
/// and a qnn-target folder run on ONNX Runtime's kernels and say so on stderr; <c>--engine genai</c> is bad usage (GenAI runs ONNX Runtime's kernels).
/// </summary>
[Trait("Category", "Cli")]
public sealed class KernelsOptionTests(ConvertedModelsFixture models) : IClassFixture<ConvertedModelsFixture>
{
    private const string NotApplied = "--kernels gguf2qnn did not apply";

    [Fact]
    public void Gguf2QnnOnAModelWithoutQ4_0WeightsRunsOnnxRuntimesKernelsAndSaysSo()
    {
        var (_, onnx) = models.Get("stories");
        var (code, ours, err) = Run("run", onnx, "-n", "4", "--json", "--kernels", "gguf2qnn");
        Assert.True(code == 0, err);
        Assert.Contains($"gguf2qnn: {NotApplied}; kernels: ONNX Runtime's (the model has no Q4_0 or Q6_K MatMulNBits node", err, StringComparison.Ordinal);

        var (ortCode, ort, ortErr) = Run("run", onnx, "-n", "4", "--json", "--kernels", "onnxruntime");
        Assert.True(ortCode == 0, ortErr);
        Assert.Equal(ort, ours);
        Assert.DoesNotContain(NotApplied, ortErr, StringComparison.Ordinal);
        Assert.DoesNotContain(NotApplied, Run("run", onnx, "-n", "1").Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Gguf2QnnWithTheGenAiEngineIsBadUsage()
    {
        var (_, onnx) = models.Get("stories");
        var (code, stdout, err) = Run("run", onnx, "--engine", "genai", "-n", "1", "--kernels", "gguf2qnn");
        Assert.Equal(GgufCli.BadInput, code);
        Assert.Equal(string.Empty, stdout);
        Assert.StartsWith("gguf2qnn: --kernels gguf2qnn: gguf2qnn's kernels run on the ort engine", err, StringComparison.Ordinal);
    }

    [Fact]
    public void VerboseWithTheGenAiEngineSaysWhatGenAiRuns()
    {
        var (_, onnx) = models.Get("stories");
        var (code, stdout, err) = Run("run", onnx, "--engine", "genai", "-n", "2", "--verbose");
        Assert.True(code == 0, err);
        Assert.Equal(Run("run", onnx, "--engine", "genai", "-n", "2").Out, stdout); // stdout unchanged
        Assert.Contains("onnxruntime-genai: ONNX Runtime GenAI (Microsoft.ML.OnnxRuntimeGenAI) over", err, StringComparison.Ordinal);
        Assert.Contains("decoder session_options from genai_config.json: {", err, StringComparison.Ordinal);
        Assert.Contains("kernels: ONNX Runtime's (GenAI runs its own session", err, StringComparison.Ordinal);
    }

    [Fact]
    public void AQnnTargetFolderRunsAsWrittenAndSaysSo()
    {
        var dir = Path.Combine(TestPaths.NewTempDir("kernels-qnn"), "qnn");
        OnnxConverter.Convert(new ConvertOptions
        {
            GgufPath = TestPaths.Stories260K, OutputDirectory = dir, Target = ConversionTarget.Qnn, ContextLength = 64, PrefillLength = 8,
        });

        var (code, _, err) = Run("run", dir, "-n", "2", "--kernels", "gguf2qnn");
        Assert.True(code == 0, err);
        Assert.Contains($"{NotApplied}; kernels: ONNX Runtime's (a qnn-target folder", err, StringComparison.Ordinal);

        var (verboseCode, _, verboseErr) = Run("run", dir, "-n", "2", "--verbose");
        Assert.True(verboseCode == 0, verboseErr);
        Assert.Contains("kernels: ONNX Runtime's (a qnn-target folder", verboseErr, StringComparison.Ordinal);
    }

    [Avx512Fact]
    public void Gguf2QnnOnAQ4_0ModelSaysNothingExtraAndBenchJsonNamesTheKernels()
    {
        var (_, onnx) = models.Get("qwen2-q4_0");
        var (code, _, err) = Run("run", onnx, "-n", "2", "--kernels", "gguf2qnn");
        Assert.True(code == 0, err);
        Assert.Equal(string.Empty, err);

        foreach (var kernels in new[] { "gguf2qnn", "onnxruntime" })
        {
            var (benchCode, json, benchErr) = Run("bench", onnx, "-p", "4", "-n", "2", "-t", "1", "-r", "1", "--json", "--kernels", kernels);
            Assert.True(benchCode == 0, benchErr);
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            Assert.Equal(kernels, doc.RootElement.GetProperty("kernels").GetString());
        }
    }
}
