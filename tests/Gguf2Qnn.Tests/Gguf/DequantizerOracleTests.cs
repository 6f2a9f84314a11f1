using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Reference;
using Xunit;

namespace Gguf2Qnn.Tests.Gguf;

/// <summary>
/// Our dequantizers against ggml's own <c>to_float</c> (by P/Invoke into the libggml-base LLamaSharp ships), bit for
/// bit: on blocks that ggml's <c>ggml_quantize_chunk</c> made from seeded floats, on random bytes with a finite scale
/// (a complete oracle: every byte pattern ggml can read), and on gguf-py's golden vectors. Mismatches name the first
/// bad block.
/// </summary>
[Trait("Category", "Gguf")]
public sealed class DequantizerOracleTests
{
    private static readonly int[] BlockCounts = [1, 7, 8, 9, 33];

    /// <summary>Every type of <see cref="GgmlType"/> that ggml_quantize_chunk can make without an importance matrix.</summary>
    public static TheoryData<GgmlType> QuantizableTypes()
    {
        var data = new TheoryData<GgmlType>();
        foreach (var t in Enum.GetValues<GgmlType>().Where(CanQuantize))
        {
            data.Add(t);
        }

        return data;
    }

    /// <summary>Every type ggml has a to_float for (the random-bytes oracle).</summary>
    public static TheoryData<GgmlType> GgmlReadableTypes()
    {
        var data = new TheoryData<GgmlType>();
        foreach (var t in Enum.GetValues<GgmlType>().Where(t => t != GgmlType.F32 && GgmlCanRead(t)))
        {
            data.Add(t);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(QuantizableTypes))]
    public void GgmlQuantizedBlocks_DequantizeBitExactWithGgml(GgmlType type)
    {
        var blockSize = Math.Max(GgmlTypeTraits.BlockSize(type), 32);
        foreach (var blocks in BlockCounts)
        {
            var n = blocks * blockSize;
            var x = SeededWeights(n, blockSize, seed: (int)type * 1000 + blocks);
            var packed = new byte[GgmlTypeTraits.RowSize(type, n)];
            GgmlNative.QuantizeChunk((int)type, x, packed, nRows: 1, nPerRow: n);
            AssertMatchesGgml(type, packed, n, $"{blocks} blocks quantized by ggml");
        }

        // Several rows of 256·k weights in one ggml_quantize_chunk call (rows quantized independently, as llama-quantize does).
        foreach (var (rows, perRow) in new[] { (3, 256), (2, 1024) })
        {
            var x = SeededWeights(rows * perRow, blockSize, seed: (int)type * 7 + perRow);
            var packed = new byte[GgmlTypeTraits.RowSize(type, rows * perRow)];
            Assert.Equal(packed.Length, GgmlNative.QuantizeChunk((int)type, x, packed, nRows: rows, nPerRow: perRow));
            AssertMatchesGgml(type, packed, rows * perRow, $"{rows} rows of {perRow} quantized by ggml");
        }
    }

    [Theory]
    [MemberData(nameof(GgmlReadableTypes))]
    public void RandomBytesWithFiniteScales_DequantizeBitExactWithGgml(GgmlType type)
    {
        var blockSize = GgmlTypeTraits.BlockSize(type);
        var random = new Random(0x5EED + (int)type);
        foreach (var blocks in BlockCounts)
        {
            var n = blocks * (blockSize == 1 ? 64 : blockSize);
            var packed = RandomBlocks(type, n, random);
            AssertMatchesGgml(type, packed, n, $"{blocks} random blocks");
        }
    }

    private static void AssertMatchesGgml(GgmlType type, byte[] packed, int n, string what)
    {
        var expected = new float[n];
        GgmlNative.DequantizeRow((int)type, packed, expected);
        var fast = new float[n];
        var scalar = new float[n];
        Dequantizer.Dequantize(type, packed, fast);
        Dequantizer.DequantizeScalar(type, packed, scalar);
        AssertBitExact(type, expected, scalar, what + ", scalar reference");
        AssertBitExact(type, expected, fast, what + ", Dequantize");
    }

