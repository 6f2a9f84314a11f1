using Gguf2Qnn.Tokenization.PreTokenization;
using Xunit;

namespace Gguf2Qnn.Tests.Tokenization;

/// <summary>
/// Pre-tokenizer splits worked out by hand from the regexes llama.cpp uses (llama-vocab.cpp, llm_tokenizer_bpe).
/// </summary>
[Trait("Category", "Tokenization")]
public class PreTokenizerTests
{
    private static string[] Split(string pre, string text)
    {
        var spec = BpePreTokenizerSpec.Find(pre) ?? throw new InvalidOperationException(pre);
        var pt = new LlamaCppPreTokenizer(spec.Rules);
        return pt.PreTokenize(text).Select(p => text.Substring(p.Offset, p.Length)).ToArray();
    }

    [Theory]
    [InlineData("gpt-2", "Hello world", new[] { "Hello", " world" })]
    [InlineData("gpt-2", "  Hello", new[] { " ", " Hello" })] // \s+(?!\S) leaves the last space to the word
    [InlineData("gpt-2", "I'm 3333 ok!!", new[] { "I", "'m", " 3333", " ok", "!!" })]
    [InlineData("gpt-2", "I'M", new[] { "I", "'", "M" })] // contractions are case-sensitive in GPT-2
    [InlineData("gpt-2", "a\n\nb", new[] { "a", "\n", "\n", "b" })]
    [InlineData("gpt-2", "end  ", new[] { "end", "  " })] // trailing spaces: \s+ at the end takes them all
    [InlineData("llama3", "12345", new[] { "123", "45" })] // \p{N}{1,3}
    [InlineData("llama3", "Hello\n\nworld", new[] { "Hello", "\n\n", "world" })] // \s*[\r\n]+
    [InlineData("llama3", " ?!\n\nx", new[] { " ?!\n\n", "x" })] // " ?[^\s\p{L}\p{N}]+[\r\n]*"
    [InlineData("llama3", "(hi", new[] { "(hi" })] // "[^\r\n\p{L}\p{N}]?\p{L}+"
    [InlineData("qwen2", "12", new[] { "1", "2" })] // \p{N}
    [InlineData("qwen2", "I'M", new[] { "I", "'M" })] // (?i:…)
    [InlineData("falcon", "a+b=3000", new[] { "a", "+", "b", "=", "300", "0" })] // symbols first, then gpt-2, then [0-9]{3}
    [InlineData("default", "x1234y", new[] { "x", "123", "4", "y" })] // \p{N}+ then [0-9]{3}
    [InlineData("deepseek-coder", "ab 12", new[] { "ab", " ", "1", "2" })] // \s?\p{L}+ …, \p{N} single digits
    [InlineData("deepseek-llm", "Hi 世界!\n", new[] { "Hi", " ", "世界", "!", "\n" })]
    public void SplitsAsTheRegexes(string pre, string text, string[] expected)
    {
        Assert.Equal(expected, Split(pre, text));
    }

    [Fact]
    public void SupplementaryLettersCountAsLettersInCategoryRegexes()
    {
        // U+1D400, U+1D401 (mathematical bold A, B) are \p{L}; llama.cpp matches \p{…} per code point, so
        // deepseek-coder's "\s?\p{L}+" keeps " 𝐀𝐁" whole (a UTF-16 regex engine would see surrogates instead).
        Assert.Equal([" 𝐀𝐁"], Split("deepseek-coder", " 𝐀𝐁"));
        Assert.Equal(["𝐀𝐁", " ok"], Split("qwen2", "𝐀𝐁 ok"));
    }

    [Fact]
    public void CodepointsNewerThanLlamaCppsUnicodeTablesAreUnassigned()
    {
        // U+1C8A (Cyrillic small letter tje) arrived in Unicode 16.0; llama.cpp's tables (15.1) do not know it, so it
        // is not a letter there: GPT-2's "[^\s\p{L}\p{N}]+" takes it with the apostrophe, and "s" stands alone.
        Assert.Equal(["\u1C8A'", "s"], Split("gpt-2", "\u1C8A's"));
        Assert.Equal(["a", "\u1C8A", "b"], Split("deepseek-coder", "a\u1C8Ab"));
    }

    [Fact]
    public void SupplementaryRangesOfDeepseekLlmLettersMatch()
    {
        // U+10400 (Deseret capital long I) is in deepseek-llm's letter class; U+1F600 (an emoji) is not.
        Assert.Equal([" \U00010400\U00010401", "\U0001F600"], Split("deepseek-llm", " \U00010400\U00010401\U0001F600"));
    }

    [Fact]
    public void PiecesCoverTheText()
    {
        const string text = "  Hello, y'all! How are you 😁 ?我想在apple工作1314151天～\r\n\t end";
        foreach (string pre in new[] { "default", "gpt-2", "llama3", "qwen2", "deepseek-llm", "deepseek-coder", "falcon", "starcoder" })
        {
            Assert.Equal(text, string.Concat(Split(pre, text)));
        }
    }
}
