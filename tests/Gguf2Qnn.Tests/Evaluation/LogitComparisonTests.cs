using Gguf2Qnn.Evaluation;
using Xunit;

namespace Gguf2Qnn.Tests.Evaluation;

/// <summary>The statistics of <see cref="LogitComparison"/> against values worked out by hand.</summary>
[Trait("Category", "Evaluation")]
public sealed class LogitComparisonTests
{
    [Fact]
    public void IdenticalRowsHaveZeroKlAndFullAgreement()
    {
        var c = new LogitComparison();
        c.Add([1f, 2f, 3f], [1f, 2f, 3f], 2);
        var r = c.ToReport();
        Assert.Equal(1, r.Positions);
        Assert.Equal(1.0, r.Top1Agreement);
        Assert.Equal(0.0, r.KlMean, 15);
        Assert.Equal(0.0, r.MaxAbsLogitDiff);

        // p = softmax(1,2,3); perplexity of one scored token = 1 / p[2] = (e + e² + e³) / e³.
        double expected = (Math.E + (Math.E * Math.E) + Math.Pow(Math.E, 3)) / Math.Pow(Math.E, 3);
        Assert.Equal(expected, r.PerplexityOurs, 12);
        Assert.Equal(expected, r.PerplexityReference, 12);
    }

    [Fact]
    public void TwoTokenKlMatchesTheClosedForm()
    {
        // Reference logits (0, 0): p = (½, ½). Ours (ln 3, 0): q = (¾, ¼). KL(p‖q) = ½ ln(⅔) + ½ ln(2).
        var c = new LogitComparison();
        c.Add([0f, 0f], [MathF.Log(3f), 0f], -1);
        var r = c.ToReport();
        double expected = (0.5 * Math.Log(2.0 / 3.0)) + (0.5 * Math.Log(2.0));
        Assert.Equal(expected, r.KlMean, 6);
        Assert.Equal(expected, r.KlMax, 6);
        Assert.Equal(Math.Log(3), r.MaxAbsLogitDiff, 6);
        Assert.Equal(1.0, r.Top1Agreement); // tie in the reference goes to id 0, as does our clear maximum
        Assert.True(double.IsNaN(r.PerplexityOurs));
    }

    [Fact]
    public void DisagreementsAndMeansAreCounted()
    {
        var c = new LogitComparison();
        c.Add([5f, 0f], [5f, 0f], 0);
        c.Add([5f, 0f], [0f, 5f], 0);
        var r = c.ToReport();
        Assert.Equal(0.5, r.Top1Agreement);
        Assert.Equal(5.0, r.MaxAbsLogitDiff, 6);

        // Second position: p = σ(5), q = σ(−5): KL = (p − q)·5 (p and q mirror each other).
        double p = 1 / (1 + Math.Exp(-5));
        double kl = ((2 * p) - 1) * 5;
        Assert.Equal(kl / 2, r.KlMean, 6);
        Assert.Equal(kl, r.KlMax, 6);
    }

    [Fact]
    public void RowsOfDifferentLengthAreRejected()
    {
        var c = new LogitComparison();
        Assert.Throws<ArgumentException>(() => c.Add([1f, 2f], [1f], 0));
        Assert.Throws<ArgumentException>(() => c.Add([1f, 2f], [1f, 2f], 2));
        Assert.Throws<InvalidOperationException>(c.ToReport);
    }

    [Fact]
    public void WindowsRestartWithBosAndKnowTheNextToken()
    {
        int[] tokens = [1, 10, 11, 12, 13, 14];
        var w = Verifier.Windows(tokens, 3, bosToken: 1);
        Assert.Equal(3, w.Count);
        Assert.Equal([1, 10, 11], w[0].Ids);
        Assert.Equal([10, 11, 12], w[0].Next);
        Assert.Equal([1, 12, 13], w[1].Ids);
        Assert.Equal([12, 13, 14], w[1].Next);
        Assert.Equal([1, 14], w[2].Ids);
        Assert.Equal([14, -1], w[2].Next);

        var plain = Verifier.Windows([5, 6, 7], 2, bosToken: 1);
        Assert.Equal([[5, 6], [7]], plain.Select(x => x.Ids).ToArray());
    }
}
