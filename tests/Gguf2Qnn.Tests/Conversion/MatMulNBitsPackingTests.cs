using Google.Protobuf;
using Gguf2Qnn.Conversion;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Onnx;
using Microsoft.ML.OnnxRuntime;
using Xunit;
using DataType = Gguf2Qnn.Onnx.Proto.TensorProto.Types.DataType;

namespace Gguf2Qnn.Tests.Conversion;

[Trait("Category", "Conversion")]
public class MatMulNBitsPackingTests
{
    // MatMulNBits semantics (ORT docs/ContribOperators.md, com.microsoft.MatMulNBits): block b of row n holds
    // block_size weights packed low bits first; value = (u - zero_point) * scale, default zero point 2^(bits-1).
    private static float[] DequantizeNBits(int bits, ReadOnlySpan<byte> b, ReadOnlySpan<float> scales, int n, int k)
    {
        int blocks = k / 32, blob = 32 * bits / 8, zero = 1 << (bits - 1);
        var w = new float[n * k];
        for (int row = 0; row < n; row++)
        {
            for (int blk = 0; blk < blocks; blk++)
            {
                var bytes = b.Slice(((row * blocks) + blk) * blob, blob);
                float s = scales[(row * blocks) + blk];
                for (int j = 0; j < 32; j++)
                {
                    int u = bits == 8 ? bytes[j] : (bytes[j / 2] >> (4 * (j % 2))) & 0xF;
                    w[(row * k) + (blk * 32) + j] = (u - zero) * s;
                }
            }
        }

        return w;
    }

    [Fact]
    public void Q4_0BlockRepacksExactly()
    {
        // ggml block_q4_0: byte j = low nibble j (weight j), high nibble 15 - j (weight j + 16); d = 0.5.
        // Expected, by hand: weights 0..15 = (j - 8)·0.5 = −4..3.5; weights 16..31 = (7 − j)·0.5 = 3.5..−4.
        var block = new byte[18];
        BitConverter.TryWriteBytes(block, (Half)0.5f);
        for (int j = 0; j < 16; j++)
        {
            block[2 + j] = (byte)(((15 - j) << 4) | j);
        }

        var b = new byte[16];
        var scales = new float[1];
        MatMulNBitsPacking.PackQ4_0(block, b, scales);
        var w = DequantizeNBits(4, b, scales, 1, 32);

        for (int j = 0; j < 16; j++)
        {
            Assert.Equal((j - 8) * 0.5f, w[j]);
            Assert.Equal((7 - j) * 0.5f, w[j + 16]);
        }

        // And the packed bytes themselves: byte j holds weights 2j (low) and 2j+1 (high).
        Assert.Equal(0x10, b[0]);   // nibbles 0, 1
        Assert.Equal(0x76, b[3]);   // nibbles 6, 7
        Assert.Equal(0xEF, b[8]);   // weights 16, 17 = nibbles 15, 14
        Assert.Equal(0x01, b[15]);  // weights 30, 31 = nibbles 1, 0
    }

    [Fact]
    public void Q8_0BlockRepacksExactlyWithZeroPoint128()
    {
        var block = new byte[34];
        BitConverter.TryWriteBytes(block, (Half)0.25f);
        for (int j = 0; j < 32; j++)
        {
            block[2 + j] = (byte)(sbyte)((j * 8) - 128);
        }

        var b = new byte[32];
        var scales = new float[1];
        MatMulNBitsPacking.PackQ8_0(block, b, scales);
        var w = DequantizeNBits(8, b, scales, 1, 32);
        for (int j = 0; j < 32; j++)
        {
            Assert.Equal(((j * 8) - 128) * 0.25f, w[j]);
        }
    }

