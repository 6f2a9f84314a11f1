using Gguf2Qnn.Runtime;
using Xunit;

namespace Gguf2Qnn.Tests.Runtime;

[Trait("Category", "Runtime")]
public class SamplerTests
{
    [Fact]
    public void ArgMaxTakesTheLowestIdOnTiesAndSkipsNaN()
    {
        Assert.Equal(1, Sampler.ArgMax([0f, 3f, 1f, 3f]));
        Assert.Equal(2, Sampler.ArgMax([float.NaN, -1f, 5f]));
        Assert.Equal(0, Sampler.ArgMax([float.NegativeInfinity, float.NegativeInfinity]));
        Assert.Throws<ArgumentException>(() => Sampler.ArgMax([]));
    }

    [Fact]
    public void GreedyAndZeroTemperatureAreArgMax()
    {
        float[] logits = [0.5f, 2f, 2f, -1f];
        Assert.Equal(1, new Sampler(new GenerationOptions { Greedy = true }).Sample(logits));
        Assert.Equal(1, new Sampler(new GenerationOptions { Temperature = 0f, Seed = 1 }).Sample(logits));
    }

    [Fact]
    public void TopKKeepsTheKBestRenormalised()
    {
        // logits ln(1), ln(2), ln(3), ln(4): softmax over the best two (ids 3, 2) = 4/7, 3/7.
        float[] logits = [0f, MathF.Log(2), MathF.Log(3), MathF.Log(4)];
        var d = new Sampler(new GenerationOptions { Temperature = 1f, TopK = 2, TopP = 1f, Seed = 1 }).Distribution(logits);
        Assert.Equal([3, 2], d.Select(x => x.Token));
        Assert.Equal(4.0 / 7, d[0].Probability, 1e-6);
        Assert.Equal(3.0 / 7, d[1].Probability, 1e-6);
    }

    [Fact]
    public void TopPKeepsTheSmallestPrefixReachingP()
    {
        // probabilities 0.1, 0.2, 0.3, 0.4 → sorted 0.4, 0.3, 0.2, 0.1; cumulative 0.4, 0.7 ≥ 0.6 → keep two.
        float[] logits = [MathF.Log(1), MathF.Log(2), MathF.Log(3), MathF.Log(4)];
        var d = new Sampler(new GenerationOptions { Temperature = 1f, TopK = 0, TopP = 0.6f, Seed = 1 }).Distribution(logits);
        Assert.Equal([3, 2], d.Select(x => x.Token));
        Assert.Equal(4.0 / 7, d[0].Probability, 1e-6);

        // Below the largest probability, only the best token is left.
        Assert.Single(new Sampler(new GenerationOptions { Temperature = 1f, TopK = 0, TopP = 0.35f, Seed = 1 }).Distribution(logits));
    }

    [Fact]
    public void TemperatureSharpensOrFlattens()
    {
        // T = 0.5 squares the probability ratios: 1:2 → 1:4.
        float[] logits = [0f, MathF.Log(2)];
        var d = new Sampler(new GenerationOptions { Temperature = 0.5f, TopK = 0, TopP = 1f, Seed = 1 }).Distribution(logits);
        Assert.Equal(0.8, d[0].Probability, 1e-6);
        Assert.Equal(1, d[0].Token);
    }

    [Fact]
    public void SeededSamplingIsReproducibleAndFollowsTheDistribution()
    {
        float[] logits = [0f, MathF.Log(3)]; // 0.25, 0.75
        var options = new GenerationOptions { Temperature = 1f, TopK = 0, TopP = 1f, Seed = 42 };
        var s1 = new Sampler(options);
        var s2 = new Sampler(options);
        var a = Enumerable.Range(0, 4000).Select(_ => s1.Sample(logits)).ToArray();
        var b = Enumerable.Range(0, 4000).Select(_ => s2.Sample(logits)).ToArray();
        Assert.Equal(a, b);
        double ones = a.Count(t => t == 1) / 4000.0;
        Assert.InRange(ones, 0.72, 0.78);
    }

    [Fact]
    public void TopKOfOneIsArgMaxWhateverTheSeed()
    {
        var logits = Enumerable.Range(0, 100).Select(i => (float)Math.Sin(i)).ToArray();
        int best = Sampler.ArgMax(logits);
        for (int seed = 0; seed < 20; seed++)
        {
            Assert.Equal(best, new Sampler(new GenerationOptions { Temperature = 1.5f, TopK = 1, Seed = seed }).Sample(logits));
        }
    }

    [Fact]
    public void OutOfRangeOptionsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(new GenerationOptions { TopP = 0f }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(new GenerationOptions { Temperature = -1f }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(new GenerationOptions { TopK = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(new GenerationOptions { MaxNewTokens = -1 }));
    }
}
