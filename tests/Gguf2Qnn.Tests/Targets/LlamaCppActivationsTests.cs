using Google.Protobuf;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Onnx;
using Gguf2Qnn.Targets;
using Microsoft.ML.OnnxRuntime;
using Xunit;
using DataType = Gguf2Qnn.Onnx.Proto.TensorProto.Types.DataType;

namespace Gguf2Qnn.Tests.Targets;

[Trait("Category", "Targets")]
public class LlamaCppActivationsTests
{
    private static float[] Run(ActivationFormat format, float[] x, int k)
    {
        var g = new GraphBuilder("act");
        g.AddInput("x", DataType.Float, 1L, (long)(x.Length / k), (long)k);
        string y = LlamaCppActivations.Apply(g, "act", "x", format, k);
        g.AddNode("Identity", "out", [y], ["y"]);
        g.AddOutput("y", DataType.Float, 1L, (long)(x.Length / k), (long)k);
        using var session = new InferenceSession(g.Model.ToByteArray());
        using var input = OrtValue.CreateTensorValueFromMemory(x, [1, x.Length / k, k]);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, ["x"], [input], ["y"]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static float[] Values(int n, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = (float)((rng.NextDouble() - 0.5) * 6);
        }

        return x;
    }

    [Fact]
    public void Q8_0RoundingEqualsGgmlQuantizeThenDequantize()
    {
        // ggml quantize_row_q8_0 + dequantize_row_q8_0 (the project's reference Quantizer and Dequantizer).
        var x = Values(3 * 96, 1);
        x[5] = 0f;
        Array.Clear(x, 32, 32); // an all-zero block
        var expected = new float[x.Length];
        Dequantizer.Dequantize(GgmlType.Q8_0, Quantizer.QuantizeQ8_0(x), expected);
        Assert.Equal(expected, Run(ActivationFormat.Q8_0, x, 96));
    }

    [Fact]
    public void Q8_KRoundingFollowsGgmlReference()
    {
        // ggml quantize_row_q8_K_ref: iscale = -127 / (signed value of largest magnitude), q = min(127, round(x·iscale)),
        // d = 1 / iscale; value = d·q.
        var x = Values(2 * 256, 2);
        x[300] = -9f;
        var expected = new float[x.Length];
        for (int b = 0; b < x.Length / 256; b++)
        {
            var block = x.AsSpan(b * 256, 256);
            float max = 0, amax = 0;
            foreach (float v in block)
            {
                if (MathF.Abs(v) > amax)
                {
                    amax = MathF.Abs(v);
                    max = v;
                }
            }

            float iscale = -127f / max;
            for (int j = 0; j < 256; j++)
            {
                expected[(b * 256) + j] = Math.Min(127f, MathF.Round(iscale * block[j], MidpointRounding.ToEven)) * (1 / iscale);
            }
        }

        Assert.Equal(expected, Run(ActivationFormat.Q8_K, x, 256));
    }

    [Fact]
    public void Float16RoundingIsIeeeHalf()
    {
        var x = Values(64, 3);
        Assert.Equal(x.Select(v => (float)(Half)v), Run(ActivationFormat.Float16, x, 64));
    }

    [Fact]
    public void WeightTypesMapToGgmlVecDotTypes()
    {
        Assert.Equal(ActivationFormat.Float32, LlamaCppActivations.FormatFor(GgmlType.F32));
        Assert.Equal(ActivationFormat.Float16, LlamaCppActivations.FormatFor(GgmlType.F16));
        Assert.Equal(ActivationFormat.Q8_0, LlamaCppActivations.FormatFor(GgmlType.Q4_0));
        Assert.Equal(ActivationFormat.Q8_0, LlamaCppActivations.FormatFor(GgmlType.Q8_0));
        Assert.Equal(ActivationFormat.Q8_K, LlamaCppActivations.FormatFor(GgmlType.Q6_K));
    }
}
