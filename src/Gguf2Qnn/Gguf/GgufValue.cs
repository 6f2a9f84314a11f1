using System.Buffers.Binary;
using System.Globalization;

namespace Gguf2Qnn.Gguf;

/// <summary>The type tag of a GGUF metadata value (GGUF spec, <c>gguf_metadata_value_type</c>).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>
/// One immutable GGUF metadata value. <see cref="Value"/> holds a boxed scalar, a <see cref="string"/>, or for arrays a
/// typed .NET array (<c>byte[]</c>, <c>sbyte[]</c>, <c>ushort[]</c>, <c>short[]</c>, <c>uint[]</c>, <c>int[]</c>,
/// <c>float[]</c>, <c>bool[]</c>, <c>string[]</c>, <c>ulong[]</c>, <c>long[]</c>, <c>double[]</c>, or
/// <see cref="GgufValue"/><c>[]</c> for arrays of arrays). Arrays of strings read from a file are decoded on the first
/// access to <see cref="Value"/> (thread-safe; <see cref="Count"/> does not decode), so opening a file with a large
/// vocabulary stays cheap.
/// </summary>
public sealed class GgufValue
{
    private readonly int _count;
    private object? _value;
    private byte[]? _rawStrings;

    /// <summary>Creates a value; <paramref name="value"/> must match <paramref name="type"/> as described on the class.</summary>
    public GgufValue(GgufValueType type, object value, GgufValueType elementType = GgufValueType.UInt8, string? key = null)
    {
        ArgumentNullException.ThrowIfNull(value);
        Type = type;
        _value = value;
        ElementType = elementType;
        Key = key;
        _count = value is Array a ? a.Length : 1;
    }

    /// <summary>
    /// An array of strings kept as its raw GGUF bytes (<paramref name="count"/> × [uint64 length, UTF-8 bytes], already
    /// bounds-checked by the reader) and decoded on first use: opening a file with a large vocabulary then costs one
    /// copy of those bytes instead of one .NET string per token.
    /// </summary>
    internal GgufValue(byte[] rawStrings, int count, string? key)
    {
        Type = GgufValueType.Array;
        ElementType = GgufValueType.String;
        Key = key;
        _count = count;
        _rawStrings = rawStrings;
    }

    /// <summary>The value's type tag.</summary>
    public GgufValueType Type { get; }

    /// <summary>For <see cref="GgufValueType.Array"/>: the element type tag; otherwise meaningless.</summary>
    public GgufValueType ElementType { get; }

    /// <summary>The value itself (see the class remarks for the .NET type of each tag).</summary>
    public object Value => Volatile.Read(ref _value) ?? DecodeStrings();

    /// <summary>The metadata key this value was read under, when known (used in error messages).</summary>
    public string? Key { get; }

    /// <summary>Number of elements for arrays, 1 otherwise.</summary>
    public int Count => _count;

    /// <summary>The value as a signed 64-bit integer, from any integer type (a u64 above <see cref="long.MaxValue"/> fails).</summary>
    /// <exception cref="GgufFormatException">Not an integer, or out of range.</exception>
    public long AsInt64() => Type switch
    {
        GgufValueType.UInt8 => (byte)Value,
        GgufValueType.Int8 => (sbyte)Value,
        GgufValueType.UInt16 => (ushort)Value,
        GgufValueType.Int16 => (short)Value,
        GgufValueType.UInt32 => (uint)Value,
        GgufValueType.Int32 => (int)Value,
        GgufValueType.Int64 => (long)Value,
        GgufValueType.UInt64 when (ulong)Value <= long.MaxValue => (long)(ulong)Value,
        _ => throw WrongType("an integer"),
    };

    /// <summary>The value as a double, from any float or integer type.</summary>
    /// <exception cref="GgufFormatException">Not a number.</exception>
    public double AsDouble() => Type switch
    {
        GgufValueType.Float32 => (float)Value,
        GgufValueType.Float64 => (double)Value,
        GgufValueType.UInt64 => (ulong)Value,
        GgufValueType.Bool or GgufValueType.String or GgufValueType.Array => throw WrongType("a number"),
        _ => AsInt64(),
    };

