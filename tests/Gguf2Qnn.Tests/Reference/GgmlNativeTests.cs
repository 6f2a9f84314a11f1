using System.Text.Json;
using Gguf2Qnn.Reference;
using Xunit;

namespace Gguf2Qnn.Tests.Reference;

[Collection(LlamaCppCollection.Name)]
[Trait("Category", "Reference")]
public sealed class GgmlNativeTests
{
    private const int F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8, Q8_1 = 9, Q4_K = 12, Q6_K = 14, IQ2_XXS = 16, BF16 = 30;

    [Theory]
    [InlineData(F32, 1, 4, "f32")]
    [InlineData(F16, 1, 2, "f16")]
    [InlineData(Q4_0, 32, 18, "q4_0")]
    [InlineData(Q8_0, 32, 34, "q8_0")]
    [InlineData(Q4_K, 256, 144, "q4_K")]
    [InlineData(Q6_K, 256, 210, "q6_K")]
    [InlineData(BF16, 1, 2, "bf16")]
    public void TypeTraits_MatchGgufSpecSizes(int type, int blockSize, long typeSize, string name)
    {
        Assert.True(GgmlNative.TryGetTypeTraits(type, out var b, out var t, out var n));
        Assert.Equal((blockSize, typeSize, name), (b, t, n));
    }

    [Theory]
    [InlineData(4)] // removed Q4_2
    [InlineData(5)] // removed Q4_3
    [InlineData(-1)]
    [InlineData(GgmlNative.TypeCount)]
    public void TypeTraits_RemovedOrUnknownType_IsFalse(int type)
    {
        Assert.False(GgmlNative.TryGetTypeTraits(type, out _, out _, out _));
    }

