using System.Globalization;
using System.Runtime.InteropServices;
using Gguf2Qnn.Evaluation;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Onnx.Proto;
using Gguf2Qnn.Reference;
using Gguf2Qnn.Runtime;
using Gguf2Qnn.Runtime.Kernels;
using Gguf2Qnn.Tests.Runtime.Kernels;
using Google.Protobuf;
using Xunit;
using Xunit.Abstractions;

namespace Gguf2Qnn.Tests.EndToEnd;

/// <summary>
/// gguf2qnn's Q6_K kernel on llama.cpp's Q4_0 mix of a qwen2 with hidden 256, whose output.weight llama-quantize keeps in
/// Q6_K: the converted head's MatMulNBits data give back llama.cpp's Q6_K blocks exactly, the head runs on
/// com.gguf2qnn.MatMulQ6_K (and the Q4_0 layers on MatMulQ4_0), and the logits agree with llama.cpp's on the same file
/// within the thresholds of <see cref="Q4_0KernelAgreementTests"/> (top-1 ≥ 99 %, mean KL ≤ 5e-3).
/// </summary>
public sealed class Q6_KKernelAgreementTests(ConvertedModelsFixture models, ITestOutputHelper output) : IClassFixture<ConvertedModelsFixture>
{
    private const string Model = "qwen2-q4_0-q6k-head";
    private const string Text = " once upon a time there was a little dog and a happy cat. The sun was warm and the dog ran to the park with the cat.";

    [Fact]
    public void TheConvertedHeadGivesBackLlamaCppsQ6_KBlocks()
    {
        var (gguf, onnx) = models.Get(Model);
        using var file = GgufFile.Open(gguf);
        var tensor = file.GetTensor(GgufTensorNames.Output);
        Assert.Equal(GgmlType.Q6_K, tensor.Type);
        int k = (int)tensor.Dimensions[0], n = (int)tensor.Dimensions[1];
        var raw = file.GetTensorBytes(tensor);

        var (b, scales) = HeadInitializers(onnx, k, n);
        Assert.Null(Q6_KPackedWeights.Check(b, scales, n, k));
        using var packed = Q6_KPackedWeights.FromMatMulNBits(b, scales, n, k);
        var codes = new byte[256];
        var sc = new sbyte[16];
        int blocks = k / 256, zeroBlocks = 0;
        for (int row = 0; row < n; row++)
        {
            for (int blk = 0; blk < blocks; blk++)
            {
                // block_q6_K (ggml-common.h): ql[128], qh[64], scales[16] (int8), d (fp16) — 210 bytes.
                var block = raw.Slice(((row * blocks) + blk) * 210, 210);
                var expected = GgmlCodes(block);
                Half d = packed.GetBlock(row, blk, codes, sc);
                Assert.True(BitConverter.ToHalf(block[208..]).Equals(d), $"row {row}, block {blk}: d {d} vs ggml {BitConverter.ToHalf(block[208..])}");
                Assert.Equal(MemoryMarshal.Cast<byte, sbyte>(block.Slice(192, 16)).ToArray(), sc);
                Assert.Equal(expected, codes);
                zeroBlocks += d == Half.Zero ? 1 : 0;
            }
        }

        output.WriteLine($"{n} × {k} Q6_K weights ({n * blocks} super-blocks, {zeroBlocks} with d = 0) recovered exactly");
    }

