using Gguf2Qnn.Evaluation;
using Gguf2Qnn.Onnx.Proto;
using Gguf2Qnn.Reference;
using Gguf2Qnn.Runtime;
using Gguf2Qnn.Runtime.Kernels;
using Gguf2Qnn.Tests.Runtime.Kernels;
using Xunit;
using Xunit.Abstractions;

namespace Gguf2Qnn.Tests.EndToEnd;

/// <summary>
/// gguf2qnn's own Q4_0 kernels (<see cref="CpuKernels.Gguf2Qnn"/>) on llama.cpp-quantized Q4_0 qwen2 models, against
/// llama.cpp on the same file: every Q4_0 MatMulNBits node is swapped, the logits agree as closely as ONNX Runtime's
/// kernels do (issue #5's thresholds for Q4_0: top-1 ≥ 99 %, mean KL ≤ 5e-3), and greedy generation gives llama.cpp's tokens.
/// </summary>
public sealed class Q4_0KernelAgreementTests(ConvertedModelsFixture models, ITestOutputHelper output) : IClassFixture<ConvertedModelsFixture>
{
    private const string Text = " once upon a time there was a little dog and a happy cat. The sun was warm and the dog ran to the park with the cat.";

    [Avx512Theory]
    [InlineData("qwen2-q4_0-tied")]
    [InlineData("qwen2-q4_0")]
    public void OwnKernelsAgreeWithLlamaCpp(string name)
    {
        var (gguf, onnx) = models.Get(name);
        int q4Nodes = CountQ4_0MatMulNBits(Path.Combine(onnx, "model.onnx"));
        Assert.True(q4Nodes >= 8, $"{q4Nodes} Q4_0 MatMulNBits nodes");

        using var reference = LlamaCppModel.Load(gguf, new LlamaCppOptions { F32KvCache = true });
        var ids = reference.Tokenize(Text, addSpecial: true, parseSpecial: false);
        var expected = reference.EvaluateLogits(ids);

        var log = new List<string>();
        using var lm = OnnxCausalLm.Open(onnx, new RuntimeOptions { Kernels = CpuKernels.Gguf2Qnn, Log = log.Add });
        output.WriteLine(string.Join(Environment.NewLine, log.Where(l => l.StartsWith("kernels:", StringComparison.Ordinal))));

        // 2 layers: q/k/v (one MatMulNBits with its bias Add and a Split) and gate/up (one MatMulNBits, Split, SwiGLU).
        Assert.Contains(log, l => l.Contains($"for {q4Nodes} Q4_0 MatMulNBits nodes (2 bias Adds, 2 Splits and 2 SwiGLUs fused into them)", StringComparison.Ordinal));

        // Prefill of the whole text (the GEMM path), then the same positions one decode step at a time (the GEMV path).
        foreach (int prefill in new[] { ids.Length, 1 })
        {
            var actual = lm.EvaluateLogits(ids, prefill);
            var comparison = new LogitComparison();
            for (int i = 0; i < ids.Length; i++) comparison.Add(expected[i], actual[i], i + 1 < ids.Length ? ids[i + 1] : -1);
            var report = comparison.ToReport();
            output.WriteLine($"{name}, prefill {prefill}: top-1 {report.Top1Agreement:P2}, KL mean {report.KlMean:E3}, max |logit diff| {comparison.MaxAbsLogitDiff:E3}");
            Assert.True(report.Top1Agreement >= 0.99, $"top-1 {report.Top1Agreement}");
            Assert.True(report.KlMean <= 5e-3, $"KL mean {report.KlMean}");
        }

        var expectedTokens = reference.GenerateGreedy(ids, 32, stopAtEndOfGeneration: false);
        var tokens = lm.Generate(ids, new GenerationOptions { MaxNewTokens = 32, Greedy = true }).ToArray();
        Assert.Equal(expectedTokens, tokens);
    }

