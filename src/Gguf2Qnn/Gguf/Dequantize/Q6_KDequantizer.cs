namespace Gguf2Qnn.Gguf;

/// <summary>
/// Q6_K (ggml-common.h <c>block_q6_K</c>, 210 bytes per 256 weights): ql[128] low 4 bits, qh[64] high 2 bits,
/// scales[16] int8 (one per 16 weights), fp16 d; value = d · scale · (q − 32). llama.cpp's quantizer gives
/// <c>output.weight</c> this type in Q4_0 files.
/// </summary>
internal static class Q6_KDequantizer
{
    public const int BlockBytes = 210;

    public static void Dequantize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / 256;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * BlockBytes, BlockBytes);
            var d = FloatDequantizer.ReadHalf(block, 208);
            var y = dst.Slice(b * 256, 256);
            for (var half = 0; half < 2; half++)
            {
                var ql = block.Slice(half * 64, 64);
                var qh = block.Slice(128 + (half * 32), 32);
                var sc = block.Slice(192 + (half * 8), 8);
                var yy = y.Slice(half * 128, 128);
                for (var l = 0; l < 32; l++)
                {
                    var s = l / 16;
                    var q1 = (sbyte)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    var q2 = (sbyte)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    var q3 = (sbyte)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    var q4 = (sbyte)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    yy[l] = d * (sbyte)sc[s] * q1;
                    yy[l + 32] = d * (sbyte)sc[s + 2] * q2;
                    yy[l + 64] = d * (sbyte)sc[s + 4] * q3;
                    yy[l + 96] = d * (sbyte)sc[s + 6] * q4;
                }
            }
        }
    }
}
