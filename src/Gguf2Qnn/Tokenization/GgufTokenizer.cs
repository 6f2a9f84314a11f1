using System.Collections.Frozen;
using System.Text;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Tokenization.PreTokenization;

namespace Gguf2Qnn.Tokenization;

/// <summary>
/// A tokenizer built from a GGUF file's <c>tokenizer.ggml.*</c> metadata that gives the token ids llama.cpp gives
/// (<c>llama_tokenize</c>, <c>llama_token_to_piece</c>, <c>llama_detokenize</c> in <c>src/llama-vocab.cpp</c>).
/// <list type="bullet">
/// <item><c>tokenizer.ggml.model = llama</c>: SentencePiece-style BPE over scores, with a dummy prefix space
/// (<c>tokenizer.ggml.add_space_prefix</c>, default true), spaces written as U+2581 and byte fallback to
/// <c>&lt;0xXX&gt;</c> tokens.</item>
/// <item><c>tokenizer.ggml.model = gpt2</c>: byte-level BPE over <c>tokenizer.ggml.merges</c>, after the pre-tokenizer
/// that <c>tokenizer.ggml.pre</c> names (default, gpt-2, qwen2, deepseek-r1-qwen, llama-bpe/llama3, deepseek-llm,
/// deepseek-coder, falcon, starcoder and a few aliases).</item>
/// <item><c>tokenizer.ggml.model = bert</c>: WordPiece, greedy longest match over <c>▁</c>-prefixed words after
/// llama.cpp's BERT pre-processing (see <see cref="WordPieceTokenizer"/>).</item>
/// </list>
/// Before either model runs, text is cut at the texts of user-defined tokens (always) and of control tokens (only
/// when special tokens are parsed), longest first, exactly as llama.cpp's <c>tokenizer_st_partition</c>.
/// Instances are immutable and thread-safe.
/// </summary>
public abstract class GgufTokenizer
{
    private readonly string[] _texts;
    private readonly TokenAttributes[] _attributes;
    private readonly Dictionary<string, int> _tokenToId;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _tokenLookup;
    private readonly int[] _specialTokens;
    private readonly byte[]?[] _pieces; // filled on first use (a benign race: every thread computes the same bytes)

