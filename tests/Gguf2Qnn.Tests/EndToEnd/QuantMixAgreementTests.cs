using System.Text.Json;
using Gguf2Qnn.Conversion;
using Gguf2Qnn.Demo;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Reference;
using Gguf2Qnn.Runtime;
using Gguf2Qnn.Tests.Reference;
using Xunit;
using Xunit.Abstractions;

namespace Gguf2Qnn.Tests.EndToEnd;

/// <summary>
/// llama.cpp-quantized files of the common mixes (Q4_K_M: Q4_K with Q6_K for some attn_v/ffn_down and the head; Q2_K…
/// Q6_K, Q4_1, Q5_0, Q5_1), made by llama.cpp's own quantizer from a synthetic qwen2 whose dimensions are multiples of
/// 256, converted with the default weights (4-bit MatMulNBits for the 4-bit types, float32 for the 8-bit ones; with
/// accuracy_level 4 MatMulNBits for all) and compared with llama.cpp on the same file over 300 positions. llama.cpp quantizes activations (Q8_K for K-quants, Q8_0/Q8_1 for the legacy types), the
/// converted model does not, so agreement is measured, not exact.
/// </summary>
[Collection(LlamaCppCollection.Name)]
[Trait("Category", "EndToEnd")]
public sealed class QuantMixAgreementTests(ITestOutputHelper output)
{
    private const int Positions = 300;
    private const string Text = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. ";

    [Theory]
    [InlineData("Q4_0", GgmlType.Q4_0, 0)]
    [InlineData("Q4_K_M", GgmlType.Q4_K, 0)]
    [InlineData("Q4_K_M", GgmlType.Q4_K, 4)]
    [InlineData("Q2_K", GgmlType.Q2_K, 0)]
    [InlineData("Q3_K_M", GgmlType.Q3_K, 0)]
    [InlineData("Q5_K_M", GgmlType.Q5_K, 0)]
    [InlineData("Q5_K_M", GgmlType.Q5_K, 4)]
    [InlineData("Q6_K", GgmlType.Q6_K, 0)]
    [InlineData("Q6_K", GgmlType.Q6_K, 4)]
    [InlineData("Q4_1", GgmlType.Q4_1, 0)]
    [InlineData("Q5_0", GgmlType.Q5_0, 0)]
    [InlineData("Q5_0", GgmlType.Q5_0, 4)]
    [InlineData("Q5_1", GgmlType.Q5_1, 0)]
    [InlineData("Q5_1", GgmlType.Q5_1, 4)]
    public void QuantizedFileAgreesWithLlamaCppOnTop1(string fileType, GgmlType attnQType, int accuracyLevel)
    {
        string dir = TestPaths.NewTempDir("quant-mix");
        try
        {
            string f32 = Path.Combine(dir, "f32.gguf");
            string quantized = Path.Combine(dir, fileType + ".gguf");
            SyntheticModel.Write(f32, new SyntheticModelSpec
            {
                BlockCount = 2, HiddenSize = 256, HeadCount = 4, HeadCountKv = 2, FeedForwardLength = 512, Seed = 5, PlantedNextTokenWeight = 0.2f,
            });
            LlamaCppQuantizer.Quantize(f32, quantized, fileType);
            using (var file = GgufFile.Open(quantized))
            {
                Assert.Equal(attnQType, file.GetTensor(GgufTensorNames.AttnQ(0)).Type);
                var types = file.Tensors.Select(t => t.Type).ToHashSet();
                if (fileType == "Q4_0")
                {
                    // The real-file shape of issue 7: llama.cpp's Q4_0 mix keeps token_embd Q4_0 and makes output.weight Q6_K.
                    Assert.Equal(GgmlType.Q4_0, file.GetTensor(GgufTensorNames.TokenEmbedding).Type);
                    Assert.Equal(GgmlType.Q6_K, file.GetTensor(GgufTensorNames.Output).Type);
                }
                else if (fileType == "Q4_K_M")
                {
                    // Q4_K_M is a per-layer mix: Q4_K with Q6_K (some attn_v / ffn_down and the head).
                    Assert.Contains(GgmlType.Q4_K, types);
                    Assert.Contains(GgmlType.Q6_K, types);
                }
            }

            string onnx = Path.Combine(dir, "onnx");
            var result = OnnxConverter.Convert(new ConvertOptions { GgufPath = quantized, OutputDirectory = onnx, AccuracyLevel = accuracyLevel });
            foreach (var m in result.Tensors.Where(t => t.Shape.Length == 2 && t.Name != GgufTensorNames.TokenEmbedding))
            {
                output.WriteLine($"{m.Name} {m.GgmlType}: {m.OnnxOp} {m.Encoding}, max |error| {m.MaxAbsError:E2}");
                bool eightBit = m.GgmlType is "Q5_0" or "Q5_1" or "Q5_K" or "Q6_K";
                if (m.GgmlType is not ("F32" or "F16"))
                {
                    Assert.Equal(eightBit && accuracyLevel != 4 ? "MatMul" : "MatMulNBits", m.OnnxOp);
                }
            }

            using (var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(onnx, OnnxConverter.ManifestFileName))))
            {
                var q = manifest.RootElement.GetProperty("tensors").EnumerateArray().First(t => t.GetProperty("name").GetString() == GgufTensorNames.AttnQ(0));
                Assert.True(q.GetProperty("max_abs_error").GetDouble() < 1e-6);
            }

            using var reference = LlamaCppModel.Load(quantized, new LlamaCppOptions { F32KvCache = true });
            var ids = reference.Tokenize(string.Concat(Enumerable.Repeat(Text, 8)), addSpecial: true, parseSpecial: false).Take(Positions).ToArray();
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

            output.WriteLine($"{fileType} accuracy_level {accuracyLevel}: top-1 agreement {agree}/{ids.Length} = {(double)agree / ids.Length:P2}, max |logit diff| {maxDiff:E3}");
            Assert.True(agree >= 0.99 * ids.Length, $"{fileType}: top-1 agreement {agree}/{ids.Length} is under 99%");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
