using System.Globalization;
using System.Text;

namespace Gguf2Qnn.Tokenization.PreTokenization;

/// <summary>
/// The split rules of each llama.cpp pre-tokenizer family (<see cref="BpePreTokenizerSpec.Family"/>) as regexes for
/// Hugging Face tokenizers' <c>Split</c> pre-tokenizer (Oniguruma, Ruby syntax): one <c>Split</c> with behaviour
/// <c>Isolated</c> per rule, applied in order, each to every piece the previous one left, which is how llama.cpp's
/// <c>unicode_regex_split</c> applies its list (matches and the text between them both become pieces).
/// <para>
/// The patterns are llama.cpp's (<c>llm_tokenizer_bpe</c>) with two rewrites: <c>\s+$</c> becomes <c>\s+\z</c>
/// (in Oniguruma <c>$</c> also matches before a newline; llama.cpp's ECMAScript <c>$</c> is the end of the piece), and
/// the deepseek-llm/deepseek-coder literal classes are written as <c>\x{…}</c> ranges without their whitespace
/// members. Oniguruma applies Unicode categories to the real code points while llama.cpp uses its Unicode 15.1
/// tables; the two agree except on code points whose category changed between the versions.
/// </para>
/// </summary>
internal static class HuggingFaceSplitPatterns
{
    /// <summary>GPT-2's pattern (llama.cpp matches it with hand-written code, <c>unicode_regex_split_custom_gpt2</c>).</summary>
    public const string Gpt2 = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>Llama 3's pattern (<c>unicode_regex_split_custom_llama3</c>).</summary>
    public const string Llama3 =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Qwen2's pattern: Llama 3's with single digits (<c>unicode_regex_split_custom_qwen2</c>).</summary>
    public const string Qwen2 =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>The patterns of <paramref name="family"/>, in order.</summary>
    /// <exception cref="NotSupportedException">A family without a translation (none of the supported ones).</exception>
    public static IReadOnlyList<string> For(string family) => family switch
    {
        "default" => [@"[\p{P}\$\+<=>\^~\|]+", Gpt2, @"\p{N}+", "[0-9][0-9][0-9]"],
        "gpt-2" => [Gpt2],
        "falcon" => [@"[\p{P}\$\+<=>\^~\|`]+", Gpt2, "[0-9][0-9][0-9]"],
        "starcoder" => [@"\p{N}", Gpt2],
        "llama3" => [Llama3],
        "qwen2" => [Qwen2],
        "deepseek-llm" =>
        [
            @"[\r\n]",
            @"\s?" + Class(BpePreTokenizerSpec.DeepseekLlmLetters) + "+",
            @"\s?" + Class(BpePreTokenizerSpec.DeepseekLlmPunctuation) + "+",
            @"\s+\z",
            Class(BpePreTokenizerSpec.CjkHangul) + "+",
            @"\p{N}+",
        ],
        "deepseek-coder" => [@"[\r\n]", @"\s?\p{L}+", @"\s?\p{P}+", Class(BpePreTokenizerSpec.CjkHangul) + "+", @"\p{N}"],
        _ => throw new NotSupportedException($"No Hugging Face pre-tokenizer for the llama.cpp family '{family}'."),
    };

    /// <summary>
    /// An Oniguruma character class of inclusive code point ranges, less the White_Space code points: llama.cpp
    /// matches these classes against its "wide" text, where every non-ASCII whitespace code point has become U+000B,
    /// so a member such as U+3000 (inside 　-。 and ࠀ-一) never matches there.
    /// </summary>
    private static string Class((int First, int Last)[] ranges)
    {
        var sb = new StringBuilder("[");
        foreach (var (first, last) in ranges)
        {
            int start = first;
            for (int cp = first; cp <= last + 1; cp++)
            {
                if (cp <= last && !CodepointFlags.IsWhitespaceCodepoint(cp))
                {
                    continue;
                }

                if (cp > start)
                {
                    sb.Append(Escape(start));
                    if (cp - 1 != start)
                    {
                        sb.Append('-').Append(Escape(cp - 1));
                    }
                }

                start = cp + 1;
            }
        }

        return sb.Append(']').ToString();
    }

    private static string Escape(int codepoint) => @"\x{" + codepoint.ToString("X", CultureInfo.InvariantCulture) + "}";
}
