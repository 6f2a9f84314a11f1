using System.Buffers.Binary;
using System.Text;
using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Tests.Gguf;

/// <summary>
/// Writes GGUF bytes field by field (GGUF spec, "File Structure"), including the invalid ones the real writer refuses
/// to produce, and remembers where each field starts so tests can assert the offset an error reports.
/// </summary>
internal sealed class RawGguf
{
    private readonly List<byte> _bytes = [];

    /// <summary>Starts with magic, version 3 and the two counts.</summary>
    public static RawGguf Header(ulong tensorCount, ulong kvCount, uint version = 3)
    {
        var g = new RawGguf();
        g.U32(GgufFile.Magic).U32(version).U64(tensorCount).U64(kvCount);
        return g;
    }

    /// <summary>Current length: the offset the next field will have.</summary>
    public int Position => _bytes.Count;

    public RawGguf U8(byte v)
    {
        _bytes.Add(v);
        return this;
    }

    public RawGguf U16(ushort v) => Raw(BitConverter.GetBytes(v));

    public RawGguf U32(uint v) => Raw(BitConverter.GetBytes(v));

    public RawGguf U64(ulong v) => Raw(BitConverter.GetBytes(v));

    public RawGguf Raw(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            _bytes.Add(b);
        }

        return this;
    }

    public RawGguf Str(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        return U64((ulong)b.Length).Raw(b);
    }

    /// <summary>A key and its value type; the value follows.</summary>
    public RawGguf Key(string key, GgufValueType type) => Str(key).U32((uint)type);

    /// <summary>A tensor info; <paramref name="dims"/> are ne.</summary>
    public RawGguf Tensor(string name, GgmlType type, ulong offset, params ulong[] dims)
    {
        Str(name).U32((uint)dims.Length);
        foreach (var d in dims)
        {
            U64(d);
        }

        return U32((uint)type).U64(offset);
    }

    /// <summary>Zero bytes up to the next multiple of <paramref name="alignment"/>.</summary>
    public RawGguf Pad(int alignment)
    {
        while (_bytes.Count % alignment != 0)
        {
            _bytes.Add(0);
        }

        return this;
    }

    public byte[] ToArray() => [.. _bytes];

    /// <summary>Writes the bytes to a fresh temporary .gguf file.</summary>
    public string WriteTemp(string name = "crafted.gguf")
    {
        var path = Path.Combine(TestPaths.NewTempDir("gguf-raw"), name);
        File.WriteAllBytes(path, ToArray());
        return path;
    }

    /// <summary>Overwrites 8 bytes at <paramref name="offset"/>.</summary>
    public RawGguf PatchU64(int offset, ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        for (var i = 0; i < 8; i++)
        {
            _bytes[offset + i] = b[i];
        }

        return this;
    }
}
