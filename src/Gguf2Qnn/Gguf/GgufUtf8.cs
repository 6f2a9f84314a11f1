using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Gguf2Qnn.Gguf;

/// <summary>
/// UTF-8 to string for GGUF strings (keys, names, values, tokens). Valid UTF-8 decodes as usual; an invalid sequence
/// becomes U+FFFD without the per-sequence allocations of <see cref="Encoding.UTF8"/>'s replacement fallback (which
/// allocates about 15 bytes per input byte on garbage), so a corrupt file cannot multiply the memory it costs.
/// </summary>
internal static class GgufUtf8
{
    public static string Decode(ReadOnlySpan<byte> utf8)
    {
        if (utf8.IsEmpty)
        {
            return string.Empty;
        }

        if (Utf8.IsValid(utf8))
        {
            return Encoding.UTF8.GetString(utf8);
        }

        // Count the chars the replacing decoder will produce, in chunks on the stack, then decode into the string.
        Span<char> chunk = stackalloc char[256];
        var count = 0;
        var rest = utf8;
        while (true)
        {
            var status = Utf8.ToUtf16(rest, chunk, out var read, out var written, replaceInvalidSequences: true);
            count += written;
            rest = rest[read..];
            if (status != OperationStatus.DestinationTooSmall)
            {
                break;
            }
        }

        unsafe
        {
            fixed (byte* p = utf8)
            {
                return string.Create(count, ((nint)p, utf8.Length), static (chars, state) =>
                    Utf8.ToUtf16(new ReadOnlySpan<byte>((byte*)state.Item1, state.Item2), chars, out _, out _, replaceInvalidSequences: true));
            }
        }
    }
}
