using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;

namespace Gguf2Qnn.Gguf;

/// <summary>
/// One method per way a GGUF file can be bad, so that the reader's hot path holds no message formatting. Corrupt
/// files throw <see cref="GgufFormatException"/> with the byte offset of the bad field and its name (the GGUF spec's
/// field name, or the metadata key); valid files this reader cannot handle throw <see cref="NotSupportedException"/>.
/// </summary>
internal static class GgufThrowHelper
{
    [DoesNotReturn]
    public static void BadMagic(uint magic) =>
        throw new GgufFormatException($"Not a GGUF file: magic is 0x{magic:X8}, expected 'GGUF' (0x{GgufFile.Magic:X8}).", 0, "magic");

    [DoesNotReturn]
    public static void UnsupportedVersion(uint version, long offset)
    {
        if (version == 1)
        {
            throw new NotSupportedException("GGUF version 1 is not supported (its counts and lengths are 32-bit); re-convert the model with a current llama.cpp.");
        }

        var swapped = BinaryPrimitives.ReverseEndianness(version);
        if (swapped is 1 or 2 or 3)
        {
            throw new NotSupportedException($"Big-endian GGUF files are not supported (version field reads {swapped} when byte-swapped).");
        }

        throw new NotSupportedException($"GGUF version {version} at byte {offset} is not supported (2 and 3 are).");
    }

    [DoesNotReturn]
    public static void Truncated(long offset, long needed, long remaining, string field, string? owner) =>
        throw new GgufFormatException($"Unexpected end of file reading {Describe(field, owner)}: {needed} bytes needed at byte {offset}, {remaining} left.", offset, owner is null ? field : OwnerField(field, owner));

    [DoesNotReturn]
    public static void CountTooLarge(string field, ulong count, long offset, long remaining) =>
        throw new GgufFormatException($"{field} {count} at byte {offset} cannot fit in the {remaining} bytes left.", offset, field);

    [DoesNotReturn]
    public static void StringTooLong(string field, string? owner, ulong length, long offset, long remaining) =>
        throw new GgufFormatException($"{Describe(field, owner)}: string length {length} at byte {offset} runs past the end of the file ({remaining} bytes left).", offset, owner is null ? field : OwnerField(field, owner));

    [DoesNotReturn]
    public static void ArrayTooLong(string key, ulong count, long offset, long remaining) =>
        throw new GgufFormatException($"Metadata key '{Shorten(key)}': array count {count} at byte {offset} cannot fit in the {remaining} bytes left.", offset, key);

    [DoesNotReturn]
    public static void DuplicateKey(string key, long offset) =>
        throw new GgufFormatException($"Duplicate metadata key '{Shorten(key)}' at byte {offset}.", offset, key);

    [DoesNotReturn]
    public static void UnknownValueType(string key, uint type, long offset) =>
        throw new GgufFormatException($"Metadata key '{Shorten(key)}' has value type {type} at byte {offset}, which GGUF does not define.", offset, key);

    [DoesNotReturn]
    public static void BadBool(string key, int element, byte value, long offset) =>
        throw new GgufFormatException(
            element < 0
                ? $"Metadata key '{Shorten(key)}': bool byte is {value} at byte {offset}, expected 0 or 1."
                : $"Metadata key '{Shorten(key)}': bool element {element} is {value} at byte {offset}, expected 0 or 1.",
            offset,
            key);

    [DoesNotReturn]
    public static void NestingTooDeep(string key, long offset) =>
        throw new GgufFormatException($"Metadata key '{Shorten(key)}': arrays nested deeper than {GgufFile.MaxArrayNesting} at byte {offset}.", offset, key);

    [DoesNotReturn]
    public static void KeyWrongType(string key, GgufValue value, string expected, long offset) =>
        throw new GgufFormatException($"'{Shorten(key)}' must be {expected}, found {(value.Type == GgufValueType.Array ? "an array" : value.Type.ToString())}{At(offset)}.", offset, key);

