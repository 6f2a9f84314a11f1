using Gguf2Qnn.Architectures;
using Gguf2Qnn.Targets;
using Xunit;

namespace Gguf2Qnn.Tests.Targets;

[Trait("Category", "Targets")]
public class RotaryCacheTests
{
    private static ModelConfig Config(int ropeDims, float freqBase, float[]? factors = null, float freqScale = 1f) => new()
    {
        Architecture = "llama",
        BlockCount = 1,
        EmbeddingLength = 64,
        FeedForwardLength = 128,
        HeadCount = 4,
        HeadCountKv = 4,
        HeadDim = 16,
        ContextLength = 64,
        RmsEpsilon = 1e-5f,
        RopeFreqBase = freqBase,
        RopeDimensionCount = ropeDims,
        RopeFreqScale = freqScale,
        RopeFrequencyFactors = factors,
        RopeStyle = RopeStyle.Normal,
        HasQkvBias = false,
        TiedEmbeddings = false,
        VocabSize = 32,
    };

    [Fact]
    public void AnglesArePositionTimesBasePowerMinus2iOverD()
    {
        // theta_i = p * base^(-2i/d) (RoFormer; llama.cpp rope), checked in double against the float tables.
        var (cos, sin) = RotaryCache.Compute(Config(16, 10000f), 40);
        for (int p = 0; p < 40; p++)
        {
            for (int i = 0; i < 8; i++)
            {
                double theta = p * Math.Pow(10000.0, -2.0 * i / 16);
                Assert.Equal(Math.Cos(theta), cos[(p * 8) + i], 5e-6);
                Assert.Equal(Math.Sin(theta), sin[(p * 8) + i], 5e-6);
            }
        }

        Assert.Equal(1f, cos[0]);
        Assert.Equal(0f, sin[0]);
    }

    [Fact]
    public void FrequencyFactorsDivideAndLinearScalingMultipliesTheAngle()
    {
        float[] factors = [1f, 2f, 4f, 8f];
        var (cos, sin) = RotaryCache.Compute(Config(8, 500000f, factors, 0.25f), 10);
        for (int p = 0; p < 10; p++)
        {
            for (int i = 0; i < 4; i++)
            {
                double theta = 0.25 * p * Math.Pow(500000.0, -2.0 * i / 8) / factors[i];
                Assert.Equal(Math.Cos(theta), cos[(p * 4) + i], 5e-6);
                Assert.Equal(Math.Sin(theta), sin[(p * 4) + i], 5e-6);
            }
        }
    }
}
