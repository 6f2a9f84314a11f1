namespace Gguf2Qnn.Gguf;

/// <summary>
/// Q4_0 (ggml-common.h <c>block_q4_0</c>, 18 bytes per 32 weights): fp16 scale d, then 16 bytes; byte j holds weight j
/// in its low nibble and weight j + 16 in its high nibble; value = d · (nibble − 8).
/// </summary>
internal static class Q4_0Dequantizer
{
    public const int BlockBytes = 18;

    public static void Dequantize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / 32;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * BlockBytes, BlockBytes);
            var d = FloatDequantizer.ReadHalf(block, 0);
            var y = dst.Slice(b * 32, 32);
            for (var j = 0; j < 16; j++)
            {
                var q = block[2 + j];
                y[j] = ((q & 0x0F) - 8) * d;
                y[j + 16] = ((q >> 4) - 8) * d;
            }
        }
    }
}