    private protected GgufTokenizer(TokenizerVocab vocab, ModelDefaults defaults)
    {
        ArgumentNullException.ThrowIfNull(vocab);
        Vocab = vocab;
        int n = vocab.Tokens.Count;
        if (n == 0)
        {
            TokenizerThrowHelper.ThrowInvalidVocab("tokenizer.ggml.tokens is empty.");
        }

        if (vocab.Scores is not null && vocab.Scores.Count < n)
        {
            TokenizerThrowHelper.ThrowInvalidVocab($"{vocab.Scores.Count} scores for {n} tokens.");
        }

        if (vocab.TokenTypes is not null && vocab.TokenTypes.Count < n)
        {
            TokenizerThrowHelper.ThrowInvalidVocab($"{vocab.TokenTypes.Count} token types for {n} tokens.");
        }

        // Token texts (llama.cpp names an empty one "[EMPTY_<id>]"), attributes from the token types.
        _texts = new string[n];
        _attributes = new TokenAttributes[n];
        _tokenToId = new Dictionary<string, int>(n, StringComparer.Ordinal);
        for (int i = 0; i < n; i++)
        {
            string text = vocab.Tokens[i];
            _texts[i] = string.IsNullOrEmpty(text) ? $"[EMPTY_{i}]" : text;
            _attributes[i] = vocab.TokenTypes is null ? TokenAttributes.Normal : vocab.TokenTypes[i].ToAttributes();
            if (!_tokenToId.TryAdd(_texts[i], i))
            {
                TokenizerThrowHelper.ThrowInvalidVocab($"token {i} repeats the text of token {_tokenToId[_texts[i]]}: '{_texts[i]}'.");
            }
        }

        _tokenLookup = _tokenToId.GetAlternateLookup<ReadOnlySpan<char>>();

        // Special ids: a key inside the vocabulary replaces the model's default; llama.cpp ignores one outside it.
        BosTokenId = PickId(vocab.BosTokenId, defaults.BosTokenId);
        EosTokenId = PickId(vocab.EosTokenId, defaults.EosTokenId);
        UnknownTokenId = PickId(vocab.UnknownTokenId, defaults.UnknownTokenId);
        PaddingTokenId = PickId(vocab.PaddingTokenId, null);
        SeparatorTokenId = PickId(vocab.SeparatorTokenId, defaults.SeparatorTokenId);
        int? eot = PickId(vocab.EotTokenId, null);
        int? eom = PickId(vocab.EomTokenId, null);
        int? fimPre = PickId(vocab.FimPrefixTokenId, null);
        int? fimSuf = PickId(vocab.FimSuffixTokenId, null);
        int? fimMid = PickId(vocab.FimMiddleTokenId, null);
        int? fimPad = PickId(vocab.FimPadTokenId, null);
        int? fimRep = PickId(vocab.FimRepoTokenId, null);
        int? fimSep = PickId(vocab.FimSeparatorTokenId, null);

        AddBosToken = vocab.AddBosToken ?? defaults.AddBos;
        AddEosToken = vocab.AddEosToken ?? false;
        AddSeparatorToken = vocab.AddSeparatorToken ?? defaults.AddSeparator;
        AddSpacePrefix = vocab.AddSpacePrefix ?? defaults.AddSpacePrefix;
        CleanSpaces = defaults.CleanSpaces;

        // llama.cpp finds the ids the metadata leaves out by their text, and makes those tokens control tokens.
        // It walks a hash map, so with two candidates the pick is unspecified; here the lowest id wins.
        eot ??= FindByText(SpecialTexts.EndOfTurn);
        eom ??= FindByText(SpecialTexts.EndOfMessage);
        fimPre ??= FindByText(SpecialTexts.FimPrefix);
        fimSuf ??= FindByText(SpecialTexts.FimSuffix);
        fimMid ??= FindByText(SpecialTexts.FimMiddle);
        fimPad ??= FindByText(SpecialTexts.FimPad);
        fimRep ??= FindByText(SpecialTexts.FimRepo);
        fimSep ??= FindByText(SpecialTexts.FimSeparator);
        EotTokenId = eot;

        EndOfGenerationTokens = BuildEndOfGeneration(eot, eom, fimPad, fimRep, fimSep);

        // gpt-oss: these are always rendered (llama.cpp makes them user-defined).
        foreach (string text in SpecialTexts.AlwaysRendered)
        {
            if (_tokenToId.TryGetValue(text, out int id))
            {
                _attributes[id] = TokenAttributes.UserDefined;
            }
        }

        // Tokens matched as a whole in text: control, user-defined and unknown, longest UTF-8 text first.
        _specialTokens = Enumerable.Range(0, n)
            .Where(id => (_attributes[id] & (TokenAttributes.Control | TokenAttributes.UserDefined | TokenAttributes.Unknown)) != 0)
            .OrderByDescending(id => Encoding.UTF8.GetByteCount(_texts[id]))
            .ThenBy(id => id)
            .ToArray();

        _pieces = new byte[n][];
        ApplyModelNameAttributes(vocab.ModelName);
    }

    /// <summary>The metadata this tokenizer was built from.</summary>
    public TokenizerVocab Vocab { get; }

    /// <summary>The number of tokens (<c>tokenizer.ggml.tokens</c>); ids are 0 ≤ id &lt; VocabSize.</summary>
    public int VocabSize => _texts.Length;

    /// <summary>
    /// The BOS id: <c>tokenizer.ggml.bos_token_id</c>, else llama.cpp's default for the model (1 for <c>llama</c>,
    /// 11 for <c>gpt2</c>); null when that lies outside the vocabulary.
    /// </summary>
    public int? BosTokenId { get; }

    /// <summary>The EOS id: <c>tokenizer.ggml.eos_token_id</c>, else llama.cpp's default (2 for <c>llama</c>, 11 for <c>gpt2</c>).</summary>
    public int? EosTokenId { get; }

    /// <summary>The end-of-turn id: <c>tokenizer.ggml.eot_token_id</c>, else the lowest id whose text llama.cpp takes for one (<c>&lt;|eot_id|&gt;</c>, <c>&lt;|im_end|&gt;</c> …).</summary>
    public int? EotTokenId { get; }

