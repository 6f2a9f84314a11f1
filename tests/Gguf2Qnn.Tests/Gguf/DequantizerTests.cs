using System.Buffers.Binary;
using System.Runtime.Intrinsics;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Reference;
using Xunit;

namespace Gguf2Qnn.Tests.Gguf;

/// <summary>
/// Hand-built blocks with values computed by hand from the block layouts (ggml-common.h), each aimed at a known trap,
/// and the vector paths against their scalar references.
/// </summary>
[Trait("Category", "Gguf")]
public class DequantizerTests
{
    [Fact]
    public void Q4_0LowNibblesAreWeights0To15AndHighNibbles16To31()
    {
        // byte j = (15 - j) << 4 | j, d = 0.5: weight j = (j - 8) * 0.5, weight j + 16 = (7 - j) * 0.5.
        var block = new byte[18];
        BitConverter.TryWriteBytes(block, (Half)0.5f);
        for (var j = 0; j < 16; j++)
        {
            block[2 + j] = (byte)(((15 - j) << 4) | j);
        }

        var y = Dequantize(GgmlType.Q4_0, block, 32);
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

        var y = Dequantize(GgmlType.Q8_0, block, 32);
        for (var j = 0; j < 32; j++)
        {
            Assert.Equal((j - 16) * 0.25f, y[j]);
        }
    }

    [Fact]
    public void Q8_1IsScaleTimesSignedByteAndIgnoresTheSum()
    {
        // block_q8_1: d = 0.5, s = 1000 (only dot products read it), q_j = j - 16.
        var block = new byte[36];
        BitConverter.TryWriteBytes(block, (Half)0.5f);
        BitConverter.TryWriteBytes(block.AsSpan(2), (Half)1000f);
        for (var j = 0; j < 32; j++)
        {
            block[4 + j] = (byte)(sbyte)(j - 16);
        }

        var y = Dequantize(GgmlType.Q8_1, block, 32);
        Assert.Equal(Enumerable.Range(0, 32).Select(j => (j - 16) * 0.5f), y);
    }

    [Fact]
    public void Q8_1OfGgmlReferenceQuantizerIsWithinHalfAStep()
    {
        var x = DequantizerOracleTests.SeededWeights(9 * 32, 32, seed: 81);
        var packed = new byte[9 * 36];
        GgmlExports.QuantizeRowQ8_1(x, packed);
        var y = Dequantize(GgmlType.Q8_1, packed, x.Length);
        for (var b = 0; b < 9; b++)
        {
            var d = (float)BitConverter.ToHalf(packed, b * 36);
            var amax = x.Skip(b * 32).Take(32).Max(MathF.Abs);
            var bound = (d * 0.5f) + (amax * MathF.Pow(2, -10)) + 1e-30f; // half a step, plus the fp16 rounding of d
            for (var i = b * 32; i < (b + 1) * 32; i++)
            {
                Assert.True(MathF.Abs(x[i] - y[i]) <= bound, $"weight {i}: {x[i]} -> {y[i]}, bound {bound}");
            }
        }
    }

    [Fact]
    public void Bf16IsTheTopHalfOfAnF32NotAnF16()
    {
        // 1.0f = 0x3F800000 → BF16 0x3F80; read as F16 the same bits would be 1.875.
        byte[] src = [0x80, 0x3F, 0x40, 0xC0]; // 0x3F80 = 1.0, 0xC040 = -3.0
        Assert.Equal([1.0f, -3.0f], Dequantize(GgmlType.BF16, src, 2));
    }

    [Fact]
    public void F16IsIeeeHalf()
    {
        byte[] src = [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x7C, 0x01, 0x00]; // 1.0, -2.0, +inf, 2^-24
        Assert.Equal([1.0f, -2.0f, float.PositiveInfinity, MathF.Pow(2, -24)], Dequantize(GgmlType.F16, src, 4));
    }

