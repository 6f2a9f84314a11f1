using System.Text;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Tokenization;
using LLama.Native;
using Xunit;

namespace Gguf2Qnn.Tests.Tokenization;

/// <summary>
/// Our tokenizers against llama.cpp itself (through LLamaSharp) on random texts and random ids: tokenize with and
/// without special-token parsing, BOS handling, every token's piece, detokenize, and the special ids and EOG set.
/// </summary>
[Trait("Category", "Tokenization")]
public class LlamaCppDifferentialTests
{
    public static TheoryData<string> Files() =>
    [
        VocabVectors.GgufPath("llama-spm"),
        VocabVectors.GgufPath("phi-3"),
        VocabVectors.GgufPath("gpt-2"),
        VocabVectors.GgufPath("deepseek-llm"),
        VocabVectors.GgufPath("deepseek-coder"),
        VocabVectors.GgufPath("falcon"),
        VocabVectors.GgufPath("bert-bge"),
        TestPaths.Stories260K,
    ];

    [Theory]
    [MemberData(nameof(Files))]
    public void MatchesLlamaCpp(string path)
    {
        var ours = TestTokenizers.ForPath(path);
        using var reference = new LlamaCppVocab(path);
        Compare(ours, reference, seed: Path.GetFileName(path).Length);
    }

    internal static void Compare(GgufTokenizer ours, LlamaCppVocab reference, int seed, int trials = 300)
    {
        var vocab = reference.Vocab;
        Assert.Equal(vocab.Count, ours.VocabSize);
        Assert.Equal(vocab.BOS?.Let(), ours.BosTokenId);
        Assert.Equal(vocab.EOS?.Let(), ours.EosTokenId);
        Assert.Equal(vocab.ShouldAddBOS, ours.AddBosToken);
        Assert.Equal(vocab.ShouldAddEOS, ours.AddEosToken);
        var eog = Enumerable.Range(0, vocab.Count).Where(id => ((LLamaToken)id).IsEndOfGeneration(vocab)).ToArray();
        Assert.Equal(eog, ours.EndOfGenerationTokens.Order());

        // Every token's piece, plain and with special tokens rendered.
        var buffer = new byte[1024];
        for (int id = 0; id < ours.VocabSize; id++)
        {
            foreach (bool special in new[] { false, true })
            {
                uint n = reference.Vocab_TokenToSpan(id, buffer, special);
                if (!ours.TokenToPieceBytes(id, special).SequenceEqual(buffer.AsSpan(0, (int)n)))
                {
                    Assert.Fail($"piece of token {id} ('{ours.GetTokenText(id)}', special={special}): ours '{ours.TokenToPiece(id, special)}', llama.cpp '{Encoding.UTF8.GetString(buffer, 0, (int)n)}'");
                }
            }
        }

        // GGUF2QNN_TOKENIZER_FUZZ_TRIALS raises the count for a longer local search.
        if (int.TryParse(Environment.GetEnvironmentVariable("GGUF2QNN_TOKENIZER_FUZZ_TRIALS"), out int t))
        {
            trials = t;
        }

        var random = new Random(seed);
        for (int trial = 0; trial < trials; trial++)
        {
            string text = RandomText(random, ours);
            foreach (bool parseSpecial in new[] { false, true })
            {
                int[] expected = reference.Tokenize(text, addSpecial: false, parseSpecial);
                int[] actual = ours.Encode(text, addBos: false, parseSpecial);
                AssertSame(expected, actual, text, $"parseSpecial={parseSpecial}");

                Assert.Equal(reference.Detokenize(expected, unparseSpecial: false), ours.Decode(expected));
                Assert.Equal(reference.Detokenize(expected, unparseSpecial: true), ours.Decode(expected, renderSpecial: true));
            }

            int[] withSpecial = reference.Tokenize(text, addSpecial: true, parseSpecial: false);
            int[] oursWithSpecial = ours.EncodeWithSpecialTokens(text);
            AssertSame(withSpecial, oursWithSpecial, text, "add_special");
            Assert.Equal(reference.Detokenize(withSpecial, unparseSpecial: false), ours.Decode(withSpecial));

            // Random ids, any kind of token.
            int[] ids = Enumerable.Range(0, random.Next(1, 8)).Select(_ => random.Next(ours.VocabSize)).ToArray();
            Assert.Equal(reference.Detokenize(ids, unparseSpecial: false), ours.Decode(ids));
            Assert.Equal(reference.Detokenize(ids, unparseSpecial: true), ours.Decode(ids, renderSpecial: true));
        }
    }

