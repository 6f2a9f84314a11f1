using Gguf2Qnn.Cli;
using Gguf2Qnn.Evaluation;
using Gguf2Qnn.Gguf;
using Xunit;

namespace Gguf2Qnn.Tests.Cli;

/// <summary>make-workload --llamacpp-q4_0: llama.cpp's own re-quantization decides the types, so the file has the
/// mix of the Q4_0 files llama-quantize writes (output.weight Q6_K, the rest Q4_0), and no temporary file is left.</summary>
[Trait("Category", "Cli")]
public sealed class MakeWorkloadTests
{
    // Q6_K needs rows that are whole 256-value super-blocks: hidden 256.
    private static readonly Qwen2WorkloadSpec Small = new() { BlockCount = 1, HiddenSize = 256, HeadCount = 4, HeadCountKv = 2, FeedForwardLength = 512, VocabSize = 1024, ContextLength = 256, Seed = 9 };

    [Fact]
    public void LlamaCppQ4_0KeepsTheOutputInQ6_KLikeLlamaQuantize()
    {
        var dir = TestPaths.NewTempDir("workload-llamacpp");
        var path = Path.Combine(dir, "wq.gguf");
        long size = MakeWorkloadCommand.Write(path, Small, llamaCppQ4_0: true);
        Assert.Equal(new FileInfo(path).Length, size);
        Assert.Equal(["wq.gguf"], Directory.GetFiles(dir).Select(Path.GetFileName));
        using var gguf = GgufFile.Open(path);
        Assert.Equal(GgmlType.Q6_K, gguf.GetTensor(GgufTensorNames.Output).Type);
        Assert.Equal(GgmlType.Q4_0, gguf.GetTensor(GgufTensorNames.TokenEmbedding).Type);
        Assert.All(gguf.Tensors.Where(t => t.Name.StartsWith("blk.", StringComparison.Ordinal) && t.Dimensions.Length == 2),
            t => Assert.Equal(GgmlType.Q4_0, t.Type));
    }
}