    /// <summary>The value as a bool.</summary>
    /// <exception cref="GgufFormatException">Not a bool.</exception>
    public bool AsBool() => Type == GgufValueType.Bool ? (bool)Value : throw WrongType("a bool");

    /// <summary>The value as a string.</summary>
    /// <exception cref="GgufFormatException">Not a string.</exception>
    public string AsString() => Type == GgufValueType.String ? (string)Value : throw WrongType("a string");

    /// <summary>The value as a string array.</summary>
    /// <exception cref="GgufFormatException">Not an array of strings.</exception>
    public string[] AsStringArray() => Value is string[] s ? s : throw WrongType("an array of strings");

    /// <summary>The value as a float array (float32 arrays as they are; float64 and integer arrays converted).</summary>
    /// <exception cref="GgufFormatException">Not an array of numbers.</exception>
    public float[] AsFloatArray() => Value switch
    {
        float[] f => f,
        double[] d => Array.ConvertAll(d, x => (float)x),
        Array when Type == GgufValueType.Array && ElementType is not (GgufValueType.String or GgufValueType.Array or GgufValueType.Bool)
            => Array.ConvertAll(AsInt64Array(), x => (float)x),
        _ => throw WrongType("an array of numbers"),
    };

    /// <summary>The value as an int array, from an array of any integer type (each element must fit in an int).</summary>
    /// <exception cref="GgufFormatException">Not an integer array, or an element out of range.</exception>
    public int[] AsInt32Array()
    {
        if (Value is int[] i)
        {
            return i;
        }

        var wide = AsInt64Array();
        var result = new int[wide.Length];
        for (var k = 0; k < wide.Length; k++)
        {
            result[k] = wide[k] is >= int.MinValue and <= int.MaxValue ? (int)wide[k] : throw WrongType("an array of 32-bit integers");
        }

        return result;
    }

    /// <summary>The value as a long array, from an array of any integer type.</summary>
    /// <exception cref="GgufFormatException">Not an integer array.</exception>
    public long[] AsInt64Array() => Value switch
    {
        long[] l => l,
        int[] a => Array.ConvertAll(a, x => (long)x),
        uint[] a => Array.ConvertAll(a, x => (long)x),
        short[] a => Array.ConvertAll(a, x => (long)x),
        ushort[] a => Array.ConvertAll(a, x => (long)x),
        sbyte[] a => Array.ConvertAll(a, x => (long)x),
        byte[] a => Array.ConvertAll(a, x => (long)x),
        ulong[] a when a.All(x => x <= long.MaxValue) => Array.ConvertAll(a, x => (long)x),
        _ => throw WrongType("an array of integers"),
    };

    /// <inheritdoc />
    public override string ToString() => Type == GgufValueType.Array ? $"[{Type}<{ElementType}> × {Count}]" : Value switch
    {
        string s => s,
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => Value.ToString() ?? string.Empty,
    };

    private string[] DecodeStrings()
    {
        var raw = Volatile.Read(ref _rawStrings);
        if (raw is null)
        {
            return (string[])Volatile.Read(ref _value)!; // another thread decoded it and released the bytes
        }

        var strings = new string[_count];
        var pos = 0;
        for (var i = 0; i < strings.Length; i++)
        {
            var length = (int)BinaryPrimitives.ReadUInt64LittleEndian(raw.AsSpan(pos));
            strings[i] = GgufUtf8.Decode(raw.AsSpan(pos + 8, length));
            pos += 8 + length;
        }

        var winner = (string[])(Interlocked.CompareExchange(ref _value, strings, null) ?? strings);
        Volatile.Write(ref _rawStrings, null);
        return winner;
    }

    private GgufFormatException WrongType(string wanted) =>
        new($"Metadata key '{Key ?? "?"}' is {Describe()}, expected {wanted}.", -1, Key);

    private string Describe() => Type == GgufValueType.Array ? $"an array of {ElementType}" : $"a {Type}";
}
