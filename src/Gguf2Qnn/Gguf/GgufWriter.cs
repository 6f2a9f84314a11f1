using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Gguf2Qnn.Gguf;

/// <summary>
/// Writes a GGUF v3 file (GGUF spec, "File Structure"): header, metadata in the order added, tensor infos, then each
/// tensor's data at the next multiple of the alignment (32, or <c>general.alignment</c> when added as a uint32).
/// Used by the demo model and by tests to build models. Tensor data are copied when added, so keep test models small;
/// the file is written to a temporary name and renamed into place.
/// </summary>
public sealed class GgufWriter
{
    private readonly List<(string Key, GgufValueType Type, Action<BinaryWriter> Write)> _metadata = [];
    private readonly List<(string Name, GgmlType Type, long[] Dims, byte[]? Data, long Size, Action<Stream>? Produce)> _tensors = [];
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);
    private uint _alignment = GgufFile.DefaultAlignment;

    /// <summary>Adds a string value.</summary>
    public void AddString(string key, string value) => Add(key, GgufValueType.String, w => WriteString(w, value));

    /// <summary>Adds a uint32 value. <c>general.alignment</c> also sets the data alignment.</summary>
    public void AddUInt32(string key, uint value)
    {
        if (key == GgufKeys.Alignment)
        {
            if (value == 0 || (value & (value - 1)) != 0)
            {
                throw new ArgumentException("general.alignment must be a non-zero power of two.", nameof(value));
            }

            _alignment = value;
        }

        Add(key, GgufValueType.UInt32, w => w.Write(value));
    }

    /// <summary>Adds an int32 value.</summary>
    public void AddInt32(string key, int value) => Add(key, GgufValueType.Int32, w => w.Write(value));

    /// <summary>Adds a uint64 value.</summary>
    public void AddUInt64(string key, ulong value) => Add(key, GgufValueType.UInt64, w => w.Write(value));

    /// <summary>Adds a float32 value.</summary>
    public void AddFloat32(string key, float value) => Add(key, GgufValueType.Float32, w => w.Write(value));

    /// <summary>Adds a bool value.</summary>
    public void AddBool(string key, bool value) => Add(key, GgufValueType.Bool, w => w.Write((byte)(value ? 1 : 0)));

    /// <summary>Adds an array of strings.</summary>
    public void AddStringArray(string key, IReadOnlyList<string> values)
    {
        var copy = values.ToArray();
        Add(key, GgufValueType.Array, w =>
        {
            w.Write((uint)GgufValueType.String);
            w.Write((ulong)copy.Length);
            foreach (var s in copy)
            {
                WriteString(w, s);
            }
        });
    }

    /// <summary>Adds an array of float32.</summary>
    public void AddFloat32Array(string key, ReadOnlySpan<float> values) => AddRawArray(key, GgufValueType.Float32, MemoryMarshal.AsBytes(values).ToArray(), values.Length);

    /// <summary>Adds an array of int32.</summary>
    public void AddInt32Array(string key, ReadOnlySpan<int> values) => AddRawArray(key, GgufValueType.Int32, MemoryMarshal.AsBytes(values).ToArray(), values.Length);

    /// <summary>Adds a value read from another file (any type, arrays of arrays included), e.g. to copy metadata.</summary>
    public void AddValue(string key, GgufValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        Add(key, value.Type, w => WriteValue(w, value.Type, value.ElementType, value.Value));
    }

    /// <summary>Adds a tensor. <paramref name="dims"/> are ggml's ne (ne[0] innermost); <paramref name="data"/> holds
    /// exactly <see cref="GgmlTypeTraits.RowSize"/>(type, product of dims) bytes.</summary>
    /// <exception cref="ArgumentException">The data length does not match, or the name is taken.</exception>
    public void AddTensor(string name, GgmlType type, long[] dims, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(dims);
        if (dims.Length is 0 or > GgufFile.MaxDimensions)
        {
            throw new ArgumentException($"Tensor '{name}': 1 to {GgufFile.MaxDimensions} dimensions allowed.", nameof(dims));
        }

        var expected = GgmlTypeTraits.RowSize(type, dims.Aggregate(1L, (a, d) => checked(a * d)));
        if (data.Length != expected)
        {
            throw new ArgumentException($"Tensor '{name}' ({type} {string.Join("x", dims)}) needs {expected} bytes, got {data.Length}.", nameof(data));
        }

        CheckNewName(name);
        _tensors.Add((name, type, (long[])dims.Clone(), data.ToArray(), expected, null));
    }

    /// <summary>
    /// Adds a tensor whose data is produced while the file is written, so that large files never sit in memory:
    /// <paramref name="produce"/> is called once, in tensor order, and must write exactly
    /// <see cref="GgmlTypeTraits.RowSize"/>(type, product of dims) bytes to the stream it is given.
    /// </summary>
    /// <exception cref="ArgumentException">Bad dimensions, or the name is taken.</exception>
    /// <exception cref="InvalidOperationException">(From <see cref="Write"/>) the producer wrote a different number of bytes.</exception>
    public void AddTensorStreamed(string name, GgmlType type, long[] dims, Action<Stream> produce)
    {
        ArgumentNullException.ThrowIfNull(dims);
        ArgumentNullException.ThrowIfNull(produce);
        if (dims.Length is 0 or > GgufFile.MaxDimensions)
        {
            throw new ArgumentException($"Tensor '{name}': 1 to {GgufFile.MaxDimensions} dimensions allowed.", nameof(dims));
        }

        CheckNewName(name);
        _tensors.Add((name, type, (long[])dims.Clone(), null, GgmlTypeTraits.RowSize(type, dims.Aggregate(1L, (a, d) => checked(a * d))), produce));
    }

    private void CheckNewName(string name)
    {
        if (_tensors.Any(t => t.Name == name))
        {
            throw new ArgumentException($"Tensor '{name}' added twice.", nameof(name));
        }
    }

    /// <summary>Adds an F32 tensor.</summary>
    public void AddTensorF32(string name, long[] dims, ReadOnlySpan<float> values) =>
        AddTensor(name, GgmlType.F32, dims, MemoryMarshal.AsBytes(values));

    /// <summary>Writes the file to <paramref name="path"/> (through a temporary file renamed into place).</summary>
    public void WriteTo(string path)
    {
        var tmp = path + ".tmp-" + Environment.ProcessId;
        using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            Write(stream);
        }

        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Writes the file to a stream.</summary>
    public void Write(Stream stream)
    {
        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write(GgufFile.Magic);
        w.Write(3u);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, type, write) in _metadata)
        {
            WriteString(w, key);
            w.Write((uint)type);
            write(w);
        }

        long offset = 0;
        var offsets = new long[_tensors.Count];
        for (var i = 0; i < _tensors.Count; i++)
        {
            var (name, type, dims, _, size, _) = _tensors[i];
            WriteString(w, name);
            w.Write((uint)dims.Length);
            foreach (var d in dims)
            {
                w.Write((ulong)d);
            }

            w.Write((uint)type);
            w.Write((ulong)offset);
            offsets[i] = offset;
            offset = AlignUp(offset + size, _alignment);
        }

        w.Flush();
        Pad(w, AlignUp(stream.Position, _alignment) - stream.Position);
        var dataStart = stream.Position;
        for (var i = 0; i < _tensors.Count; i++)
        {
            Pad(w, dataStart + offsets[i] - stream.Position);
            var t = _tensors[i];
            if (t.Data is not null)
            {
                w.Write(t.Data);
                continue;
            }

            w.Flush();
            long before = stream.Position;
            t.Produce!(stream);
            if (stream.Position - before != t.Size)
            {
                throw new InvalidOperationException($"Tensor '{t.Name}': the producer wrote {stream.Position - before} bytes, {t.Size} expected.");
            }
        }
    }

    private static void WriteValue(BinaryWriter w, GgufValueType type, GgufValueType elementType, object value)
    {
        switch (type)
        {
            case GgufValueType.UInt8: w.Write((byte)value); break;
            case GgufValueType.Int8: w.Write((sbyte)value); break;
            case GgufValueType.UInt16: w.Write((ushort)value); break;
            case GgufValueType.Int16: w.Write((short)value); break;
            case GgufValueType.UInt32: w.Write((uint)value); break;
            case GgufValueType.Int32: w.Write((int)value); break;
            case GgufValueType.Float32: w.Write((float)value); break;
            case GgufValueType.UInt64: w.Write((ulong)value); break;
            case GgufValueType.Int64: w.Write((long)value); break;
            case GgufValueType.Float64: w.Write((double)value); break;
            case GgufValueType.Bool: w.Write((byte)((bool)value ? 1 : 0)); break;
            case GgufValueType.String: WriteString(w, (string)value); break;
            case GgufValueType.Array:
                var array = (Array)value;
                w.Write((uint)elementType);
                w.Write((ulong)array.Length);
                foreach (var item in array)
                {
                    if (item is GgufValue nested)
                    {
                        WriteValue(w, nested.Type, nested.ElementType, nested.Value);
                    }
                    else
                    {
                        WriteValue(w, elementType, GgufValueType.UInt8, item);
                    }
                }

                break;
            default:
                throw new ArgumentException($"GGUF value type {type} cannot be written.", nameof(type));
        }
    }

    private static long AlignUp(long x, long a) => (x + a - 1) / a * a;

    private static void Pad(BinaryWriter w, long n)
    {
        for (long i = 0; i < n; i++)
        {
            w.Write((byte)0);
        }
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private void AddRawArray(string key, GgufValueType elementType, byte[] bytes, int count) =>
        Add(key, GgufValueType.Array, w =>
        {
            w.Write((uint)elementType);
            w.Write((ulong)count);
            w.Write(bytes);
        });

    private void Add(string key, GgufValueType type, Action<BinaryWriter> write)
    {
        if (!_keys.Add(key))
        {
            throw new ArgumentException($"Metadata key '{key}' added twice.", nameof(key));
        }

        _metadata.Add((key, type, write));
    }
}
