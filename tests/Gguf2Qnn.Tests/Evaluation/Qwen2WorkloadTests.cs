using Gguf2Qnn.Evaluation;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Reference;
using Xunit;

namespace Gguf2Qnn.Tests.Evaluation;

/// <summary>The streamed workload writer, on a small shape: the file is a valid GGUF that llama.cpp loads and runs.</summary>
[Trait("Category", "Evaluation")]
public sealed class Qwen2WorkloadTests
{
    private static readonly Qwen2WorkloadSpec Small = new() { BlockCount = 2, HiddenSize = 128, HeadCount = 4, HeadCountKv = 2, FeedForwardLength = 256, VocabSize = 1024, ContextLength = 256, Seed = 5 };

    [Fact]
    public void SmallWorkloadHasTheQwen2TensorsAndLoadsInLlamaCpp()
    {
        var path = Path.Combine(TestPaths.NewTempDir("workload"), "small.gguf");
        long size = Qwen2Workload.Write(path, Small);
        Assert.Equal(new FileInfo(path).Length, size);
        using (var gguf = GgufFile.Open(path))
        {
            Assert.Equal(3 + (12 * Small.BlockCount), gguf.Tensors.Count);
            Assert.Equal(GgmlType.Q4_0, gguf.GetTensor(GgufTensorNames.Output).Type);
            Assert.Equal([128L, 1024L], gguf.GetTensor(GgufTensorNames.TokenEmbedding).Dimensions);
            Assert.Equal([128L, 64L], gguf.GetTensor(GgufTensorNames.AttnK(1)).Dimensions);
            Assert.Equal(1024, gguf.GetStringArray(GgufKeys.Tokens).Length);

            // Q4_0 nibbles are drawn from 1..15: the dequantized values are symmetric and never reach -8·d.
            var q = gguf.DequantizeTensor(gguf.GetTensor(GgufTensorNames.AttnQ(0)));
            float d = (float)(Half)(1 / (4.32f * MathF.Sqrt(128)));
            Assert.All(q, v => Assert.InRange(v, -7 * d, 7 * d));
            Assert.InRange(q.Average(), -0.15 * d, 0.15 * d); // 16384 values of standard deviation ≈ 4.2·d: 4.5 sigma
        }

        using var model = LlamaCppModel.Load(path, new LlamaCppOptions { ContextSize = 256 });
        Assert.Equal(1024, model.VocabSize);
        var logits = model.EvaluateLogits([1, 2, 3]);
        Assert.All(logits, row => Assert.All(row, v => Assert.True(float.IsFinite(v))));
    }

    [Fact]
    public void DimensionsThatAreNotQ4BlocksAreRejected()
    {
        Assert.Throws<ArgumentException>(() => Qwen2Workload.Write(Path.Combine(TestPaths.NewTempDir("workload"), "bad.gguf"), Small with { HiddenSize = 100 }));
    }
}
