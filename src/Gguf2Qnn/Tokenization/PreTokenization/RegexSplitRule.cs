using System.Text;
using System.Text.RegularExpressions;

namespace Gguf2Qnn.Tokenization.PreTokenization;

/// <summary>
/// A pre-tokenizer regex that llama.cpp runs through the C++ standard library (<c>unicode_regex_split</c>), matched
/// here with .NET's backtracking engine, which has the same leftmost-first alternation as ECMAScript. Each segment
/// is matched on its own, as if it were the whole input (so <c>\z</c> is the segment's end), and cut into the
/// matches and the text between them.
/// <para>
/// Like llama.cpp, a regex that names Unicode categories (<c>\p{L}</c>, <c>\p{N}</c>, <c>\p{P}</c>, <c>\p{M}</c>,
/// <c>\p{S}</c>, <c>\p{Lu}</c> …) is matched against <see cref="CodepointText.Collapsed"/>, one char per code point,
/// with each <c>\p{…}</c> rewritten to "the category's stand-in char or an ASCII member" (so <c>\p{Lu}</c> matches any
/// letter, and <c>~</c> is not a symbol, exactly as there). Other regexes are matched against
/// <see cref="CodepointText.Wide"/>; a class with code points above U+FFFF must then be written with surrogate pairs
/// (<see cref="CodepointClass"/>).
/// </para>
/// </summary>
internal sealed class RegexSplitRule : SplitRule
{
    private readonly Regex _regex;
    private readonly bool _collapsed;

    private RegexSplitRule(string pattern, bool collapsed)
    {
        _collapsed = collapsed;
        _regex = new Regex(pattern, RegexOptions.CultureInvariant);
        Pattern = pattern;
    }

    /// <summary>The .NET pattern actually matched.</summary>
    public string Pattern { get; }

    /// <summary>
    /// A regex in llama.cpp's spelling. When it names a Unicode category it is rewritten for the collapsed text;
    /// it must then be ASCII-only (llama.cpp refuses the mix as well).
    /// </summary>
    public static RegexSplitRule FromLlamaCpp(string pattern)
    {
        if (!NamesCategory(pattern))
        {
            return new RegexSplitRule(pattern, collapsed: false);
        }

        if (pattern.Any(c => c >= 128))
        {
            throw new ArgumentException("A regex that names Unicode categories must be ASCII-only: " + pattern, nameof(pattern));
        }

        return new RegexSplitRule(Collapse(pattern), collapsed: true);
    }

    public override void Split(CodepointText text, List<CodepointRange> input, List<CodepointRange> output)
    {
        string subject = _collapsed ? text.Collapsed : text.Wide;
        foreach (var segment in input)
        {
            int from, to;
            if (_collapsed)
            {
                from = segment.Start;
                to = segment.End;
            }
            else
            {
                from = text.Utf16Offsets[segment.Start];
                to = text.Utf16Offsets[segment.End];
            }

            // Matched on a copy, so that anchors and lookarounds see the segment as the whole input.
            string piece = subject.Substring(from, to - from);
            int done = segment.Start;
            for (var m = _regex.Match(piece); m.Success; m = m.NextMatch())
            {
                if (m.Length == 0)
                {
                    continue;
                }

                int start = ToCodepoint(text, from + m.Index);
                int end = ToCodepoint(text, from + m.Index + m.Length);
                if (start > done)
                {
                    output.Add(new CodepointRange(done, start - done));
                }

                output.Add(new CodepointRange(start, end - start));
                done = end;
            }

            if (done < segment.End)
            {
                output.Add(new CodepointRange(done, segment.End - done));
            }
        }

        int ToCodepoint(CodepointText t, int offset) => _collapsed ? offset : t.CodepointIndexOf(offset);
    }

    private static readonly string[] CategoryNames = ["\\p{N}", "\\p{L}", "\\p{P}", "\\p{M}", "\\p{S}", "\\p{Lu}", "\\p{Ll}", "\\p{Lt}", "\\p{Lm}", "\\p{Lo}"];