    private static void AssertSame(int[] expected, int[] actual, string text, string what)
    {
        if (!expected.AsSpan().SequenceEqual(actual))
        {
            Assert.Fail($"{what}: \"{text.Replace("\n", "\\n")}\"\n  llama.cpp [{string.Join(' ', expected)}]\n  ours      [{string.Join(' ', actual)}]");
        }
    }

    private static readonly string[] Pieces =
    [
        "Hello", " world", "the", " The", "  ", " ", "   ", "\n", "\n\n", "\t", "\r\n", " \n", "'s", "'LL", "'re", "'t", "don't",
        "3", "33", "333", "1234567", "3.14", "!!", "?", " ,", "...", " .", "(", ")", "$", "+=", "<", ">", "~", "`", "_", "#",
        "é", "ü", "Äpfel", "ß", "нещо", " на", "Български", "世界", "我想在", "apple工作", "天～", "한국어", "カタカナ",
        "🦙", "😶‍🌫️", "✅", "🚀", "½", "Ⅻ", "e\u0301", "\u00A0", "\u3000", "\u200B", "ﬀ", "Ｆｕｌｌ",
        "<s>", "</s>", "<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "▁", "<0x0A>", "[PAD]",
    ];

    internal static string RandomText(Random random, GgufTokenizer tokenizer)
    {
        var sb = new StringBuilder();
        int count = random.Next(0, 10);
        for (int i = 0; i < count; i++)
        {
            // Mostly fixed pieces; sometimes the text of a random token (to hit special and user-defined tokens), or
            // a random code point below U+3400 (scripts whose Unicode classes are stable across versions).
            switch (random.Next(10))
            {
                case 0:
                    sb.Append(tokenizer.GetTokenText(random.Next(tokenizer.VocabSize)));
                    break;
                case 1:
                    int cp = random.Next(0x20, 0x3400);
                    if (!char.IsSurrogate((char)cp))
                    {
                        sb.Append((char)cp);
                    }

                    break;
                default:
                    sb.Append(Pieces[random.Next(Pieces.Length)]);
                    break;
            }
        }

        return sb.ToString();
    }
}

