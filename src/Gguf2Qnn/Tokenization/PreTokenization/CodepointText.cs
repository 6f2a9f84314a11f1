using System.Globalization;

namespace Gguf2Qnn.Tokenization.PreTokenization;

/// <summary>
/// A text as Unicode code points, the unit llama.cpp's pre-tokenizer works in (<c>unicode.cpp</c>), with the
/// UTF-16 offset of each code point and, built on first use, the two regex views llama.cpp matches against.
/// </summary>
internal sealed class CodepointText
{
    private string? _collapsed;
    private string? _wide;

    public CodepointText(string text)
    {
        Text = text;
        var codepoints = new List<int>(text.Length);
        var offsets = new List<int>(text.Length + 1);
        for (int i = 0; i < text.Length;)
        {
            offsets.Add(i);
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                codepoints.Add(char.ConvertToUtf32(text[i], text[i + 1]));
                i += 2;
            }
            else
            {
                // Lone surrogates were replaced by U+FFFD before this point (GgufTokenizer.Encode).
                codepoints.Add(text[i]);
                i++;
            }
        }

        offsets.Add(text.Length);
        Codepoints = codepoints.ToArray();
        Utf16Offsets = offsets.ToArray();
    }

    /// <summary>The UTF-16 text.</summary>
    public string Text { get; }

    /// <summary>The code points of <see cref="Text"/>.</summary>
    public int[] Codepoints { get; }

    /// <summary>The UTF-16 offset of each code point, plus the text length at the end (Length = code points + 1).</summary>
    public int[] Utf16Offsets { get; }

    /// <summary>
    /// llama.cpp's "collapsed" text, one char per code point, used for the regexes that name Unicode categories
    /// (its <c>std::regex</c> cannot match <c>\p{…}</c>): ASCII stays, other whitespace becomes U+000B, and every other
    /// code point becomes the stand-in of its category (<see cref="CategoryStandIn"/>).
    /// </summary>
    public string Collapsed => _collapsed ??= BuildCollapsed();

    /// <summary>
    /// The text llama.cpp matches with <c>std::wregex</c> for regexes without <c>\p{…}</c>: UTF-16, with non-ASCII
    /// whitespace replaced by U+000B (all such code points are in the BMP, so offsets are unchanged).
    /// </summary>
    public string Wide => _wide ??= BuildWide();

    /// <summary>The code point index of UTF-16 offset <paramref name="utf16Offset"/> (which must start a code point).</summary>
    public int CodepointIndexOf(int utf16Offset)
    {
        int i = Array.BinarySearch(Utf16Offsets, utf16Offset);
        return i >= 0 ? i : ~i;
    }

    /// <summary>The stand-in chars of the collapsed text (llama.cpp uses bytes 0xD0..0xD5, which we keep as U+00D0..U+00D5).</summary>
    internal static class CategoryStandIn
    {
        public const char Other = '\u00D0';
        public const char Number = '\u00D1';
        public const char Letter = '\u00D2';
        public const char Punctuation = '\u00D3';
        public const char Mark = '\u00D4';
        public const char Symbol = '\u00D5';
    }

    private string BuildCollapsed()
    {
        var chars = new char[Codepoints.Length];
        for (int i = 0; i < chars.Length; i++)
        {
            int cp = Codepoints[i];
            if (cp < 128)
            {
                chars[i] = (char)cp;
                continue;
            }

            var flags = CodepointFlags.Of(cp);
            chars[i] = flags.IsWhitespace ? '\v' : CodepointFlags.CategoryOf(cp) switch
            {
                UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CategoryStandIn.Number,
                UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                    or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CategoryStandIn.Letter,
                UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
                    or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
                    or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation => CategoryStandIn.Punctuation,
                UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark => CategoryStandIn.Mark,
                UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol
                    or UnicodeCategory.OtherSymbol => CategoryStandIn.Symbol,
                _ => CategoryStandIn.Other, // separators that are not whitespace, controls, format, private use, unassigned
            };
        }

        return new string(chars);
    }

    private string BuildWide()
    {
        char[]? copy = null;
        for (int i = 0; i < Text.Length; i++)
        {
            char c = Text[i];
            if (c > 0x7F && CodepointFlags.IsWhitespaceCodepoint(c))
            {
                copy ??= Text.ToCharArray();
                copy[i] = '\v';
            }
        }

        return copy is null ? Text : new string(copy);
    }
}

