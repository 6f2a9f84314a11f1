namespace Gguf2Qnn.Gguf;

/// <summary>
/// The ternary types (ggml-common.h <c>block_tq1_0</c>, <c>block_tq2_0</c>; 256 weights in {−1, 0, 1} times an fp16
/// d). value = (t − 1) · d for a stored trit t in {0, 1, 2}.
/// </summary>
internal static class TernaryDequantizer
{
    /// <summary>Weights per super-block (256 for every type of this family, from <see cref="GgmlTypeTraits"/>).</summary>
    private static readonly int QK = GgmlTypeTraits.BlockSize(GgmlType.TQ1_0);
    private static readonly int Tq1Bytes = GgmlTypeTraits.TypeSize(GgmlType.TQ1_0);
    private static readonly int Tq2Bytes = GgmlTypeTraits.TypeSize(GgmlType.TQ2_0);

    /// <summary>
    /// TQ1_0 (54 bytes): qs[48] at 0, qh[4] at 48, fp16 d at 52. Each byte packs 5 trits (4 for qh) as a base-3 fixed
    /// point fraction: trit n of byte x is ((uint8)(x · 3ⁿ) · 3) &gt;&gt; 8. Output order: qs[0..32) trit 0 for all 32
    /// bytes, then trit 1 … 4; then qs[32..48) likewise; then qh[0..4) trits 0 … 3.
    /// </summary>
    public static void TQ1_0(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / QK;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Tq1Bytes, Tq1Bytes);
            var d = FloatDequantizer.ReadHalf(block, 52);
            var y = dst.Slice(b * QK, QK);
            var n = 0;
            n = Trits(block[..32], 5, d, y, n);
            n = Trits(block[32..48], 5, d, y, n);
            Trits(block.Slice(48, 4), 4, d, y, n);
        }
    }

    /// <summary>
    /// TQ2_0 (66 bytes): qs[64] at 0, fp16 d at 64; 2-bit trits. Each 32-byte half gives 128 weights: bits 2k..2k+1 of
    /// its bytes 0–31 for k = 0..3 in turn.
    /// </summary>
    public static void TQ2_0(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / QK;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Tq2Bytes, Tq2Bytes);
            var d = FloatDequantizer.ReadHalf(block, 64);
            var y = dst.Slice(b * QK, QK);
            var n = 0;
            for (var half = 0; half < 64; half += 32)
            {
                for (var k = 0; k < 4; k++)
                {
                    for (var m = 0; m < 32; m++)
                    {
                        y[n++] = (((block[half + m] >> (2 * k)) & 3) - 1) * d;
                    }
                }
            }
        }
    }

    private static int Trits(ReadOnlySpan<byte> bytes, int count, float d, Span<float> y, int n)
    {
        var pow3 = 1;
        for (var t = 0; t < count; t++)
        {
            foreach (var x in bytes)
            {
                var q = (byte)(x * pow3);
                y[n++] = (((q * 3) >> 8) - 1) * d;
            }

            pow3 *= 3;
        }

        return n;
    }
}
