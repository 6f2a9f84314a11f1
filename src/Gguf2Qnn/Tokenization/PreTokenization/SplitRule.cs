namespace Gguf2Qnn.Tokenization.PreTokenization;

/// <summary>A span of code points: [Start, Start + Length).</summary>
internal readonly record struct CodepointRange(int Start, int Length)
{
    public int End => Start + Length;
}

/// <summary>
/// One step of llama.cpp's pre-tokenizer (<c>unicode_regex_split</c>): every current segment is cut into the
/// pieces a regex matches and the text between them (nothing is dropped), and the next rule cuts the result again.
/// </summary>
internal abstract class SplitRule
{
    /// <summary>Appends to <paramref name="output"/> the pieces of each segment in <paramref name="input"/>, in order.</summary>
    public abstract void Split(CodepointText text, List<CodepointRange> input, List<CodepointRange> output);
}
