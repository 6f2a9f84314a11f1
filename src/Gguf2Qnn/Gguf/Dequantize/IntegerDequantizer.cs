using System.Runtime.InteropServices;

namespace Gguf2Qnn.Gguf;

/// <summary>
/// The integer tensor types I8, I16, I32 and I64 (little-endian two's complement) as float32: the C cast
/// <c>(float)x</c>, exact up to 2^24 in magnitude and rounded to nearest even beyond. ggml has no <c>to_float</c> for
/// them (they hold ids and positions, not weights); this is what reading them as numbers means.
/// </summary>
internal static class IntegerDequantizer
{
    public static void I8(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var x = MemoryMarshal.Cast<byte, sbyte>(src);
        for (var i = 0; i < dst.Length; i++)
        {
            dst[i] = x[i];
        }
    }

    public static void I16(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var x = MemoryMarshal.Cast<byte, short>(src);
        for (var i = 0; i < dst.Length; i++)
        {
            dst[i] = x[i];
        }
    }

    public static void I32(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var x = MemoryMarshal.Cast<byte, int>(src);
        for (var i = 0; i < dst.Length; i++)
        {
            dst[i] = x[i];
        }
    }

    public static void I64(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var x = MemoryMarshal.Cast<byte, long>(src);
        for (var i = 0; i < dst.Length; i++)
        {
            dst[i] = x[i];
        }
    }
}
