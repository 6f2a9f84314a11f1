namespace Gguf2Qnn.Tokenization.PreTokenization;

/// <summary>
/// The three pre-tokenizer regexes that llama.cpp does not run through <c>std::regex</c> but matches with
/// hand-written code (<c>unicode_regex_split_custom_gpt2/_llama3/_qwen2</c>); this class follows that code's
/// decisions, written from the regexes below:
/// <list type="bullet">
/// <item><see cref="GptStyle.Gpt2"/>: <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c></item>
/// <item><see cref="GptStyle.Llama3"/>: <c>(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+</c></item>
/// <item><see cref="GptStyle.Qwen2"/>: the Llama-3 regex with <c>\p{N}</c> (single digits) instead of <c>\p{N}{1,3}</c>.</item>
/// </list>
/// </summary>
internal sealed class GptStyleSplitRule(GptStyle style) : SplitRule
{
    public GptStyle Style { get; } = style;

    public override void Split(CodepointText text, List<CodepointRange> input, List<CodepointRange> output)
    {
        foreach (var segment in input)
        {
            SplitSegment(text.Codepoints, segment, output);
        }
    }

    private void SplitSegment(int[] cps, CodepointRange segment, List<CodepointRange> output)
    {
        int begin = segment.Start, end = segment.End;
        int cut = begin; // end of the last emitted piece
        bool caseInsensitive = Style != GptStyle.Gpt2;

        int At(int p) => p >= begin && p < end ? cps[p] : -1;
        CodepointFlags FlagsAt(int p) => p >= begin && p < end ? CodepointFlags.Of(cps[p]) : CodepointFlags.OutOfRange;
        int Lower(int c) => caseInsensitive && c is >= 'A' and <= 'Z' ? c + 32 : c;
        int Emit(int to)
        {
            int length = to - cut;
            if (length > 0)
            {
                output.Add(new CodepointRange(cut, length));
            }

            cut = to;
            return length;
        }

        for (int pos = begin; pos < end;)
        {
            int cp = At(pos);
            var flags = FlagsAt(pos);

            // 's 't 're 've 'm 'll 'd (case-insensitive except for GPT-2)
            if (cp == '\'' && pos + 1 < end)
            {
                int next = Lower(At(pos + 1));
                if (next is 's' or 't' or 'm' or 'd')
                {
                    pos += Emit(pos + 2);
                    continue;
                }

                if (pos + 2 < end)
                {
                    int next2 = Lower(At(pos + 2));
                    if ((next == 'r' && next2 == 'e') || (next == 'v' && next2 == 'e') || (next == 'l' && next2 == 'l'))
                    {
                        pos += Emit(pos + 3);
                        continue;
                    }
                }
            }

            if (Style == GptStyle.Gpt2)
            {
                // " ?\p{L}+", " ?\p{N}+": an optional leading space, then a run of one class
                var lead = cp == ' ' ? FlagsAt(pos + 1) : flags;
                if (lead.IsLetter || lead.IsNumber)
                {
                    bool letters = lead.IsLetter;
                    pos += cp == ' ' ? 1 : 0;
                    while (letters ? FlagsAt(pos).IsLetter : FlagsAt(pos).IsNumber)
                    {
                        pos++;
                    }

                    Emit(pos);
                    continue;
                }
            }
            else
            {
                // "[^\r\n\p{L}\p{N}]?\p{L}+": one optional non-letter, non-digit, non-newline, then letters
                if (!(cp == '\r' || cp == '\n' || flags.IsNumber) && (flags.IsLetter || FlagsAt(pos + 1).IsLetter))
                {
                    pos++;
                    while (FlagsAt(pos).IsLetter)
                    {
                        pos++;
                    }

                    Emit(pos);
                    continue;
                }

                if (flags.IsNumber)
                {
                    if (Style == GptStyle.Qwen2)
                    {
                        Emit(++pos); // "\p{N}"
                        continue;
                    }

                    // "\p{N}{1,3}": digits in groups of three from the left
                    int groupStart = pos;
                    while (FlagsAt(pos).IsNumber)
                    {
                        if (++pos - groupStart >= 3)
                        {
                            Emit(pos);
                            groupStart = pos;
                        }
                    }

                    Emit(pos);
                    continue;
                }
            }

            // " ?[^\s\p{L}\p{N}]+" (+ "[\r\n]*" for Llama-3/Qwen2)
            {
                var lead = cp == ' ' ? FlagsAt(pos + 1) : flags;
                bool enter = Style == GptStyle.Gpt2
                    ? IsOther(lead) && lead.InRange
                    : IsOther(lead) && flags.InRange; // llama.cpp tests the space itself here, so a lone final space also enters
                if (enter)
                {
                    pos += cp == ' ' ? 1 : 0;
                    while (IsOther(lead) && lead.InRange)
                    {
                        lead = FlagsAt(++pos);
                    }

                    if (Style != GptStyle.Gpt2)
                    {
                        while (At(pos) is '\r' or '\n')
                        {
                            pos++;
                        }
                    }

                    Emit(pos);
                    continue;
                }
            }

            // whitespace: "\s*[\r\n]+" (Llama-3/Qwen2), then "\s+(?!\S)", then "\s+"
            int spaces = 0;
            int afterLastNewline = 0;
            while (FlagsAt(pos + spaces).IsWhitespace)
            {
                if (At(pos + spaces) is '\r' or '\n')
                {
                    afterLastNewline = pos + spaces + 1;
                }

                spaces++;
            }

            if (Style != GptStyle.Gpt2 && afterLastNewline > 0)
            {
                pos = afterLastNewline;
                Emit(pos);
                continue;
            }

            if (spaces > 1 && At(pos + spaces) != -1)
            {
                pos += spaces - 1; // leave the last space to prefix the next word
                Emit(pos);
                continue;
            }

            if (spaces > 0)
            {
                pos += spaces;
                Emit(pos);
                continue;
            }

            Emit(++pos); // no alternative matched: the code point stands alone
        }
    }

    private static bool IsOther(CodepointFlags f) => !(f.IsWhitespace || f.IsLetter || f.IsNumber);
}

/// <summary>Which of llama.cpp's hand-written splitters <see cref="GptStyleSplitRule"/> follows.</summary>
internal enum GptStyle
{
    Gpt2,
    Llama3,
    Qwen2,
}
