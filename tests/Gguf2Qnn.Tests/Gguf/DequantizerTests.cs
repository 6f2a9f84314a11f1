using Gguf2Qnn.Gguf;
using Xunit;

namespace Gguf2Qnn.Tests.Gguf;

[Trait("Category", "Gguf")]
public class DequantizerTests
{
    [Fact]
    public void Q4_0LowNibblesAreWeights0To15AndHighNibbles16To31()
    {
        // Hand-computed (ggml-common.h block_q4_0): byte j = (15 - j) << 4 | j, d = 0.5:
        // weight j = (j - 8) * 0.5, weight j + 16 = (7 - j) * 0.5.
        var block = new byte[18];
        BitConverter.TryWriteBytes(block, (Half)0.5f);
        for (var j = 0; j < 16; j++)
        {
            block[2 + j] = (byte)(((15 - j) << 4) | j);
        }

        var y = new float[32];
        Dequantizer.Dequantize(GgmlType.Q4_0, block, y);
        for (var j = 0; j < 16; j++)
        {
            Assert.Equal((j - 8) * 0.5f, y[j]);
            Assert.Equal((7 - j) * 0.5f, y[j + 16]);
        }
    }

    [Fact]
    public void Q8_0IsScaleTimesSignedByte()
    {
        var block = new byte[34];
        BitConverter.TryWriteBytes(block, (Half)0.25f);
        for (var j = 0; j < 32; j++)
        {
            block[2 + j] = (byte)(sbyte)(j - 16);
        }

        var y = new float[32];
        Dequantizer.Dequantize(GgmlType.Q8_0, block, y);
        for (var j = 0; j < 32; j++)
        {
            Assert.Equal((j - 16) * 0.25f, y[j]);
        }
    }

    [Fact]
    public void Bf16IsTheTopHalfOfAnF32NotAnF16()
    {
        // 1.0f = 0x3F800000 → BF16 0x3F80; as F16 the same bits would read 1.875.
        byte[] src = [0x80, 0x3F, 0x40, 0xC0]; // 0x3F80 = 1.0, 0xC040 = -3.0
        var y = new float[2];
        Dequantizer.Dequantize(GgmlType.BF16, src, y);
        Assert.Equal([1.0f, -3.0f], y);
    }

    [Fact]
    public void F16IsIeeeHalf()
    {
        byte[] src = [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x7C]; // 1.0, -2.0, +inf
        var y = new float[3];
        Dequantizer.Dequantize(GgmlType.F16, src, y);
        Assert.Equal([1.0f, -2.0f, float.PositiveInfinity], y);
    }

    [Fact]
    public void Q4_0QuantizerRoundTripsWithinOneStep()
    {
        var x = Enumerable.Range(0, 64).Select(i => MathF.Sin(i * 0.37f)).ToArray();
        var q = Quantizer.QuantizeQ4_0(x);
        var y = new float[64];
        Dequantizer.Dequantize(GgmlType.Q4_0, q, y);
        for (var b = 0; b < 2; b++)
        {
            var amax = x.Skip(b * 32).Take(32).Max(MathF.Abs);
            for (var j = 0; j < 32; j++)
            {
                Assert.True(MathF.Abs(x[(b * 32) + j] - y[(b * 32) + j]) <= (amax / 8) + 1e-3f);
            }
        }
    }

    [Fact]
    public void WrongLengthIsAnArgumentError()
    {
        Assert.Throws<ArgumentException>(() => Dequantizer.Dequantize(GgmlType.Q4_0, new byte[17], new float[32]));
        Assert.Throws<NotSupportedException>(() => Dequantizer.Dequantize(GgmlType.IQ1_S, new byte[50], new float[256]));
    }
}
