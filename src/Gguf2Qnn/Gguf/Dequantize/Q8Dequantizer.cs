using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Gguf2Qnn.Gguf;

/// <summary>
/// The 8-bit types with 32-weight blocks. Q8_0 (ggml-common.h <c>block_q8_0</c>, 34 bytes): fp16 d, qs[32] int8;
/// value = q · d. Q8_1 (<c>block_q8_1</c>, 36 bytes): fp16 d, fp16 s (= d · Σq, used only by dot products), qs[32];
/// value = q · d (ggml has no <c>to_float</c> for Q8_1, an activation-only type; this follows the block's meaning).
/// </summary>
internal static class Q8Dequantizer
{
    /// <summary>Weights per block (32 for every type of this family, from <see cref="GgmlTypeTraits"/>).</summary>
    private static readonly int Block32 = GgmlTypeTraits.BlockSize(GgmlType.Q8_0);

    private static readonly int Q8_0Bytes = GgmlTypeTraits.TypeSize(GgmlType.Q8_0);
    private static readonly int Q8_1Bytes = GgmlTypeTraits.TypeSize(GgmlType.Q8_1);

    public static void Q8_0(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (Vector128.IsHardwareAccelerated)
        {
            Q8_0Vector128(src, dst);
        }
        else
        {
            Q8_0Scalar(src, dst);
        }
    }

    public static void Q8_0Scalar(ReadOnlySpan<byte> src, Span<float> dst) => Scalar(src, dst, Q8_0Bytes, 2);

    public static void Q8_0Vector128(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / Block32;
        ref var y = ref MemoryMarshal.GetReference(dst);
        for (var b = 0; b < blocks; b++)
        {
            var o = b * Q8_0Bytes;
            var d = Vector128.Create(FloatDequantizer.ReadHalf(src, o));
            ref var yb = ref Unsafe.Add(ref y, b * 32);
            DequantizeSimd.Scale16(DequantizeSimd.Load16(src, o + 2).AsSByte(), d, ref yb);
            DequantizeSimd.Scale16(DequantizeSimd.Load16(src, o + 18).AsSByte(), d, ref Unsafe.Add(ref yb, 16));
        }
    }

    public static void Q8_1(ReadOnlySpan<byte> src, Span<float> dst) => Scalar(src, dst, Q8_1Bytes, 4);

    private static void Scalar(ReadOnlySpan<byte> src, Span<float> dst, int blockBytes, int qsOffset)
    {
        var blocks = dst.Length / Block32;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * blockBytes, blockBytes);
            var d = FloatDequantizer.ReadHalf(block, 0);
            var y = dst.Slice(b * 32, 32);
            for (var j = 0; j < 32; j++)
            {
                y[j] = (sbyte)block[qsOffset + j] * d;
            }
        }
    }
}
