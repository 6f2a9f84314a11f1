namespace Gguf2Qnn.Gguf;

/// <summary>
/// A GGUF file is corrupt or inconsistent: a length, count, type id or offset that the bytes cannot hold, a missing
/// required key, or a value of the wrong type. <see cref="Offset"/> is the absolute byte offset in the file where the
/// bad field starts (−1 when the problem is not tied to one place); <see cref="Field"/> names the field or metadata key.
/// </summary>
public class GgufFormatException : Exception
{
    /// <summary>Creates the exception.</summary>
    public GgufFormatException(string message, long offset = -1, string? field = null)
        : base(message)
    {
        Offset = offset;
        Field = field;
    }

    /// <summary>Creates the exception with an inner cause.</summary>
    public GgufFormatException(string message, Exception inner)
        : base(message, inner)
    {
        Offset = -1;
    }

    /// <summary>Creates the exception.</summary>
    public GgufFormatException()
        : this("Invalid GGUF file.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public GgufFormatException(string message)
        : this(message, -1)
    {
    }

    /// <summary>Absolute byte offset of the bad field in the file, or −1.</summary>
    public long Offset { get; }

    /// <summary>The field (header field, metadata key, tensor info part) at fault, when known.</summary>
    public string? Field { get; }
}
