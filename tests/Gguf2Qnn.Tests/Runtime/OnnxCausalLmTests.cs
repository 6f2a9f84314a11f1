using Gguf2Qnn.Conversion;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Runtime;
using Gguf2Qnn.Tests.TestModels;
using Xunit;

namespace Gguf2Qnn.Tests.Runtime;

/// <summary>stories260K converted once for the class.</summary>
public sealed class Stories260KArtifacts : IDisposable
{
    public Stories260KArtifacts()
    {
        Directory = Path.Combine(TestPaths.NewTempDir("stories"), "onnx");
        OnnxConverter.Convert(new ConvertOptions { GgufPath = TestPaths.Stories260K, OutputDirectory = Directory });
        Model = OnnxCausalLm.Open(Directory, new RuntimeOptions { IntraOpThreads = 1 });
    }

    public string Directory { get; }

    public OnnxCausalLm Model { get; }

    public void Dispose() => Model.Dispose();
}

[Trait("Category", "Runtime")]
public class OnnxCausalLmTests(Stories260KArtifacts artifacts) : IClassFixture<Stories260KArtifacts>
{
    // "Once upon a time, there was a little girl named Lily. She loved to play outside in the park." tokenized by
    // llama.cpp (LLamaSharp 0.30.0) with BOS.
    private static readonly int[] Prompt =
        [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426];

    // llama.cpp's greedy continuation of Prompt (LLamaSharp 0.30.0, F32 KV cache, flash attention off), 40 tokens.
    private static readonly int[] LlamaCppGreedy =
        [385, 328, 432, 358, 394, 261, 370, 432, 352, 266, 268, 388, 426, 338, 391, 266, 267, 337, 335, 312,
         432, 398, 312, 286, 267, 414, 270, 333, 415, 426, 13, 438, 310, 439, 419, 357, 336, 432, 313, 438];

    private OnnxCausalLm Model => artifacts.Model;

    [Fact]
    public void ShapesComeFromTheGraph()
    {
        Assert.Equal(5, Model.LayerCount);
        Assert.Equal(4, Model.KvHeadCount);
        Assert.Equal(8, Model.HeadSize);
        Assert.Equal(512, Model.VocabSize);
        Assert.Equal(2048, Model.ContextLength);
    }

    [Fact]
    public void PrefillGivesFiniteLogitsForEveryPosition()
    {
        var logits = Model.EvaluateLogits(Prompt);
        Assert.Equal(Prompt.Length, logits.Length);
        Assert.All(logits, row =>
        {
            Assert.Equal(512, row.Length);
            Assert.All(row, v => Assert.True(float.IsFinite(v)));
        });
    }

    [Fact]
    public void DecodeStepsThroughTheCacheMatchASinglePrefill()
    {
        var single = Model.EvaluateLogits(Prompt);
        var stepwise = Model.EvaluateLogits(Prompt, 5);
        for (int i = 0; i < Prompt.Length; i++)
        {
            for (int v = 0; v < single[i].Length; v++)
            {
                Assert.Equal(single[i][v], stepwise[i][v], 1e-4f);
            }
        }
    }

    [Fact]
    public void ASequenceThatOutgrowsItsSharedKvBuffersKeepsItsCache()
    {
        Assert.True(Model.SharesKvBuffers); // stories260K: head size 8, GroupQueryAttention
        int[] tokens = Enumerable.Range(0, 300).Select(i => Prompt[i % Prompt.Length]).ToArray();
        var single = Model.EvaluateLogits(tokens);
        using var sequence = Model.StartSequence(); // 256 positions at first, then grown once
        sequence.Append(tokens[..250]);
        foreach (int t in tokens[250..])
        {
            sequence.Append([t], lastLogitsOnly: true);
        }

        Assert.Equal(300, sequence.Length);
        var last = sequence.LastLogits.ToArray();
        for (int v = 0; v < last.Length; v++)
        {
            Assert.Equal(single[^1][v], last[v], 1e-4f);
        }
    }

