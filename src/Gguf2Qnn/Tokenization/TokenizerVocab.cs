using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Tokenization;

/// <summary>
/// The tokenizer half of a GGUF file's metadata, as stored (<c>tokenizer.ggml.*</c>, GGUF spec "Tokenizer"):
/// absent keys are <see langword="null"/>, and llama.cpp's defaults are applied later, by
/// <see cref="GgufTokenizer.Create(TokenizerVocab)"/>. Build one in memory to get a tokenizer without a file.
/// </summary>
public sealed record TokenizerVocab
{
    /// <summary><c>tokenizer.ggml.model</c>: <c>llama</c> (SentencePiece), <c>gpt2</c> (byte-level BPE) or <c>bert</c> (WordPiece) are supported.</summary>
    public required string Model { get; init; }

    /// <summary><c>tokenizer.ggml.pre</c>: the BPE pre-tokenizer (<c>qwen2</c>, <c>llama-bpe</c> …); absent means <c>default</c>.</summary>
    public string? Pre { get; init; }

    /// <summary><c>tokenizer.ggml.tokens</c>: token text by id (SentencePiece pieces use U+2581 for a space, byte-level BPE pieces the GPT-2 byte alphabet).</summary>
    public required IReadOnlyList<string> Tokens { get; init; }

    /// <summary><c>tokenizer.ggml.scores</c>: one score per token (SentencePiece merge priority, higher first); absent means all 0.</summary>
    public IReadOnlyList<float>? Scores { get; init; }

    /// <summary><c>tokenizer.ggml.token_type</c>: one type per token; absent means all <see cref="GgufTokenType.Normal"/>.</summary>
    public IReadOnlyList<GgufTokenType>? TokenTypes { get; init; }

    /// <summary><c>tokenizer.ggml.merges</c>: BPE merges, <c>"left right"</c>, highest priority first (required for <c>gpt2</c>).</summary>
    public IReadOnlyList<string>? Merges { get; init; }

    /// <summary><c>tokenizer.ggml.bos_token_id</c>.</summary>
    public int? BosTokenId { get; init; }

    /// <summary><c>tokenizer.ggml.eos_token_id</c>.</summary>
    public int? EosTokenId { get; init; }

    /// <summary><c>tokenizer.ggml.eot_token_id</c> (end of turn).</summary>
    public int? EotTokenId { get; init; }

    /// <summary><c>tokenizer.ggml.eom_token_id</c> (end of message).</summary>
    public int? EomTokenId { get; init; }

    /// <summary><c>tokenizer.ggml.unknown_token_id</c>.</summary>
    public int? UnknownTokenId { get; init; }

    /// <summary><c>tokenizer.ggml.padding_token_id</c>.</summary>
    public int? PaddingTokenId { get; init; }

    /// <summary><c>tokenizer.ggml.fim_pre_token_id</c> (fill-in-the-middle prefix).</summary>
    public int? FimPrefixTokenId { get; init; }

    /// <summary><c>tokenizer.ggml.fim_suf_token_id</c>.</summary>
    public int? FimSuffixTokenId { get; init; }

    /// <summary><c>tokenizer.ggml.fim_mid_token_id</c>.</summary>
    public int? FimMiddleTokenId { get; init; }

    /// <summary><c>tokenizer.ggml.fim_pad_token_id</c> (llama.cpp counts it as end of generation).</summary>
    public int? FimPadTokenId { get; init; }

    /// <summary><c>tokenizer.ggml.fim_rep_token_id</c> (llama.cpp counts it as end of generation).</summary>
    public int? FimRepoTokenId { get; init; }

    /// <summary><c>tokenizer.ggml.fim_sep_token_id</c> (llama.cpp counts it as end of generation).</summary>
    public int? FimSeparatorTokenId { get; init; }

    /// <summary><c>tokenizer.ggml.add_bos_token</c>.</summary>
    public bool? AddBosToken { get; init; }

    /// <summary><c>tokenizer.ggml.add_eos_token</c>.</summary>
    public bool? AddEosToken { get; init; }

    /// <summary><c>tokenizer.ggml.seperator_token_id</c> (spelled as llama.cpp writes it; [SEP] for <c>bert</c>).</summary>
    public int? SeparatorTokenId { get; init; }

    /// <summary><c>tokenizer.ggml.add_sep_token</c>.</summary>
    public bool? AddSeparatorToken { get; init; }

    /// <summary><c>tokenizer.ggml.add_space_prefix</c> (SentencePiece dummy prefix; llama.cpp's default is true for <c>llama</c>).</summary>
    public bool? AddSpacePrefix { get; init; }

    /// <summary><c>general.name</c>: llama.cpp sets per-token strip attributes by model name (Phi-3).</summary>
    public string? ModelName { get; init; }

