using System.Buffers.Binary;

namespace Gguf2Qnn.Gguf;

/// <summary>
/// The 1.5- and 1.75-bit i-quants (ggml-common.h <c>block_iq1_s</c>, <c>block_iq1_m</c>; 256 weights in eight groups
/// of 32, four lookups of 8 per group into the 2048-entry grid <see cref="IqGrids.Iq1s"/> of values in {−1, 0, 1}).
/// value = dl · (grid[j] + delta), delta = ±0.125.
/// </summary>
internal static class IQ1Dequantizer
{
    /// <summary>Weights per super-block (256 for every type of this family, from <see cref="GgmlTypeTraits"/>).</summary>
    private static readonly int QK = GgmlTypeTraits.BlockSize(GgmlType.IQ1_S);
    private const float Delta = 0.125f;
    private static readonly int Iq1sBytes = GgmlTypeTraits.TypeSize(GgmlType.IQ1_S);
    private static readonly int Iq1mBytes = GgmlTypeTraits.TypeSize(GgmlType.IQ1_M);

    /// <summary>
    /// IQ1_S (50 bytes): fp16 d, qs[32] at 2 (low 8 index bits per lookup), qh[8] uint16 at 34 (group g: bits 3l..3l+2
    /// are index bits 8–10 of lookup l, bits 12–14 the scale s, bit 15 the sign of delta). dl = d · (2s + 1).
    /// </summary>
    public static void IQ1_S(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var grid = IqGrids.Iq1s;
        var blocks = dst.Length / QK;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Iq1sBytes, Iq1sBytes);
            var d = FloatDequantizer.ReadHalf(block, 0);
            var y = dst.Slice(b * QK, QK);
            for (var g = 0; g < 8; g++)
            {
                var qh = BinaryPrimitives.ReadUInt16LittleEndian(block[(34 + (2 * g))..]);
                var dl = d * ((2 * ((qh >> 12) & 7)) + 1);
                var delta = (qh & 0x8000) != 0 ? -Delta : Delta;
                for (var l = 0; l < 4; l++)
                {
                    var index = block[2 + (4 * g) + l] | (((qh >> (3 * l)) & 7) << 8);
                    Lookup(grid.Slice(8 * index, 8), dl, delta, y.Slice((32 * g) + (8 * l), 8));
                }
            }
        }
    }

    /// <summary>
    /// IQ1_M (56 bytes): qs[32] at 0 (low 8 index bits), qh[16] at 32 (two bytes per group; each nibble: bits 0–2 index
    /// bits 8–10, bit 3 the sign of delta, for lookups 0, 1 (byte 0) and 2, 3 (byte 1)), scales[8] at 48 read as four
    /// uint16: group g uses 3-bit scales at bits 6(g % 2) and 6(g % 2) + 3 of word g / 2 (lookups 0–1 and 2–3), and the
    /// top nibbles of the four words form the fp16 d. dl = d · (2s + 1).
    /// </summary>
    public static void IQ1_M(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var grid = IqGrids.Iq1s;
        var blocks = dst.Length / QK;
        Span<int> sc = stackalloc int[4];
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Iq1mBytes, Iq1mBytes);
            for (var i = 0; i < 4; i++)
            {
                sc[i] = BinaryPrimitives.ReadUInt16LittleEndian(block[(48 + (2 * i))..]);
            }

            var dBits = (sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) | ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000);
            var d = (float)BitConverter.UInt16BitsToHalf((ushort)dBits);
            var y = dst.Slice(b * QK, QK);
            for (var g = 0; g < 8; g++)
            {
                var shift = 6 * (g % 2);
                var dl1 = d * ((2 * ((sc[g / 2] >> shift) & 7)) + 1);
                var dl2 = d * ((2 * ((sc[g / 2] >> (shift + 3)) & 7)) + 1);
                for (var l = 0; l < 4; l++)
                {
                    int qh = block[32 + (2 * g) + (l / 2)];
                    var nibble = (l & 1) == 0 ? qh & 0xF : qh >> 4;
                    var index = block[(4 * g) + l] | ((nibble & 7) << 8);
                    var delta = (nibble & 8) != 0 ? -Delta : Delta;
                    Lookup(grid.Slice(8 * index, 8), l < 2 ? dl1 : dl2, delta, y.Slice((32 * g) + (8 * l), 8));
                }
            }
        }
    }

    private static void Lookup(ReadOnlySpan<sbyte> entry, float dl, float delta, Span<float> y)
    {
        for (var j = 0; j < 8; j++)
        {
            y[j] = dl * (entry[j] + delta);
        }
    }
}
