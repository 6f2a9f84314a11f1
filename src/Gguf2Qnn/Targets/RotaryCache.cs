using Gguf2Qnn.Architectures;

namespace Gguf2Qnn.Targets;

/// <summary>
/// The cos/sin tables fed to GroupQueryAttention (<c>cos_cache</c>, <c>sin_cache</c>: float32
/// [positions, rope_dim / 2], row p, column i = cos/sin of pair i's angle at position p).
/// </summary>
/// <remarks>
/// The angles follow ggml's CPU rope cache (ggml-cpu ops.cpp, <c>ggml_rope_cache_init</c> and <c>rope_yarn</c>
/// with ext_factor 0 and attn_factor 1) operation for operation, in float32: theta starts at the position and is
/// multiplied by theta_scale = powf(freq_base, −2 / rope_dim) once per pair (so theta_i = p·base^(−2i/rope_dim)
/// accumulated the way ggml does), divided by the pair's frequency factor (rope_freqs.weight) when present, and
/// scaled by freq_scale (1 / linear factor). The pairing (adjacent or half split) is GroupQueryAttention's
/// <c>rotary_interleaved</c> attribute, not part of the table.
/// </remarks>
public static class RotaryCache
{
    /// <summary>Computes the tables for positions [0, <paramref name="positions"/>).</summary>
    /// <returns>Row-major cos and sin, each positions · (RopeDimensionCount / 2) values.</returns>
    public static (float[] Cos, float[] Sin) Compute(ModelConfig config, int positions)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(positions);
        int half = config.RopeDimensionCount / 2;
        var cos = new float[(long)positions * half];
        var sin = new float[cos.Length];
        float thetaScale = MathF.Pow(config.RopeFreqBase, -2.0f / config.RopeDimensionCount);
        var factors = config.RopeFrequencyFactors;
        float freqScale = config.RopeFreqScale;
        for (int p = 0; p < positions; p++)
        {
            float theta = p;
            int row = p * half;
            for (int i = 0; i < half; i++)
            {
                float ff = factors is null ? 1.0f : factors[i];
                float angle = freqScale * (theta / ff);
                cos[row + i] = MathF.Cos(angle);
                sin[row + i] = MathF.Sin(angle);
                theta *= thetaScale;
            }
        }

        return (cos, sin);
    }
}