    /// <summary>The unknown-token id: <c>tokenizer.ggml.unknown_token_id</c>, else 0 for <c>llama</c>.</summary>
    public int? UnknownTokenId { get; }

    /// <summary>The padding id (<c>tokenizer.ggml.padding_token_id</c>).</summary>
    public int? PaddingTokenId { get; }

    /// <summary>The separator id: <c>tokenizer.ggml.seperator_token_id</c> (llama.cpp's spelling), else 102 ([SEP]) for <c>bert</c>.</summary>
    public int? SeparatorTokenId { get; }

    /// <summary>
    /// Whether a prompt tokenized with special tokens ends with <see cref="SeparatorTokenId"/>:
    /// <c>tokenizer.ggml.add_sep_token</c>, else true for <c>bert</c> and false otherwise.
    /// </summary>
    public bool AddSeparatorToken { get; }

    /// <summary>
    /// Whether a prompt should start with BOS: <c>tokenizer.ggml.add_bos_token</c>, else llama.cpp's default
    /// (true for <c>llama</c>; for <c>gpt2</c> true only for the Llama-3 family of pre-tokenizers).
    /// </summary>
    public bool AddBosToken { get; }

    /// <summary>Whether a prompt should end with EOS: <c>tokenizer.ggml.add_eos_token</c>, else false.</summary>
    public bool AddEosToken { get; }

    /// <summary>
    /// Whether the first piece of text (and text right after a special token) gets a leading space before
    /// SentencePiece encoding, and decoding drops the first token's leading space: <c>tokenizer.ggml.add_space_prefix</c>,
    /// else true for <c>llama</c>, false for <c>gpt2</c>.
    /// </summary>
    public bool AddSpacePrefix { get; }

    /// <summary>
    /// The tokens that end generation, by llama.cpp's rule: EOS, EOT, EOM, the FIM pad/repo/separator tokens, and
    /// every token whose text is one llama.cpp lists (<c>&lt;|im_end|&gt;</c>, <c>&lt;|endoftext|&gt;</c>,
    /// <c>&lt;|eot_id|&gt;</c>, <c>&lt;|eom_id|&gt;</c>, <c>&lt;end_of_turn&gt;</c>, <c>&lt;/s&gt;</c> …), with its exceptions
    /// for gpt-oss (<c>&lt;|end|&gt;</c>) and Gemma 4 (<c>&lt;/s&gt;</c>).
    /// </summary>
    public IReadOnlySet<int> EndOfGenerationTokens { get; }

    /// <summary>Whether decoding applies llama.cpp's <c>clean_spaces</c> (see <see cref="SpaceCleanup"/>).</summary>
    internal bool CleanSpaces { get; }

    /// <summary>
    /// Builds the tokenizer that <c>tokenizer.ggml.model</c> of <paramref name="file"/> names.
    /// </summary>
    /// <exception cref="NotSupportedException">The model, or for <c>gpt2</c> the <c>tokenizer.ggml.pre</c> value, is not supported; the message names it.</exception>
    /// <exception cref="GgufFormatException">A <c>tokenizer.ggml.*</c> key is missing or has the wrong type.</exception>
    /// <exception cref="ArgumentException">The vocabulary is inconsistent (repeated token text, too few scores or types, no merges for gpt2).</exception>
    public static GgufTokenizer Create(IGgufSource file)
    {
        ArgumentNullException.ThrowIfNull(file);
        return Create(TokenizerVocab.FromGguf(file));
    }

    /// <summary>Builds the tokenizer that <see cref="TokenizerVocab.Model"/> names, from metadata held in memory.</summary>
    /// <exception cref="NotSupportedException">The model, or for <c>gpt2</c> the pre-tokenizer, is not supported; the message names it.</exception>
    /// <exception cref="ArgumentException">The vocabulary is inconsistent (repeated token text, too few scores or types, no merges for gpt2).</exception>
    public static GgufTokenizer Create(TokenizerVocab vocab)
    {
        ArgumentNullException.ThrowIfNull(vocab);
        switch (vocab.Model)
        {
            case "llama":
                return new SpmTokenizer(vocab);
            case "bert":
                return new WordPieceTokenizer(vocab);
            case "gpt2":
                var spec = BpePreTokenizerSpec.Find(vocab.Pre);
                if (spec is null)
                {
                    TokenizerThrowHelper.ThrowUnsupportedPre(vocab.Pre!);
                }

                return new Gpt2BpeTokenizer(vocab, spec);
            default:
                TokenizerThrowHelper.ThrowUnsupportedModel(vocab.Model);
                return null;
        }
    }

