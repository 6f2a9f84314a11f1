using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Gguf2Qnn.Tokenization.PreTokenization;

namespace Gguf2Qnn.Tokenization;

/// <summary>What goes into <c>tokenizer_config.json</c> besides the tokenizer itself.</summary>
public sealed record HuggingFaceTokenizerConfigOptions
{
    /// <summary><c>chat_template</c>: the Jinja template of <c>tokenizer.chat_template</c>; null leaves the key out.</summary>
    public string? ChatTemplate { get; init; }

    /// <summary><c>model_max_length</c>: the model's context length in tokens; null leaves the key out.</summary>
    public int? ModelMaxLength { get; init; }
}

/// <summary>
/// Writes a <see cref="GgufTokenizer"/> as Hugging Face tokenizer files, so that tools reading a Hugging Face
/// folder (transformers, tokenizers, ONNX Runtime GenAI, Genie) tokenize like the GGUF, and so like llama.cpp.
/// <list type="bullet">
/// <item><c>tokenizer.json</c> (Hugging Face tokenizers' serialization, read by tokenizers 0.20 or later: merges are
/// written as pairs):
/// <list type="bullet">
/// <item><c>llama</c> (SentencePiece): model <c>BPE</c> with <c>byte_fallback</c> and <c>fuse_unk</c>, whose merges
/// are every split of a vocabulary text into two vocabulary texts, ranked by the score of the merged token (highest
/// first, then lower id, then shorter left part); normalizer <c>Prepend("▁")</c> (when
/// <c>tokenizer.ggml.add_space_prefix</c> holds) then <c>Replace(" ", "▁")</c>, no pre-tokenizer; decoder
/// <c>Replace("▁", " ")</c>, <c>ByteFallback</c>, <c>Fuse</c>, <c>Strip(" ", 1, 0)</c> (the last only with the space
/// prefix): the layout transformers writes for Llama 2 (<c>LlamaConverter</c>, legacy mode).</item>
/// <item><c>gpt2</c> (byte-level BPE): model <c>BPE</c> with the vocabulary and <c>tokenizer.ggml.merges</c> (a merge
/// whose result is not a token is left out, as <see cref="GgufTokenizer"/> does) and <c>ignore_merges</c> where
/// llama.cpp sets it; pre-tokenizer one <c>Split</c> per llama.cpp rule of <c>tokenizer.ggml.pre</c>
/// (<see cref="HuggingFaceSplitPatterns"/>), then <c>ByteLevel</c> without its own regex; decoder <c>ByteLevel</c>.</item>
/// <item><c>bert</c> (WordPiece): model <c>WordPiece</c> over the GGUF texts (▁-prefixed word starts, continuation
/// pieces bare, so <c>continuing_subword_prefix</c> is empty and no word length limit); normalizer and pre-tokenizer
/// rebuild llama.cpp's pre-processing (CJK padding, NFD, marks and controls removed, lower case, whitespace and
/// punctuation splits, ▁ per word); decoder ▁ → space; the template adds [CLS] and [SEP]. Known difference: the export
/// removes Hangul vowel and final jamo everywhere (llama.cpp only loses them from decomposed syllables).</item>
/// </list>
/// Every token is in the model vocabulary under its GGUF text, at its GGUF id. Control, user-defined and unknown
/// tokens are also <c>added_tokens</c> (control and unknown with <c>special: true</c>), not normalized, with
/// llama.cpp's left/right strip attributes. The post-processor prepends BOS and appends EOS as
/// <c>add_bos_token</c>/<c>add_eos_token</c> say (<c>TemplateProcessing</c>).</item>
/// <item><c>tokenizer_config.json</c>: <c>add_bos_token</c>, <c>add_eos_token</c>, <c>added_tokens_decoder</c>,
/// <c>bos_token</c>, <c>eos_token</c>, <c>unk_token</c>, <c>pad_token</c>, <c>chat_template</c>,
/// <c>clean_up_tokenization_spaces</c> (llama.cpp's <c>clean_spaces</c>), <c>model_max_length</c> and
/// <c>tokenizer_class: PreTrainedTokenizerFast</c> (so transformers takes tokenizer.json as written).</item>
/// </list>
/// Where Hugging Face tokenizers cannot say what llama.cpp does, the files follow Hugging Face's conventions, and
/// the results differ (tests/…/HuggingFaceExportTests counts them on random texts): special tokens are always matched
/// in text (llama.cpp: only with parse_special); <c>lstrip</c>/<c>rstrip</c> also strip non-ASCII whitespace
/// (llama.cpp: C <c>isspace</c> only); a user-defined token spelled in the byte-level alphabet (deepseek's "ü")
/// decodes as the bytes it stands for; a SentencePiece decode that starts with a skipped special token loses the
/// next token's leading space (llama.cpp spends the removal on the special token); Oniguruma's Unicode tables are
/// newer than llama.cpp's 15.1. Not seen in the tests but possible by construction: added tokens are matched
/// leftmost-longest (llama.cpp: longest token first over the whole text), and SentencePiece merges of different
/// tokens with equal scores are ordered by rank (llama.cpp: leftmost pair first); unused and undefined tokens
/// decode to their text (llama.cpp: to nothing).
/// </summary>
public static class HuggingFaceExport
{
    /// <summary>File name of the tokenizer.</summary>
    public const string TokenizerFileName = "tokenizer.json";

