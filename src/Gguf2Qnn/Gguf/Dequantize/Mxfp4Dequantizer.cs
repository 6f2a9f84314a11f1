using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Gguf2Qnn.Gguf;

/// <summary>
/// MXFP4 (ggml-common.h <c>block_mxfp4</c>, OCP microscaling FP4; 32 weights in 17 bytes): e (E8M0 exponent) at 0,
/// qs[16] at 1 in Q4_0's nibble order. Each nibble is an E2M1 value; ggml stores them doubled as integers
/// (<see cref="IqGrids.Mxfp4"/>) and halves the scale instead: d = 2^(e − 128) (2^−128 and 2^−127, subnormal, for
/// e = 0 and 1). value = table[nibble] · d.
/// </summary>
internal static class Mxfp4Dequantizer
{
    /// <summary>Weights per block (32 for every type of this family, from <see cref="GgmlTypeTraits"/>).</summary>
    private static readonly int Block32 = GgmlTypeTraits.BlockSize(GgmlType.MXFP4);

    private static readonly int BlockBytes = GgmlTypeTraits.TypeSize(GgmlType.MXFP4);

    public static void MXFP4(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (Vector128.IsHardwareAccelerated)
        {
            MXFP4Vector128(src, dst);
        }
        else
        {
            MXFP4Scalar(src, dst);
        }
    }

    public static void MXFP4Vector128(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var table = Vector128.Create(IqGrids.Mxfp4);
        var mask = Vector128.Create((byte)0x0F);
        var blocks = dst.Length / Block32;
        ref var y = ref MemoryMarshal.GetReference(dst);
        for (var b = 0; b < blocks; b++)
        {
            var o = b * BlockBytes;
            var d = Vector128.Create(HalfScale(src[o]));
            var q = DequantizeSimd.Load16(src, o + 1);
            ref var yb = ref Unsafe.Add(ref y, b * 32);
            DequantizeSimd.Scale16(DequantizeSimd.Lookup16(table, q & mask), d, ref yb);
            DequantizeSimd.Scale16(DequantizeSimd.Lookup16(table, Vector128.ShiftRightLogical(q, 4)), d, ref Unsafe.Add(ref yb, 16));
        }
    }

    public static void MXFP4Scalar(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var table = IqGrids.Mxfp4;
        var blocks = dst.Length / Block32;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * BlockBytes, BlockBytes);
            var d = HalfScale(block[0]);
            var y = dst.Slice(b * 32, 32);
            for (var j = 0; j < 16; j++)
            {
                y[j] = table[block[1 + j] & 0xF] * d;
                y[j + 16] = table[block[1 + j] >> 4] * d;
            }
        }
    }

    /// <summary>2^(e − 128) as f32 bits: (e − 1) &lt;&lt; 23 for e ≥ 2, the subnormals 2^21 &lt;&lt; e bits for e = 0, 1.</summary>
    private static float HalfScale(byte e) =>
        BitConverter.UInt32BitsToSingle(e < 2 ? 0x00200000u << e : (uint)(e - 1) << 23);
}