    /// <summary>
    /// Tokenizes <paramref name="text"/> as <c>llama_tokenize</c> does.
    /// </summary>
    /// <param name="text">The text; a lone UTF-16 surrogate is read as U+FFFD.</param>
    /// <param name="addBos">Prepend <see cref="BosTokenId"/> (pass <see cref="AddBosToken"/> for the model's own choice).</param>
    /// <param name="parseSpecial">Also match the texts of control tokens (<c>&lt;|im_start|&gt;</c> …) as single ids;
    /// user-defined tokens are matched either way, as in llama.cpp.</param>
    /// <returns>The token ids.</returns>
    /// <exception cref="InvalidOperationException"><paramref name="addBos"/> is set but there is no BOS token.</exception>
    public int[] Encode(string text, bool addBos, bool parseSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = ReplaceLoneSurrogates(text);
        var output = new List<int>(text.Length / 3 + 2);
        if (addBos)
        {
            if (BosTokenId is not int bos)
            {
                TokenizerThrowHelper.ThrowNoBosToken();
                return [];
            }

            output.Add(bos);
        }

        bool afterSpecial = true; // the first piece of text counts as following a special token
        foreach (var fragment in Partition(text, parseSpecial))
        {
            if (fragment.TokenId >= 0)
            {
                output.Add(fragment.TokenId);
                afterSpecial = true;
            }
            else if (fragment.Length > 0)
            {
                EncodeText(text.Substring(fragment.Start, fragment.Length), afterSpecial, output);
                afterSpecial = false;
            }
        }

        return output.ToArray();
    }

    /// <summary>
    /// Tokenizes <paramref name="text"/> as <c>llama_tokenize(…, add_special: true, …)</c>: BOS first when
    /// <see cref="AddBosToken"/>, then the text, then EOS when <see cref="AddEosToken"/> and the separator when
    /// <see cref="AddSeparatorToken"/> (for <c>bert</c>: [CLS] … [SEP]).
    /// </summary>
    /// <param name="text">The text; a lone UTF-16 surrogate is read as U+FFFD.</param>
    /// <param name="parseSpecial">Also match the texts of control tokens as single ids (see <see cref="Encode"/>).</param>
    /// <returns>The token ids.</returns>
    /// <exception cref="InvalidOperationException">A token that the flags ask for is missing from the vocabulary.</exception>
    public int[] EncodeWithSpecialTokens(string text, bool parseSpecial = false)
    {
        var ids = new List<int>(Encode(text, AddBosToken, parseSpecial));
        if (AddEosToken)
        {
            ids.Add(EosTokenId ?? throw new InvalidOperationException("add_eos_token is set, but the vocabulary has no EOS token."));
        }

        if (AddSeparatorToken)
        {
            ids.Add(SeparatorTokenId ?? throw new InvalidOperationException("add_sep_token is set, but the vocabulary has no separator token."));
        }

        return ids.ToArray();
    }

    /// <summary>
    /// Decodes ids to text as <c>llama_detokenize(…, remove_special: false, unparse_special: renderSpecial)</c>:
    /// the pieces' bytes are joined, the first token loses one leading space when <see cref="AddSpacePrefix"/> is set
    /// (a leading BOS is that first token, so its space stays), spaces are cleaned up for the pre-tokenizers where
    /// llama.cpp does so, and the bytes are read as UTF-8 (invalid sequences become U+FFFD).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside the vocabulary.</exception>
    public string Decode(IEnumerable<int> ids) => Decode(ids, renderSpecial: false);

