using Gguf2Qnn.Reference;
using Xunit;
using Xunit.Abstractions;

namespace Gguf2Qnn.Tests.Reference;

[Collection(LlamaCppCollection.Name)]
[Trait("Category", "Reference")]
public sealed class LlamaCppQuantizerTests(StoriesModelFixture fixture, ITestOutputHelper output) : IDisposable
{
    private readonly string dir = TestPaths.NewTempDir("llamacpp-quant");

    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void Q8_0_OfStories260K_FailsOnFfnWidth172()
    {
        // ffn_down rows are 172 wide, not a multiple of Q8_0's 32-weight block, and llama.cpp defines no fallback
        // type for the plain 32-block types: llama_model_quantize refuses the whole file.
        var dst = Path.Combine(dir, "stories260K-Q8_0.gguf");

        var e = Assert.Throws<LlamaCppException>(() => LlamaCppQuantizer.Quantize(TestPaths.Stories260K, dst, "Q8_0", threads: 2));

        output.WriteLine(e.Message);
        Assert.Contains("no tensor type fallback", e.NativeLog);
        Assert.Contains("172", e.NativeLog);
        Assert.False(File.Exists(dst));
    }

    [Fact]
    public void Q4_K_M_OfStories260K_FallsBackPerTensor_AndLoads()
    {
        var dst = Path.Combine(dir, "stories260K-Q4_K_M.gguf");

        LlamaCppQuantizer.Quantize(TestPaths.Stories260K, dst, "q4_k_m", threads: 2);

        Assert.True(new FileInfo(dst).Length < new FileInfo(TestPaths.Stories260K).Length);
        using var quantized = LlamaCppModel.Load(dst, new LlamaCppOptions { Threads = 2 });
        var ids = fixture.Model.Tokenize("Once upon a time, there was a little dog.", true, false);
        var q = quantized.EvaluateLogits(ids);
        var f = fixture.Model.EvaluateLogits(ids);

        var agree = 0;
        var maxDiff = 0.0;
        for (var p = 0; p < ids.Length; p++)
        {
            Assert.All(q[p], v => Assert.True(float.IsFinite(v)));
            agree += ArgMax(q[p]) == ArgMax(f[p]) ? 1 : 0;
            maxDiff = Math.Max(maxDiff, q[p].Zip(f[p], (a, b) => Math.Abs(a - b)).Max());
        }

        output.WriteLine($"Q4_K_M vs F32: top-1 agreement {agree}/{ids.Length}, max |Δlogit| {maxDiff:g3}");
        Assert.True(maxDiff > 0, "the quantized file should not reproduce F32 exactly");
        Assert.True(agree * 2 >= ids.Length, $"top-1 agreement {agree}/{ids.Length}");
    }

    [Fact]
    public void UnknownType_IsRejectedWithTheKnownList()
    {
        var e = Assert.Throws<ArgumentException>(() => LlamaCppQuantizer.Quantize(TestPaths.Stories260K, Path.Combine(dir, "x.gguf"), "Q4_K"));
        Assert.Contains("Q4_K_M", e.Message);
        Assert.Contains("Q8_0", LlamaCppQuantizer.FileTypes);
        Assert.Contains("F16", LlamaCppQuantizer.FileTypes);
        Assert.Contains("IQ3_XS", LlamaCppQuantizer.FileTypes);
    }

    [Fact]
    public void F16_OfStories260K_Loads()
    {
        var dst = Path.Combine(dir, "stories260K-F16.gguf");

        LlamaCppQuantizer.Quantize(TestPaths.Stories260K, dst, "F16", threads: 2);

        using var model = LlamaCppModel.Load(dst, new LlamaCppOptions { Threads = 2 });
        var ids = fixture.Model.Tokenize("Once upon a time", true, false);
        Assert.Equal(fixture.Model.GenerateGreedy(ids, 1), model.GenerateGreedy(ids, 1));
    }

    private static int ArgMax(float[] values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }

        return best;
    }
}
