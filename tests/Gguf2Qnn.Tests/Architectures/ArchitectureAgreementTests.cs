using Gguf2Qnn.Architectures;
using Gguf2Qnn.Conversion;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Reference;
using Gguf2Qnn.Runtime;
using Gguf2Qnn.Tests.Reference;
using Gguf2Qnn.Tests.TestModels;
using Xunit;
using Xunit.Abstractions;

namespace Gguf2Qnn.Tests.Architectures;

/// <summary>
/// Each supported architecture against llama.cpp: a tiny model of it written by <see cref="ArchitectureModel"/>, converted,
/// and compared on the same ids over 300 positions (arg-max per position) and on 32 greedy tokens; in F32 (identical
/// required) and quantized by llama.cpp's own quantizer to Q4_K_M, Q4_0, Q8_0 and F16 (top-1 ≥ 99% required; llama.cpp
/// rounds activations for quantized and F16 weights, the converted model does not).
/// </summary>
[Collection(LlamaCppCollection.Name)]
[Trait("Category", "EndToEnd")]
public sealed class ArchitectureAgreementTests(ITestOutputHelper output)
{
    private const int Positions = 300;
    private const string Text = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. ";

    public static TheoryData<string> Models => new() { "qwen3", "qwen3-tied", "llama3", "mistral", "phi3", "phi3-partial-rotary", "qwen2", "llama", "granite", "gemma2", "gemma2-window", "gemma3" };

