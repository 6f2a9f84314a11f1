using Gguf2Qnn.Gguf;
using Gguf2Qnn.Tokenization;
using Xunit;

namespace Gguf2Qnn.Tests.Tokenization;

[Trait("Category", "Tokenization")]
public class GgufTokenizerTests
{
    [Fact]
    public void Stories260KRoundTripsOnceUponATime()
    {
        var tokenizer = TestTokenizers.ForPath(TestPaths.Stories260K);
        Assert.Equal(512, tokenizer.VocabSize);

        int[] ids = tokenizer.Encode("Once upon a time", addBos: false);
        Assert.NotEmpty(ids);
        Assert.StartsWith("▁", tokenizer.GetTokenText(ids[0]), StringComparison.Ordinal); // the dummy prefix
        Assert.Equal("Once upon a time", tokenizer.Decode(ids));

        // With BOS first, llama_detokenize spends its "drop the leading space" on BOS (remove_special = false).
        int[] withBos = tokenizer.Encode("Once upon a time", addBos: true);
        Assert.Equal([tokenizer.BosTokenId!.Value, .. ids], withBos);
        Assert.Equal(" Once upon a time", tokenizer.Decode(withBos));
    }

    [Fact]
    public void SentencePieceMetadataAndPieces()
    {
        var tokenizer = TestTokenizers.ForVocab("llama-spm");

        Assert.Equal(32000, tokenizer.VocabSize);
        Assert.Equal(1, tokenizer.BosTokenId);
        Assert.Equal(2, tokenizer.EosTokenId);
        Assert.True(tokenizer.AddBosToken);
        Assert.True(tokenizer.AddSpacePrefix);
        Assert.Equal([2], tokenizer.EndOfGenerationTokens);

        Assert.Equal("\n", tokenizer.TokenToPiece(13));                     // <0x0A>
        Assert.Equal(" Hello", tokenizer.TokenToPiece(15043));              // ▁Hello
        Assert.Equal(string.Empty, tokenizer.TokenToPiece(1));              // <s> is a control token
        Assert.Equal("<s>", tokenizer.TokenToPiece(1, renderSpecial: true));
        Assert.Equal([1, 15043, 3186], tokenizer.Encode("Hello world", addBos: true)); // llama-spm.out: "Hello world" → 15043 3186
    }

    [Fact]
    public void ByteLevelMetadataAndPieces()
    {
        var tokenizer = TestTokenizers.ForVocab("gpt-2");

        Assert.Equal(50257, tokenizer.VocabSize);
        Assert.Equal(50256, tokenizer.EosTokenId);
        Assert.False(tokenizer.AddBosToken); // no tokenizer.ggml.add_bos_token key: llama.cpp's gpt2 default
        Assert.False(tokenizer.AddSpacePrefix);
        Assert.Equal([50256], tokenizer.EndOfGenerationTokens);
        Assert.Equal(" world", tokenizer.TokenToPiece(995));  // "Ġworld"
        Assert.Equal(string.Empty, tokenizer.TokenToPiece(50256));
        Assert.Equal("<|endoftext|>", tokenizer.TokenToPiece(50256, renderSpecial: true));
        Assert.Equal([50256], tokenizer.Encode("<|endoftext|>", addBos: false, parseSpecial: true));
        Assert.NotEqual([50256], tokenizer.Encode("<|endoftext|>", addBos: false, parseSpecial: false));
    }

