using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Gguf2Qnn.Gguf;

/// <summary>
/// The plain float types (ggml.c type traits): F32 (copied), F16 (IEEE binary16, converted exactly), BF16 (the top
/// 16 bits of an f32: <c>bits &lt;&lt; 16</c>, not an f16), and F64 (rounded to the nearest f32; ggml has no
/// <c>to_float</c> for F64, so this is the C cast <c>(float)x</c>).
/// </summary>
internal static class FloatDequantizer
{
    public static void F32(ReadOnlySpan<byte> src, Span<float> dst) => MemoryMarshal.Cast<byte, float>(src).CopyTo(dst);

    /// <summary>F16 with the vectorized conversion of <see cref="TensorPrimitives"/>.</summary>
    public static void F16(ReadOnlySpan<byte> src, Span<float> dst) =>
        TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(src), dst);

    /// <summary>F16 one value at a time (the reference for <see cref="F16"/>).</summary>
    public static void F16Scalar(ReadOnlySpan<byte> src, Span<float> dst)
    {
        for (var i = 0; i < dst.Length; i++)
        {
            dst[i] = ReadHalf(src, 2 * i);
        }
    }

    public static void BF16(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var i = 0;
        if (Vector128.IsHardwareAccelerated && dst.Length >= 8)
        {
            ref var s = ref Unsafe.As<byte, ushort>(ref MemoryMarshal.GetReference(src));
            ref var d = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(dst));
            for (; i <= dst.Length - 8; i += 8)
            {
                var (lo, hi) = Vector128.Widen(Vector128.LoadUnsafe(ref s, (nuint)i));
                (lo << 16).StoreUnsafe(ref d, (nuint)i);
                (hi << 16).StoreUnsafe(ref d, (nuint)i + 4);
            }
        }

        BF16Tail(src, dst, i);
    }

    public static void BF16Scalar(ReadOnlySpan<byte> src, Span<float> dst) => BF16Tail(src, dst, 0);

    public static void F64(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var x = MemoryMarshal.Cast<byte, double>(src);
        for (var i = 0; i < dst.Length; i++)
        {
            dst[i] = (float)x[i];
        }
    }

    /// <summary>Reads a little-endian IEEE half at <paramref name="offset"/> as float (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ReadHalf(ReadOnlySpan<byte> src, int offset) =>
        (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(src[offset..]));

    private static void BF16Tail(ReadOnlySpan<byte> src, Span<float> dst, int start)
    {
        var bits = MemoryMarshal.Cast<byte, ushort>(src);
        for (var i = start; i < dst.Length; i++)
        {
            dst[i] = BitConverter.Int32BitsToSingle(bits[i] << 16);
        }
    }
}
