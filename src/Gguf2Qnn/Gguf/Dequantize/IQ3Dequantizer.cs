using System.Buffers.Binary;

namespace Gguf2Qnn.Gguf;

/// <summary>
/// The 3-bit i-quants (ggml-common.h <c>block_iq3_xxs</c>, <c>block_iq3_s</c>; 256 weights in eight groups of 32, each
/// group four lookups of two 4-value grid entries). value = db · grid[j] · (±1).
/// </summary>
internal static class IQ3Dequantizer
{
    /// <summary>Weights per super-block (256 for every type of this family, from <see cref="GgmlTypeTraits"/>).</summary>
    private static readonly int QK = GgmlTypeTraits.BlockSize(GgmlType.IQ3_XXS);
    private static readonly int Iq3xxsBytes = GgmlTypeTraits.TypeSize(GgmlType.IQ3_XXS);
    private static readonly int Iq3sBytes = GgmlTypeTraits.TypeSize(GgmlType.IQ3_S);

    /// <summary>
    /// IQ3_XXS (98 bytes): fp16 d, qs[64] at 2 (8-bit indices into the 256-entry grid, 8 per group), then per group a
    /// little-endian uint32 at 66 + 4g holding four 7-bit sign indices (<see cref="IqGrids.Signs"/>) and the scale in
    /// bits 28–31: db = d · (0.5 + s) · 0.5.
    /// </summary>
    public static void IQ3_XXS(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var grid = IqGrids.Iq3xxs;
        var signs = IqGrids.Signs;
        var blocks = dst.Length / QK;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Iq3xxsBytes, Iq3xxsBytes);
            var d = FloatDequantizer.ReadHalf(block, 0);
            var y = dst.Slice(b * QK, QK);
            for (var g = 0; g < 8; g++)
            {
                var aux = BinaryPrimitives.ReadUInt32LittleEndian(block[(66 + (4 * g))..]);
                var db = d * (0.5f + (aux >> 28)) * 0.5f;
                for (var l = 0; l < 4; l++)
                {
                    int mask = signs[(int)((aux >> (7 * l)) & 127)];
                    var e1 = grid.Slice(4 * block[2 + (8 * g) + (2 * l)], 4);
                    var e2 = grid.Slice(4 * block[2 + (8 * g) + (2 * l) + 1], 4);
                    Pair(e1, e2, mask, db, y.Slice((32 * g) + (8 * l), 8));
                }
            }
        }
    }

    /// <summary>
    /// IQ3_S (110 bytes): fp16 d, qs[64] at 2 (low 8 bits of 9-bit indices into the 512-entry grid), qh[8] at 66
    /// (group g: bit k is index bit 8 of entry k), signs[32] at 74 (one 8-bit mask per lookup), scales[4] at 106
    /// (groups 2i and 2i + 1 take the low and high nibble of byte i): db = d · (1 + 2s).
    /// </summary>
    public static void IQ3_S(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var grid = IqGrids.Iq3s;
        var blocks = dst.Length / QK;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Iq3sBytes, Iq3sBytes);
            var d = FloatDequantizer.ReadHalf(block, 0);
            var y = dst.Slice(b * QK, QK);
            for (var g = 0; g < 8; g++)
            {
                var s = block[106 + (g / 2)];
                var db = d * (1 + (2 * ((g & 1) == 0 ? s & 0xF : s >> 4)));
                var qh = block[66 + g];
                for (var l = 0; l < 4; l++)
                {
                    var k = (8 * g) + (2 * l);
                    var i1 = block[2 + k] | (((qh >> (2 * l)) & 1) << 8);
                    var i2 = block[2 + k + 1] | (((qh >> ((2 * l) + 1)) & 1) << 8);
                    Pair(grid.Slice(4 * i1, 4), grid.Slice(4 * i2, 4), block[74 + (4 * g) + l], db, y.Slice((32 * g) + (8 * l), 8));
                }
            }
        }
    }

    private static void Pair(ReadOnlySpan<byte> e1, ReadOnlySpan<byte> e2, int mask, float db, Span<float> y)
    {
        for (var j = 0; j < 4; j++)
        {
            y[j] = db * e1[j] * (1 - (((mask >> j) & 1) << 1));
            y[j + 4] = db * e2[j] * (1 - (((mask >> (j + 4)) & 1) << 1));
        }
    }
}