/// <summary>
/// The code point classes llama.cpp's hand-written splitters test (<c>unicode_cpt_flags</c>): letter (\p{L}),
/// number (\p{N}) and whitespace (the Unicode White_Space set), from .NET's Unicode tables as of Unicode 15.1,
/// the version of llama.cpp's tables (<c>unicode-data.cpp</c>, unchanged since 2024): the 5,185 code points that
/// Unicode 16.0 added, which .NET knows, are unassigned there and so here (<see cref="CategoryOf"/>).
/// </summary>
internal readonly struct CodepointFlags
{
    private readonly byte _bits;

    private CodepointFlags(byte bits) => _bits = bits;

    /// <summary>Flags of a position outside the current segment: nothing set (llama.cpp returns empty flags there).</summary>
    public static CodepointFlags OutOfRange => default;

    public bool InRange => (_bits & 1) != 0;

    public bool IsLetter => (_bits & 2) != 0;

    public bool IsNumber => (_bits & 4) != 0;

    public bool IsWhitespace => (_bits & 8) != 0;

    public static CodepointFlags Of(int cp)
    {
        int bits = 1;
        switch (CategoryOf(cp))
        {
            case UnicodeCategory.UppercaseLetter:
            case UnicodeCategory.LowercaseLetter:
            case UnicodeCategory.TitlecaseLetter:
            case UnicodeCategory.ModifierLetter:
            case UnicodeCategory.OtherLetter:
                bits |= 2;
                break;
            case UnicodeCategory.DecimalDigitNumber:
            case UnicodeCategory.LetterNumber:
            case UnicodeCategory.OtherNumber:
                bits |= 4;
                break;
        }

        if (IsWhitespaceCodepoint(cp))
        {
            bits |= 8;
        }

        return new CodepointFlags((byte)bits);
    }

    /// <summary>The Unicode White_Space property, the set llama.cpp lists in <c>unicode_set_whitespace</c>.</summary>
    public static bool IsWhitespaceCodepoint(int cp) => cp switch
    {
        >= 0x09 and <= 0x0D or 0x20 or 0x85 or 0xA0 or 0x1680 or >= 0x2000 and <= 0x200A
            or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000 => true,
        _ => false,
    };

    /// <summary>The general category of <paramref name="cp"/> as llama.cpp sees it (Unicode 15.1).</summary>
    public static UnicodeCategory CategoryOf(int cp) =>
        cp >= Unicode16Additions[0].First && IsUnicode16Addition(cp) ? UnicodeCategory.OtherNotAssigned : CharUnicodeInfo.GetUnicodeCategory(cp);

    private static bool IsUnicode16Addition(int cp)
    {
        int lo = 0, hi = Unicode16Additions.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            var (first, last) = Unicode16Additions[mid];
            if (cp < first)
            {
                hi = mid - 1;
            }
            else if (cp > last)
            {
                lo = mid + 1;
            }
            else
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The code points first assigned in Unicode 16.0 (DerivedAge.txt, Age=16.0), as inclusive ranges.</summary>
    private static readonly (int First, int Last)[] Unicode16Additions =
    [
        (0x0897, 0x0897), (0x1B4E, 0x1B4F), (0x1B7F, 0x1B7F), (0x1C89, 0x1C8A), (0x2427, 0x2429), (0x31E4, 0x31E5),
        (0xA7CB, 0xA7CD), (0xA7DA, 0xA7DC), (0x105C0, 0x105F3), (0x10D40, 0x10D65), (0x10D69, 0x10D85), (0x10D8E, 0x10D8F),
        (0x10EC2, 0x10EC4), (0x10EFC, 0x10EFC), (0x11380, 0x11389), (0x1138B, 0x1138B), (0x1138E, 0x1138E), (0x11390, 0x113B5),
        (0x113B7, 0x113C0), (0x113C2, 0x113C2), (0x113C5, 0x113C5), (0x113C7, 0x113CA), (0x113CC, 0x113D5), (0x113D7, 0x113D8),
        (0x113E1, 0x113E2), (0x116D0, 0x116E3), (0x11BC0, 0x11BE1), (0x11BF0, 0x11BF9), (0x11F5A, 0x11F5A), (0x13460, 0x143FA),
        (0x16100, 0x16139), (0x16D40, 0x16D79), (0x18CFF, 0x18CFF), (0x1CC00, 0x1CCF9), (0x1CD00, 0x1CEB3), (0x1E5D0, 0x1E5FA),
        (0x1E5FF, 0x1E5FF), (0x1F8B2, 0x1F8BB), (0x1F8C0, 0x1F8C1), (0x1FA89, 0x1FA89), (0x1FA8F, 0x1FA8F), (0x1FABE, 0x1FABE),
        (0x1FAC6, 0x1FAC6), (0x1FADC, 0x1FADC), (0x1FADF, 0x1FADF), (0x1FAE9, 0x1FAE9), (0x1FBCB, 0x1FBEF),
    ];
}