/// <summary>
/// Every supported <c>tokenizer.ggml.pre</c> value against llama.cpp, on the GPT-2 vocabulary re-labelled with that
/// value (llama.cpp applies the pre-tokenizer, its flags and defaults to whatever byte-level vocabulary it is given).
/// </summary>
[Trait("Category", "Tokenization")]
public class LlamaCppPreTokenizerDifferentialTests
{
    [Theory]
    [InlineData("default")]
    [InlineData("gpt-2")]
    [InlineData("phi-2")]
    [InlineData("mpt")]
    [InlineData("olmo")]
    [InlineData("jais")]
    [InlineData("gigachat")]
    [InlineData("exaone4")]
    [InlineData("trillion")]
    [InlineData("granite-docling")]
    [InlineData("falcon")]
    [InlineData("starcoder")]
    [InlineData("refact")]
    [InlineData("codeshell")]
    [InlineData("exaone")]
    [InlineData("minerva-7b")]
    [InlineData("mellum2")]
    [InlineData("command-r")]
    [InlineData("smollm")]
    [InlineData("llama3")]
    [InlineData("llama-v3")]
    [InlineData("llama-bpe")]
    [InlineData("falcon3")]
    [InlineData("falcon-h1")]
    [InlineData("pixtral")]
    [InlineData("midm-2.0")]
    [InlineData("lfm2")]
    [InlineData("dbrx")]
    [InlineData("smaug-bpe")]
    [InlineData("qwen2")]
    [InlineData("deepseek-r1-qwen")]
    [InlineData("stablelm2")]
    [InlineData("megrez")]
    [InlineData("deepseek-llm")]
    [InlineData("deepseek-coder")]
    public void MatchesLlamaCpp(string pre)
    {
        var vocab = TestTokenizers.ForVocab("gpt-2").Vocab with { Pre = pre };
        string dir = TestPaths.NewTempDir("pre-" + pre);
        try
        {
            string path = Path.Combine(dir, "vocab.gguf");
            LlamaCppVocab.WriteVocabOnlyGguf(vocab, path);
            using var reference = new LlamaCppVocab(path);
            LlamaCppDifferentialTests.Compare(GgufTokenizer.Create(vocab), reference, seed: pre.Length, trials: 30);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

/// <summary>llama.cpp vocabulary against our in-memory Qwen vocabulary, written to a weightless GGUF.</summary>
[Trait("Category", "Tokenization")]
[Collection(QwenTokenizerCollection.Name)]
public class LlamaCppQwenDifferentialTests(QwenTokenizerFixture fixture)
{
    [Fact]
    public void MatchesLlamaCpp()
    {
        string dir = TestPaths.NewTempDir("qwen-vocab");
        try
        {
            string path = Path.Combine(dir, "qwen2-vocab.gguf");
            LlamaCppVocab.WriteVocabOnlyGguf(fixture.Vocab, path);
            using var reference = new LlamaCppVocab(path);
            using var file = GgufFile.Open(path);
            LlamaCppDifferentialTests.Compare(GgufTokenizer.Create(file), reference, seed: 7);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

internal static class LlamaCppVocabExtensions
{
    public static int Let(this LLamaToken token) => (int)token;

    /// <summary><c>llama_token_to_piece(id, lstrip: 0, special)</c>.</summary>
    public static uint Vocab_TokenToSpan(this LlamaCppVocab reference, int id, byte[] buffer, bool special) =>
        reference.Model.TokenToSpan(id, buffer, 0, special);
}

/// <summary>
/// The WordPiece pre-processing (NFD, lower case, dropped marks and controls, punctuation and CJK split) against
/// llama.cpp on every code point of planes 0–3 and 14, alone and inside a word (planes 4–13 are unassigned and 15–16
/// private use: every 97th code point there).
/// </summary>
[Trait("Category", "Tokenization")]
public class LlamaCppWordPieceDifferentialTests
{
    [Fact]
    public void MatchesLlamaCppOnEveryCodePoint()
    {
        var ours = TestTokenizers.ForVocab("bert-bge");
        using var reference = new LlamaCppVocab(VocabVectors.GgufPath("bert-bge"));
        var mismatches = new List<string>();
        for (int cp = 0; cp < 0x110000 && mismatches.Count < 10; cp++)
        {
            if (cp is >= 0xD800 and <= 0xDFFF || (cp is (>= 0x40000 and < 0xE0000) or >= 0xF0000 && cp % 97 != 0))
            {
                continue;
            }

            string c = char.ConvertFromUtf32(cp);
            foreach (string text in new[] { c, "a" + c + "b" })
            {
                int[] expected = reference.Tokenize(text, addSpecial: false, parseSpecial: false);
                int[] actual = ours.Encode(text, addBos: false);
                if (!expected.AsSpan().SequenceEqual(actual))
                {
                    mismatches.Add($"U+{cp:X4} in \"{text}\": llama.cpp [{string.Join(' ', expected)}], ours [{string.Join(' ', actual)}]");
                }
            }
        }

        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }
}