    [Fact]
    public void Q4_0_HandBuiltBlocks_DequantizeToSpecValues()
    {
        // Block 0: d = 1.0 (fp16 0x3C00), every byte 0x80: low nibble 0 -> weights 0..15 = 1*(0-8) = -8,
        //          high nibble 8 -> weights 16..31 = 1*(8-8) = 0.
        // Block 1: d = -0.5 (fp16 0xB800), byte j = (15-j)<<4 | j: weight j = -0.5*(j-8), weight j+16 = -0.5*(7-j).
        var blocks = new byte[36];
        blocks[0] = 0x00;
        blocks[1] = 0x3C;
        blocks.AsSpan(2, 16).Fill(0x80);
        blocks[18] = 0x00;
        blocks[19] = 0xB8;
        for (var j = 0; j < 16; j++)
        {
            blocks[20 + j] = (byte)(((15 - j) << 4) | j);
        }

        float[] expected =
        [
            -8, -8, -8, -8, -8, -8, -8, -8, -8, -8, -8, -8, -8, -8, -8, -8,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            4f, 3.5f, 3f, 2.5f, 2f, 1.5f, 1f, 0.5f, 0f, -0.5f, -1f, -1.5f, -2f, -2.5f, -3f, -3.5f,
            -3.5f, -3f, -2.5f, -2f, -1.5f, -1f, -0.5f, 0f, 0.5f, 1f, 1.5f, 2f, 2.5f, 3f, 3.5f, 4f,
        ];

        var actual = new float[64];
        GgmlNative.DequantizeRow(Q4_0, blocks, actual);

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Q8_0_QuantizeThenDequantize_IsWithinHalfAStep()
    {
        var x = new float[64];
        var random = new Random(7);
        for (var i = 0; i < x.Length; i++)
        {
            x[i] = (float)((random.NextDouble() * 2) - 1) * (i < 32 ? 3f : 0.02f);
        }

        var packed = new byte[2 * 34];
        Assert.Equal(68, GgmlNative.QuantizeChunk(Q8_0, x, packed, nRows: 1, nPerRow: 64));
        var y = new float[64];
        GgmlNative.DequantizeRow(Q8_0, packed, y);

        for (var block = 0; block < 2; block++)
        {
            var amax = x.Skip(block * 32).Take(32).Max(Math.Abs);
            var d = amax / 127f;

            // Stored scale is d rounded to fp16.
            Assert.Equal((float)(Half)d, (float)BitConverter.ToHalf(packed, block * 34));

            // Rounding to the nearest step costs d/2; the fp16 scale adds at most 127·|d - fp16(d)| ≤ 127·d·2^-11.
            var bound = (d * 0.5f) + (127f * d * MathF.Pow(2, -11)) + 1e-7f;
            for (var i = block * 32; i < (block + 1) * 32; i++)
            {
                Assert.True(Math.Abs(x[i] - y[i]) <= bound, $"weight {i}: {x[i]} -> {y[i]}, bound {bound}");
            }
        }
    }

    [Fact]
    public void F16_DequantizeRow_MatchesHalfConversion()
    {
        Half[] values = [(Half)0, (Half)1, (Half)(-2.5), Half.MaxValue, Half.Epsilon, (Half)0.1];
        var bytes = new byte[values.Length * 2];
        for (var i = 0; i < values.Length; i++)
        {
            BitConverter.TryWriteBytes(bytes.AsSpan(i * 2), values[i]);
        }

        var y = new float[values.Length];
        GgmlNative.DequantizeRow(F16, bytes, y);

        Assert.Equal(values.Select(v => (float)v), y);
    }

    [Fact]
    public void IQ_DequantizeRow_MatchesGgufPyGoldenVectors()
    {
        // quant-golden/iq_dequant_golden.json: outputs of gguf-py's reference gguf.quants.dequantize.
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Models, "quant-golden", "iq_dequant_golden.json")));
        var cases = doc.RootElement.GetProperty("cases").EnumerateArray().ToArray();
        Assert.NotEmpty(cases);
        foreach (var c in cases)
        {
            var type = c.GetProperty("ggml_type").GetInt32();
            var raw = Convert.FromHexString(c.GetProperty("raw_hex").GetString()!);
            var expected = c.GetProperty("expected").EnumerateArray().Select(e => e.GetSingle()).ToArray();

            var actual = new float[expected.Length];
            GgmlNative.DequantizeRow(type, raw, actual);

            Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public void QuantizeChunk_RefusesWhatGgmlWouldAbortOn()
    {
        var x = new float[48];
        var dst = new byte[1024];

        Assert.Throws<ArgumentException>(() => GgmlNative.QuantizeChunk(Q4_0, x, dst, 1, 48));    // 48 % 32 != 0
        Assert.Throws<ArgumentException>(() => GgmlNative.QuantizeChunk(Q4_0, x, dst, 2, 32));    // src too short
        Assert.Throws<ArgumentException>(() => GgmlNative.QuantizeChunk(Q8_0, new float[64], new byte[67], 1, 64));
        Assert.Throws<NotSupportedException>(() => GgmlNative.QuantizeChunk(Q8_1, x, dst, 1, 32)); // no quantize_chunk case
        Assert.Throws<NotSupportedException>(() => GgmlNative.QuantizeChunk(IQ2_XXS, new float[256], dst, 1, 256)); // needs imatrix
        Assert.Throws<ArgumentOutOfRangeException>(() => GgmlNative.QuantizeChunk(4, x, dst, 1, 32));
        Assert.Throws<ArgumentException>(() => GgmlNative.DequantizeRow(Q4_0, new byte[17], new float[32]));
        Assert.Throws<ArgumentException>(() => GgmlNative.DequantizeRow(Q4_0, new byte[18], new float[31]));
    }

    [Fact]
    public void Q4_K_RoundTrip_OfSmoothRow_IsClose()
    {
        var x = Enumerable.Range(0, 512).Select(i => MathF.Sin(i * 0.05f)).ToArray();
        var packed = new byte[2 * 144];

        Assert.Equal(288, GgmlNative.QuantizeChunk(Q4_K, x, packed, nRows: 2, nPerRow: 256));
        var y = new float[512];
        GgmlNative.DequantizeRow(Q4_K, packed, y);

        // 4-bit codes over a range of 2 with 6-bit sub-block scales: 1/15 of the range is a generous step.
        Assert.All(Enumerable.Range(0, 512), i => Assert.True(Math.Abs(x[i] - y[i]) < 2f / 15, $"{i}: {x[i]} vs {y[i]}"));
    }
}
