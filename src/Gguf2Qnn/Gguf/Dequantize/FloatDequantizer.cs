using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Gguf2Qnn.Gguf;

/// <summary>F32, F16 (IEEE half) and BF16 (the top 16 bits of an f32) to float32.</summary>
internal static class FloatDequantizer
{
    public static void F32(ReadOnlySpan<byte> src, Span<float> dst) => MemoryMarshal.Cast<byte, float>(src).CopyTo(dst);

    public static void F16(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var halves = MemoryMarshal.Cast<byte, Half>(src);
        System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(halves, dst);
    }

    public static void BF16(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var bits = MemoryMarshal.Cast<byte, ushort>(src);
        for (var i = 0; i < dst.Length; i++)
        {
            dst[i] = BitConverter.Int32BitsToSingle(bits[i] << 16);
        }
    }

    /// <summary>Reads a little-endian IEEE half at <paramref name="offset"/> as float (exact).</summary>
    public static float ReadHalf(ReadOnlySpan<byte> src, int offset) =>
        (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(src[offset..]));
}