    /// <summary>As <see cref="Decode(IEnumerable{int})"/>; with <paramref name="renderSpecial"/> control and unknown tokens are written as their text instead of nothing.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside the vocabulary.</exception>
    public string Decode(IEnumerable<int> ids, bool renderSpecial)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        bool first = true;
        foreach (int id in ids)
        {
            var piece = PieceBytes(id, renderSpecial);
            if (first && AddSpacePrefix && piece.Length > 0 && piece[0] == ' ')
            {
                piece = piece[1..];
            }

            first = false;
            bytes.AddRange(piece);
        }

        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes);
        int length = CleanSpaces ? SpaceCleanup.Apply(span) : span.Length;
        return Encoding.UTF8.GetString(span[..length]);
    }

    /// <summary>
    /// The text of one token as <c>llama_token_to_piece(…, lstrip: 0, special: renderSpecial)</c> renders it:
    /// SentencePiece pieces with U+2581 as a space and <c>&lt;0xXX&gt;</c> as that byte, byte-level BPE pieces mapped
    /// back to their bytes, user-defined tokens as written, control and unknown tokens as nothing unless
    /// <paramref name="renderSpecial"/>. A piece that is only part of a UTF-8 character comes out as U+FFFD; use
    /// <see cref="TokenToPieceBytes"/> or <see cref="CreateStreamDecoder"/> for those.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is outside the vocabulary.</exception>
    public string TokenToPiece(int id, bool renderSpecial = false) => Encoding.UTF8.GetString(PieceBytes(id, renderSpecial));

    /// <summary>The UTF-8 bytes of <see cref="TokenToPiece"/>, without replacement of partial characters.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is outside the vocabulary.</exception>
    public ReadOnlySpan<byte> TokenToPieceBytes(int id, bool renderSpecial = false) => PieceBytes(id, renderSpecial);

    /// <summary>A decoder that turns ids into text one at a time, holding back incomplete UTF-8 characters; its output joined equals <see cref="Decode(IEnumerable{int}, bool)"/>.</summary>
    public TokenStreamDecoder CreateStreamDecoder(bool renderSpecial = false) => new(this, renderSpecial);

    /// <summary>The raw vocabulary text of token <paramref name="id"/> (as stored; an empty one reads <c>[EMPTY_id]</c>).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is outside the vocabulary.</exception>
    public string GetTokenText(int id)
    {
        CheckId(id);
        return _texts[id];
    }

    /// <summary>The token whose raw vocabulary text is <paramref name="text"/>, if any.</summary>
    public bool TryGetTokenId(string text, out int id) => _tokenToId.TryGetValue(text, out id);

    /// <summary>Whether llama.cpp treats token <paramref name="id"/> as a control token (types 3, plus those it promotes by text).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is outside the vocabulary.</exception>
    public bool IsControl(int id)
    {
        CheckId(id);
        return (_attributes[id] & TokenAttributes.Control) != 0;
    }

    /// <summary>Encodes one fragment of plain text (no special tokens in it) and appends the ids.</summary>
    /// <param name="text">The fragment.</param>
    /// <param name="afterSpecial">The fragment starts the text or follows a special token (SentencePiece adds its dummy prefix then).</param>
    /// <param name="output">Receives the ids.</param>
    private protected abstract void EncodeText(string text, bool afterSpecial, List<int> output);

    /// <summary>The rendering of a normal token's text, as UTF-8 bytes.</summary>
    private protected abstract byte[] RenderNormal(string text);

    /// <summary>The token whose text is <paramref name="text"/>, or -1.</summary>
    private protected int LookupToken(ReadOnlySpan<char> text) => _tokenLookup.TryGetValue(text, out int id) ? id : -1;

    private protected TokenAttributes AttributesOf(int id) => _attributes[id];

    /// <summary>llama.cpp's attributes of token <paramref name="id"/> (for the Hugging Face export).</summary>
    internal TokenAttributes GetAttributes(int id)
    {
        CheckId(id);
        return _attributes[id];
    }

    internal ReadOnlySpan<byte> PieceBytes(int id, bool renderSpecial)
    {
        CheckId(id);
        if (!renderSpecial && (_attributes[id] & (TokenAttributes.Control | TokenAttributes.Unknown)) != 0)
        {
            return [];
        }

        return _pieces[id] ??= BuildPiece(id);
    }

    private void CheckId(int id)
    {
        if ((uint)id >= (uint)_texts.Length)
        {
            TokenizerThrowHelper.ThrowTokenIdOutOfRange(id, _texts.Length);
        }
    }

    /// <summary>
    /// llama.cpp's <c>token_to_piece(special: true)</c>, cached per token as llama.cpp does. It depends only on the
    /// token's type attributes, which are final when the constructor returns (the later strip bits do not matter).
    /// </summary>
    private byte[] BuildPiece(int id)
    {
        var attr = _attributes[id];
        string text = _texts[id];
        if ((attr & (TokenAttributes.Control | TokenAttributes.Unknown | TokenAttributes.UserDefined)) != 0)
        {
            return Encoding.UTF8.GetBytes(text);
        }

        if ((attr & TokenAttributes.Normal) != 0)
        {
            return RenderNormal(text);
        }

        if ((attr & TokenAttributes.Byte) != 0 && text.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal)
            && byte.TryParse(text.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out byte b))
        {
            return [b];
        }

        return []; // unused, undefined, or a malformed byte token
    }

    private int? PickId(int? fromMetadata, int? fallback)
    {
        int? id = fromMetadata is int m && (uint)m < (uint)_texts.Length ? m : fallback;
        return id is int i && (uint)i < (uint)_texts.Length ? i : null;
    }

    private int? FindByText(string[] candidates)
    {
        int best = -1;
        foreach (string text in candidates)
        {
            if (_tokenToId.TryGetValue(text, out int id) && (best < 0 || id < best))
            {
                best = id;
            }
        }

        if (best < 0)
        {
            return null;
        }

        _attributes[best] |= TokenAttributes.Control;
        return best;
    }

    private FrozenSet<int> BuildEndOfGeneration(int? eot, int? eom, int? fimPad, int? fimRep, int? fimSep)
    {
        var set = new SortedSet<int>();
        foreach (int? id in new[] { fimPad, fimRep, fimSep })
        {
            if (id is int i)
            {
                set.Add(i);
            }
        }

        foreach (string text in SpecialTexts.EndOfGeneration)
        {
            if (_tokenToId.TryGetValue(text, out int id))
            {
                set.Add(id);
                _attributes[id] |= TokenAttributes.Control;
            }
        }

        foreach (int? id in new[] { EosTokenId, eot, eom })
        {
            if (id is int i)
            {
                set.Add(i);
            }
        }

        // gpt-oss (<|return|> and <|call|>) and solar-open (<|calls|> and <|flush|>): <|end|> does not end generation.
        bool Has(string text) => set.Any(id => _texts[id] == text);
        bool hasCall = Has("<|call|>") || Has("<|calls|>");
        if (hasCall && (Has("<|return|>") || Has("<|flush|>"))
            && set.FirstOrDefault(id => _texts[id] == "<|end|>", -1) is int end and >= 0)
        {
            set.Remove(end);
            _attributes[end] = TokenAttributes.UserDefined;
        }

        // Gemma 4: with <|tool_response> present, </s> is an ordinary token.
        if (Has("<|tool_response>") && set.FirstOrDefault(id => _texts[id] == "</s>", -1) is int s and >= 0)
        {
            set.Remove(s);
            _attributes[s] = TokenAttributes.Normal;
        }

        return set.ToFrozenSet();
    }

    /// <summary>llama.cpp's per-model strip attributes that matter for the supported models (Phi-3: right-strip after special tokens).</summary>
    private void ApplyModelNameAttributes(string? modelName)
    {
        string name = (modelName ?? string.Empty).ToLowerInvariant();
        if (!name.Contains("phi-3", StringComparison.Ordinal) && !name.Contains("phi3", StringComparison.Ordinal))
        {
            return;
        }

        foreach (int id in _specialTokens)
        {
            _attributes[id] |= TokenAttributes.RStrip;
        }

        SetStrip("</s>", true);
        SetStrip("<unk>", false);
        SetStrip("<s>", false);
        SetStrip("<|endoftext|>", false);

        void SetStrip(string text, bool on)
        {
            if (_tokenToId.TryGetValue(text, out int id))
            {
                _attributes[id] = on ? _attributes[id] | TokenAttributes.RStrip : _attributes[id] & ~TokenAttributes.RStrip;
            }
        }
    }

    /// <summary>A piece of the input: a special token (TokenId ≥ 0) or a run of plain text.</summary>
    private readonly record struct Fragment(int TokenId, int Start, int Length);

    /// <summary>
    /// llama.cpp's <c>tokenizer_st_partition</c>: for each special token, longest text first, every plain-text
    /// fragment is cut at each occurrence of the token's text; LSTRIP/RSTRIP tokens also eat the ASCII whitespace
    /// on that side.
    /// </summary>
    private List<Fragment> Partition(string text, bool parseSpecial)
    {
        var fragments = new List<Fragment>();
        if (text.Length == 0)
        {
            return fragments;
        }

        fragments.Add(new Fragment(-1, 0, text.Length));
        var next = new List<Fragment>();
        foreach (int id in _specialTokens)
        {
            var attr = _attributes[id];
            if (!parseSpecial && (attr & (TokenAttributes.Control | TokenAttributes.Unknown)) != 0)
            {
                continue;
            }

            string special = _texts[id];
            if (!text.Contains(special, StringComparison.Ordinal))
            {
                continue;
            }

            next.Clear();
            bool changed = false;
            foreach (var fragment in fragments)
            {
                if (fragment.TokenId >= 0)
                {
                    next.Add(fragment);
                    continue;
                }

                int start = fragment.Start, end = fragment.Start + fragment.Length;
                while (true)
                {
                    int match = text.IndexOf(special, start, end - start, StringComparison.Ordinal);
                    if (match < 0)
                    {
                        break;
                    }

                    changed = true;
                    int leftEnd = match;
                    if ((attr & TokenAttributes.LStrip) != 0)
                    {
                        while (leftEnd > start && IsCSpace(text[leftEnd - 1]))
                        {
                            leftEnd--;
                        }
                    }

                    if (leftEnd > start)
                    {
                        next.Add(new Fragment(-1, start, leftEnd - start));
                    }

                    next.Add(new Fragment(id, match, special.Length));
                    start = match + special.Length;
                    if ((attr & TokenAttributes.RStrip) != 0)
                    {
                        while (start < end && IsCSpace(text[start]))
                        {
                            start++;
                        }
                    }
                }

                if (start < end)
                {
                    next.Add(new Fragment(-1, start, end - start));
                }
            }

            if (changed)
            {
                (fragments, next) = (next, fragments);
            }
        }

        return fragments;
    }

    /// <summary>C's <c>isspace</c> in the "C" locale, which llama.cpp uses for LSTRIP/RSTRIP.</summary>
    private static bool IsCSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';

    private static string ReplaceLoneSurrogates(string text)
    {
        int i = 0;
        for (; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsSurrogate(c) && !(char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])))
            {
                break;
            }

            if (char.IsHighSurrogate(c))
            {
                i++;
            }
        }

        if (i == text.Length)
        {
            return text;
        }

        var sb = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            sb.Append(rune.ToString());
        }

        return sb.ToString();
    }

    /// <summary>What a tokenizer model fixes before the metadata is read (llama.cpp's per-model defaults).</summary>
    private protected readonly record struct ModelDefaults(
        int? BosTokenId, int? EosTokenId, int? UnknownTokenId, bool AddBos, bool AddSpacePrefix, bool CleanSpaces)
    {
        /// <summary>The default separator id (102 for <c>bert</c>).</summary>
        public int? SeparatorTokenId { get; init; }

        /// <summary>Whether special tokens include a trailing separator by default (<c>bert</c>).</summary>
        public bool AddSeparator { get; init; }
    }

    /// <summary>Token texts llama.cpp recognises (<c>llama_vocab::impl::load</c>).</summary>
    private static class SpecialTexts
    {
        public static readonly string[] EndOfTurn =
        [
            "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
            "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>",
        ];

        public static readonly string[] EndOfMessage = ["<|eom_id|>"];

        public static readonly string[] FimPrefix =
            ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"];

        public static readonly string[] FimSuffix =
            ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"];

        public static readonly string[] FimMiddle =
            ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"];

        public static readonly string[] FimPad = ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];

        public static readonly string[] FimRepo = ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"];

        public static readonly string[] FimSeparator = ["<|file_sep|>"];

        public static readonly string[] EndOfGeneration =
        [
            "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
            "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
            "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>",
        ];

        public static readonly string[] AlwaysRendered = ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"];
    }
}
