using Gguf2Qnn.Conversion;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Reference;
using Gguf2Qnn.Tests.Reference;
using Xunit;

namespace Gguf2Qnn.Tests.Conversion;

/// <summary>
/// The affine block types against ggml's own code: blocks made by ggml_quantize_chunk, our dequantizer and the
/// MatMulNBits form (unpacked here with MatMulNBits' formula (u − zp)·scale, plus the offset term) compared with
/// ggml's to_float, bit for bit, or within the bound the conversion records.
/// </summary>
[Collection(LlamaCppCollection.Name)]
[Trait("Category", "Conversion")]
public sealed class AffinePackingTests
{
    public static TheoryData<GgmlType, int> Cases()
    {
        var data = new TheoryData<GgmlType, int>();
        foreach (var type in new[] { GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K })
        {
            foreach (int blocks in new[] { 1, 7, 8, 9, 33 })
            {
                data.Add(type, blocks);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void DequantizerIsBitExactWithGgml(GgmlType type, int blocks)
    {
        var (src, n) = Quantize(type, blocks, seed: blocks);
        var expected = new float[n];
        GgmlNative.DequantizeRow((int)type, src, expected);
        var actual = new float[n];
        Dequantizer.Dequantize(type, src, actual);
        AssertBitExact(type, expected, actual);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatMulNBitsFormIsGgmlsValueOrWithinTheRecordedBound(GgmlType type, int blocks)
    {
        var (src, n) = Quantize(type, blocks, seed: 100 + blocks);
        var expected = new float[n];
        GgmlNative.DequantizeRow((int)type, src, expected);

        Assert.True(AffineBlocks.TryGetFormat(type, out var f));
        var plan = MatMulNBitsPacking.PlanAffine(f);
        var codes = new sbyte[n];
        var scales = new float[n / f.SubBlockSize];
        var offsets = new float[scales.Length];
        AffineBlocks.Decode(type, src, codes, scales, offsets);
        var packed = new byte[n * plan.Bits / 8];
        MatMulNBitsPacking.PackCodes(codes, plan, packed);

        // MatMulNBits (ORT ContribOperators.md): w = (u − zero_point)·scale, u read low bits first.
        int zp = plan.ZeroPoint ?? (1 << (plan.Bits - 1));
        double bound = MatMulNBitsPacking.MaxOffsetSplitError(f, codes, scales, offsets);
        double worst = 0;
        for (int i = 0; i < n; i++)
        {
            int u = plan.Bits == 8 ? packed[i] : (packed[i / 2] >> (4 * (i % 2))) & 0xF;
            float w = (u - zp) * scales[i / plan.BlockSize];
            if (!f.HasOffset)
            {
                Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(w), $"{type} weight {i} (block {i / GgmlTypeTraits.BlockSize(type)}): ggml {expected[i]:R}, MatMulNBits {w:R}");
                continue;
            }

            double represented = (double)w + offsets[i / plan.BlockSize];
            worst = Math.Max(worst, Math.Abs(represented - expected[i]));
            Assert.True(Math.Abs(represented - expected[i]) <= Ulp(expected[i]) / 2, $"{type} weight {i}: {represented:R} vs ggml {expected[i]:R}");
        }

        Assert.Equal(bound, worst);
    }

    [Fact]
    public void PlansAreTheDocumentedOnes()
    {
        (int Bits, int Block, int? Zp) Plan(GgmlType t)
        {
            Assert.True(AffineBlocks.TryGetFormat(t, out var f));
            var p = MatMulNBitsPacking.PlanAffine(f);
            return (p.Bits, p.BlockSize, p.ZeroPoint);
        }

        Assert.Equal((8, 16, (int?)null), Plan(GgmlType.Q6_K));
        Assert.Equal((8, 32, (int?)null), Plan(GgmlType.Q5_0));
        Assert.Equal((4, 16, (int?)null), Plan(GgmlType.Q3_K));
        Assert.Equal((4, 16, (int?)null), Plan(GgmlType.Q2_K));
        Assert.Equal((4, 32, (int?)0), Plan(GgmlType.Q4_K));
        Assert.Equal((4, 32, (int?)0), Plan(GgmlType.Q4_1));
        Assert.Equal((8, 32, (int?)null), Plan(GgmlType.Q5_K));
        Assert.Equal((8, 32, (int?)null), Plan(GgmlType.Q5_1));
    }

    private static double Ulp(float x) => (double)MathF.BitIncrement(Math.Abs(x)) - Math.Abs(x);

    private static (byte[] Src, int N) Quantize(GgmlType type, int blocks, int seed)
    {
        int n = blocks * GgmlTypeTraits.BlockSize(type);
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            // Mixed magnitudes and an offset per 64 weights, so mins and negative scales both occur.
            x[i] = (float)((rng.NextDouble() - 0.3) * (1 + ((i / 64) % 5)) * 0.05);
        }

        var src = new byte[GgmlTypeTraits.RowSize(type, n)];
        GgmlNative.QuantizeChunk((int)type, x, src, 1, n);
        return (src, n);
    }

    private static void AssertBitExact(GgmlType type, float[] expected, float[] actual)
    {
        int block = GgmlTypeTraits.BlockSize(type);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(
                BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"{type}: first bad block {i / block}, weight {i}: ggml {expected[i]:R}, ours {actual[i]:R}");
        }
    }
}
