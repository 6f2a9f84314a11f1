using System.Text;

namespace Gguf2Qnn.Tokenization;

/// <summary>
/// <c>tokenizer.ggml.model = llama</c>: llama.cpp's SentencePiece-style BPE (<c>llm_tokenizer_spm_session</c>).
/// <para>
/// The text (with a leading space when it starts the input or follows a special token and
/// <see cref="GgufTokenizer.AddSpacePrefix"/> is set) has each space replaced by U+2581 and is split into code
/// points. Then, repeatedly, the adjacent pair whose concatenation is a vocabulary token with the highest score is
/// merged (equal scores: the leftmost pair). Each final symbol that is a token is emitted; any other is emitted as
/// the byte tokens <c>&lt;0xXX&gt;</c> of its UTF-8 bytes.
/// </para>
/// <para>
/// Why not Microsoft.ML.Tokenizers' <c>LlamaTokenizer</c>/<c>SentencePieceTokenizer</c> (2.0.1, fed a ModelProto
/// built from the GGUF vocabulary): on llama.cpp's own test vectors for the Llama-2 and Phi-3 vocabularies it gets
/// 44 of 46 cases; it breaks ties between equal-score pairs differently, so <c>"!!!!!!"</c> becomes
/// ▁! !!! !! (1738 21004 6824) where llama.cpp (and SentencePiece) give ▁! !! !!! (1738 6824 21004). It also
/// applies its own handling of control and user-defined pieces, while llama.cpp lets any vocabulary text merge.
/// </para>
/// <para>
/// llama.cpp keeps a map from merged text to the pair that formed it to re-split a final symbol that is not a token;
/// since a pair is merged only when its text is a token, that happens only for single code points, which have no
/// entry, so byte fallback is all that is needed here.
/// </para>
/// </summary>
internal sealed class SpmTokenizer : GgufTokenizer
{
    private const char SpaceMark = '\u2581'; // ▁
    private readonly float[] _scores;
    private readonly int[] _byteTokens;

    public SpmTokenizer(TokenizerVocab vocab)
        : base(vocab, new ModelDefaults(BosTokenId: 1, EosTokenId: 2, UnknownTokenId: 0, AddBos: true, AddSpacePrefix: true, CleanSpaces: false))
    {
        _scores = new float[VocabSize];
        if (vocab.Scores is not null)
        {
            for (int i = 0; i < _scores.Length; i++)
            {
                _scores[i] = vocab.Scores[i];
            }
        }

        // llama.cpp's byte_to_token: "<0xXX>", else the one-character token of that byte.
        _byteTokens = new int[256];
        for (int b = 0; b < 256; b++)
        {
            int id = LookupToken($"<0x{b:X2}>");
            if (id < 0 && b < 0x80)
            {
                id = LookupToken(((char)b).ToString());
            }

            _byteTokens[b] = id;
        }
    }

    private protected override byte[] RenderNormal(string text) => Encoding.UTF8.GetBytes(text.Replace(SpaceMark, ' '));

    private protected override void EncodeText(string text, bool afterSpecial, List<int> output)
    {
        string escaped = (AddSpacePrefix && afterSpecial ? " " + text : text).Replace(' ', SpaceMark);
        if (escaped.Length == 0)
        {
            return;
        }

        // Symbols: one per code point, linked left and right; Length 0 marks a symbol merged into its left neighbour.
        var symbols = new List<Symbol>(escaped.Length);
        for (int i = 0; i < escaped.Length;)
        {
            int length = char.IsHighSurrogate(escaped[i]) && i + 1 < escaped.Length && char.IsLowSurrogate(escaped[i + 1]) ? 2 : 1;
            symbols.Add(new Symbol(i, length, symbols.Count - 1, i + length < escaped.Length ? symbols.Count + 1 : -1));
            i += length;
        }

        var queue = new PriorityQueue<Bigram, Bigram>(Bigram.Order);
        for (int i = 1; i < symbols.Count; i++)
        {
            TryAddBigram(i - 1, i);
        }

        while (queue.TryDequeue(out var bigram, out _))
        {
            var left = symbols[bigram.Left];
            var right = symbols[bigram.Right];
            if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != bigram.Length)
            {
                continue; // stale: one side has changed since this pair was queued
            }

            symbols[bigram.Left] = left with { Length = left.Length + right.Length, Next = right.Next };
            symbols[bigram.Right] = right with { Length = 0 };
            if (right.Next >= 0)
            {
                symbols[right.Next] = symbols[right.Next] with { Prev = bigram.Left };
            }

            TryAddBigram(left.Prev, bigram.Left);
            TryAddBigram(bigram.Left, right.Next);
        }

        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i >= 0; i = symbols[i].Next)
        {
            var symbol = symbols[i];
            var piece = escaped.AsSpan(symbol.Start, symbol.Length);
            int id = LookupToken(piece);
            if (id >= 0)
            {
                output.Add(id);
                continue;
            }

            int count = Encoding.UTF8.GetBytes(piece, utf8);
            foreach (byte b in utf8[..count])
            {
                output.Add(ByteToken(b));
            }
        }

        void TryAddBigram(int left, int right)
        {
            if (left < 0 || right < 0)
            {
                return;
            }

            int length = symbols[left].Length + symbols[right].Length;
            int id = LookupToken(escaped.AsSpan(symbols[left].Start, length));
            if (id >= 0)
            {
                queue.Enqueue(new Bigram(left, right, _scores[id], length), new Bigram(left, right, _scores[id], length));
            }
        }
    }

    /// <summary>The byte token of <paramref name="b"/>; llama.cpp aborts when there is none, here the unknown token stands in.</summary>
    private int ByteToken(byte b)
    {
        int id = _byteTokens[b];
        if (id >= 0)
        {
            return id;
        }

        if (UnknownTokenId is int unk)
        {
            return unk;
        }

        TokenizerThrowHelper.ThrowNoByteToken(b);
        return -1;
    }

    private readonly record struct Symbol(int Start, int Length, int Prev, int Next);

    private readonly record struct Bigram(int Left, int Right, float Score, int Length)
    {
        /// <summary>Dequeue order: higher score first, then the leftmost pair.</summary>
        public static readonly IComparer<Bigram> Order = Comparer<Bigram>.Create(static (a, b) =>
        {
            int byScore = b.Score.CompareTo(a.Score);
            return byScore != 0 ? byScore : a.Left.CompareTo(b.Left);
        });
    }
}