    /// <summary>File name of the transformers configuration.</summary>
    public const string TokenizerConfigFileName = "tokenizer_config.json";

    private const string SpaceMark = "\u2581"; // ▁

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // UTF-8 as is, like Hugging Face's files
    };

    /// <summary>Writes <see cref="TokenizerFileName"/> and <see cref="TokenizerConfigFileName"/> into <paramref name="directory"/>.</summary>
    /// <returns>The two file names.</returns>
    /// <exception cref="NotSupportedException">The tokenizer's model has no Hugging Face form here.</exception>
    public static IReadOnlyList<string> Write(GgufTokenizer tokenizer, string directory, HuggingFaceTokenizerConfigOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        using (var stream = File.Create(Path.Combine(directory, TokenizerFileName)))
        {
            WriteTokenizerJson(tokenizer, stream);
        }

        using (var stream = File.Create(Path.Combine(directory, TokenizerConfigFileName)))
        {
            WriteTokenizerConfig(tokenizer, stream, options ?? new HuggingFaceTokenizerConfigOptions());
        }

        return [TokenizerFileName, TokenizerConfigFileName];
    }

    /// <summary>Writes <c>tokenizer.json</c> (UTF-8) to <paramref name="stream"/>.</summary>
    /// <exception cref="NotSupportedException">The tokenizer's model has no Hugging Face form here.</exception>
    public static void WriteTokenizerJson(GgufTokenizer tokenizer, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(stream);
        using var w = new Utf8JsonWriter(stream, WriterOptions);
        w.WriteStartObject();
        w.WriteString("version", "1.0");
        w.WriteNull("truncation");
        w.WriteNull("padding");

        w.WriteStartArray("added_tokens");
        foreach (var token in AddedTokens(tokenizer))
        {
            w.WriteStartObject();
            w.WriteNumber("id", token.Id);
            WriteAddedTokenFields(w, token);
            w.WriteEndObject();
        }

        w.WriteEndArray();

        switch (tokenizer)
        {
            case SpmTokenizer spm:
                WriteSpm(w, spm);
                break;
            case Gpt2BpeTokenizer bpe:
                WriteByteLevelBpe(w, bpe);
                break;
            case WordPieceTokenizer wpm:
                WriteWordPiece(w, wpm);
                break;
            default:
                throw new NotSupportedException($"No Hugging Face export for tokenizer.ggml.model '{tokenizer.Vocab.Model}'.");
        }

        w.WriteEndObject();
    }

    /// <summary>Writes <c>tokenizer_config.json</c> (UTF-8) to <paramref name="stream"/>.</summary>
    public static void WriteTokenizerConfig(GgufTokenizer tokenizer, Stream stream, HuggingFaceTokenizerConfigOptions options)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(options);
        using var w = new Utf8JsonWriter(stream, WriterOptions);
        w.WriteStartObject();
        w.WriteBoolean("add_bos_token", tokenizer.AddBosToken && tokenizer.BosTokenId is not null);
        w.WriteBoolean("add_eos_token", tokenizer.AddEosToken && tokenizer.EosTokenId is not null);
        w.WriteStartObject("added_tokens_decoder");
        foreach (var token in AddedTokens(tokenizer))
        {
            w.WriteStartObject(token.Id.ToString(CultureInfo.InvariantCulture));
            WriteAddedTokenFields(w, token);
            w.WriteEndObject();
        }

        w.WriteEndObject();
        WriteTokenText(w, "bos_token", tokenizer, tokenizer.BosTokenId);
        WriteTokenText(w, "eos_token", tokenizer, tokenizer.EosTokenId);
        WriteTokenText(w, "unk_token", tokenizer, tokenizer.UnknownTokenId);
        WriteTokenText(w, "pad_token", tokenizer, tokenizer.PaddingTokenId);
        if (tokenizer.SeparatorTokenId is int sep)
        {
            w.WriteString("sep_token", tokenizer.GetTokenText(sep));
        }
        if (options.ChatTemplate is not null)
        {
            w.WriteString("chat_template", options.ChatTemplate);
        }

        w.WriteBoolean("clean_up_tokenization_spaces", tokenizer.CleanSpaces);
        if (options.ModelMaxLength is int max)
        {
            w.WriteNumber("model_max_length", max);
        }

        w.WriteString("tokenizer_class", "PreTrainedTokenizerFast");
        w.WriteEndObject();
    }

    private static void WriteSpm(Utf8JsonWriter w, SpmTokenizer tokenizer)
    {
        w.WriteStartObject("normalizer");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("normalizers");
        if (tokenizer.AddSpacePrefix)
        {
            w.WriteStartObject();
            w.WriteString("type", "Prepend");
            w.WriteString("prepend", SpaceMark);
            w.WriteEndObject();
        }

        WriteReplace(w, " ", SpaceMark);
        w.WriteEndArray();
        w.WriteEndObject();

        w.WriteNull("pre_tokenizer");
        WritePostProcessor(w, tokenizer, byteLevel: false);

        w.WriteStartObject("decoder");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("decoders");
        WriteReplace(w, SpaceMark, " ");
        WriteTyped(w, "ByteFallback");
        WriteTyped(w, "Fuse");
        if (tokenizer.AddSpacePrefix)
        {
            w.WriteStartObject();
            w.WriteString("type", "Strip");
            w.WriteString("content", " ");
            w.WriteNumber("start", 1);
            w.WriteNumber("stop", 0);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();

        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        if (tokenizer.UnknownTokenId is int unk)
        {
            w.WriteString("unk_token", tokenizer.GetTokenText(unk));
        }
        else
        {
            w.WriteNull("unk_token");
        }

        w.WriteNull("continuing_subword_prefix");
        w.WriteNull("end_of_word_suffix");
        w.WriteBoolean("fuse_unk", true);
        w.WriteBoolean("byte_fallback", true);
        w.WriteBoolean("ignore_merges", false);
        WriteVocab(w, tokenizer);
        WriteMerges(w, SpmMerges(tokenizer));
        w.WriteEndObject();
    }

    private static void WriteByteLevelBpe(Utf8JsonWriter w, Gpt2BpeTokenizer tokenizer)
    {
        w.WriteNull("normalizer");

        w.WriteStartObject("pre_tokenizer");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("pretokenizers");
        foreach (string pattern in HuggingFaceSplitPatterns.For(tokenizer.Spec.Family))
        {
            w.WriteStartObject();
            w.WriteString("type", "Split");
            w.WriteStartObject("pattern");
            w.WriteString("Regex", pattern);
            w.WriteEndObject();
            w.WriteString("behavior", "Isolated");
            w.WriteBoolean("invert", false);
            w.WriteEndObject();
        }

        WriteByteLevel(w, useRegex: false);
        w.WriteEndArray();
        w.WriteEndObject();

        WritePostProcessor(w, tokenizer, byteLevel: true);

        w.WritePropertyName("decoder");
        WriteByteLevel(w, useRegex: true);

        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        w.WriteNull("unk_token");
        w.WriteNull("continuing_subword_prefix");
        w.WriteNull("end_of_word_suffix");
        w.WriteBoolean("fuse_unk", false);
        w.WriteBoolean("byte_fallback", false);
        w.WriteBoolean("ignore_merges", tokenizer.Spec.IgnoreMerges);
        WriteVocab(w, tokenizer);
        WriteMerges(w, ByteLevelMerges(tokenizer));
        w.WriteEndObject();
    }

    /// <summary>
    /// WordPiece with the GGUF texts: words get a leading ▁ (Metaspace, prepended to every word) and continuation
    /// pieces have no prefix, so the model's <c>continuing_subword_prefix</c> is empty. Normalizer:
    /// <c>BertNormalizer</c> only for its CJK padding, then <c>NFD</c>, then a <c>Replace</c> that removes what llama.cpp
    /// drops or loses (marks, Cf/Co/Cc other than whitespace, U+0000, U+FFFD, and the Hangul vowel and final jamo that
    /// follow the initial of a decomposed syllable), then <c>Lowercase</c>, then a <c>Replace</c> doubling a ▁ that starts
    /// a word (Metaspace adds none to a word that already starts with ▁; llama.cpp always adds one). Pre-tokenizer: <c>Split</c> at whitespace
    /// (removed), <c>Split</c> isolating Unicode punctuation and ASCII symbols (as llama.cpp; Oniguruma's tables rather
    /// than the older ones of <c>BertPreTokenizer</c>), then <c>Metaspace</c>. Decoder: ▁ back to a
    /// space (transformers' <c>clean_up_tokenization_spaces</c> does the rest).
    /// </summary>
    private static void WriteWordPiece(Utf8JsonWriter w, WordPieceTokenizer tokenizer)
    {
        w.WriteStartObject("normalizer");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("normalizers");
        w.WriteStartObject();
        w.WriteString("type", "BertNormalizer");
        w.WriteBoolean("clean_text", false);
        w.WriteBoolean("handle_chinese_chars", true);
        w.WriteBoolean("strip_accents", false);
        w.WriteBoolean("lowercase", false);
        w.WriteEndObject();
        WriteTyped(w, "NFD");
        w.WriteStartObject();
        w.WriteString("type", "Replace");
        w.WriteStartObject("pattern");
        w.WriteString("Regex", "[\\p{M}\\p{Cf}\\p{Co}\\x{0}\\x{FFFD}\\x{1161}-\\x{1175}\\x{11A8}-\\x{11C2}]|(?![\\t\\n\\x{B}\\f\\r\\x{85}])\\p{Cc}");
        w.WriteEndObject();
        w.WriteString("content", "");
        w.WriteEndObject();
        WriteTyped(w, "Lowercase");
        w.WriteStartObject();
        w.WriteString("type", "Replace");
        w.WriteStartObject("pattern");
        w.WriteString("Regex", "(?<=^|[\\s\\p{P}!-/:-@\\[-`{-~])\\x{2581}");
        w.WriteEndObject();
        w.WriteString("content", SpaceMark + SpaceMark);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();

        w.WriteStartObject("pre_tokenizer");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("pretokenizers");
        WriteSplit(w, "\\s+", "Removed");
        WriteSplit(w, "[\\p{P}!-/:-@\\[-`{-~]", "Isolated");
        w.WriteStartObject();
        w.WriteString("type", "Metaspace");
        w.WriteString("replacement", SpaceMark);
        w.WriteString("prepend_scheme", "always");
        w.WriteBoolean("split", false);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();

        WritePostProcessor(w, tokenizer, byteLevel: false);

        w.WritePropertyName("decoder");
        WriteReplace(w, SpaceMark, " ");

        w.WriteStartObject("model");
        w.WriteString("type", "WordPiece");
        if (tokenizer.UnknownTokenId is int unk)
        {
            w.WriteString("unk_token", tokenizer.GetTokenText(unk));
        }
        else
        {
            w.WriteNull("unk_token");
        }

        w.WriteString("continuing_subword_prefix", string.Empty);
        w.WriteNumber("max_input_chars_per_word", int.MaxValue);
        WriteVocab(w, tokenizer);
        w.WriteEndObject();
    }

    /// <summary>
    /// <c>TemplateProcessing</c> adding BOS/EOS as the tokenizer's defaults say (after <c>ByteLevel</c> for byte-level
    /// BPE, which only adjusts offsets); null, or the plain <c>ByteLevel</c> step, when nothing is added.
    /// </summary>
    private static void WritePostProcessor(Utf8JsonWriter w, GgufTokenizer tokenizer, bool byteLevel)
    {
        int? bos = tokenizer.AddBosToken ? tokenizer.BosTokenId : null;
        int[] eos = new[] { tokenizer.AddEosToken ? tokenizer.EosTokenId : null, tokenizer.AddSeparatorToken ? tokenizer.SeparatorTokenId : null }
            .OfType<int>().ToArray();
        if (bos is null && eos.Length == 0)
        {
            if (byteLevel)
            {
                w.WritePropertyName("post_processor");
                WriteByteLevel(w, useRegex: false);
            }
            else
            {
                w.WriteNull("post_processor");
            }

            return;
        }

        w.WriteStartObject("post_processor");
        if (byteLevel)
        {
            w.WriteString("type", "Sequence");
            w.WriteStartArray("processors");
            WriteByteLevel(w, useRegex: false);
            w.WriteStartObject();
        }

        w.WriteString("type", "TemplateProcessing");
        w.WriteStartArray("single");
        WriteTemplate(w, tokenizer, bos, eos, "A", 0);
        w.WriteEndArray();
        w.WriteStartArray("pair");
        WriteTemplate(w, tokenizer, bos, eos, "A", 0);
        WriteTemplate(w, tokenizer, bos, eos, "B", 1);
        w.WriteEndArray();
        w.WriteStartObject("special_tokens");
        foreach (int id in new[] { bos }.OfType<int>().Concat(eos).Distinct())
        {
            string text = tokenizer.GetTokenText(id);
            w.WriteStartObject(text);
            w.WriteString("id", text);
            w.WriteStartArray("ids");
            w.WriteNumberValue(id);
            w.WriteEndArray();
            w.WriteStartArray("tokens");
            w.WriteStringValue(text);
            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndObject();
        if (byteLevel)
        {
            w.WriteEndObject();
            w.WriteEndArray();
        }

        w.WriteEndObject();
    }

    private static void WriteTemplate(Utf8JsonWriter w, GgufTokenizer tokenizer, int? bos, int[] eos, string sequence, int typeId)
    {
        if (bos is int b)
        {
            WriteTemplatePiece(w, "SpecialToken", tokenizer.GetTokenText(b), typeId);
        }

        WriteTemplatePiece(w, "Sequence", sequence, typeId);
        foreach (int e in eos)
        {
            WriteTemplatePiece(w, "SpecialToken", tokenizer.GetTokenText(e), typeId);
        }
    }

    private static void WriteTemplatePiece(Utf8JsonWriter w, string kind, string id, int typeId)
    {
        w.WriteStartObject();
        w.WriteStartObject(kind);
        w.WriteString("id", id);
        w.WriteNumber("type_id", typeId);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteByteLevel(Utf8JsonWriter w, bool useRegex)
    {
        w.WriteStartObject();
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", false);
        w.WriteBoolean("use_regex", useRegex);
        w.WriteEndObject();
    }

    private static void WriteSplit(Utf8JsonWriter w, string regex, string behavior)
    {
        w.WriteStartObject();
        w.WriteString("type", "Split");
        w.WriteStartObject("pattern");
        w.WriteString("Regex", regex);
        w.WriteEndObject();
        w.WriteString("behavior", behavior);
        w.WriteBoolean("invert", false);
        w.WriteEndObject();
    }

    private static void WriteReplace(Utf8JsonWriter w, string pattern, string content)
    {
        w.WriteStartObject();
        w.WriteString("type", "Replace");
        w.WriteStartObject("pattern");
        w.WriteString("String", pattern);
        w.WriteEndObject();
        w.WriteString("content", content);
        w.WriteEndObject();
    }

    private static void WriteTyped(Utf8JsonWriter w, string type)
    {
        w.WriteStartObject();
        w.WriteString("type", type);
        w.WriteEndObject();
    }

    private static void WriteTokenText(Utf8JsonWriter w, string name, GgufTokenizer tokenizer, int? id)
    {
        if (id is int i)
        {
            w.WriteString(name, tokenizer.GetTokenText(i));
        }
        else
        {
            w.WriteNull(name);
        }
    }

    private static void WriteVocab(Utf8JsonWriter w, GgufTokenizer tokenizer)
    {
        w.WriteStartObject("vocab");
        for (int id = 0; id < tokenizer.VocabSize; id++)
        {
            w.WriteNumber(tokenizer.GetTokenText(id), id);
        }

        w.WriteEndObject();
    }

    private static void WriteMerges(Utf8JsonWriter w, IEnumerable<(string Left, string Right)> merges)
    {
        w.WriteStartArray("merges");
        foreach (var (left, right) in merges)
        {
            w.WriteStartArray();
            w.WriteStringValue(left);
            w.WriteStringValue(right);
            w.WriteEndArray();
        }

        w.WriteEndArray();
    }

    /// <summary>
    /// SentencePiece scores as BPE merges: each way of writing a vocabulary text as two vocabulary texts is a merge,
    /// ranked by the merged token's score (llama.cpp merges the adjacent pair whose concatenation scores highest).
    /// </summary>
    private static List<(string Left, string Right)> SpmMerges(SpmTokenizer tokenizer)
    {
        var scores = tokenizer.Vocab.Scores;
        var merges = new List<(float Score, int Id, string Left, string Right)>();
        for (int id = 0; id < tokenizer.VocabSize; id++)
        {
            string text = tokenizer.GetTokenText(id);
            for (int cut = 1; cut < text.Length; cut++)
            {
                if (char.IsLowSurrogate(text[cut]) && char.IsHighSurrogate(text[cut - 1]))
                {
                    continue; // not between two code points
                }

                string left = text[..cut], right = text[cut..];
                if (tokenizer.TryGetTokenId(left, out _) && tokenizer.TryGetTokenId(right, out _))
                {
                    merges.Add((scores is null ? 0f : scores[id], id, left, right));
                }
            }
        }

        merges.Sort(static (a, b) =>
        {
            int c = b.Score.CompareTo(a.Score);
            if (c == 0)
            {
                c = a.Id.CompareTo(b.Id);
            }

            return c != 0 ? c : a.Left.Length.CompareTo(b.Left.Length);
        });
        return merges.ConvertAll(m => (m.Left, m.Right));
    }

    /// <summary><c>tokenizer.ggml.merges</c> as pairs, split as llama.cpp splits them, keeping those whose result is a token.</summary>
    private static IEnumerable<(string Left, string Right)> ByteLevelMerges(Gpt2BpeTokenizer tokenizer)
    {
        foreach (string merge in tokenizer.Vocab.Merges!)
        {
            int space = merge.Length > 1 ? merge.IndexOf(' ', 1) : -1;
            if (space <= 0)
            {
                continue;
            }

            string left = merge[..space], right = merge[(space + 1)..];
            if (tokenizer.TryGetTokenId(left, out _) && tokenizer.TryGetTokenId(right, out _)
                && tokenizer.TryGetTokenId(left + right, out _))
            {
                yield return (left, right);
            }
        }
    }

    private readonly record struct AddedToken(int Id, string Content, bool Special, bool LStrip, bool RStrip);

    /// <summary>Control, user-defined and unknown tokens (those llama.cpp matches as a whole in text), by id.</summary>
    private static List<AddedToken> AddedTokens(GgufTokenizer tokenizer)
    {
        var tokens = new List<AddedToken>();
        for (int id = 0; id < tokenizer.VocabSize; id++)
        {
            var attr = tokenizer.GetAttributes(id);
            bool special = (attr & (TokenAttributes.Control | TokenAttributes.Unknown)) != 0;
            if (special || (attr & TokenAttributes.UserDefined) != 0)
            {
                tokens.Add(new AddedToken(id, tokenizer.GetTokenText(id), special,
                    (attr & TokenAttributes.LStrip) != 0, (attr & TokenAttributes.RStrip) != 0));
            }
        }

        return tokens;
    }

    private static void WriteAddedTokenFields(Utf8JsonWriter w, AddedToken token)
    {
        w.WriteString("content", token.Content);
        w.WriteBoolean("single_word", false);
        w.WriteBoolean("lstrip", token.LStrip);
        w.WriteBoolean("rstrip", token.RStrip);
        w.WriteBoolean("normalized", false);
        w.WriteBoolean("special", token.Special);
    }
}
