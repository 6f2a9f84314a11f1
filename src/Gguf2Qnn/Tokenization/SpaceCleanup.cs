namespace Gguf2Qnn.Tokenization;

/// <summary>
/// llama.cpp's <c>clean_spaces</c> step of <c>llama_detokenize</c> (Hugging Face's
/// <c>clean_up_tokenization_spaces</c>), three passes over the UTF-8 bytes (each looks back from the second byte on):
/// <list type="number">
/// <item>a space before <c>?</c>, <c>!</c>, <c>.</c> or <c>,</c> is dropped;</item>
/// <item>an apostrophe with a space on both sides loses both spaces (the byte after the second space is then
/// compared with a NUL, as llama.cpp does in place);</item>
/// <item>a space before <c>'s</c>, <c>'m</c>, <c>'re</c> or <c>'ve</c> is dropped (not before <c>'t</c>, <c>'d</c>, <c>'ll</c>).</item>
/// </list>
/// The result depends on a byte only through its neighbours, which <see cref="TokenStreamDecoder"/> relies on.
/// </summary>
internal static class SpaceCleanup
{
    /// <summary>Cleans <paramref name="text"/> in place and returns the new length.</summary>
    public static int Apply(Span<byte> text)
    {
        int n = text.Length;

        // 1: " ?", " !", " .", " ,"
        int total = n > 0 ? 1 : 0;
        for (int i = 1; i < n; i++)
        {
            byte x = text[i];
            if (text[i - 1] == ' ' && x is (byte)'?' or (byte)'!' or (byte)'.' or (byte)',')
            {
                total--;
            }

            text[total++] = x;
        }

        // 2: " ' " becomes "'"
        n = total;
        total = n > 0 ? 1 : 0;
        for (int i = 1; i < n; i++)
        {
            byte x = text[i];
            if (x == '\'' && i + 1 < n && text[i - 1] == ' ' && text[i + 1] == ' ')
            {
                total--;
                text[++i] = 0;
            }

            text[total++] = x;
        }

        // 3: " 's", " 'm", " 're", " 've" lose the space
        n = total;
        total = n > 0 ? 1 : 0;
        for (int i = 1; i < n; i++)
        {
            byte x = text[i];
            if (text[i - 1] == ' ' && x == '\'' && i + 1 < n)
            {
                byte x1 = text[i + 1];
                if (x1 is (byte)'s' or (byte)'m')
                {
                    total--;
                }
                else if (i + 2 < n && (x1 is (byte)'r' or (byte)'v') && text[i + 2] == 'e')
                {
                    total--;
                }
            }

            text[total++] = x;
        }

        return total;
    }

    /// <summary>
    /// Whether a cleaned text may be cut after a byte pair (<paramref name="a"/>, <paramref name="b"/>): when neither
    /// takes part in any rule above, cleaning the two halves apart gives the same bytes as cleaning the whole.
    /// </summary>
    public static bool IsCutSafe(byte a, byte b) => IsInert(a) && IsInert(b);

    private static bool IsInert(byte c) => c is not ((byte)' ' or (byte)'\'' or (byte)'?' or (byte)'!' or (byte)'.' or (byte)',' or 0);
}
