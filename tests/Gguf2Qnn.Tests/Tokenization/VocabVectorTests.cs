using Gguf2Qnn.Gguf;
using Gguf2Qnn.Tokenization;
using Xunit;

namespace Gguf2Qnn.Tests.Tokenization;

/// <summary>
/// Our tokenizers against llama.cpp's expected ids for every vocabulary GGUF in ../shared/models/vocab whose model
/// is supported (see SOURCES.md §2).
/// </summary>
[Trait("Category", "Tokenization")]
public class VocabVectorTests
{
    public static TheoryData<string> SupportedVocabs() =>
    [
        "llama-spm", // llama / SentencePiece
        "phi-3",     // llama / SentencePiece, with a user-defined </s>
        "gpt-2",     // gpt2 / gpt-2
        "deepseek-llm",
        "deepseek-coder",
        "falcon",
        "bert-bge",  // bert / WordPiece
    ];

    [Theory]
    [MemberData(nameof(SupportedVocabs))]
    public void EncodesLikeLlamaCpp(string name)
    {
        Assert.True(File.Exists(VocabVectors.GgufPath(name)), "missing " + VocabVectors.GgufPath(name));
        var tokenizer = TestTokenizers.ForVocab(name);
        var cases = VocabVectors.Load(name);

        var (passed, total, firstMismatch) = VocabVectors.Check(tokenizer, cases);

        Assert.True(passed == total, $"{name}: {passed}/{total} cases match llama.cpp; first mismatch: {firstMismatch}");
    }

    [Fact]
    public void VectorsTellPreTokenizersApart()
    {
        // Negative control: the falcon vocabulary with the gpt-2 pre-tokenizer must miss some falcon vectors.
        var tokenizer = GgufTokenizer.Create(TestTokenizers.ForVocab("falcon").Vocab with { Pre = "gpt-2" });
        var (passed, total, _) = VocabVectors.Check(tokenizer, VocabVectors.Load("falcon"));
        Assert.InRange(passed, 0, total - 1);
    }

    [Theory]
    [InlineData("llama-spm")]
    [InlineData("deepseek-llm")]
    public void DecodeInvertsEncodeOnTheVectorTexts(string name)
    {
        // Neither vocabulary cleans up spaces, and both can spell any byte, so decoding gives the text back.
        var tokenizer = TestTokenizers.ForVocab(name);
        foreach (var (text, _) in VocabVectors.Load(name))
        {
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text, addBos: false)));
        }
    }
}
