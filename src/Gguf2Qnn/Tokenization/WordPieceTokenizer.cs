using System.Globalization;
using System.Text;

namespace Gguf2Qnn.Tokenization;

/// <summary>
/// <c>tokenizer.ggml.model = bert</c>: llama.cpp's WordPiece (<c>llm_tokenizer_wpm_session</c> in <c>src/llama-vocab.cpp</c>).
/// <para>
/// Pre-processing, one code point at a time: the code point is replaced by the first code point of its NFD
/// decomposition (so a precomposed letter loses its accent); whitespace (llama.cpp's list: U+0009–U+000D, U+0020,
/// U+0085, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F, U+3000) ends the current word; U+0000,
/// U+FFFD, other-category code points (Cc, Cf, Co, Cs) and marks (Mn, Mc, Me: a separate combining accent, a
/// Devanagari vowel sign …) are dropped (the marks as the llama.cpp of LLamaSharp 0.30.0 does, checked by the
/// differential tests);
/// the rest is lower-cased (Unicode simple case mapping); punctuation (P*), ASCII symbols (S* below U+007F) and
/// CJK ideographs become one-character words, anything else extends the current word.
/// </para>
/// <para>
/// Each word, prefixed with U+2581 (GGUF <c>bert</c> vocabularies spell a word-initial piece <c>▁word</c> and a
/// continuation piece without the <c>##</c> of Hugging Face), is cut greedily into the longest vocabulary token at each
/// position. When some position matches no token, the whole word becomes the unknown token.
/// </para>
/// <para>
/// llama.cpp's defaults for this model: BOS ([CLS]) 101, unknown ([UNK]) 100, separator ([SEP]) 102, no EOS;
/// BOS and separator are added with special tokens; no space prefix; decoding cleans up spaces.
/// </para>
/// </summary>
internal sealed class WordPieceTokenizer : GgufTokenizer
{
    private const char SpaceMark = '\u2581'; // ▁
    private readonly int _maxTokenLength; // in UTF-16 code units

    public WordPieceTokenizer(TokenizerVocab vocab)
        : base(vocab, new ModelDefaults(BosTokenId: 101, EosTokenId: null, UnknownTokenId: 100, AddBos: true, AddSpacePrefix: false, CleanSpaces: true)
        {
            SeparatorTokenId = 102,
            AddSeparator = true,
        })
    {
        for (int id = 0; id < VocabSize; id++)
        {
            _maxTokenLength = Math.Max(_maxTokenLength, GetTokenText(id).Length);
        }
    }

    private protected override byte[] RenderNormal(string text) => Encoding.UTF8.GetBytes(text.Replace(SpaceMark, ' '));

    private protected override void EncodeText(string text, bool afterSpecial, List<int> output)
    {
        var word = new StringBuilder();
        word.Append(SpaceMark);
        foreach (var rune in text.EnumerateRunes())
        {
            int cpt = FirstOfNfd(rune.Value);
            if (IsWhitespace(cpt))
            {
                EncodeWord(word, output);
                continue;
            }

            var category = IsNewInUnicode16(cpt) ? UnicodeCategory.OtherNotAssigned : CharUnicodeInfo.GetUnicodeCategory(cpt);
            if (cpt is 0 or 0xFFFD || category is UnicodeCategory.Control or UnicodeCategory.Format
                    or UnicodeCategory.PrivateUse or UnicodeCategory.Surrogate or UnicodeCategory.NonSpacingMark
                    or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark)
            {
                continue;
            }

            int lower = ToLower(cpt);
            if (IsPunctuation(category) || (cpt < 0x7F && IsSymbol(category)) || IsCjkIdeograph(cpt))
            {
                EncodeWord(word, output);
                word.Append(char.ConvertFromUtf32(lower));
                EncodeWord(word, output);
            }
            else
            {
                word.Append(char.ConvertFromUtf32(lower));
            }
        }

        EncodeWord(word, output);
    }

    /// <summary>Greedy longest-match-first over <paramref name="word"/> (which starts with ▁); then resets it to ▁.</summary>
    private void EncodeWord(StringBuilder word, List<int> output)
    {
        if (word.Length <= 1)
        {
            return;
        }

        string w = word.ToString();
        word.Clear().Append(SpaceMark);
        int start = output.Count;
        for (int i = 0; i < w.Length;)
        {
            int found = -1, end = Math.Min(w.Length, i + _maxTokenLength);
            for (; end > i; end--)
            {
                if (end < w.Length && char.IsLowSurrogate(w[end]))
                {
                    continue; // never cut a surrogate pair (no token ends inside a code point)
                }

                found = LookupToken(w.AsSpan(i, end - i));
                if (found >= 0)
                {
                    break;
                }
            }

            if (found < 0)
            {
                output.RemoveRange(start, output.Count - start);
                if (UnknownTokenId is not int unk)
                {
                    throw new InvalidOperationException(
                        "A word has no WordPiece tokenization and the vocabulary has no unknown token (tokenizer.ggml.unknown_token_id).");
                }

                output.Add(unk);
                return;
            }

            output.Add(found);
            i = end;
        }
    }