    [Avx512Fact]
    public void OwnKernelsAgreeWithLlamaCpp()
    {
        var (gguf, onnx) = models.Get(Model);
        using var reference = LlamaCppModel.Load(gguf, new LlamaCppOptions { F32KvCache = true });
        var ids = reference.Tokenize(string.Concat(Enumerable.Repeat(Text, 3)), addSpecial: true, parseSpecial: false);
        var expected = reference.EvaluateLogits(ids);

        var log = new List<string>();
        using var lm = OnnxCausalLm.Open(onnx, new RuntimeOptions { Kernels = CpuKernels.Gguf2Qnn, Log = log.Add });
        output.WriteLine(string.Join(Environment.NewLine, log.Where(l => l.StartsWith("kernels:", StringComparison.Ordinal))));
        Assert.Contains(log, l => l.Contains($"and {Q4_0KernelRewriter.Domain}.{Q6_KKernelRewriter.OpType} for 1 Q6_K MatMulNBits nodes", StringComparison.Ordinal));
        Assert.Equal(1, lm.Gguf2QnnQ6_KNodes);
        Assert.True(lm.Gguf2QnnKernelNodes >= 9, $"{lm.Gguf2QnnKernelNodes} nodes on gguf2qnn's kernels");

        using var ort = OnnxCausalLm.Open(onnx, new RuntimeOptions { Kernels = CpuKernels.OnnxRuntime });

        // Prefill of the whole text (the head at M = 1, since only the last position's logits are kept, and at M > 1 here
        // where every position's are asked for), then the same positions one decode step at a time.
        foreach (int prefill in new[] { ids.Length, 1 })
        {
            var ours = Compare(expected, lm.EvaluateLogits(ids, prefill), ids);
            var theirs = Compare(expected, ort.EvaluateLogits(ids, prefill), ids);
            output.WriteLine($"prefill {prefill}: gguf2qnn's kernels: top-1 {ours.Report.Top1Agreement:P2}, KL mean {ours.Report.KlMean:E3}, max |logit diff| {ours.MaxDiff:E3}; "
                + $"ONNX Runtime's: top-1 {theirs.Report.Top1Agreement:P2}, KL mean {theirs.Report.KlMean:E3}, max |logit diff| {theirs.MaxDiff:E3}");
            Assert.True(ours.Report.Top1Agreement >= 0.99, $"top-1 {ours.Report.Top1Agreement}");
            Assert.True(ours.Report.KlMean <= 5e-3, $"KL mean {ours.Report.KlMean}");
        }

        var expectedTokens = reference.GenerateGreedy(ids, 32, stopAtEndOfGeneration: false);
        var tokens = lm.Generate(ids, new GenerationOptions { MaxNewTokens = 32, Greedy = true }).ToArray();
        Assert.Equal(expectedTokens, tokens);
    }

    [Avx512Fact]
    public void AHeadThatIsNotAQ6_KWeightStaysWithOnnxRuntimeAndTheRestKeepsGguf2QnnsKernels()
    {
        var (copy, _, _) = CopyWithAHeadThatIsNotAQ6_KWeight();
        var log = new List<string>();
        using var lm = OnnxCausalLm.Open(copy, new RuntimeOptions { Kernels = CpuKernels.Auto, Log = log.Add });
        output.WriteLine(string.Join(Environment.NewLine, log.Where(l => l.StartsWith("kernels:", StringComparison.Ordinal))));
        Assert.Contains(log, l => l.StartsWith("kernels: Q6_K-shaped MatMulNBits node", StringComparison.Ordinal) && l.Contains("row 0, super-block 0", StringComparison.Ordinal));
        Assert.Contains(log, l => l.StartsWith("kernels: gguf2qnn's", StringComparison.Ordinal) && l.Contains("for 0 Q6_K MatMulNBits nodes", StringComparison.Ordinal));
        Assert.Equal(0, lm.Gguf2QnnQ6_KNodes);
        Assert.True(lm.Gguf2QnnKernelNodes > 0);
        Assert.All(lm.EvaluateLogits([1, 2, 3])[^1], v => Assert.True(float.IsFinite(v)));
    }

    [Avx512Fact]
    public void WhenTheOnlyCandidateIsAHeadThatIsNotAQ6_KWeightTheKernelsLineSaysSo()
    {
        var (copy, model, scales) = CopyWithAHeadThatIsNotAQ6_KWeight();
        // The Q4_0 layers at accuracy_level 0 (float activations): not a form gguf2qnn's Q4_0 kernel takes.
        foreach (var node in model.Graph.Node.Where(n => n.OpType == "MatMulNBits" && n.Input[2] != scales.Name))
        {
            node.Attribute.Single(a => a.Name == "accuracy_level").I = 0;
        }

        File.WriteAllBytes(Path.Combine(copy, "model.onnx"), model.ToByteArray());
        using var lm = OnnxCausalLm.Open(copy, new RuntimeOptions { Kernels = CpuKernels.Auto });
        Assert.Equal(0, lm.Gguf2QnnKernelNodes);
        Assert.Contains("the data of its 1 Q6_K-shaped node(s) are not a Q6_K weight's", lm.KernelsDescription, StringComparison.Ordinal);
    }