    internal static void AssertBitExact(GgmlType type, float[] expected, float[] actual, string what)
    {
        var e = MemoryMarshal.Cast<float, int>(expected);
        var a = MemoryMarshal.Cast<float, int>(actual);
        var mismatch = e.Length == a.Length ? e.CommonPrefixLength(a) : 0;
        if (mismatch == e.Length && e.Length == a.Length)
        {
            return;
        }

        {
            var blockSize = GgmlTypeTraits.BlockSize(type);
            Assert.Fail($"{type} ({what}): first bad block {mismatch / blockSize}, weight {mismatch % blockSize}: ggml {expected[mismatch]:R} (0x{e[mismatch]:X8}), ours {actual[mismatch]:R} (0x{a[mismatch]:X8}).");
        }
    }

    /// <summary>Random bytes, with every fp16 (or f32) scale field replaced by a random finite value.</summary>
    internal static byte[] RandomBlocks(GgmlType type, int n, Random random)
    {
        var bytes = new byte[GgmlTypeTraits.RowSize(type, n)];
        random.NextBytes(bytes);
        var blockSize = GgmlTypeTraits.BlockSize(type);
        var typeSize = GgmlTypeTraits.TypeSize(type);
        if (blockSize == 1)
        {
            return bytes;
        }

        for (var o = 0; o < bytes.Length; o += typeSize)
        {
            var block = bytes.AsSpan(o, typeSize);
            switch (type)
            {
                case GgmlType.Q8_K:
                    BinaryPrimitives.WriteSingleLittleEndian(block, (float)((random.NextDouble() * 2) - 1) * MathF.Pow(2, random.Next(-20, 20)));
                    break;
                case GgmlType.IQ1_M:
                    // The fp16 d is the top nibble of the four uint16 scale words at 48..55.
                    var bits = FiniteHalfBits(random);
                    for (var i = 0; i < 4; i++)
                    {
                        block[49 + (2 * i)] = (byte)((block[49 + (2 * i)] & 0x0F) | (((bits >> (4 * i)) & 0xF) << 4));
                    }

                    break;
                case GgmlType.MXFP4:
                    break; // e8m0: every byte is a finite power of two
                default:
                    foreach (var offset in HalfScaleOffsets(type))
                    {
                        BinaryPrimitives.WriteUInt16LittleEndian(block[offset..], FiniteHalfBits(random));
                    }

                    break;
            }
        }

        return bytes;
    }

