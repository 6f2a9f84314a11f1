namespace Gguf2Qnn.Gguf;

/// <summary>Q8_0 (ggml-common.h <c>block_q8_0</c>, 34 bytes per 32 weights): fp16 scale d, 32 int8 q; value = d · q.</summary>
internal static class Q8_0Dequantizer
{
    public const int BlockBytes = 34;

    public static void Dequantize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / 32;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * BlockBytes, BlockBytes);
            var d = FloatDequantizer.ReadHalf(block, 0);
            var y = dst.Slice(b * 32, 32);
            for (var j = 0; j < 32; j++)
            {
                y[j] = (sbyte)block[2 + j] * d;
            }
        }
    }
}
