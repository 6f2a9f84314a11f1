using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Gguf2Qnn.Gguf;

/// <summary>
/// The 4-bit legacy types (32 weights per block). Byte j of qs holds weight j in its low nibble and weight j + 16 in
/// its high nibble. Q4_0 (ggml-common.h <c>block_q4_0</c>, 18 bytes: fp16 d, qs[16]): value = (nibble − 8) · d.
/// Q4_1 (<c>block_q4_1</c>, 20 bytes: fp16 d, fp16 m, qs[16]): value = nibble · d + m.
/// </summary>
internal static class Q4Dequantizer
{
    /// <summary>Weights per block (32 for every type of this family, from <see cref="GgmlTypeTraits"/>).</summary>
    private static readonly int Block32 = GgmlTypeTraits.BlockSize(GgmlType.Q4_1);

    private static readonly int Q4_0Bytes = GgmlTypeTraits.TypeSize(GgmlType.Q4_0);
    private static readonly int Q4_0Weights = GgmlTypeTraits.BlockSize(GgmlType.Q4_0);
    private static readonly int Q4_1Bytes = GgmlTypeTraits.TypeSize(GgmlType.Q4_1);

    public static void Q4_0(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (Vector128.IsHardwareAccelerated)
        {
            Q4_0Vector128(src, dst);
        }
        else
        {
            Q4_0Scalar(src, dst);
        }
    }

    public static void Q4_0Scalar(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / Q4_0Weights;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Q4_0Bytes, Q4_0Bytes);
            var d = FloatDequantizer.ReadHalf(block, 0);
            var y = dst.Slice(b * 32, 32);
            for (var j = 0; j < 16; j++)
            {
                y[j] = ((block[2 + j] & 0x0F) - 8) * d;
                y[j + 16] = ((block[2 + j] >> 4) - 8) * d;
            }
        }
    }

    public static void Q4_0Vector128(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / Q4_0Weights;
        ref var y = ref MemoryMarshal.GetReference(dst);
        var mask = Vector128.Create((byte)0x0F);
        var eight = Vector128.Create((sbyte)8);
        for (var b = 0; b < blocks; b++)
        {
            var o = b * Q4_0Bytes;
            var d = Vector128.Create(FloatDequantizer.ReadHalf(src, o));
            var q = DequantizeSimd.Load16(src, o + 2);
            ref var yb = ref Unsafe.Add(ref y, b * 32);
            DequantizeSimd.Scale16((q & mask).AsSByte() - eight, d, ref yb);
            DequantizeSimd.Scale16(Vector128.ShiftRightLogical(q, 4).AsSByte() - eight, d, ref Unsafe.Add(ref yb, 16));
        }
    }

    public static void Q4_1(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (Vector128.IsHardwareAccelerated)
        {
            Q4_1Vector128(src, dst);
        }
        else
        {
            Q4_1Scalar(src, dst);
        }
    }

    public static void Q4_1Vector128(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / Block32;
        ref var y = ref MemoryMarshal.GetReference(dst);
        var mask = Vector128.Create((byte)0x0F);
        for (var b = 0; b < blocks; b++)
        {
            var o = b * Q4_1Bytes;
            var d = Vector128.Create(FloatDequantizer.ReadHalf(src, o));
            var m = Vector128.Create(FloatDequantizer.ReadHalf(src, o + 2));
            var q = DequantizeSimd.Load16(src, o + 4);
            ref var yb = ref Unsafe.Add(ref y, b * 32);
            DequantizeSimd.ScaleAdd16((q & mask).AsSByte(), d, m, ref yb);
            DequantizeSimd.ScaleAdd16(Vector128.ShiftRightLogical(q, 4).AsSByte(), d, m, ref Unsafe.Add(ref yb, 16));
        }
    }

    public static void Q4_1Scalar(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / Block32;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Q4_1Bytes, Q4_1Bytes);
            var d = FloatDequantizer.ReadHalf(block, 0);
            var m = FloatDequantizer.ReadHalf(block, 2);
            var y = dst.Slice(b * 32, 32);
            for (var j = 0; j < 16; j++)
            {
                y[j] = ((block[4 + j] & 0x0F) * d) + m;
                y[j + 16] = ((block[4 + j] >> 4) * d) + m;
            }
        }
    }
}