    [Fact]
    public void IntegerAndF64TypesReadAsNumbers()
    {
        Assert.Equal([-128f, 127f], Dequantize(GgmlType.I8, [0x80, 0x7F], 2));
        Assert.Equal([-32768f, 258f], Dequantize(GgmlType.I16, [0x00, 0x80, 0x02, 0x01], 2));
        Assert.Equal([-2f, 16777217f], Dequantize(GgmlType.I32, [.. BitConverter.GetBytes(-2), .. BitConverter.GetBytes(16777217)], 2)); // 2^24 + 1 rounds to even
        Assert.Equal([float.Parse("9.223372E+18", System.Globalization.CultureInfo.InvariantCulture)], Dequantize(GgmlType.I64, BitConverter.GetBytes(long.MaxValue), 1));
        Assert.Equal([0.1f, float.PositiveInfinity], Dequantize(GgmlType.F64, [.. BitConverter.GetBytes(0.1), .. BitConverter.GetBytes(1e300)], 2));
    }

    /// <summary>
    /// Q4_K scales of sub-blocks 4–7 are split across bytes (ggml get_scale_min_k4): low 4 bits in byte j + 4, high
    /// 2 bits in the top bits of byte j − 4 (scale) and byte j (min). Bytes 0–3 = 0xC1 (scales 0–3 = 1, top bits 3),
    /// 4–7 = 0x82 (mins 0–3 = 2, top bits 2), 8–11 = 0x5A: scales 4–7 = 3·16 + 10 = 58, mins 4–7 = 2·16 + 5 = 37.
    /// qs bytes 0x21: low nibble 1 (even sub-blocks), high nibble 2 (odd). d = 1, dmin = 0.5:
    /// y = sc · q − 0.5 · m → sub-blocks 0–3: 0, 1, 0, 1; sub-blocks 4–7: 39.5, 97.5, 39.5, 97.5.
    /// </summary>
    [Fact]
    public void Q4_KScalesOfSubBlocks4To7AreSplitAcrossBytes()
    {
        var block = new byte[144];
        WriteHalf(block, 0, 1f);
        WriteHalf(block, 2, 0.5f);
        KScales(block.AsSpan(4, 12));
        block.AsSpan(16, 128).Fill(0x21);
        AssertSubBlocks(GgmlType.Q4_K, block, [0f, 1f, 0f, 1f, 39.5f, 97.5f, 39.5f, 97.5f]);
    }

    /// <summary>
    /// Q5_K: the Q4_K scales above, and every qh bit set, so each code gains 16: q = 17 (even sub-blocks) or 18 (odd).
    /// y = sc · q − 0.5 · m → sub-blocks 0–3: 16, 17, 16, 17; 4–7: 58·17 − 18.5 = 967.5, 58·18 − 18.5 = 1025.5.
    /// </summary>
    [Fact]
    public void Q5_KScalesOfSubBlocks4To7AreSplitAcrossBytes()
    {
        var block = new byte[176];
        WriteHalf(block, 0, 1f);
        WriteHalf(block, 2, 0.5f);
        KScales(block.AsSpan(4, 12));
        block.AsSpan(16, 32).Fill(0xFF);
        block.AsSpan(48, 128).Fill(0x21);
        AssertSubBlocks(GgmlType.Q5_K, block, [16f, 17f, 16f, 17f, 967.5f, 1025.5f, 967.5f, 1025.5f]);
    }

    /// <summary>MXFP4: e = 127 gives d = 2^(127−128) = 0.5; E2M1 codes 7 and 15 are ±6.0 (OCP MX spec), 1 is 0.5.</summary>
    [Fact]
    public void Mxfp4ReadsE2M1TimesTheE8M0Scale()
    {
        var block = new byte[17];
        block[0] = 127;
        block[1] = 0xF7; // weight 0: code 7 = 6.0; weight 16: code 15 = -6.0
        block[2] = 0x01; // weight 1: code 1 = 0.5; weight 17: code 0 = 0
        var y = Dequantize(GgmlType.MXFP4, block, 32);
        Assert.Equal((6f, 0.5f, -6f, 0f), (y[0], y[1], y[16], y[17]));
    }