    [Fact]
    public void GreedyGenerationMatchesLlamaCpp()
    {
        var first = Model.Generate(Prompt, new GenerationOptions { Greedy = true, MaxNewTokens = 40 }).ToArray();
        var second = Model.Generate(Prompt, new GenerationOptions { Greedy = true, MaxNewTokens = 40 }).ToArray();
        Assert.Equal(LlamaCppGreedy, first);
        Assert.Equal(first, second);
    }

    [Fact]
    public void SeededSamplingIsReproducibleAndStopsWhereAsked()
    {
        var options = new GenerationOptions { Temperature = 0.9f, TopK = 40, TopP = 0.95f, Seed = 7, MaxNewTokens = 12 };
        var a = Model.Generate(Prompt, options).ToArray();
        var b = Model.Generate(Prompt, options).ToArray();
        Assert.Equal(12, a.Length);
        Assert.Equal(a, b);

        var stopped = Model.Generate(Prompt, options with { StopTokens = [a[3]] }).ToArray();
        Assert.Equal(a[..3], stopped[..Math.Min(3, stopped.Length)]);
        Assert.DoesNotContain(a[3], stopped);
        Assert.Empty(Model.Generate(Prompt, options with { MaxNewTokens = 0 }));
    }

    [Fact]
    public void TokensBeyondTheContextOrVocabularyAreRejected()
    {
        string dir = Path.Combine(TestPaths.NewTempDir("short"), "onnx");
        OnnxConverter.Convert(new ConvertOptions { GgufPath = TestPaths.Stories260K, OutputDirectory = dir, ContextLength = 8 });
        using var model = OnnxCausalLm.Open(dir);
        Assert.Equal(8, model.ContextLength);
        Assert.Throws<ArgumentException>(() => model.EvaluateLogits(Prompt[..9]));
        Assert.Equal(8, model.EvaluateLogits(Prompt[..8]).Length);
        Assert.Equal(4, model.Generate(Prompt[..5], new GenerationOptions { Greedy = true, MaxNewTokens = 10 }).Count());
        Assert.Throws<ArgumentException>(() => Model.EvaluateLogits([1, 512]));
    }
}

[Trait("Category", "Runtime")]
public class AttentionPathTests
{
    [Fact]
    public void ExplicitAttentionMatchesGroupQueryAttention()
    {
        // stories260K (head size 8): GroupQueryAttention with RotaryEmbedding in front, versus the explicit subgraph.
        string dir = TestPaths.NewTempDir("attention");
        OnnxConverter.Convert(new ConvertOptions { GgufPath = TestPaths.Stories260K, OutputDirectory = Path.Combine(dir, "gqa") });
        OnnxConverter.Convert(new ConvertOptions { GgufPath = TestPaths.Stories260K, OutputDirectory = Path.Combine(dir, "explicit"), ForceExplicitAttention = true });
        int[] tokens = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426];
        using var gqa = OnnxCausalLm.Open(Path.Combine(dir, "gqa"));
        using var explicitModel = OnnxCausalLm.Open(Path.Combine(dir, "explicit"));
        var a = gqa.EvaluateLogits(tokens);
        var b = explicitModel.EvaluateLogits(tokens, 4);
        for (int i = 0; i < tokens.Length; i++)
        {
            for (int v = 0; v < a[i].Length; v++)
            {
                Assert.Equal(a[i][v], b[i][v], 1e-4f);
            }
        }
    }

    [Fact]
    public void HeadSizeFourFallsBackToExplicitAttention()
    {
        // llama-2-tiny-random: 2 heads of 4 (below GroupQueryAttention's multiple of 8), F16 weights, 32000 vocab.
        string dir = Path.Combine(TestPaths.NewTempDir("tiny-random"), "onnx");
        OnnxConverter.Convert(new ConvertOptions { GgufPath = TestPaths.LlamaTinyRandom, OutputDirectory = dir });
        using var model = OnnxCausalLm.Open(dir);
        Assert.Equal(32000, model.VocabSize);
        Assert.Equal(4, model.HeadSize);
        var logits = model.EvaluateLogits([1, 450, 4996, 17354, 1701]);
        Assert.All(logits, row => Assert.All(row, v => Assert.True(float.IsFinite(v))));
        var options = new GenerationOptions { Greedy = true, MaxNewTokens = 6 };
        Assert.Equal(model.Generate([1, 450], options).ToArray(), model.Generate([1, 450], options).ToArray());
    }

    [Fact]
    public void LlamaWithHeadSize16UsesGroupQueryAttentionRotary()
    {
        string dir = TestPaths.NewTempDir("tiny-llama");
        string gguf = Path.Combine(dir, "llama.gguf");
        TinyDecoder.Write(gguf, arch: "llama");
        var result = OnnxConverter.Convert(new ConvertOptions { GgufPath = gguf, OutputDirectory = Path.Combine(dir, "onnx") });
        Assert.False(result.Config.TiedEmbeddings);
        Assert.Contains(result.Tensors, t => t.Name == GgufTensorNames.Output);
        var graph = Gguf2Qnn.Onnx.Proto.ModelProto.Parser.ParseFrom(File.ReadAllBytes(result.ModelPath)).Graph;
        Assert.DoesNotContain(graph.Node, n => n.OpType == "RotaryEmbedding");
        var gqa = graph.Node.Where(n => n.OpType == "GroupQueryAttention").ToList();
        Assert.Equal(TinyDecoder.Layers, gqa.Count);
        Assert.All(gqa, n => Assert.Equal(1, n.Attribute.Single(a => a.Name == "rotary_interleaved").I));
        using var model = OnnxCausalLm.Open(Path.Combine(dir, "onnx"));
        int[] tokens = Enumerable.Range(0, 20).Select(i => ((i * 53) + 7) % TinyDecoder.VocabSize).ToArray();
        var single = model.EvaluateLogits(tokens);
        var stepwise = model.EvaluateLogits(tokens, 2);
        for (int i = 0; i < tokens.Length; i++)
        {
            for (int v = 0; v < single[i].Length; v++)
            {
                Assert.Equal(single[i][v], stepwise[i][v], 1e-4f);
            }
        }
    }
}