    // A copy of the converted model whose head scale at row 0, sub-block 5 is no longer d·sc (so no Q6_K weight).
    private (string Copy, ModelProto Model, TensorProto HeadScales) CopyWithAHeadThatIsNotAQ6_KWeight()
    {
        var (_, onnx) = models.Get(Model);
        string copy = ConvertedModelsFixture.CopyWithoutManifest(onnx);
        ModelProto model;
        using (var stream = File.OpenRead(Path.Combine(copy, "model.onnx"))) model = ModelProto.Parser.ParseFrom(stream);
        var scales = model.Graph.Initializer.Single(t => t.Name == HeadNode(model).Input[2]);
        var entries = scales.ExternalData.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
        using (var data = File.OpenWrite(Path.Combine(copy, entries["location"])))
        {
            data.Position = long.Parse(entries["offset"], CultureInfo.InvariantCulture) + (5 * 4);
            data.Write(BitConverter.GetBytes(0.1f));
        }

        return (copy, model, scales);
    }

    private static (VerificationReport Report, double MaxDiff) Compare(float[][] expected, float[][] actual, int[] ids)
    {
        var comparison = new LogitComparison();
        for (int i = 0; i < ids.Length; i++) comparison.Add(expected[i], actual[i], i + 1 < ids.Length ? ids[i + 1] : -1);
        return (comparison.ToReport(), comparison.MaxAbsLogitDiff);
    }

    /// <summary>ggml's 6-bit q (0–63) of one block_q6_K in weight order (ggml-quants.c dequantize_row_q6_K): for each
    /// half h (128 weights: ql + 64h, qh + 32h) and l in 0–31, weights l, l+32, l+64, l+96 take the low nibble of
    /// ql[l], of ql[l+32], the high nibble of ql[l], of ql[l+32], and bits 0–1, 2–3, 4–5, 6–7 of qh[l] on top.</summary>
    private static byte[] GgmlCodes(ReadOnlySpan<byte> block)
    {
        var q = new byte[256];
        for (int h = 0; h < 2; h++)
        {
            var ql = block.Slice(64 * h, 64);
            var qh = block.Slice(128 + (32 * h), 32);
            for (int l = 0; l < 32; l++)
            {
                q[(128 * h) + l] = (byte)((ql[l] & 0xF) | ((qh[l] & 3) << 4));
                q[(128 * h) + l + 32] = (byte)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
                q[(128 * h) + l + 64] = (byte)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
                q[(128 * h) + l + 96] = (byte)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
            }
        }

        return q;
    }

    private static NodeProto HeadNode(ModelProto model) => model.Graph.Node.Single(n => n.OpType == "MatMulNBits"
        && n.Attribute.Single(a => a.Name == "bits").I == 8 && n.Attribute.Single(a => a.Name == "block_size").I == 16);

    /// <summary>The head's MatMulNBits B and scales as the converter wrote them (external data or inline).</summary>
    private static (byte[] B, float[] Scales) HeadInitializers(string onnx, int k, int n)
    {
        ModelProto model;
        using (var stream = File.OpenRead(Path.Combine(onnx, "model.onnx"))) model = ModelProto.Parser.ParseFrom(stream);
        var node = HeadNode(model);
        Assert.Equal(k, node.Attribute.Single(a => a.Name == "K").I);
        Assert.Equal(n, node.Attribute.Single(a => a.Name == "N").I);
        Assert.Equal(4, node.Attribute.Single(a => a.Name == "accuracy_level").I);
        byte[] Bytes(string name)
        {
            var t = model.Graph.Initializer.Single(i => i.Name == name);
            if (t.DataLocation != TensorProto.Types.DataLocation.External) return t.RawData.ToByteArray();
            var entries = t.ExternalData.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
            using var stream = File.OpenRead(Path.Combine(onnx, entries["location"]));
            stream.Position = long.Parse(entries["offset"], CultureInfo.InvariantCulture);
            var bytes = new byte[long.Parse(entries["length"], CultureInfo.InvariantCulture)];
            stream.ReadExactly(bytes);
            return bytes;
        }

        return (Bytes(node.Input[1]), MemoryMarshal.Cast<byte, float>(Bytes(node.Input[2])).ToArray());
    }
}
