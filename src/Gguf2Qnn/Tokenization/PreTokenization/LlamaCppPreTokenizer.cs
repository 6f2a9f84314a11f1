using Microsoft.ML.Tokenizers;

namespace Gguf2Qnn.Tokenization.PreTokenization;

/// <summary>
/// The BPE pre-tokenizer llama.cpp selects by <c>tokenizer.ggml.pre</c> (<c>llm_tokenizer_bpe</c> in
/// <c>llama-vocab.cpp</c>): an ordered list of split rules, each applied to the pieces the previous one produced.
/// It is a Microsoft.ML.Tokenizers <see cref="PreTokenizer"/>, so the library's BPE model can use it directly.
/// <para>
/// Why not the library's own regex pre-tokenizers: <see cref="RegexPreTokenizer"/> drops the text between matches
/// and runs one regex, while llama.cpp keeps that text and chains several; and llama.cpp matches most regexes on a
/// per-code-point "collapsed" text (<see cref="CodepointText.Collapsed"/>) or with hand-written code
/// (<see cref="GptStyleSplitRule"/>), whose results differ from a UTF-16 regex engine for supplementary-plane
/// characters and a few corner cases.
/// </para>
/// </summary>
internal sealed class LlamaCppPreTokenizer : PreTokenizer
{
    public LlamaCppPreTokenizer(IReadOnlyList<SplitRule> rules) => Rules = rules;

    /// <summary>The rules, applied in order.</summary>
    public IReadOnlyList<SplitRule> Rules { get; }

    /// <summary>The pieces of <paramref name="text"/>, in code points, covering it without gaps.</summary>
    public List<CodepointRange> Split(CodepointText text)
    {
        var current = new List<CodepointRange>();
        if (text.Codepoints.Length > 0)
        {
            current.Add(new CodepointRange(0, text.Codepoints.Length));
        }

        var next = new List<CodepointRange>();
        foreach (var rule in Rules)
        {
            next.Clear();
            rule.Split(text, current, next);
            (current, next) = (next, current);
        }

        return current;
    }

    /// <inheritdoc/>
    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var cpText = new CodepointText(text);
        var pieces = Split(cpText);
        var result = new (int Offset, int Length)[pieces.Count];
        for (int i = 0; i < pieces.Count; i++)
        {
            int start = cpText.Utf16Offsets[pieces[i].Start];
            result[i] = (start, cpText.Utf16Offsets[pieces[i].End] - start);
        }

        return result;
    }

    /// <inheritdoc/>
    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => PreTokenize(text.ToString());
}
