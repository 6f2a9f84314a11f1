using Gguf2Qnn.Architectures;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Tests.TestModels;
using Xunit;

namespace Gguf2Qnn.Tests.Architectures;

[Trait("Category", "Architectures")]
public class ModelConfigTests
{
    [Fact]
    public void Stories260KIsASmallGqaLlama()
    {
        // Expected values: shared/models/SOURCES.md and llama.cpp's metadata dump of the same file
        // (llama.attention.layer_norm_rms_epsilon f32 = 0.000010, no rope.freq_base key → 10000).
        using var gguf = GgufFile.Open(TestPaths.Stories260K);
        var c = ModelConfig.FromGguf(gguf);

        Assert.Equal("llama", c.Architecture);
        Assert.Equal(5, c.BlockCount);
        Assert.Equal(64, c.EmbeddingLength);
        Assert.Equal(172, c.FeedForwardLength);
        Assert.Equal(8, c.HeadCount);
        Assert.Equal(4, c.HeadCountKv);
        Assert.Equal(8, c.HeadDim);
        Assert.Equal(2, c.GroupSize);
        Assert.Equal(2048, c.ContextLength);
        Assert.Equal(1e-5f, c.RmsEpsilon);
        Assert.Equal(10000f, c.RopeFreqBase);
        Assert.Equal(8, c.RopeDimensionCount);
        Assert.Equal(1f, c.RopeFreqScale);
        Assert.Null(c.RopeFrequencyFactors);
        Assert.Equal(RopeStyle.Normal, c.RopeStyle);
        Assert.False(c.HasQkvBias);
        Assert.False(c.TiedEmbeddings);
        Assert.Equal(512, c.VocabSize);
    }

    [Fact]
    public void Qwen2UsesNeoxRopeBiasesAndTiedEmbeddings()
    {
        string path = Path.Combine(TestPaths.NewTempDir("config"), "qwen2.gguf");
        TinyDecoder.Write(path);
        using var gguf = GgufFile.Open(path);
        var c = ModelConfig.FromGguf(gguf);

        Assert.Equal("qwen2", c.Architecture);
        Assert.Equal(TinyDecoder.Layers, c.BlockCount);
        Assert.Equal(TinyDecoder.Heads, c.HeadCount);
        Assert.Equal(TinyDecoder.KvHeads, c.HeadCountKv);
        Assert.Equal(TinyDecoder.HeadDim, c.HeadDim);
        Assert.Equal(TinyDecoder.Qwen2RopeBase, c.RopeFreqBase);
        Assert.Equal(TinyDecoder.Epsilon, c.RmsEpsilon);
        Assert.Equal(RopeStyle.Neox, c.RopeStyle);
        Assert.True(c.HasQkvBias);
        Assert.True(c.TiedEmbeddings);
        Assert.Equal(TinyDecoder.VocabSize, c.VocabSize);
    }

    [Fact]
    public void UnsupportedArchitectureListsTheSupportedOnes()
    {
        string path = Path.Combine(TestPaths.NewTempDir("config"), "mamba.gguf");
        var w = new GgufWriter();
        w.AddString(GgufKeys.Architecture, "mamba");
        w.AddTensorF32(GgufTensorNames.TokenEmbedding, [4, 2], new float[8]);
        w.WriteTo(path);
        using var gguf = GgufFile.Open(path);

        var e = Assert.Throws<NotSupportedException>(() => ModelConfig.FromGguf(gguf));
        Assert.Contains("mamba", e.Message, StringComparison.Ordinal);
        Assert.Contains("llama", e.Message, StringComparison.Ordinal);
        Assert.Contains("qwen2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingRequiredKeyIsAFormatError()
    {
        string path = Path.Combine(TestPaths.NewTempDir("config"), "nokeys.gguf");
        var w = new GgufWriter();
        w.AddString(GgufKeys.Architecture, "llama");
        w.AddTensorF32(GgufTensorNames.TokenEmbedding, [4, 2], new float[8]);
        w.WriteTo(path);
        using var gguf = GgufFile.Open(path);

        Assert.Throws<GgufFormatException>(() => ModelConfig.FromGguf(gguf));
    }
}
