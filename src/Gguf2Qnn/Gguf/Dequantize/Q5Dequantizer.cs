using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Gguf2Qnn.Gguf;

/// <summary>
/// The 5-bit legacy types (ggml-common.h <c>block_q5_0</c>, <c>block_q5_1</c>; 32 weights per block). The fifth bit of
/// weight j is bit j of the little-endian uint32 qh; the low four bits follow Q4_0's nibble order.
/// Q5_0 (22 bytes: fp16 d, qh, qs[16]): value = (q − 16) · d. Q5_1 (24 bytes: fp16 d, fp16 m, qh, qs[16]): value =
/// q · d + m.
/// </summary>
internal static class Q5Dequantizer
{
    /// <summary>Weights per block (32 for every type of this family, from <see cref="GgmlTypeTraits"/>).</summary>
    private static readonly int Block32 = GgmlTypeTraits.BlockSize(GgmlType.Q5_0);

    private static readonly int Q5_0Bytes = GgmlTypeTraits.TypeSize(GgmlType.Q5_0);
    private static readonly int Q5_1Bytes = GgmlTypeTraits.TypeSize(GgmlType.Q5_1);

    public static void Q5_0(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (Vector128.IsHardwareAccelerated)
        {
            Q5Vector128(src, dst, Q5_0Bytes, hasMin: false);
        }
        else
        {
            Q5_0Scalar(src, dst);
        }
    }

    public static void Q5_1(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (Vector128.IsHardwareAccelerated)
        {
            Q5Vector128(src, dst, Q5_1Bytes, hasMin: true);
        }
        else
        {
            Q5_1Scalar(src, dst);
        }
    }

    /// <summary>Q5_0 (q − 16) · d and Q5_1 q · d + m, 32 weights per block, with the fifth bits spread by a byte shuffle.</summary>
    public static void Q5Vector128(ReadOnlySpan<byte> src, Span<float> dst, int blockBytes, bool hasMin)
    {
        var blocks = dst.Length / Block32;
        ref var y = ref MemoryMarshal.GetReference(dst);
        var mask = Vector128.Create((byte)0x0F);
        var sixteen = Vector128.Create((sbyte)16);
        var qhOffset = hasMin ? 4 : 2;
        for (var b = 0; b < blocks; b++)
        {
            var o = b * blockBytes;
            var d = Vector128.Create(FloatDequantizer.ReadHalf(src, o));
            var qh = BinaryPrimitives.ReadUInt32LittleEndian(src[(o + qhOffset)..]);
            var q = DequantizeSimd.Load16(src, o + qhOffset + 4);
            var lo = ((q & mask) | DequantizeSimd.BitsToBytes(qh & 0xFFFF, 0x10)).AsSByte();
            var hi = (Vector128.ShiftRightLogical(q, 4) | DequantizeSimd.BitsToBytes(qh >> 16, 0x10)).AsSByte();
            ref var yb = ref Unsafe.Add(ref y, b * 32);
            if (hasMin)
            {
                var m = Vector128.Create(FloatDequantizer.ReadHalf(src, o + 2));
                DequantizeSimd.ScaleAdd16(lo, d, m, ref yb);
                DequantizeSimd.ScaleAdd16(hi, d, m, ref Unsafe.Add(ref yb, 16));
            }
            else
            {
                DequantizeSimd.Scale16(lo - sixteen, d, ref yb);
                DequantizeSimd.Scale16(hi - sixteen, d, ref Unsafe.Add(ref yb, 16));
            }
        }
    }

    public static void Q5_0Scalar(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / Block32;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Q5_0Bytes, Q5_0Bytes);
            var d = FloatDequantizer.ReadHalf(block, 0);
            var qh = BinaryPrimitives.ReadUInt32LittleEndian(block[2..]);
            var y = dst.Slice(b * 32, 32);
            for (var j = 0; j < 16; j++)
            {
                var lo = (block[6 + j] & 0x0F) | (int)(((qh >> j) & 1) << 4);
                var hi = (block[6 + j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
                y[j] = (lo - 16) * d;
                y[j + 16] = (hi - 16) * d;
            }
        }
    }

    public static void Q5_1Scalar(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / Block32;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Q5_1Bytes, Q5_1Bytes);
            var d = FloatDequantizer.ReadHalf(block, 0);
            var m = FloatDequantizer.ReadHalf(block, 2);
            var qh = BinaryPrimitives.ReadUInt32LittleEndian(block[4..]);
            var y = dst.Slice(b * 32, 32);
            for (var j = 0; j < 16; j++)
            {
                var lo = (block[8 + j] & 0x0F) | (int)(((qh >> j) & 1) << 4);
                var hi = (block[8 + j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
                y[j] = (lo * d) + m;
                y[j + 16] = (hi * d) + m;
            }
        }
    }
}
