using Gguf2Qnn.Demo;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Reference;
using Xunit;
using Xunit.Abstractions;

namespace Gguf2Qnn.Tests.Reference;

/// <summary>
/// llama.cpp-quantized files read back with the project's GGUF reader: which type llama.cpp chose per tensor, and
/// that the core's dequantizers agree bit for bit with ggml's own to_float on llama.cpp's bytes.
/// </summary>
[Collection(LlamaCppCollection.Name)]
[Trait("Category", "Reference")]
public sealed class LlamaCppQuantizedFilesTests(ITestOutputHelper output) : IDisposable
{
    private readonly string dir = TestPaths.NewTempDir("llamacpp-qfiles");

    public void Dispose() => Directory.Delete(dir, true);

    [Theory]
    [InlineData("Q8_0", GgmlType.Q8_0)]
    [InlineData("Q4_0", GgmlType.Q4_0)]
    public void SyntheticQwen2_QuantizesLoadsAndDequantizesLikeGgml(string fileType, GgmlType weightType)
    {
        var src = Path.Combine(dir, "qwen2-f32.gguf");
        SyntheticModel.Write(src, new SyntheticModelSpec()); // dims 64/128: multiples of 32, so no fallback is needed
        var dst = Path.Combine(dir, $"qwen2-{fileType}.gguf");

        LlamaCppQuantizer.Quantize(src, dst, fileType, threads: 2);

        using (var file = GgufFile.Open(dst))
        {
            foreach (var t in file.Tensors)
            {
                output.WriteLine($"{t.Name,-28} {t.Type,-5} [{string.Join(", ", t.Dimensions)}]");
            }

            Assert.Equal(weightType, file.GetTensor(GgufTensorNames.AttnQ(0)).Type);
            Assert.Equal(weightType, file.GetTensor(GgufTensorNames.FfnDown(1)).Type);
            Assert.Equal(GgmlType.F32, file.GetTensor(GgufTensorNames.AttnNorm(0)).Type);

            foreach (var t in file.Tensors.Where(t => Dequantizer.IsSupported(t.Type)))
            {
                var bytes = file.GetTensorBytes(t);
                var ours = new float[t.ElementCount];
                var ggml = new float[t.ElementCount];
                Dequantizer.Dequantize(t.Type, bytes, ours);
                GgmlNative.DequantizeRow((int)t.Type, bytes, ggml);
                Assert.True(ours.AsSpan().SequenceEqual(ggml), $"{t.Name} ({t.Type}) differs from ggml's to_float");
            }
        }

        using var model = LlamaCppModel.Load(dst, new LlamaCppOptions { Threads = 2 });
        var ids = model.Tokenize(" once upon a time there was a little girl", addSpecial: false, parseSpecial: false);
        Assert.All(model.EvaluateLogits(ids), row => Assert.All(row, v => Assert.True(float.IsFinite(v))));
    }

    [Fact]
    public void Stories260K_Q4_K_M_FallsBackPerTensor()
    {
        var dst = Path.Combine(dir, "stories260K-Q4_K_M.gguf");

        LlamaCppQuantizer.Quantize(TestPaths.Stories260K, dst, "Q4_K_M", threads: 2);

        using var file = GgufFile.Open(dst);
        var counts = file.Tensors.GroupBy(t => t.Type).OrderBy(g => g.Key).Select(g => $"{g.Key}×{g.Count()}");
        output.WriteLine(string.Join(", ", counts));

        // 64-wide rows cannot hold a 256-weight super-block: llama.cpp falls back to Q5_0 (Q8_0 where it wanted Q6_K);
        // the 172-wide ffn_down rows fit no block size and become F16.
        Assert.Equal(GgmlType.F16, file.GetTensor(GgufTensorNames.FfnDown(0)).Type);
        Assert.Equal(GgmlType.Q5_0, file.GetTensor(GgufTensorNames.AttnQ(0)).Type);
        Assert.Equal(GgmlType.F32, file.GetTensor(GgufTensorNames.FfnNorm(0)).Type);
        Assert.DoesNotContain(file.Tensors, t => t.Type is GgmlType.Q4_K or GgmlType.Q6_K);
    }
}
