using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Gguf2Qnn.Gguf;

/// <summary>
/// The non-linear 4-bit types (ggml-common.h <c>block_iq4_nl</c>, <c>block_iq4_xs</c>): each nibble indexes the 16
/// values <see cref="IqGrids.Iq4nl"/>, in Q4_0's nibble order (byte j: weight j low, weight j + 16 high).
/// </summary>
internal static class IQ4Dequantizer
{
    /// <summary>Weights per block (32 for every type of this family, from <see cref="GgmlTypeTraits"/>).</summary>
    private static readonly int Block32 = GgmlTypeTraits.BlockSize(GgmlType.IQ4_NL);

    /// <summary>Weights per super-block (256 for every type of this family, from <see cref="GgmlTypeTraits"/>).</summary>
    private static readonly int QK = GgmlTypeTraits.BlockSize(GgmlType.IQ4_XS);
    private static readonly int Iq4nlBytes = GgmlTypeTraits.TypeSize(GgmlType.IQ4_NL);
    private static readonly int Iq4xsBytes = GgmlTypeTraits.TypeSize(GgmlType.IQ4_XS);

    /// <summary>IQ4_NL (18 bytes per 32 weights): fp16 d, qs[16]. value = d · table[nibble].</summary>
    public static void IQ4_NL(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (Vector128.IsHardwareAccelerated)
        {
            IQ4_NLVector128(src, dst);
        }
        else
        {
            IQ4_NLScalar(src, dst);
        }
    }

    public static void IQ4_NLVector128(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var table = Vector128.Create(IqGrids.Iq4nl);
        var mask = Vector128.Create((byte)0x0F);
        var blocks = dst.Length / Block32;
        ref var y = ref MemoryMarshal.GetReference(dst);
        for (var b = 0; b < blocks; b++)
        {
            var o = b * Iq4nlBytes;
            var d = Vector128.Create(FloatDequantizer.ReadHalf(src, o));
            var q = DequantizeSimd.Load16(src, o + 2);
            ref var yb = ref Unsafe.Add(ref y, b * 32);
            DequantizeSimd.Scale16(DequantizeSimd.Lookup16(table, q & mask), d, ref yb);
            DequantizeSimd.Scale16(DequantizeSimd.Lookup16(table, Vector128.ShiftRightLogical(q, 4)), d, ref Unsafe.Add(ref yb, 16));
        }
    }

    public static void IQ4_NLScalar(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var table = IqGrids.Iq4nl;
        var blocks = dst.Length / Block32;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Iq4nlBytes, Iq4nlBytes);
            var d = FloatDequantizer.ReadHalf(block, 0);
            var y = dst.Slice(b * 32, 32);
            for (var j = 0; j < 16; j++)
            {
                y[j] = d * table[block[2 + j] & 0xF];
                y[j + 16] = d * table[block[2 + j] >> 4];
            }
        }
    }

    /// <summary>
    /// IQ4_XS (136 bytes per 256 weights): fp16 d, scales_h uint16 at 2, scales_l[4] at 4, qs[128] at 8. Sub-block i
    /// (32 weights, 16 bytes of qs) has the 6-bit scale ls = nibble i % 2 of scales_l[i / 2] | bits 2i..2i+1 of
    /// scales_h &lt;&lt; 4; value = (d · (ls − 32)) · table[nibble].
    /// </summary>
    public static void IQ4_XS(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (Vector128.IsHardwareAccelerated)
        {
            IQ4_XSVector128(src, dst);
        }
        else
        {
            IQ4_XSScalar(src, dst);
        }
    }

    public static void IQ4_XSVector128(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var table = Vector128.Create(IqGrids.Iq4nl);
        var mask = Vector128.Create((byte)0x0F);
        var blocks = dst.Length / QK;
        ref var y = ref MemoryMarshal.GetReference(dst);
        for (var b = 0; b < blocks; b++)
        {
            var o = b * Iq4xsBytes;
            var d = FloatDequantizer.ReadHalf(src, o);
            var scalesH = BinaryPrimitives.ReadUInt16LittleEndian(src[(o + 2)..]);
            for (var i = 0; i < 8; i++)
            {
                var ls = ((src[o + 4 + (i / 2)] >> (4 * (i % 2))) & 0xF) | (((scalesH >> (2 * i)) & 3) << 4);
                var dl = Vector128.Create(d * (ls - 32));
                var q = DequantizeSimd.Load16(src, o + 8 + (16 * i));
                ref var yb = ref Unsafe.Add(ref y, (b * QK) + (32 * i));
                DequantizeSimd.Scale16(DequantizeSimd.Lookup16(table, q & mask), dl, ref yb);
                DequantizeSimd.Scale16(DequantizeSimd.Lookup16(table, Vector128.ShiftRightLogical(q, 4)), dl, ref Unsafe.Add(ref yb, 16));
            }
        }
    }

    public static void IQ4_XSScalar(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var table = IqGrids.Iq4nl;
        var blocks = dst.Length / QK;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Iq4xsBytes, Iq4xsBytes);
            var d = FloatDequantizer.ReadHalf(block, 0);
            var scalesH = BinaryPrimitives.ReadUInt16LittleEndian(block[2..]);
            var y = dst.Slice(b * QK, QK);
            for (var i = 0; i < 8; i++)
            {
                var ls = ((block[4 + (i / 2)] >> (4 * (i % 2))) & 0xF) | (((scalesH >> (2 * i)) & 3) << 4);
                var dl = d * (ls - 32);
                var qs = block.Slice(8 + (16 * i), 16);
                var yy = y.Slice(32 * i, 32);
                for (var j = 0; j < 16; j++)
                {
                    yy[j] = dl * table[qs[j] & 0xF];
                    yy[j + 16] = dl * table[qs[j] >> 4];
                }
            }
        }
    }
}
