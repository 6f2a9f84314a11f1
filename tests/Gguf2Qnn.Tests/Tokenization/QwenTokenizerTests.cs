using Gguf2Qnn.Tokenization;
using Xunit;

namespace Gguf2Qnn.Tests.Tokenization;

/// <summary>The qwen2 pre-tokenizer and a 151k-token byte-level BPE vocabulary against llama.cpp's qwen2 vectors.</summary>
[Trait("Category", "Tokenization")]
[Collection(QwenTokenizerCollection.Name)]
public class QwenTokenizerTests(QwenTokenizerFixture fixture)
{
    private readonly GgufTokenizer _tokenizer = fixture.Tokenizer;

    [Fact]
    public void EncodesQwen2VectorsLikeLlamaCpp()
    {
        var (passed, total, firstMismatch) = VocabVectors.Check(_tokenizer, VocabVectors.Load("qwen2"));
        Assert.True(passed == total, $"qwen2: {passed}/{total} cases match llama.cpp; first mismatch: {firstMismatch}");
    }

    [Fact]
    public void DeepseekR1QwenIsTheQwen2PreTokenizer()
    {
        var tokenizer = GgufTokenizer.Create(fixture.Vocab with { Pre = "deepseek-r1-qwen" });
        var (passed, total, firstMismatch) = VocabVectors.Check(tokenizer, VocabVectors.Load("qwen2"));
        Assert.True(passed == total, $"deepseek-r1-qwen: {passed}/{total}; first mismatch: {firstMismatch}");
    }

    [Fact]
    public void DecodeInvertsEncodeOnTheVectorTexts()
    {
        foreach (var (text, _) in VocabVectors.Load("qwen2"))
        {
            Assert.Equal(text, _tokenizer.Decode(_tokenizer.Encode(text, addBos: false)));
        }
    }

    [Fact]
    public void EndOfGenerationFollowsLlamaCppRule()
    {
        // llama.cpp (load: EOG by text, FIM pad/repo/sep, EOS): <|endoftext|>, <|im_end|>, <|fim_pad|>, <|repo_name|>,
        // <|file_sep|>, and, since llama.cpp added "</s>" to its list of EOG texts (PaddleOCR-VL, #18825), Qwen's
        // ordinary "</s>" piece 128247 as well.
        Assert.Equal([128247, 151643, 151645, 151662, 151663, 151664], _tokenizer.EndOfGenerationTokens.Order());
        Assert.Equal(151643, _tokenizer.EosTokenId);
        Assert.False(_tokenizer.AddBosToken);
    }

    [Fact]
    public void ControlTokensAreMatchedOnlyWhenParsingSpecial()
    {
        // Ids from tokenizer.json: <|im_start|> 151644, <|im_end|> 151645.
        const string text = "<|im_start|>user\nHi<|im_end|>";
        int[] inner = _tokenizer.Encode("user\nHi", addBos: false);

        int[] parsed = _tokenizer.Encode(text, addBos: false, parseSpecial: true);
        Assert.Equal([151644, .. inner, 151645], parsed);

        int[] plain = _tokenizer.Encode(text, addBos: false, parseSpecial: false);
        Assert.DoesNotContain(151644, plain);
        Assert.DoesNotContain(151645, plain);
        Assert.Equal(text, _tokenizer.Decode(plain));
    }

    [Fact]
    public void UserDefinedTokensAreMatchedEvenWithoutParseSpecial()
    {
        // <think> is an added token with special = false, so a user-defined token (151667), which llama.cpp
        // always cuts out of the text before BPE.
        int[] ids = _tokenizer.Encode("a<think>b", addBos: false, parseSpecial: false);
        Assert.Equal([.. _tokenizer.Encode("a", false), 151667, .. _tokenizer.Encode("b", false)], ids);
        Assert.Equal("<think>", _tokenizer.TokenToPiece(151667));
    }

    [Fact]
    public void ControlTokenPiecesAreEmptyUnlessRendered()
    {
        Assert.Equal(string.Empty, _tokenizer.TokenToPiece(151645));
        Assert.Equal("<|im_end|>", _tokenizer.TokenToPiece(151645, renderSpecial: true));
        Assert.Equal("a<|im_end|>", _tokenizer.Decode([_tokenizer.Encode("a", false)[0], 151645], renderSpecial: true));
    }
}