    [DoesNotReturn]
    public static void BadAlignment(long alignment, long offset) =>
        throw new GgufFormatException($"'{GgufKeys.Alignment}' is {alignment}{At(offset)}; it must be a non-zero power of two.", offset, GgufKeys.Alignment);

    [DoesNotReturn]
    public static void DuplicateTensor(string name, long offset) =>
        throw new GgufFormatException($"Duplicate tensor '{Shorten(name)}' at byte {offset}.", offset, name);

    [DoesNotReturn]
    public static void BadDimensionCount(string name, uint nDims, long offset) =>
        throw new GgufFormatException($"Tensor '{Shorten(name)}' has {nDims} dimensions at byte {offset}; ggml allows 1 to {GgufFile.MaxDimensions}.", offset, "n_dimensions");

    [DoesNotReturn]
    public static void BadDimension(string name, int index, ulong dim, long offset) =>
        throw new GgufFormatException($"Tensor '{Shorten(name)}' dimension {index} is {dim} at byte {offset}, out of range.", offset, "dimensions");

    [DoesNotReturn]
    public static void TooManyElements(string name, long offset) =>
        throw new GgufFormatException($"Tensor '{Shorten(name)}': its element count or byte size overflows a 64-bit integer (dimensions at byte {offset}).", offset, "dimensions");

    [DoesNotReturn]
    public static void UnknownTensorType(string name, uint type, long offset) =>
        throw new GgufFormatException($"Tensor '{Shorten(name)}' has ggml type id {type} at byte {offset}, which is not a known ggml type.", offset, "type");

    [DoesNotReturn]
    public static void NotWholeBlocks(string name, long ne0, GgmlType type, int blockSize, long offset) =>
        throw new GgufFormatException($"Tensor '{Shorten(name)}' ne[0] = {ne0} at byte {offset} is not a multiple of the {type} block size {blockSize}.", offset, "dimensions");

    [DoesNotReturn]
    public static void MisalignedOffset(string name, ulong dataOffset, long alignment, long offset) =>
        throw new GgufFormatException($"Tensor '{Shorten(name)}' data offset {dataOffset} at byte {offset} is not a multiple of the alignment {alignment}.", offset, "offset");

    [DoesNotReturn]
    public static void DataSectionPastEnd(long dataOffset, long length, long offset) =>
        throw new GgufFormatException($"The tensor data section would start at byte {dataOffset}, past the end of the {length}-byte file.", offset, "tensor_data");

    [DoesNotReturn]
    public static void DataPastEnd(GgufTensorInfo t, long dataOffset, long length, long offset) =>
        throw new GgufFormatException(
            $"Tensor '{Shorten(t.Name)}' data [{t.Offset}, {t.Offset + t.ByteSize}) relative to the data section at {dataOffset} runs past the end of the {length}-byte file (offset field at byte {offset}).",
            offset,
            "offset");

    [DoesNotReturn]
    public static void OverBudget(long offset, long length, string field, string? owner) =>
        throw new GgufFormatException(
            $"Reading {Describe(field, owner)} at byte {offset} would make the metadata need more memory than the {length}-byte file plus {GgufFile.MetadataAllocationSlack} bytes; the counts and lengths are corrupt.",
            offset,
            owner is null ? field : OwnerField(field, owner));

    private static string Describe(string field, string? owner) => owner is null ? field : $"{field} of '{Shorten(owner)}'";

    /// <summary>Names read from a corrupt file can be megabytes long; messages quote at most 80 chars of them.</summary>
    private static string Shorten(string name) => name.Length <= 80 ? name : string.Concat(name.AsSpan(0, 80), $"… ({name.Length} chars)");

    private static string OwnerField(string field, string owner) => field is "n_dimensions" or "dimensions" or "type" or "offset" ? field : owner;

    private static string At(long offset) => offset >= 0 ? $" at byte {offset}" : string.Empty;
}