    private static int[] HalfScaleOffsets(GgmlType type) => type switch
    {
        GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.Q8_0 or GgmlType.IQ4_NL => [0],
        GgmlType.Q4_1 or GgmlType.Q5_1 or GgmlType.Q8_1 or GgmlType.Q4_K or GgmlType.Q5_K => [0, 2],
        GgmlType.Q2_K => [80, 82],
        GgmlType.Q3_K => [108],
        GgmlType.Q6_K => [208],
        GgmlType.IQ2_XXS or GgmlType.IQ2_XS or GgmlType.IQ2_S or GgmlType.IQ3_XXS or GgmlType.IQ3_S or GgmlType.IQ1_S or GgmlType.IQ4_XS => [0],
        GgmlType.TQ1_0 => [52],
        GgmlType.TQ2_0 => [64],
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "no scale layout known to the test"),
    };

    private static ushort FiniteHalfBits(Random random)
    {
        while (true)
        {
            var bits = (ushort)random.Next(0, 65536);
            if ((bits & 0x7C00) != 0x7C00)
            {
                return bits;
            }
        }
    }

    /// <summary>
    /// Seeded weights whose blocks differ in kind: Gaussian-like at scales from 1e-3 to 1e2, all zeros, a constant, a
    /// single outlier, one-signed, and tiny values near the fp16 subnormal range.
    /// </summary>
    internal static float[] SeededWeights(int n, int blockSize, int seed)
    {
        var random = new Random(seed);
        var x = new float[n];
        for (var b = 0; b < n / blockSize; b++)
        {
            var block = x.AsSpan(b * blockSize, blockSize);
            var scale = MathF.Pow(10, (float)((random.NextDouble() * 5) - 3));
            switch (b % 7)
            {
                case 3:
                    block.Clear();
                    break;
                case 4:
                    block.Fill(scale);
                    break;
                case 5:
                    block.Clear();
                    block[random.Next(blockSize)] = -scale * 50;
                    break;
                default:
                    for (var i = 0; i < blockSize; i++)
                    {
                        var g = (float)(random.NextDouble() + random.NextDouble() + random.NextDouble() - 1.5);
                        block[i] = g * scale * (b % 7 == 6 ? 1e-4f : 1f) + (b % 7 == 2 ? scale : 0);
                    }

                    break;
            }
        }

        return x;
    }

    private static bool CanQuantize(GgmlType type)
    {
        try
        {
            var n = Math.Max(GgmlTypeTraits.BlockSize(type), 32);
            GgmlNative.QuantizeChunk((int)type, new float[n], new byte[GgmlTypeTraits.RowSize(type, n)], 1, n);
            return true;
        }
        catch (NotSupportedException)
        {
            return false;
        }
        catch (ArgumentOutOfRangeException)
        {
            return false;
        }
    }

    private static bool GgmlCanRead(GgmlType type)
    {
        try
        {
            var n = GgmlTypeTraits.BlockSize(type);
            GgmlNative.DequantizeRow((int)type, new byte[GgmlTypeTraits.TypeSize(type)], new float[n]);
            return true;
        }
        catch (NotSupportedException)
        {
            return false;
        }
        catch (ArgumentOutOfRangeException)
        {
            return false;
        }
    }

    [Fact]
    public void TypesGgmlCannotQuantizeOrRead_AreTheActivationAndIntegerTypesAndTheImatrixOnes()
    {
        // ggml.c: Q8_1 and Q8_K are dot-product activation types (no to_float in the type traits); I8…I64 and F64 have
        // no to_float; IQ2_XXS, IQ2_XS and IQ1_S need an importance matrix (ggml_quantize_requires_imatrix).
        GgmlType[] cannotRead = [GgmlType.Q8_1, GgmlType.Q8_K, GgmlType.I8, GgmlType.I16, GgmlType.I32, GgmlType.I64, GgmlType.F64];
        Assert.Equal(cannotRead, Enum.GetValues<GgmlType>().Where(t => t != GgmlType.F32 && !GgmlCanRead(t)));
        Assert.Equal(
            cannotRead.Concat([GgmlType.IQ2_XXS, GgmlType.IQ2_XS, GgmlType.IQ1_S]).Order(),
            Enum.GetValues<GgmlType>().Where(t => !CanQuantize(t)).Order());
        Assert.All(Enum.GetValues<GgmlType>(), t => Assert.True(Dequantizer.IsSupported(t), $"{t} has no dequantizer"));
    }

    [Fact]
    public void Q8_K_RandomBlocks_MatchGgmlDequantizeRowQ8K()
    {
        // Q8_K is not in ggml's to_float table, but libggml-base exports dequantize_row_q8_K itself.
        var random = new Random(15);
        foreach (var blocks in BlockCounts)
        {
            var n = blocks * 256;
            var packed = RandomBlocks(GgmlType.Q8_K, n, random);
            var expected = new float[n];
            GgmlExports.DequantizeRowQ8K(packed, expected);
            var ours = new float[n];
            Dequantizer.Dequantize(GgmlType.Q8_K, packed, ours);
            AssertBitExact(GgmlType.Q8_K, expected, ours, $"{blocks} random blocks");
        }
    }

    [Theory]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    public void EverySixteenBitPattern_ConvertsLikeGgml(GgmlType type)
    {
        var bits = new byte[65536 * 2];
        for (var i = 0; i < 65536; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bits.AsSpan(2 * i), (ushort)i);
        }

        AssertMatchesGgml(type, bits, 65536, "all 65536 bit patterns");
    }

    [Fact]
    public void GgufPyGoldenVectors_DequantizeExactly()
    {
        // quant-golden/iq_dequant_golden.json: gguf-py's gguf.quants.dequantize on fixed raw blocks (IQ4_NL, IQ4_XS,
        // IQ2_S, IQ3_S): an oracle independent of the shipped libggml-base.
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Models, "quant-golden", "iq_dequant_golden.json")));
        var cases = doc.RootElement.GetProperty("cases").EnumerateArray().ToArray();
        Assert.Equal(4, cases.Length);
        foreach (var c in cases)
        {
            var type = (GgmlType)c.GetProperty("ggml_type").GetInt32();
            Assert.Equal(c.GetProperty("type").GetString(), type.ToString());
            Assert.Equal(c.GetProperty("block_bytes").GetInt32(), GgmlTypeTraits.TypeSize(type));
            var raw = Convert.FromHexString(c.GetProperty("raw_hex").GetString()!);
            var expected = c.GetProperty("expected").EnumerateArray().Select(e => e.GetSingle()).ToArray();
            var ours = new float[expected.Length];
            Dequantizer.Dequantize(type, raw, ours);
            AssertBitExact(type, expected, ours, "gguf-py golden vector");
        }
    }
}
