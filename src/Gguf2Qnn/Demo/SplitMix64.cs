namespace Gguf2Qnn.Demo;

/// <summary>
/// SplitMix64 (Steele, Lea, Flood 2014): a tiny deterministic generator, the same on every platform and .NET version,
/// for the seeded weights of synthetic and workload models.
/// </summary>
internal sealed class SplitMix64(ulong seed)
{
    private ulong _state = seed;

    /// <summary>The next 64 random bits.</summary>
    public ulong Next()
    {
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [−1, 1), from the top 53 bits.</summary>
    public float NextSymmetric() => (float)(((Next() >> 11) * (1.0 / (1UL << 53)) * 2.0) - 1.0);
}
