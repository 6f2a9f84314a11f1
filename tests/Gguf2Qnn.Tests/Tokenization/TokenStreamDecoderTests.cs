using System.Diagnostics;
using System.Text;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Tokenization;
using Xunit;

namespace Gguf2Qnn.Tests.Tokenization;

[Trait("Category", "Tokenization")]
public class TokenStreamDecoderTests
{
    private const string MixedText = "Grüße 🦙 世界 😶‍🌫️ (emoji + CJK) ✅ ok";

    [Fact]
    public void SentencePieceByteTokensStreamWholeCharacters()
    {
        // Llama-2 vocabulary: every UTF-8 byte as its <0xXX> byte token, fed one at a time.
        var tokenizer = TestTokenizers.ForVocab("llama-spm");
        int[] ids = Encoding.UTF8.GetBytes(MixedText).Select(b => TokenId(tokenizer, $"<0x{b:X2}>")).ToArray();

        string streamed = Stream(tokenizer, ids);

        Assert.Equal(MixedText, tokenizer.Decode(ids));
        Assert.Equal(tokenizer.Decode(ids), streamed);
    }

    [Fact]
    public void ByteLevelBpeTokensStreamWholeCharactersAndCleanSpacesLikeDecode()
    {
        // GPT-2 vocabulary: every UTF-8 byte as its one-character byte-level token. GPT-2 cleans spaces when decoding.
        var tokenizer = TestTokenizers.ForVocab("gpt-2");
        const string text = MixedText + " , it 's done !";
        int[] ids = Encoding.UTF8.GetBytes(text).Select(b => TokenId(tokenizer, ByteLevelChar(b))).ToArray();

        string streamed = Stream(tokenizer, ids);

        Assert.Equal(MixedText + ", it's done!", tokenizer.Decode(ids));
        Assert.Equal(tokenizer.Decode(ids), streamed);
    }

    [Fact]
    public void EncodedTextStreamsLikeDecode()
    {
        var tokenizer = TestTokenizers.ForVocab("gpt-2");
        foreach (var (text, _) in VocabVectors.Load("gpt-2"))
        {
            int[] ids = tokenizer.Encode(text, addBos: false);
            Assert.Equal(tokenizer.Decode(ids), Stream(tokenizer, ids));
        }
    }

    [Fact]
    public void RandomByteStreamsMatchDecode()
    {
        // A vocabulary of the 256 byte-level characters (ids = byte values) under the gpt-2 rules, which clean
        // spaces: random byte sequences, with multi-byte characters and clean-up triggers, stream as Decode.
        var tokens = Enumerable.Range(0, 256).Select(b => ByteLevelChar((byte)b)).ToArray();
        var tokenizer = GgufTokenizer.Create(new TokenizerVocab { Model = "gpt2", Pre = "gpt-2", Tokens = tokens, Merges = [] });
        byte[][] units = new[] { " ", "'", "?", ".", "s", "m", "r", "e", "x", "é", "世", "🦙" }.Select(Encoding.UTF8.GetBytes).ToArray();
        var random = new Random(42);
        for (int trial = 0; trial < 3000; trial++)
        {
            int[] ids = Enumerable.Range(0, random.Next(0, 12)).SelectMany(_ => units[random.Next(units.Length)]).Select(b => (int)b).ToArray();
            Assert.Equal(tokenizer.Decode(ids), Stream(tokenizer, ids));
        }
    }

    [Fact]
    public void FlushEmitsAnIncompleteCharacterAsReplacement()
    {
        var tokenizer = TestTokenizers.ForVocab("llama-spm");
        var decoder = tokenizer.CreateStreamDecoder();
        Assert.Equal("a", decoder.Append(TokenId(tokenizer, "<0x61>")));
        Assert.Equal(string.Empty, decoder.Append(TokenId(tokenizer, "<0xF0>"))); // first byte of a 4-byte sequence
        Assert.Equal("\uFFFD", decoder.Flush());
    }

    /// <summary>Feeds ids one by one; checks that no partial character ever comes out early.</summary>
    [Theory]
    [InlineData("llama-spm", "The cat and a big dog, it 's done !")]
    [InlineData("gpt-2", "The cat and a big dog, it 's done !")]
    public void PrimedWithThePromptTheStreamIsTheContinuation(string vocab, string text)
    {
        // Decode(prompt + generated) less Decode(prompt), at every split: the first generated piece keeps its
        // leading space (SentencePiece strips it only at a sequence's start).
        var tokenizer = TestTokenizers.ForVocab(vocab);
        int[] ids = tokenizer.Encode(text, tokenizer.AddBosToken);
        string whole = tokenizer.Decode(ids);
        for (int k = 1; k < ids.Length; k++)
        {
            string prompt = tokenizer.Decode(ids[..k]);
            if (!whole.StartsWith(prompt, StringComparison.Ordinal))
            {
                continue; // space clean-up across the split (gpt-2 " ,"): no continuation to compare with
            }

            var decoder = tokenizer.CreateStreamDecoder();
            decoder.Prime(ids[..k]);
            var sb = new StringBuilder();
            foreach (int id in ids[k..])
            {
                sb.Append(decoder.Append(id));
            }

            Assert.Equal(whole[prompt.Length..], sb.Append(decoder.Flush()).ToString());
        }
    }

    private static string Stream(GgufTokenizer tokenizer, int[] ids)
    {
        var decoder = tokenizer.CreateStreamDecoder();
        var sb = new StringBuilder();
        foreach (int id in ids)
        {
            string part = decoder.Append(id);
            Assert.DoesNotContain('\uFFFD', part);
            Assert.False(part.Length > 0 && char.IsHighSurrogate(part[^1]), "a surrogate pair was split");
            sb.Append(part);
        }

        return sb.Append(decoder.Flush()).ToString();
    }

    private static int TokenId(GgufTokenizer tokenizer, string text) =>
        tokenizer.TryGetTokenId(text, out int id) ? id : throw new InvalidOperationException("no token " + text);

    /// <summary>GPT-2's byte alphabet, written out from its definition (bytes_to_unicode) for the test.</summary>
    private static string ByteLevelChar(byte b)
    {
        int next = 256;
        for (int v = 0; v < 256; v++)
        {
            bool printable = v is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            int cp = printable ? v : next++;
            if (v == b)
            {
                return char.ConvertFromUtf32(cp);
            }
        }

        throw new UnreachableException();
    }
}
