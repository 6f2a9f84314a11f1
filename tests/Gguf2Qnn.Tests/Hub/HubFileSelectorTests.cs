using Gguf2Qnn.Hub;
using Xunit;

namespace Gguf2Qnn.Tests.Hub;

public sealed class HubFileSelectorTests
{
    private static readonly string[] Repo =
    [
        "README.md",
        "Model-7B-Q4_0.gguf",
        "Model-7B.Q8_0.gguf",
        "Model-7B-IQ4_XS.gguf",
        "Model-7B-Q4_K_M-00001-of-00002.gguf",
        "Model-7B-Q4_K_M-00002-of-00002.gguf",
        "Q6_K/Model-7B-00001-of-00002.gguf",
        "Q6_K/Model-7B-00002-of-00002.gguf",
    ];

    [Theory]
    [InlineData("Q4_0", "Model-7B-Q4_0.gguf")]
    [InlineData("q8_0", "Model-7B.Q8_0.gguf")]
    [InlineData("iq4_xs", "Model-7B-IQ4_XS.gguf")]
    [InlineData("Model-7B.Q8_0.gguf", "Model-7B.Q8_0.gguf")]
    public void SingleFile(string selector, string expected) =>
        Assert.Equal([expected], HubFileSelector.Select(Repo, selector));

    [Fact]
    public void QuantTag_MatchesSplitSet() =>
        Assert.Equal(["Model-7B-Q4_K_M-00001-of-00002.gguf", "Model-7B-Q4_K_M-00002-of-00002.gguf"], HubFileSelector.Select(Repo, "Q4_K_M"));

    [Fact]
    public void QuantTag_MatchesFolder() =>
        Assert.Equal(["Q6_K/Model-7B-00001-of-00002.gguf", "Q6_K/Model-7B-00002-of-00002.gguf"], HubFileSelector.Select(Repo, "q6_k"));

    [Fact]
    public void SplitPart_PicksTheSet() =>
        Assert.Equal(2, HubFileSelector.Select(Repo, "Model-7B-Q4_K_M-00002-of-00002.gguf").Count);

    [Fact]
    public void QuantTag_NoMatch_ListsCandidates()
    {
        var e = Assert.Throws<HubSelectionException>(() => HubFileSelector.Select(Repo, "Q5_0"));
        Assert.Equal(5, e.Candidates.Count);
        Assert.Contains("Model-7B-Q4_K_M-00001-of-00002.gguf (2 parts)", e.Candidates);
        Assert.Contains("Model-7B-Q4_0.gguf", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void QuantTag_Ambiguous_ListsTheMatches()
    {
        var e = Assert.Throws<HubSelectionException>(() => HubFileSelector.Select(["a-Q4_0.gguf", "b-Q4_0.gguf", "c-Q8_0.gguf"], "Q4_0"));
        Assert.Equal(["a-Q4_0.gguf", "b-Q4_0.gguf"], e.Candidates);
    }

    [Fact]
    public void NoSelector_SingleModel() =>
        Assert.Equal(["x-00001-of-00002.gguf", "x-00002-of-00002.gguf"], HubFileSelector.Select(["x-00002-of-00002.gguf", "x-00001-of-00002.gguf", "config.json"], null));

    [Fact]
    public void NoSelector_SeveralModels_Throws() =>
        Assert.Equal(5, Assert.Throws<HubSelectionException>(() => HubFileSelector.Select(Repo, null)).Candidates.Count);

    [Fact]
    public void NoGguf_Throws() =>
        Assert.Empty(Assert.Throws<HubSelectionException>(() => HubFileSelector.Select(["README.md"], null)).Candidates);

    [Fact]
    public void MissingFile_Throws() =>
        Assert.Throws<HubSelectionException>(() => HubFileSelector.Select(Repo, "nope.gguf"));

    [Fact]
    public void IncompleteSplitSet_NamesTheMissingPart()
    {
        var e = Assert.Throws<HubSelectionException>(() => HubFileSelector.Select(["m-00001-of-00003.gguf", "m-00003-of-00003.gguf"], null));
        Assert.Equal(["m-00002-of-00003.gguf"], e.Candidates);
    }

    [Fact]
    public void TagIsNotASubstringMatch() =>
        Assert.Throws<HubSelectionException>(() => HubFileSelector.Select(["m-IQ4_0.gguf"], "Q4_0"));
}