    internal static ArchitectureModelSpec Spec(string name) => name switch
    {
        // Qwen3: q/k norms, no biases, head size 64 from key_length with q width 512 ≠ hidden 256, rope base 1e6.
        "qwen3" => new() { Arch = "qwen3", Heads = 8, KvHeads = 2, HeadDim = 64, QkNorm = true, RopeBase = 1_000_000f },
        "qwen3-tied" => new() { Arch = "qwen3", Heads = 4, KvHeads = 2, HeadDim = 64, QkNorm = true, Tied = true, RopeBase = 1_000_000f, Seed = 9 },

        // Llama 3.x: rope_freqs.weight (1 for high frequencies rising to 8 for low ones), base 500000, GQA 4:1, tied (3.2 1B style).
        "llama3" => new() { Arch = "llama", Heads = 8, KvHeads = 2, HeadDim = 32, RopeBase = 500_000f, Tied = true, RopeFreqs = Llama3Factors(16), Seed = 4 },

        // Mistral 7B-style llama file: GQA 4:1, base 1e6, untied head.
        "mistral" => new() { Arch = "llama", Heads = 8, KvHeads = 2, HeadDim = 32, RopeBase = 1_000_000f, Seed = 5 },
        // Phi-3 mini style: fused attn_qkv and gate/up, MHA, SentencePiece vocabulary; Phi-4 mini style: GQA and rope over part of each head.
        "phi3" => new() { Arch = "phi3", Heads = 4, KvHeads = 4, HeadDim = 64, FusedQkv = true, FusedGateUp = true, Seed = 8, SpmVocabularyFrom = TestPaths.Stories260K },
        "phi3-partial-rotary" => new() { Arch = "phi3", Heads = 4, KvHeads = 2, HeadDim = 64, RopeDims = 32, FusedQkv = true, FusedGateUp = true, Seed = 10, SpmVocabularyFrom = TestPaths.Stories260K },
        "qwen2" => new() { Arch = "qwen2", QkvBias = true, RopeBase = 1_000_000f, Seed = 6 },
        "llama" => new() { Arch = "llama", Heads = 4, KvHeads = 4, Seed = 7 },

        // Granite 3.x style: embeddings ×12, block outputs ×0.22 before the residual add, Q·Kᵀ × 1/64 (not 1/√64), logits ÷ 8.
        "granite" => new()
        {
            Arch = "granite", Heads = 4, KvHeads = 2, HeadDim = 64, Seed = 11,
            ExtraFloats = new Dictionary<string, float>
            {
                ["granite.embedding_scale"] = 12f, ["granite.residual_scale"] = 0.22f,
                ["granite.attention.scale"] = 0.015625f, ["granite.logit_scale"] = 8f,
            },
        },

        // Gemma 2 style: sandwich norms, GELU MLP, tied head, head 64 from key_length (q width 512 ≠ hidden 256), soft-capping
        // 50 / 30. sliding_window 4096 exceeds the 300 positions compared, so the window of the even layers never cuts.
        "gemma2" => new()
        {
            Arch = "gemma2", Heads = 8, KvHeads = 4, HeadDim = 64, Tied = true, PostNorms = true, Seed = 12,
            ExtraFloats = new Dictionary<string, float> { ["gemma2.attn_logit_softcapping"] = 50f, ["gemma2.final_logit_softcapping"] = 30f },
            ExtraUInt32s = new Dictionary<string, uint> { ["gemma2.attention.sliding_window"] = 4096 },
        },

        // The same with a 64-position window: over 300 positions the even layers' window cuts (GroupQueryAttention local_window_size).
        "gemma2-window" => Spec("gemma2") with { Seed = 13, ExtraUInt32s = new Dictionary<string, uint> { ["gemma2.attention.sliding_window"] = 64 } },

        // Gemma 3 style: gemma2's layer with q/k norms and no soft-capping; 6 layers so that layers 0-4 use the 64-position
        // window with rope base 10000 and layer 5 attends globally with the file's base 1e6.
        "gemma3" => new()
        {
            Arch = "gemma3", Layers = 6, Heads = 8, KvHeads = 4, HeadDim = 64, Tied = true, PostNorms = true, QkNorm = true,
            RopeBase = 1_000_000f, Seed = 14, ExtraUInt32s = new Dictionary<string, uint> { ["gemma3.attention.sliding_window"] = 64 },
        },
        _ => throw new ArgumentException(name, nameof(name)),
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void F32ModelGivesLlamaCppsTop1AndGreedyTokens(string name)
    {
        string dir = TestPaths.NewTempDir("arch-" + name);
        try
        {
            string gguf = Path.Combine(dir, name + ".gguf");
            ArchitectureModel.Write(gguf, Spec(name));
            var (agree, total, maxDiff, sameGreedy) = Compare(gguf, Path.Combine(dir, "onnx"));
            output.WriteLine($"{name} F32: top-1 {agree}/{total}, max |logit diff| {maxDiff:E3}, greedy 32 identical: {sameGreedy}");
            Assert.Equal(total, agree);
            Assert.True(sameGreedy);
            Assert.True(maxDiff < 1e-2, $"max |logit diff| {maxDiff}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    public static TheoryData<string, string> QuantizedModels()
    {
        var data = new TheoryData<string, string>();
        foreach (string name in Models)
        {
            foreach (string fileType in new[] { "Q4_K_M", "Q4_0", "Q8_0", "F16" })
            {
                data.Add(name, fileType);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(QuantizedModels))]
    public void QuantizedModelAgreesWithLlamaCppOnTop1(string name, string fileType)
    {
        string dir = TestPaths.NewTempDir("arch-q-" + name);
        try
        {
            string f32 = Path.Combine(dir, name + ".gguf");
            string q = Path.Combine(dir, name + "-" + fileType + ".gguf");
            ArchitectureModel.Write(f32, Spec(name));
            LlamaCppQuantizer.Quantize(f32, q, fileType);
            using (var file = GgufFile.Open(q))
            {
                var expectedType = fileType == "Q4_K_M" ? GgmlType.Q4_K : Enum.Parse<GgmlType>(fileType);
                Assert.Equal(expectedType, (file.FindTensor(GgufTensorNames.AttnQ(0)) ?? file.GetTensor(GgufTensorNames.AttnQkv(0))).Type);
            }

            var (agree, total, maxDiff, sameGreedy) = Compare(q, Path.Combine(dir, "onnx"));
            output.WriteLine($"{name} {fileType}: top-1 {agree}/{total} = {(double)agree / total:P2}, max |logit diff| {maxDiff:E3}, greedy 32 identical: {sameGreedy}");
            Assert.True(agree >= 0.99 * total, $"top-1 {agree}/{total} under 99%");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // The explicit MatMul/Softmax attention (used when GroupQueryAttention cannot take the head size) builds gemma2's
    // soft-capping and the sliding-window mask itself; the 64-position window cuts over the 300 positions.
    [Fact]
    public void Gemma2ExplicitAttentionGivesLlamaCppsTop1AndGreedyTokens()
    {
        string dir = TestPaths.NewTempDir("arch-gemma2-explicit");
        try
        {
            string gguf = Path.Combine(dir, "gemma2.gguf");
            ArchitectureModel.Write(gguf, Spec("gemma2-window"));
            var (agree, total, maxDiff, sameGreedy) = Compare(gguf, Path.Combine(dir, "onnx"), explicitAttention: true);
            output.WriteLine($"gemma2-window explicit attention F32: top-1 {agree}/{total}, max |logit diff| {maxDiff:E3}, greedy 32 identical: {sameGreedy}");
            Assert.Equal(total, agree);
            Assert.True(sameGreedy);
            Assert.True(maxDiff < 1e-2, $"max |logit diff| {maxDiff}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void UnsupportedArchitectureIsAClearErrorListingTheSupportedOnes()
    {
        var e = Assert.Throws<NotSupportedException>(() => ArchitectureFamily.ForArchitecture("mamba"));
        Assert.Contains("'mamba'", e.Message, StringComparison.Ordinal);
        foreach (var family in ArchitectureFamily.Supported)
        {
            Assert.Contains(family.Name, e.Message, StringComparison.Ordinal);
        }

        Assert.Contains("qwen3", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Qwen3WithoutQkNormsIsRejected()
    {
        string dir = TestPaths.NewTempDir("arch-qwen3-bad");
        try
        {
            string gguf = Path.Combine(dir, "bad.gguf");
            ArchitectureModel.Write(gguf, Spec("qwen3") with { QkNorm = false });
            using var file = GgufFile.Open(gguf);
            var e = Assert.Throws<GgufFormatException>(() => ModelConfig.FromGguf(file));
            Assert.Contains("attn_q_norm", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // Llama 3.1's factor shape: 1 for the highest-frequency pairs, 8 for the lowest, a smooth ramp between.
    private static float[] Llama3Factors(int pairs) =>
        Enumerable.Range(0, pairs).Select(i => i < pairs / 4 ? 1f : i >= 3 * pairs / 4 ? 8f : 1f + (7f * (i - (pairs / 4)) / (pairs / 2))).ToArray();

    private static (int Agree, int Total, double MaxDiff, bool SameGreedy) Compare(string gguf, string onnx, bool explicitAttention = false)
    {
        OnnxConverter.Convert(new ConvertOptions { GgufPath = gguf, OutputDirectory = onnx, ForceExplicitAttention = explicitAttention });
        using var reference = LlamaCppModel.Load(gguf, new LlamaCppOptions { F32KvCache = true, ContextSize = 1024 });
        var ids = reference.Tokenize(string.Concat(Enumerable.Repeat(Text, 16)), addSpecial: true, parseSpecial: false).Take(Positions).ToArray();
        Assert.Equal(Positions, ids.Length);
        var expected = reference.EvaluateLogits(ids);
        using var lm = OnnxCausalLm.Open(onnx);
        var actual = lm.EvaluateLogits(ids);
        int agree = 0;
        double maxDiff = 0;
        for (int i = 0; i < ids.Length; i++)
        {
            agree += Sampler.ArgMax(expected[i]) == Sampler.ArgMax(actual[i]) ? 1 : 0;
            for (int v = 0; v < expected[i].Length; v++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(expected[i][v] - actual[i][v]));
            }
        }

        var prompt = ids.Take(20).ToArray();
        var expectedTokens = reference.GenerateGreedy(prompt, 32, stopAtEndOfGeneration: false);
        var tokens = lm.Generate(prompt, new GenerationOptions { MaxNewTokens = 32, Greedy = true }).ToArray();
        return (agree, ids.Length, maxDiff, expectedTokens.SequenceEqual(tokens));
    }
}