    /// <summary>llama.cpp's <c>unicode_cpts_normalize_nfd</c>: the first code point of the NFD form of one code point.</summary>
    private static int FirstOfNfd(int cpt)
    {
        if (cpt < 0xC0)
        {
            return cpt; // nothing below U+00C0 decomposes canonically
        }

        if (CharUnicodeInfo.GetUnicodeCategory(cpt) is UnicodeCategory.OtherNotAssigned or UnicodeCategory.PrivateUse)
        {
            return cpt; // unassigned and private-use code points have no decomposition (ICU refuses noncharacters)
        }

        string nfd = char.ConvertFromUtf32(cpt).Normalize(NormalizationForm.FormD);
        return char.ConvertToUtf32(nfd, 0);
    }

    /// <summary>Unicode simple lower-case mapping (UnicodeData.txt field 13), as llama.cpp's <c>unicode_tolower</c>.</summary>
    private static int ToLower(int cpt)
    {
        if (cpt < 0x80)
        {
            return cpt is >= 'A' and <= 'Z' ? cpt + 32 : cpt;
        }

        if (cpt == 0x130)
        {
            return 'i'; // LATIN CAPITAL LETTER I WITH DOT ABOVE: .NET's invariant casing leaves it, UnicodeData maps it to i
        }

        return Rune.ToLowerInvariant(new Rune(cpt)).Value;
    }

    /// <summary>
    /// The marks and punctuation that Unicode 16.0 added and .NET 10 knows, which llama.cpp's tables (Unicode 15.1,
    /// <c>unicode-data.cpp</c>) still leave unassigned, so that it keeps them inside a word: U+0897, Balinese,
    /// Garay, Arabic Extended-C, Tulu-Tigalari, Gurung Khema, Kirat Rai, Sunuwar, Kawi and Ol Onal. Found by comparing
    /// every code point with llama.cpp (<c>WordPieceMatchesLlamaCppOnEveryCodePoint</c>); a newer .NET needs that test rerun.
    /// </summary>
    private static bool IsNewInUnicode16(int cpt) => cpt >= 0x897 && cpt is 0x897 or (>= 0x1B4E and <= 0x1B4F) or 0x1B7F
        or (>= 0x10D69 and <= 0x10D6E) or 0x10EFC or (>= 0x113B8 and <= 0x113C0) or 0x113C2 or 0x113C5
        or (>= 0x113C7 and <= 0x113CA) or (>= 0x113CC and <= 0x113D0) or 0x113D2 or (>= 0x113D4 and <= 0x113D5)
        or (>= 0x113D7 and <= 0x113D8) or (>= 0x113E1 and <= 0x113E2) or 0x11BE1 or 0x11F5A or (>= 0x1611E and <= 0x1612F)
        or (>= 0x16D6D and <= 0x16D6F) or (>= 0x1E5EE and <= 0x1E5EF) or 0x1E5FF;

    /// <summary>The code points llama.cpp counts as whitespace (Unicode White_Space).</summary>
    private static bool IsWhitespace(int cpt) => cpt is (>= 0x09 and <= 0x0D) or 0x20 or 0x85 or 0xA0 or 0x1680
        or (>= 0x2000 and <= 0x200A) or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    private static bool IsPunctuation(UnicodeCategory c) => c is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
        or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
        or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;

    private static bool IsSymbol(UnicodeCategory c) => c is UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol
        or UnicodeCategory.ModifierSymbol or UnicodeCategory.OtherSymbol;

    /// <summary>
    /// llama.cpp's <c>is_chinese_char</c> (the CJK ranges of BERT's tokenizer; one range starts at U+2B920 as in
    /// Hugging Face's Rust code rather than U+2B820).
    /// </summary>
    internal static bool IsCjkIdeograph(int cpt) => cpt is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF)
        or (>= 0x20000 and <= 0x2A6DF) or (>= 0x2A700 and <= 0x2B73F) or (>= 0x2B740 and <= 0x2B81F)
        or (>= 0x2B920 and <= 0x2CEAF) or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);
}