    /// <summary>
    /// Reads the <c>tokenizer.ggml.*</c> keys (and <c>general.name</c>) of <paramref name="file"/>.
    /// </summary>
    /// <exception cref="GgufFormatException">
    /// <c>tokenizer.ggml.model</c> or <c>tokenizer.ggml.tokens</c> is missing, or a key has the wrong type.
    /// </exception>
    public static TokenizerVocab FromGguf(IGgufSource file)
    {
        ArgumentNullException.ThrowIfNull(file);
        return new TokenizerVocab
        {
            Model = file.GetString(GgufKeys.TokenizerModel),
            Pre = file.TryGetString(GgufKeys.TokenizerPre, out var pre) ? pre : null,
            Tokens = file.GetStringArray(GgufKeys.Tokens),
            Scores = file.TryGetValue(GgufKeys.Scores, out var scores) ? scores.AsFloatArray() : null,
            TokenTypes = file.TryGetValue(GgufKeys.TokenType, out var types)
                ? Array.ConvertAll(types.AsInt32Array(), t => (GgufTokenType)t)
                : null,
            Merges = file.TryGetValue(GgufKeys.Merges, out var merges) ? merges.AsStringArray() : null,
            BosTokenId = ReadId(file, GgufKeys.BosTokenId),
            EosTokenId = ReadId(file, GgufKeys.EosTokenId),
            EotTokenId = ReadId(file, GgufKeys.EotTokenId),
            EomTokenId = ReadId(file, GgufKeys.EomTokenId),
            UnknownTokenId = ReadId(file, GgufKeys.UnknownTokenId),
            PaddingTokenId = ReadId(file, GgufKeys.PaddingTokenId),
            FimPrefixTokenId = ReadId(file, TokenizerKeys.PrefixTokenId) ?? ReadId(file, TokenizerKeys.FimPrefixTokenId),
            FimSuffixTokenId = ReadId(file, TokenizerKeys.SuffixTokenId) ?? ReadId(file, TokenizerKeys.FimSuffixTokenId),
            FimMiddleTokenId = ReadId(file, TokenizerKeys.MiddleTokenId) ?? ReadId(file, TokenizerKeys.FimMiddleTokenId),
            FimPadTokenId = ReadId(file, TokenizerKeys.FimPadTokenId),
            FimRepoTokenId = ReadId(file, TokenizerKeys.FimRepoTokenId),
            FimSeparatorTokenId = ReadId(file, TokenizerKeys.FimSeparatorTokenId),
            AddBosToken = file.TryGetBool(GgufKeys.AddBosToken, out var addBos) ? addBos : null,
            AddEosToken = file.TryGetBool(GgufKeys.AddEosToken, out var addEos) ? addEos : null,
            SeparatorTokenId = ReadId(file, TokenizerKeys.SeparatorTokenId),
            AddSeparatorToken = file.TryGetBool(TokenizerKeys.AddSeparatorToken, out var addSep) ? addSep : null,
            AddSpacePrefix = file.TryGetBool(GgufKeys.AddSpacePrefix, out var addSpace) ? addSpace : null,
            ModelName = file.TryGetString(GgufKeys.Name, out var name) ? name : null,
        };
    }

    /// <summary>A token id key; values outside int32 are kept out of range so that the tokenizer ignores them, as llama.cpp does.</summary>
    private static int? ReadId(IGgufSource file, string key)
    {
        if (!file.TryGetInt64(key, out long id))
        {
            return null;
        }

        return id is < 0 or > int.MaxValue ? -1 : (int)id;
    }
}

/// <summary>
/// <c>tokenizer.ggml.*</c> keys that llama.cpp reads (<c>llama-arch.cpp</c>, <c>LLM_KV_TOKENIZER_FIM_*</c>) and
/// that <see cref="GgufKeys"/> does not name yet.
/// </summary>
internal static class TokenizerKeys
{
    public const string FimPrefixTokenId = "tokenizer.ggml.fim_pre_token_id";
    public const string FimSuffixTokenId = "tokenizer.ggml.fim_suf_token_id";
    public const string FimMiddleTokenId = "tokenizer.ggml.fim_mid_token_id";
    public const string FimPadTokenId = "tokenizer.ggml.fim_pad_token_id";
    public const string FimRepoTokenId = "tokenizer.ggml.fim_rep_token_id";
    public const string FimSeparatorTokenId = "tokenizer.ggml.fim_sep_token_id";
    public const string SeparatorTokenId = "tokenizer.ggml.seperator_token_id"; // sic, as llama.cpp and gguf-py spell it
    public const string AddSeparatorToken = "tokenizer.ggml.add_sep_token";

    // Deprecated spellings of the first three; llama.cpp reads them after the new ones, so they win when both are present.
    public const string PrefixTokenId = "tokenizer.ggml.prefix_token_id";
    public const string SuffixTokenId = "tokenizer.ggml.suffix_token_id";
    public const string MiddleTokenId = "tokenizer.ggml.middle_token_id";
}