[Trait("Category", "Runtime")]
public class Qwen2RuntimeTests
{
    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q8_0)]
    public void QuantizedWeightsRunAsMatMulNBitsAndMatchTheirFloatTwin(GgmlType type)
    {
        string dir = TestPaths.NewTempDir("qwen2");
        string quantized = Path.Combine(dir, "q.gguf");
        string twin = Path.Combine(dir, "twin.gguf");
        TinyDecoder.Write(quantized, type);
        TinyDecoder.Write(twin, type, asF32Twin: true);

        // accuracy_level 0 (float activations): the re-packed weights must give the float twin's logits.
        var q = OnnxConverter.Convert(new ConvertOptions { GgufPath = quantized, OutputDirectory = Path.Combine(dir, "q"), AccuracyLevel = 0 });
        OnnxConverter.Convert(new ConvertOptions { GgufPath = twin, OutputDirectory = Path.Combine(dir, "twin") });
        Assert.Equal(15, q.Tensors.Count(t => t.OnnxOp == "MatMulNBits")); // 7 per layer + the tied lm head
        Assert.All(q.Tensors, t => Assert.True(t.Exact));
        Assert.Equal(GgufTensorNames.TokenEmbedding, Assert.Single(q.Tensors, t => t.OnnxOp == "GatherBlockQuantized").Name);

        // Q4_0 q/k/v and gate/up become one MatMulNBits each (rows concatenated along N, then Split); Q8_0 stays separate.
        var qGraph = Gguf2Qnn.Onnx.Proto.ModelProto.Parser.ParseFrom(File.ReadAllBytes(q.ModelPath)).Graph;
        var fused = qGraph.Node.Where(n => n.OpType == "MatMulNBits" && (n.Name.EndsWith("/qkv_proj", StringComparison.Ordinal) || n.Name.EndsWith("/gate_up_proj", StringComparison.Ordinal))).ToList();
        Assert.Equal(type == GgmlType.Q4_0 ? 2 * TinyDecoder.Layers : 0, fused.Count);
        Assert.Equal(type == GgmlType.Q4_0 ? (4 * TinyDecoder.Layers) + 1 : 15, qGraph.Node.Count(n => n.OpType == "MatMulNBits"));

        int[] tokens = Enumerable.Range(0, 40).Select(i => ((i * 37) + 11) % TinyDecoder.VocabSize).ToArray();
        using var a = OnnxCausalLm.Open(Path.Combine(dir, "q"));
        using var b = OnnxCausalLm.Open(Path.Combine(dir, "twin"));
        var la = a.EvaluateLogits(tokens);
        var lb = b.EvaluateLogits(tokens);
        for (int i = 0; i < tokens.Length; i++)
        {
            for (int v = 0; v < la[i].Length; v++)
            {
                Assert.Equal(lb[i][v], la[i][v], 1e-4f);
            }
        }

        // The default accuracy_level 4 quantizes activations to int8 per block of 32 (as llama.cpp does for these
        // types): close to the float result, not equal to it (measured 0.27 at most here; llama.cpp's own int8
        // activations move these test models' logits by up to 0.25, see ConvertedModelsFixture); the random head has
        // near-ties, so a few arg-max flips are expected (measured: Q4_0 40/40, Q8_0 38/40).
        OnnxConverter.Convert(new ConvertOptions { GgufPath = quantized, OutputDirectory = Path.Combine(dir, "int8") });
        using (var int8 = OnnxCausalLm.Open(Path.Combine(dir, "int8")))
        {
            var li = int8.EvaluateLogits(tokens);
            double maxDiff = li.Zip(lb, (p, r) => p.Zip(r, (u, w) => Math.Abs(u - w)).Max()).Max();
            Assert.InRange(maxDiff, 1e-7, 0.5);
            int same = li.Zip(lb).Count(pair => Sampler.ArgMax(pair.First) == Sampler.ArgMax(pair.Second));
            Assert.True(same >= tokens.Length * 9 / 10, $"top-1 agrees at {same} of {tokens.Length} positions, max |Δ| {maxDiff}");
        }

        // llama.cpp-style activation rounding: one Q8_0 rounding per distinct projection input, logits stay close.
        var emulated = OnnxConverter.Convert(new ConvertOptions { GgufPath = quantized, OutputDirectory = Path.Combine(dir, "emulated"), EmulateLlamaCppActivations = true, AccuracyLevel = 0 });
        var graph = Gguf2Qnn.Onnx.Proto.ModelProto.Parser.ParseFrom(File.ReadAllBytes(emulated.ModelPath)).Graph;
        Assert.Equal((4 * TinyDecoder.Layers) + 1, graph.Node.Count(n => n.OpType == "Round")); // q/k/v, o, gate/up, down per layer + lm head
        using var e = OnnxCausalLm.Open(Path.Combine(dir, "emulated"));
        var le = e.EvaluateLogits(tokens);
        Assert.All(le, row => Assert.All(row, x => Assert.True(float.IsFinite(x))));
        Assert.InRange(le.Zip(la, (p, r) => p.Zip(r, (u, w) => Math.Abs(u - w)).Max()).Max(), 1e-7, 1.0);

        // A generation prefill asks for the last position's logits only (num_logits_to_keep = 1): same row.
        Assert.True(a.HasLastLogitsInput);
        using (var sequence = a.StartSequence())
        {
            var last = sequence.Append(tokens, lastLogitsOnly: true);
            Assert.Equal(la[0].Length, last.Length);
            for (int v = 0; v < last.Length; v++)
            {
                Assert.Equal(la[^1][v], last[v], 1e-5f);
            }

            Assert.Equal(last.ToArray(), sequence.LastLogits.ToArray());
            Assert.Equal(la[0].Length, sequence.Append([tokens[0]], lastLogitsOnly: true).Length);
        }

        var stepwise = a.EvaluateLogits(tokens, 3);
        Assert.Equal(Sampler.ArgMax(la[^1]), Sampler.ArgMax(stepwise[^1]));
        Assert.Equal(5, a.Generate(tokens, new GenerationOptions { Greedy = true, MaxNewTokens = 5 }).Count());
    }
}
