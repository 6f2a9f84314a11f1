using System.Text;

namespace Gguf2Qnn.Tokenization;

/// <summary>
/// Turns token ids into text one at a time, for streaming generation. <see cref="Append"/> returns only complete
/// characters: a piece that ends inside a UTF-8 sequence (a byte token, or a byte-level BPE token holding part of an
/// emoji or CJK character) is held back until the rest arrives. Joined with <see cref="Flush"/>'s result, the output
/// equals <see cref="GgufTokenizer.Decode(IEnumerable{int}, bool)"/> of the same ids, including the first token's
/// dropped leading space and llama.cpp's space clean-up (for which a few ASCII bytes around spaces, apostrophes
/// and <c>?!.,</c> are also held back until the next byte decides them). For generated text printed after its
/// prompt, <see cref="Prime"/> the decoder with the prompt's ids first: the output is then the continuation of the
/// prompt's text, so the first generated token keeps its leading space. Not thread-safe: one per stream.
/// </summary>
public sealed class TokenStreamDecoder
{
    private readonly GgufTokenizer _tokenizer;
    private readonly bool _renderSpecial;
    private readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private readonly List<byte> _pending = []; // bytes not yet space-cleaned (only when the tokenizer cleans spaces)
    private bool _first = true;

    internal TokenStreamDecoder(GgufTokenizer tokenizer, bool renderSpecial)
    {
        _tokenizer = tokenizer;
        _renderSpecial = renderSpecial;
    }

    /// <summary>Adds one token and returns the text that is now complete (possibly empty).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is outside the vocabulary.</exception>
    public string Append(int id)
    {
        var piece = _tokenizer.PieceBytes(id, _renderSpecial);
        if (_first && _tokenizer.AddSpacePrefix && piece.Length > 0 && piece[0] == ' ')
        {
            piece = piece[1..];
        }

        _first = false;
        if (!_tokenizer.CleanSpaces)
        {
            return DecodeBytes(piece, flush: false);
        }

        // Space clean-up looks at neighbouring bytes; text before a pair of bytes that no rule involves can be
        // cleaned on its own (SpaceCleanup.IsCutSafe), so it is released there.
        _pending.AddRange(piece);
        int n = _pending.Count;
        if (n < 2 || !SpaceCleanup.IsCutSafe(_pending[n - 2], _pending[n - 1]))
        {
            return string.Empty;
        }

        return ReleasePending(flush: false);
    }

    /// <summary>
    /// Feeds ids whose text was already shown (a prompt) without returning it, so that the following ids decode as
    /// their continuation: <c>Decode(prompt + generated)</c> less <c>Decode(prompt)</c>. The leading-space rule then
    /// applies to the prompt's first token only (for a SentencePiece vocabulary, generated " cat" stays " cat").
    /// Space clean-up is applied to the prompt's bytes on their own; a UTF-8 character split across the boundary is
    /// completed by the next ids.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside the vocabulary.</exception>
    public void Prime(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        foreach (int id in ids)
        {
            _ = Append(id);
        }

        if (_pending.Count > 0)
        {
            _ = ReleasePending(flush: false);
        }
    }

    /// <summary>Returns whatever is still held back (an incomplete UTF-8 sequence becomes U+FFFD) and starts a new stream.</summary>
    public string Flush()
    {
        string text = _tokenizer.CleanSpaces ? ReleasePending(flush: true) : DecodeBytes([], flush: true);
        _first = true;
        return text;
    }

    private string ReleasePending(bool flush)
    {
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending);
        int length = SpaceCleanup.Apply(span);
        string text = DecodeBytes(span[..length], flush);
        _pending.Clear();
        return text;
    }

    private string DecodeBytes(ReadOnlySpan<byte> bytes, bool flush)
    {
        // Always fed to the decoder, even when no character completes: it keeps a partial sequence as state.
        int count = _utf8.GetCharCount(bytes, flush);
        Span<char> chars = count <= 256 ? stackalloc char[count] : new char[count];
        int written = _utf8.GetChars(bytes, chars, flush);
        return written == 0 ? string.Empty : new string(chars[..written]);
    }
}