    [Fact]
    public void OnnxRuntimeKernelsLeaveTheModelAlone()
    {
        var (_, onnx) = models.Get("qwen2-q4_0");
        var log = new List<string>();
        using var lm = OnnxCausalLm.Open(onnx, new RuntimeOptions { Kernels = CpuKernels.OnnxRuntime, Log = log.Add });
        Assert.Contains(log, l => l.Contains("kernels: ONNX Runtime's (as asked)", StringComparison.Ordinal));
    }

    [Fact]
    public void AModelWithoutQ4_0WeightsKeepsOnnxRuntimesKernels()
    {
        var (_, onnx) = models.Get("stories");
        var log = new List<string>();
        using var lm = OnnxCausalLm.Open(onnx, new RuntimeOptions { Kernels = CpuKernels.Auto, Log = log.Add });
        Assert.Contains(log, l => l.StartsWith("kernels: ONNX Runtime's", StringComparison.Ordinal));
    }

    [Avx512Fact]
    public void AutoFallsBackToOnnxRuntimeWhereGguf2QnnsKernelsCannotTakeTheWeights()
    {
        // A Q4_0-shaped MatMulNBits whose scale is not a binary16 number (as other tools' int4 models have): the packed
        // layout keeps fp16 scales, so gguf2qnn's kernel refuses it; ONNX Runtime's kernel runs it.
        var (_, onnx) = models.Get("qwen2-q4_0");
        string copy = ConvertedModelsFixture.CopyWithoutManifest(onnx);
        ModelProto model;
        using (var file = File.OpenRead(Path.Combine(copy, "model.onnx"))) model = ModelProto.Parser.ParseFrom(file);
        var node = model.Graph.Node.First(n => n.OpType == "MatMulNBits" && n.Attribute.Single(a => a.Name == "bits").I == 4);
        var scales = model.Graph.Initializer.Single(t => t.Name == node.Input[2]);
        if (scales.ExternalData.Count == 0)
        {
            var raw = scales.RawData.ToByteArray();
            BitConverter.GetBytes(0.1f).CopyTo(raw, 0);
            scales.RawData = Google.Protobuf.ByteString.CopyFrom(raw);
            File.WriteAllBytes(Path.Combine(copy, "model.onnx"), Google.Protobuf.MessageExtensions.ToByteArray(model));
        }
        else
        {
            string location = scales.ExternalData.Single(e => e.Key == "location").Value;
            long offset = long.Parse(scales.ExternalData.Single(e => e.Key == "offset").Value, System.Globalization.CultureInfo.InvariantCulture);
            using var data = File.OpenWrite(Path.Combine(copy, location));
            data.Position = offset;
            data.Write(BitConverter.GetBytes(0.1f));
        }

        var log = new List<string>();
        using (var lm = OnnxCausalLm.Open(copy, new RuntimeOptions { Kernels = CpuKernels.Auto, Log = log.Add }))
        {
            Assert.Contains(log, l => l.StartsWith("kernels: ONNX Runtime's (gguf2qnn's could not", StringComparison.Ordinal));
            Assert.DoesNotContain(log, l => l.StartsWith("kernels: gguf2qnn's", StringComparison.Ordinal));
            Assert.All(lm.EvaluateLogits([1, 2, 3])[^1], v => Assert.True(float.IsFinite(v)));
        }

        var e = Assert.Throws<Microsoft.ML.OnnxRuntime.OnnxRuntimeException>(() => OnnxCausalLm.Open(copy, new RuntimeOptions { Kernels = CpuKernels.Gguf2Qnn }));
        Assert.Contains("fp16", e.Message, StringComparison.Ordinal);
    }

    private static int CountQ4_0MatMulNBits(string modelPath)
    {
        using var file = File.OpenRead(modelPath);
        var model = ModelProto.Parser.ParseFrom(file);
        return model.Graph.Node.Count(n => n.OpType == "MatMulNBits"
            && n.Attribute.Single(a => a.Name == "bits").I == 4 && n.Attribute.Single(a => a.Name == "block_size").I == 32);
    }
}