    /// <summary>TQ2_0: 2-bit trits t, value (t − 1) · d; byte 0 = 0b10_01_00_10 gives weights 0, 32, 64, 96 of the first half.</summary>
    [Fact]
    public void Tq2_0ReadsTwoBitTritsPlaneByPlane()
    {
        var block = new byte[66];
        block[0] = 0b10_01_00_10;
        WriteHalf(block, 64, 2f);
        var y = Dequantize(GgmlType.TQ2_0, block, 256);
        Assert.Equal((2f, -2f, 0f, 2f), (y[0], y[32], y[64], y[96]));
        Assert.Equal(-2f, y[1]); // byte 1 = 0 → trit 0 → −1 · d
    }

    public static TheoryData<GgmlType> VectorizedTypes()
    {
        var data = new TheoryData<GgmlType>();
        foreach (var t in Enum.GetValues<GgmlType>().Where(Dequantizer.HasVectorPath))
        {
            data.Add(t);
        }

        return data;
    }

    [Fact]
    public void TheHotTypesHaveAVectorPath()
    {
        Assert.Subset(Dequantizer.SupportedTypes.Where(Dequantizer.HasVectorPath).ToHashSet(), new HashSet<GgmlType> { GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K });
    }

    /// <summary>Vector path against the scalar reference for 0 to 40 blocks of random bytes, each ending at a guard page.</summary>
    [Theory]
    [MemberData(nameof(VectorizedTypes))]
    public unsafe void VectorPathMatchesScalarReference(GgmlType type)
    {
        var random = new Random(0xC0DE + (int)type);
        var blockSize = GgmlTypeTraits.BlockSize(type);
        for (var blocks = 0; blocks <= 40; blocks++)
        {
            var n = blocks * (blockSize == 1 ? 3 : blockSize); // odd lengths for the plain types: exercises the tails
            if (blockSize == 1)
            {
                n += blocks % 8;
            }

            var packed = DequantizerOracleTests.RandomBlocks(type, n, random);
            var scalar = new float[n];
            var fast = new float[n];
            Dequantizer.DequantizeScalar(type, packed, scalar);
            using var guarded = GuardedBuffer.Create(packed);
            Dequantizer.Dequantize(type, guarded is null ? packed : guarded.Span, fast);
            DequantizerOracleTests.AssertBitExact(type, scalar, fast, $"{blocks} blocks, vector vs scalar");
        }
    }

    [Fact]
    public void Q4_0QuantizerRoundTripsWithinOneStep()
    {
        var x = Enumerable.Range(0, 64).Select(i => MathF.Sin(i * 0.37f)).ToArray();
        var q = Quantizer.QuantizeQ4_0(x);
        var y = Dequantize(GgmlType.Q4_0, q, 64);
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
    public void WrongLengthIsAnArgumentErrorAndUnknownIdIsNotSupported()
    {
        Assert.Throws<ArgumentException>(() => Dequantizer.Dequantize(GgmlType.Q4_0, new byte[17], new float[32]));
        Assert.Throws<ArgumentException>(() => Dequantizer.Dequantize(GgmlType.Q4_K, new byte[144], new float[255]));
        var ex = Assert.Throws<NotSupportedException>(() => Dequantizer.Dequantize((GgmlType)4, new byte[18], new float[32]));
        Assert.Contains("4", ex.Message, StringComparison.Ordinal);
    }

    private static void AssertSubBlocks(GgmlType type, byte[] block, float[] perSubBlock)
    {
        var y = Dequantize(type, block, 256);
        for (var k = 0; k < 8; k++)
        {
            Assert.All(y.AsSpan(32 * k, 32).ToArray(), v => Assert.Equal(perSubBlock[k], v));
        }

        var ggml = new float[256];
        GgmlNative.DequantizeRow((int)type, block, ggml);
        Assert.Equal(ggml, y);
    }

    private static void KScales(Span<byte> s)
    {
        s[..4].Fill(0xC1);
        s[4..8].Fill(0x82);
        s[8..12].Fill(0x5A);
    }

    private static float[] Dequantize(GgmlType type, byte[] src, int n)
    {
        var y = new float[n];
        Dequantizer.Dequantize(type, src, y);
        var scalar = new float[n];
        Dequantizer.DequantizeScalar(type, src, scalar);
        Assert.Equal(scalar, y);
        return y;
    }

    private static void WriteHalf(byte[] block, int offset, float value) =>
        BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(offset), BitConverter.HalfToUInt16Bits((Half)value));
}
