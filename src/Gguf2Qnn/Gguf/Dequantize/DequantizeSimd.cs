using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Gguf2Qnn.Gguf;

/// <summary>
/// The few vector steps the block kernels share: widen 16 signed 8-bit codes to float32 and scale them. Each keeps
/// ggml's rounding: one float multiply (<c>q · d</c>) or a multiply then a subtract (<c>d · q − m</c>), never a fused
/// multiply-add, so results are bit-exact with ggml's scalar <c>dequantize_row_*</c>.
/// </summary>
internal static class DequantizeSimd
{
    /// <summary>Stores <c>(float)q[i] · d</c> for i in 0..15 at <paramref name="dst"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Scale16(Vector128<sbyte> q, Vector128<float> d, ref float dst)
    {
        var (s0, s1) = Vector128.Widen(q);
        var (i0, i1) = Vector128.Widen(s0);
        var (i2, i3) = Vector128.Widen(s1);
        (Vector128.ConvertToSingle(i0) * d).StoreUnsafe(ref dst, 0);
        (Vector128.ConvertToSingle(i1) * d).StoreUnsafe(ref dst, 4);
        (Vector128.ConvertToSingle(i2) * d).StoreUnsafe(ref dst, 8);
        (Vector128.ConvertToSingle(i3) * d).StoreUnsafe(ref dst, 12);
    }

    /// <summary>Stores <c>d · (float)q[i] − m</c> for i in 0..15 at <paramref name="dst"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ScaleSubtract16(Vector128<sbyte> q, Vector128<float> d, Vector128<float> m, ref float dst)
    {
        var (s0, s1) = Vector128.Widen(q);
        var (i0, i1) = Vector128.Widen(s0);
        var (i2, i3) = Vector128.Widen(s1);
        ((d * Vector128.ConvertToSingle(i0)) - m).StoreUnsafe(ref dst, 0);
        ((d * Vector128.ConvertToSingle(i1)) - m).StoreUnsafe(ref dst, 4);
        ((d * Vector128.ConvertToSingle(i2)) - m).StoreUnsafe(ref dst, 8);
        ((d * Vector128.ConvertToSingle(i3)) - m).StoreUnsafe(ref dst, 12);
    }

    /// <summary>Stores <c>(float)q[i] · d + m</c> for i in 0..15 at <paramref name="dst"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ScaleAdd16(Vector128<sbyte> q, Vector128<float> d, Vector128<float> m, ref float dst)
    {
        var (s0, s1) = Vector128.Widen(q);
        var (i0, i1) = Vector128.Widen(s0);
        var (i2, i3) = Vector128.Widen(s1);
        ((Vector128.ConvertToSingle(i0) * d) + m).StoreUnsafe(ref dst, 0);
        ((Vector128.ConvertToSingle(i1) * d) + m).StoreUnsafe(ref dst, 4);
        ((Vector128.ConvertToSingle(i2) * d) + m).StoreUnsafe(ref dst, 8);
        ((Vector128.ConvertToSingle(i3) * d) + m).StoreUnsafe(ref dst, 12);
    }

    /// <summary>Byte j (0..15) is <paramref name="value"/> when bit j of <paramref name="bits"/> is set, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> BitsToBytes(uint bits, byte value)
    {
        var spread = Vector128.Shuffle(Vector128.Create((ushort)bits).AsByte(), Vector128.Create((byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
        var mask = Vector128.Create((byte)1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
        return Vector128.Equals(spread & mask, mask) & Vector128.Create(value);
    }

    /// <summary>Looks each nibble (0..15) of <paramref name="indices"/> up in the 16-entry <paramref name="table"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<sbyte> Lookup16(Vector128<sbyte> table, Vector128<byte> indices) =>
        Vector128.Shuffle(table, indices.AsSByte());

    /// <summary>
    /// Each byte shifted right by <paramref name="count"/> (0..7), for callers that then keep only bits that came from
    /// the same byte (mask of width ≤ 8 − count): a 16-bit shift, which x86 has and a variable byte shift has not.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> ShiftRightBits(Vector128<byte> v, int count) =>
        Vector128.ShiftRightLogical(v.AsUInt16(), count).AsByte();

    /// <summary>Loads 16 bytes at <paramref name="offset"/> of <paramref name="src"/> (the caller guarantees the range).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Load16(ReadOnlySpan<byte> src, int offset) =>
        Vector128.LoadUnsafe(ref Unsafe.AsRef(in src[0]), (nuint)offset);
}