    [Theory]
    [InlineData(GgmlType.Q4_0, 1)]
    [InlineData(GgmlType.Q4_0, 7)]
    [InlineData(GgmlType.Q8_0, 1)]
    [InlineData(GgmlType.Q8_0, 9)]
    public void PackedRowsDequantizeToGgmlValuesBitForBit(GgmlType type, int blocksPerRow)
    {
        const int n = 5;
        int k = blocksPerRow * 32;
        var x = RandomValues(n * k, 7);
        byte[] ggml = type == GgmlType.Q4_0 ? Quantizer.QuantizeQ4_0(x) : Quantizer.QuantizeQ8_0(x);
        var expected = new float[n * k];
        Dequantizer.Dequantize(type, ggml, expected);

        int bits = type == GgmlType.Q4_0 ? 4 : 8;
        var b = new byte[n * blocksPerRow * 32 * bits / 8];
        var scales = new float[n * blocksPerRow];
        if (bits == 4)
        {
            MatMulNBitsPacking.PackQ4_0(ggml, b, scales);
        }
        else
        {
            MatMulNBitsPacking.PackQ8_0(ggml, b, scales);
        }

        Assert.Equal(expected, DequantizeNBits(bits, b, scales, n, k));
    }

    [Fact]
    public void PartialBlocksAreRejected()
    {
        Assert.Throws<ArgumentException>(() => MatMulNBitsPacking.PackQ4_0(new byte[17], new byte[16], new float[1]));
    }

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q8_0)]
    public void OrtMatMulNBitsMatchesFloatMatMulOnTheDequantizedWeights(GgmlType type)
    {
        const int m = 3, k = 96, n = 40;
        var weights = RandomValues(n * k, 11);
        byte[] ggml = type == GgmlType.Q4_0 ? Quantizer.QuantizeQ4_0(weights) : Quantizer.QuantizeQ8_0(weights);
        var dequantized = new float[n * k];
        Dequantizer.Dequantize(type, ggml, dequantized);
        int bits = type == GgmlType.Q4_0 ? 4 : 8;
        var b = new byte[n * (k / 32) * 32 * bits / 8];
        var scales = new float[n * (k / 32)];
        if (bits == 4)
        {
            MatMulNBitsPacking.PackQ4_0(ggml, b, scales);
        }
        else
        {
            MatMulNBitsPacking.PackQ8_0(ggml, b, scales);
        }

        var nbits = new GraphBuilder("nbits");
        nbits.AddInput("A", DataType.Float, (long)m, (long)k);
        nbits.AddInitializer<byte>("B", DataType.Uint8, [n, k / 32, 32 * bits / 8], b);
        nbits.AddInitializer<float>("scales", DataType.Float, [n, k / 32], scales);
        nbits.AddNode("MatMulNBits", "mm", ["A", "B", "scales"], ["Y"], OnnxDomains.Microsoft,
            Attr.Int("K", k), Attr.Int("N", n), Attr.Int("bits", bits), Attr.Int("block_size", 32));
        nbits.AddOutput("Y", DataType.Float, (long)m, (long)n);

        var transposed = new float[k * n];
        for (int row = 0; row < n; row++)
        {
            for (int col = 0; col < k; col++)
            {
                transposed[(col * n) + row] = dequantized[(row * k) + col];
            }
        }

        var dense = new GraphBuilder("dense");
        dense.AddInput("A", DataType.Float, (long)m, (long)k);
        dense.AddInitializer<float>("W", DataType.Float, [k, n], transposed);
        dense.AddNode("MatMul", "mm", ["A", "W"], ["Y"]);
        dense.AddOutput("Y", DataType.Float, (long)m, (long)n);

        var a = RandomValues(m * k, 3);
        var y1 = Run(nbits, a, m, k);
        var y2 = Run(dense, a, m, k);
        for (int i = 0; i < y1.Length; i++)
        {
            Assert.Equal(y2[i], y1[i], 1e-4f * Math.Max(1f, Math.Abs(y2[i])));
        }
    }

    private static float[] Run(GraphBuilder graph, float[] a, int m, int k)
    {
        using var session = new InferenceSession(graph.Model.ToByteArray());
        using var input = OrtValue.CreateTensorValueFromMemory(a, [m, k]);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, ["A"], [input], ["Y"]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static float[] RandomValues(int count, int seed)
    {
        var rng = new Random(seed);
        var x = new float[count];
        for (int i = 0; i < count; i++)
        {
            x[i] = (float)((rng.NextDouble() * 2) - 1);
        }

        return x;
    }
}