    [Fact]
    public void DefaultsFollowLlamaCppWhenKeysAreAbsent()
    {
        var spm = GgufTokenizer.Create(new TokenizerVocab { Model = "llama", Tokens = ["<unk>", "<s>", "</s>", "▁a"] });
        Assert.True(spm.AddBosToken);
        Assert.True(spm.AddSpacePrefix);
        Assert.Equal(1, spm.BosTokenId);
        Assert.Equal(2, spm.EosTokenId);
        Assert.Equal(0, spm.UnknownTokenId);

        var noPrefix = GgufTokenizer.Create(new TokenizerVocab { Model = "llama", Tokens = ["<unk>", "<s>", "</s>", "▁a", "a"], AddSpacePrefix = false });
        Assert.Equal([4], noPrefix.Encode("a", addBos: false));
        Assert.Equal([3], spm.Encode("a", addBos: false));

        string[] bpeTokens = [.. Enumerable.Range(0, 12).Select(i => ((char)('a' + i)).ToString()), "<|eot_id|>"];
        var gpt2 = GgufTokenizer.Create(new TokenizerVocab { Model = "gpt2", Pre = "qwen2", Tokens = bpeTokens, Merges = [] });
        Assert.False(gpt2.AddBosToken);
        Assert.Equal(11, gpt2.BosTokenId); // llama.cpp's historical gpt2 default (Falcon's <|endoftext|>)
        Assert.Equal(12, gpt2.EotTokenId);  // found by its text
        Assert.True(gpt2.IsControl(12));
        Assert.Equal([11, 12], gpt2.EndOfGenerationTokens.Order());

        var llama3 = GgufTokenizer.Create(new TokenizerVocab { Model = "gpt2", Pre = "llama-bpe", Tokens = bpeTokens, Merges = [] });
        Assert.True(llama3.AddBosToken);
        var keyed = GgufTokenizer.Create(new TokenizerVocab { Model = "gpt2", Pre = "llama-bpe", Tokens = bpeTokens, Merges = [], AddBosToken = false, BosTokenId = 3 });
        Assert.False(keyed.AddBosToken);
        Assert.Equal(3, keyed.BosTokenId);
    }

    [Theory]
    [InlineData("plamo2")]
    [InlineData("t5")]
    [InlineData("rwkv")]
    public void UnknownModelIsNotSupported(string model)
    {
        var e = Assert.Throws<NotSupportedException>(() => GgufTokenizer.Create(new TokenizerVocab { Model = model, Tokens = ["a"] }));
        Assert.Contains($"'{model}'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownPreTokenizerIsNotSupported()
    {
        var e = Assert.Throws<NotSupportedException>(() =>
            GgufTokenizer.Create(new TokenizerVocab { Model = "gpt2", Pre = "kimi-k2", Tokens = ["a"], Merges = [] }));
        Assert.Contains("'kimi-k2'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InconsistentVocabulariesAreRejected()
    {
        Assert.Throws<ArgumentException>(() => GgufTokenizer.Create(new TokenizerVocab { Model = "gpt2", Pre = "gpt-2", Tokens = ["a"] }));
        Assert.Throws<ArgumentException>(() => GgufTokenizer.Create(new TokenizerVocab { Model = "llama", Tokens = ["a", "a"] }));
        Assert.Throws<ArgumentException>(() => GgufTokenizer.Create(new TokenizerVocab { Model = "llama", Tokens = ["a", "b"], Scores = [0f] }));
    }

    [Fact]
    public void OutOfRangeIdsThrow()
    {
        var spm = GgufTokenizer.Create(new TokenizerVocab { Model = "llama", Tokens = ["<unk>", "<s>", "</s>"] });
        Assert.Throws<ArgumentOutOfRangeException>(() => spm.TokenToPiece(3));
        Assert.Throws<ArgumentOutOfRangeException>(() => spm.Decode([-1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => spm.CreateStreamDecoder().Append(7));
    }

    [Fact]
    public void Phi3UserDefinedEndTokenIsControlAndEndsGeneration()
    {
        // phi-3's </s> (id 2) is typed user-defined; llama.cpp promotes it to control because "</s>" ends generation.
        var tokenizer = TestTokenizers.ForVocab("phi-3");
        Assert.True(tokenizer.IsControl(2));
        Assert.Contains(2, tokenizer.EndOfGenerationTokens);
        Assert.Contains(32000, tokenizer.EndOfGenerationTokens); // <|endoftext|>, the EOS
        Assert.Contains(32007, tokenizer.EndOfGenerationTokens); // <|end|>
    }
}