    private static bool NamesCategory(string pattern) => CategoryNames.Any(pattern.Contains);

    /// <summary>The members of each category class in the collapsed text: the stand-in char, then ASCII (as llama.cpp lists them).</summary>
    private static string CategoryMembers(string name) => name switch
    {
        "N" => CodepointText.CategoryStandIn.Number + "0-9",
        "L" or "Lu" or "Ll" or "Lt" or "Lm" or "Lo" => CodepointText.CategoryStandIn.Letter + "A-Za-z",
        "P" => CodepointText.CategoryStandIn.Punctuation + @"!-#%-*,-/:;?@\[-\]_\{\}",
        "M" => CodepointText.CategoryStandIn.Mark.ToString(),
        "S" => CodepointText.CategoryStandIn.Symbol + @"\$\+<->\^`\|",
        _ => throw new ArgumentException("Unknown Unicode category \\p{" + name + "}"),
    };

    /// <summary>Rewrites each <c>\p{X}</c> as its members, inside an existing class or as a new class.</summary>
    private static string Collapse(string pattern)
    {
        var sb = new StringBuilder(pattern.Length * 2);
        bool inClass = false;
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length && pattern[i + 1] != 'p')
            {
                sb.Append(c).Append(pattern[i + 1]); // an escape: copied whole, so an escaped bracket is not a class edge
                i++;
                continue;
            }

            if (c == '[' && !inClass)
            {
                inClass = true;
            }
            else if (c == ']' && inClass)
            {
                inClass = false;
            }
            else if (c == '\\' && i + 3 < pattern.Length && pattern[i + 2] == '{')
            {
                int close = pattern.IndexOf('}', i + 3);
                string name = pattern.Substring(i + 3, close - i - 3);
                string members = CategoryMembers(name);
                sb.Append(inClass ? members : "[" + members + "]");
                i = close;
                continue;
            }

            sb.Append(c);
        }

        return sb.ToString();
    }
}

/// <summary>Writes a set of code point ranges as a .NET regex that matches one code point (surrogate pairs above U+FFFF).</summary>
internal static class CodepointClass
{
    /// <summary>
    /// A group matching one code point in any of <paramref name="ranges"/> (inclusive pairs); the BMP part is one
    /// character class, each supplementary range becomes alternatives of high surrogate + low-surrogate class.
    /// </summary>
    public static string Pattern(params (int First, int Last)[] ranges)
    {
        var bmp = new StringBuilder();
        var astral = new List<string>();
        foreach (var (first, last) in ranges)
        {
            if (last <= 0xFFFF)
            {
                bmp.Append(Escape(first)).Append('-').Append(Escape(last));
                continue;
            }

            if (first <= 0xFFFF)
            {
                throw new ArgumentException("A range may not cross U+FFFF.");
            }

            string lo = char.ConvertFromUtf32(first), hi = char.ConvertFromUtf32(last);
            if (lo[0] == hi[0])
            {
                astral.Add($"{Escape(lo[0])}[{Escape(lo[1])}-{Escape(hi[1])}]");
            }
            else
            {
                astral.Add($"{Escape(lo[0])}[{Escape(lo[1])}-\\uDFFF]");
                if (hi[0] - lo[0] > 1)
                {
                    astral.Add($"[{Escape((char)(lo[0] + 1))}-{Escape((char)(hi[0] - 1))}][\\uDC00-\\uDFFF]");
                }

                astral.Add($"{Escape(hi[0])}[\\uDC00-{Escape(hi[1])}]");
            }
        }

        var parts = new List<string>();
        if (bmp.Length > 0)
        {
            parts.Add("[" + bmp + "]");
        }

        parts.AddRange(astral);
        return "(?:" + string.Join("|", parts) + ")";
    }

    private static string Escape(int c) => "\\u" + c.ToString("X4", System.Globalization.CultureInfo.InvariantCulture);
}
