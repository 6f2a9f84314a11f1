namespace Gguf2Qnn.Tokenization;

/// <summary>
/// GPT-2's byte-level alphabet: each of the 256 byte values is shown as one printable code point, so that a
/// byte-level BPE vocabulary holds only printable text. Bytes <c>!</c>..<c>~</c>, U+00A1..U+00AC and
/// U+00AE..U+00FF stand for themselves; the other 68 bytes (controls, space, 0x7F..0xA0, 0xAD), in increasing
/// order, become U+0100, U+0101, …, U+0143 (so a space is U+0120 'Ġ' and a newline U+010A 'Ċ').
/// </summary>
internal static class ByteLevelEncoding
{
    private static readonly char[] ByteToChar = BuildByteToChar();
    private static readonly short[] CharToByte = BuildCharToByte();

    /// <summary>The code point (always in the BMP, below U+0144) that stands for <paramref name="b"/>.</summary>
    public static char Encode(byte b) => ByteToChar[b];

    /// <summary>The byte that <paramref name="c"/> stands for, or -1 when <paramref name="c"/> is not in the alphabet.</summary>
    public static int Decode(char c) => c < CharToByte.Length ? CharToByte[c] : -1;

    /// <summary>The byte-level spelling of the UTF-8 bytes of <paramref name="text"/> (one char per byte).</summary>
    public static string EncodeUtf8(ReadOnlySpan<char> text)
    {
        int n = System.Text.Encoding.UTF8.GetByteCount(text);
        Span<byte> bytes = n <= 256 ? stackalloc byte[n] : new byte[n];
        System.Text.Encoding.UTF8.GetBytes(text, bytes);
        Span<char> chars = n <= 256 ? stackalloc char[n] : new char[n];
        for (int i = 0; i < n; i++)
        {
            chars[i] = ByteToChar[bytes[i]];
        }

        return new string(chars);
    }

    private static bool StandsForItself(int b) => b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            map[b] = StandsForItself(b) ? (char)b : (char)next++;
        }

        return map;
    }

    private static short[] BuildCharToByte()
    {
        var map = new short[256 + 68];
        Array.Fill(map, (short)-1);
        for (int b = 0; b < 256; b++)
        {
            map[ByteToChar[b]] = (short)b;
        }

        return map;
    }
}
