using System.Buffers.Binary;

namespace Gguf2Qnn.Gguf;

/// <summary>
/// The 2-bit i-quants (ggml-common.h <c>block_iq2_xxs</c>, <c>block_iq2_xs</c>, <c>block_iq2_s</c>; 256 weights in
/// eight groups of 32, each group four lookups of 8 weights). A lookup picks an 8-value entry of a grid
/// (<see cref="IqGrids"/>) and a sign mask (bit j set negates weight j). value = db · grid[j] · (±1), where
/// db = d · (0.5 + s) · 0.25 for the group's (or half-group's) 4-bit scale s.
/// </summary>
internal static class IQ2Dequantizer
{
    /// <summary>Weights per super-block (256 for every type of this family, from <see cref="GgmlTypeTraits"/>).</summary>
    private static readonly int QK = GgmlTypeTraits.BlockSize(GgmlType.IQ2_XXS);
    private static readonly int Iq2xxsBytes = GgmlTypeTraits.TypeSize(GgmlType.IQ2_XXS);
    private static readonly int Iq2xsBytes = GgmlTypeTraits.TypeSize(GgmlType.IQ2_XS);
    private static readonly int Iq2sBytes = GgmlTypeTraits.TypeSize(GgmlType.IQ2_S);

    /// <summary>
    /// IQ2_XXS (66 bytes): fp16 d, then per group 8 bytes read as two little-endian uint32: the first holds four
    /// 8-bit grid indices (256-entry grid), the second four 7-bit sign indices (bits 7l..7l+6, into
    /// <see cref="IqGrids.Signs"/>) and the group scale in bits 28–31.
    /// </summary>
    public static void IQ2_XXS(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var grid = IqGrids.Iq2xxs;
        var signs = IqGrids.Signs;
        var blocks = dst.Length / QK;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Iq2xxsBytes, Iq2xxsBytes);
            var d = FloatDequantizer.ReadHalf(block, 0);
            var y = dst.Slice(b * QK, QK);
            for (var g = 0; g < 8; g++)
            {
                var indices = block.Slice(2 + (8 * g), 4);
                var aux = BinaryPrimitives.ReadUInt32LittleEndian(block[(6 + (8 * g))..]);
                var db = d * (0.5f + (aux >> 28)) * 0.25f;
                for (var l = 0; l < 4; l++)
                {
                    Lookup(grid.Slice(8 * indices[l], 8), signs[(int)((aux >> (7 * l)) & 127)], db, y.Slice((32 * g) + (8 * l), 8));
                }
            }
        }
    }

    /// <summary>
    /// IQ2_XS (74 bytes): fp16 d, qs[32] uint16 (bits 0–8: index into the 512-entry grid; bits 9–15: sign index),
    /// scales[8] (group g: low nibble for lookups 0–1, high nibble for lookups 2–3).
    /// </summary>
    public static void IQ2_XS(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var grid = IqGrids.Iq2xs;
        var signs = IqGrids.Signs;
        var blocks = dst.Length / QK;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Iq2xsBytes, Iq2xsBytes);
            var d = FloatDequantizer.ReadHalf(block, 0);
            var y = dst.Slice(b * QK, QK);
            for (var g = 0; g < 8; g++)
            {
                var s = block[66 + g];
                var db0 = d * (0.5f + (s & 0xF)) * 0.25f;
                var db1 = d * (0.5f + (s >> 4)) * 0.25f;
                for (var l = 0; l < 4; l++)
                {
                    var q = BinaryPrimitives.ReadUInt16LittleEndian(block[(2 + (2 * ((4 * g) + l)))..]);
                    Lookup(grid.Slice(8 * (q & 511), 8), signs[q >> 9], l < 2 ? db0 : db1, y.Slice((32 * g) + (8 * l), 8));
                }
            }
        }
    }

    /// <summary>
    /// IQ2_S (82 bytes): fp16 d, qs[32] at 2 (low 8 bits of each 10-bit index into the 1024-entry grid), signs[32] at
    /// 34 (one plain 8-bit mask per lookup), qh[8] at 66 (group g: bits 2l..2l+1 are index bits 8–9 of lookup l),
    /// scales[8] at 74 (as IQ2_XS).
    /// </summary>
    public static void IQ2_S(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var grid = IqGrids.Iq2s;
        var blocks = dst.Length / QK;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Iq2sBytes, Iq2sBytes);
            var d = FloatDequantizer.ReadHalf(block, 0);
            var y = dst.Slice(b * QK, QK);
            for (var g = 0; g < 8; g++)
            {
                var s = block[74 + g];
                var db0 = d * (0.5f + (s & 0xF)) * 0.25f;
                var db1 = d * (0.5f + (s >> 4)) * 0.25f;
                var qh = block[66 + g];
                for (var l = 0; l < 4; l++)
                {
                    var k = (4 * g) + l;
                    var index = block[2 + k] | (((qh >> (2 * l)) & 3) << 8);
                    Lookup(grid.Slice(8 * index, 8), block[34 + k], l < 2 ? db0 : db1, y.Slice((32 * g) + (8 * l), 8));
                }
            }
        }
    }

    private static void Lookup(ReadOnlySpan<byte> entry, int signMask, float db, Span<float> y)
    {
        for (var j = 0; j < 8; j++)
        {
            y[j] = db * entry[j] * (1 - (((signMask >> j) & 1) << 1));
        }
    }
}
