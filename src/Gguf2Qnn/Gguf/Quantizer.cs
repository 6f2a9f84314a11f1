namespace Gguf2Qnn.Gguf;

/// <summary>
/// Reference quantizers for the types the demo model and the tests write, rounding as ggml's
/// <c>quantize_row_q4_0_ref</c> and <c>quantize_row_q8_0_ref</c> (ggml-quants.c) do.
/// </summary>
public static class Quantizer
{
    /// <summary>Quantizes <paramref name="x"/> (length a multiple of 32) to Q4_0 blocks: d = max / −8 where max is the
    /// value of largest magnitude, q = min(15, (int)(x / d + 8.5)).</summary>
    public static byte[] QuantizeQ4_0(ReadOnlySpan<float> x)
    {
        var dst = new byte[GgmlTypeTraits.RowSize(GgmlType.Q4_0, x.Length)];
        for (var b = 0; b < x.Length / 32; b++)
        {
            var v = x.Slice(b * 32, 32);
            float amax = 0, max = 0;
            foreach (var f in v)
            {
                if (amax < MathF.Abs(f))
                {
                    amax = MathF.Abs(f);
                    max = f;
                }
            }

            var d = max / -8;
            var id = d != 0 ? 1.0f / d : 0.0f;
            var block = dst.AsSpan(b * 18, 18);
            BitConverter.TryWriteBytes(block, (Half)d);
            for (var j = 0; j < 16; j++)
            {
                var x0 = v[j] * id;
                var x1 = v[16 + j] * id;
                var xi0 = Math.Min(15, (int)(sbyte)(x0 + 8.5f));
                var xi1 = Math.Min(15, (int)(sbyte)(x1 + 8.5f));
                block[2 + j] = (byte)(xi0 | (xi1 << 4));
            }
        }

        return dst;
    }

    /// <summary>Quantizes <paramref name="x"/> (length a multiple of 32) to Q8_0 blocks: d = amax / 127, q = round(x / d).</summary>
    public static byte[] QuantizeQ8_0(ReadOnlySpan<float> x)
    {
        var dst = new byte[GgmlTypeTraits.RowSize(GgmlType.Q8_0, x.Length)];
        for (var b = 0; b < x.Length / 32; b++)
        {
            var v = x.Slice(b * 32, 32);
            float amax = 0;
            foreach (var f in v)
            {
                amax = MathF.Max(amax, MathF.Abs(f));
            }

            var d = amax / 127;
            var id = d != 0 ? 1.0f / d : 0.0f;
            var block = dst.AsSpan(b * 34, 34);
            BitConverter.TryWriteBytes(block, (Half)d);
            for (var j = 0; j < 32; j++)
            {
                block[2 + j] = (byte)(sbyte)MathF.Round(v[j] * id, MidpointRounding.AwayFromZero);
            }
        }

        return dst;
    }
}
