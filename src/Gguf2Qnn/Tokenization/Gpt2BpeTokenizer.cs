using System.Text;
using Gguf2Qnn.Tokenization.PreTokenization;
using Microsoft.ML.Tokenizers;

namespace Gguf2Qnn.Tokenization;

/// <summary>
/// <c>tokenizer.ggml.model = gpt2</c>: llama.cpp's byte-level BPE (<c>llm_tokenizer_bpe_session</c>).
/// <para>
/// Each plain-text fragment is cut into words by the pre-tokenizer of <c>tokenizer.ggml.pre</c>
/// (<see cref="LlamaCppPreTokenizer"/>, our code: see there why). Each word is then encoded by
/// Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> in byte-level mode (UTF-8 bytes spelled in GPT-2's byte
/// alphabet, then the merges applied lowest rank first, leftmost first), which gives llama.cpp's ids on all its
/// test vectors. For the pre-tokenizers where llama.cpp sets <c>ignore_merges</c> (Llama-3), a word that is itself
/// a vocabulary token is emitted directly, before the merges, as llama.cpp does.
/// </para>
/// <para>
/// The library refuses a merge whose result is not a token; such merges are left out here (in llama.cpp they
/// produce a symbol that can only be emitted byte by byte). Converted Hugging Face vocabularies have none.
/// </para>
/// </summary>
internal sealed class Gpt2BpeTokenizer : GgufTokenizer
{
    private readonly BpeTokenizer _bpe;
    private readonly LlamaCppPreTokenizer _preTokenizer;
    private readonly bool _ignoreMerges;

    public Gpt2BpeTokenizer(TokenizerVocab vocab, BpePreTokenizerSpec spec)
        : base(vocab, new ModelDefaults(BosTokenId: 11, EosTokenId: 11, UnknownTokenId: null, AddBos: spec.AddBos, AddSpacePrefix: false, CleanSpaces: spec.CleanSpaces))
    {
        if (vocab.Merges is null)
        {
            TokenizerThrowHelper.ThrowInvalidVocab("tokenizer.ggml.merges is required for the gpt2 tokenizer model.");
        }

        Spec = spec;
        _ignoreMerges = spec.IgnoreMerges;
        _preTokenizer = new LlamaCppPreTokenizer(spec.Rules);

        var merges = new List<string>(vocab.Merges.Count);
        foreach (string merge in vocab.Merges)
        {
            // llama.cpp splits a merge at its first space after the first character.
            int space = merge.Length > 1 ? merge.IndexOf(' ', 1) : -1;
            if (space > 0 && LookupToken(string.Concat(merge.AsSpan(0, space), merge.AsSpan(space + 1))) >= 0)
            {
                merges.Add(merge);
            }
        }

        var tokens = new KeyValuePair<string, int>[VocabSize];
        for (int id = 0; id < tokens.Length; id++)
        {
            tokens[id] = new KeyValuePair<string, int>(GetTokenText(id), id);
        }

        _bpe = BpeTokenizer.Create(new BpeOptions(tokens)
        {
            Merges = merges,
            ByteLevel = true,
            PreTokenizer = _preTokenizer,
        });
    }

    /// <summary>The llama.cpp pre-tokenizer family in use (gpt-2, llama3, qwen2, deepseek-llm …).</summary>
    public string PreTokenizerFamily => Spec.Family;

    /// <summary>What <c>tokenizer.ggml.pre</c> selected: split rules, space clean-up, <c>ignore_merges</c>.</summary>
    internal BpePreTokenizerSpec Spec { get; }

    private protected override byte[] RenderNormal(string text)
    {
        // llama_decode_text: each code point back to its byte; one outside the alphabet is written out as
        // "[UNK_BYTE_0x<its UTF-8 in hex><the whole token text>]".
        var bytes = new List<byte>(text.Length);
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in text.EnumerateRunes())
        {
            int b = rune.IsBmp ? ByteLevelEncoding.Decode((char)rune.Value) : -1;
            if (b >= 0)
            {
                bytes.Add((byte)b);
                continue;
            }

            var sb = new StringBuilder("[UNK_BYTE_0x");
            int count = rune.EncodeToUtf8(utf8);
            foreach (byte u in utf8[..count])
            {
                sb.Append(u.ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
            }

            sb.Append(text).Append(']');
            bytes.AddRange(Encoding.UTF8.GetBytes(sb.ToString()));
        }

        return bytes.ToArray();
    }

    private protected override void EncodeText(string text, bool afterSpecial, List<int> output)
    {
        var cpText = new CodepointText(text);
        foreach (var word in _preTokenizer.Split(cpText))
        {
            int start = cpText.Utf16Offsets[word.Start];
            var span = text.AsSpan(start, cpText.Utf16Offsets[word.End] - start);
            if (_ignoreMerges)
            {
                int id = LookupToken(ByteLevelEncoding.EncodeUtf8(span));
                if (id >= 0)
                {
                    output.Add(id);
                    continue;
                }
            }

            output.AddRange(_bpe.EncodeToIds(span, considerPreTokenization: false, considerNormalization: false));
        }
    }
}
