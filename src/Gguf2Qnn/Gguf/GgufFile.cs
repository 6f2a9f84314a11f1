using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text;

namespace Gguf2Qnn.Gguf;

/// <summary>
/// A GGUF file (v2 or v3, little-endian), memory-mapped read-only (GGUF spec, "File Structure"). The header, metadata
/// and tensor infos are parsed once on <see cref="Open"/>; tensor data stay in the map and are handed out as spans.
/// Every count, length, dimension, type id and offset is checked against the bytes that remain before anything is
/// allocated or read.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    /// <summary>"GGUF" read as a little-endian uint32.</summary>
    public const uint Magic = 0x46554747;

    /// <summary>Default alignment of the tensor data section and of each tensor's data, in bytes.</summary>
    public const int DefaultAlignment = 32;

    /// <summary>ggml's maximum number of tensor dimensions (GGML_MAX_DIMS).</summary>
    public const int MaxDimensions = 4;

    /// <summary>Deepest nesting of arrays of arrays accepted in metadata.</summary>
    public const int MaxArrayNesting = 8;

    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _base;
    private readonly long _length;
    private readonly Dictionary<string, GgufTensorInfo> _tensorsByName;
    private bool _disposed;

    private GgufFile(string path, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* basePtr, long length)
    {
        Path = path;
        _map = map;
        _view = view;
        _base = basePtr;
        _length = length;
        var reader = new Reader(basePtr, length);
        try
        {
            (Version, Metadata, Tensors, Alignment, DataOffset) = reader.ReadAll();
        }
        catch
        {
            Dispose();
            throw;
        }

        _tensorsByName = Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>The file's path as given to <see cref="Open"/>.</summary>
    public string Path { get; }

    /// <summary>File length in bytes.</summary>
    public long Length => _length;

    /// <summary>GGUF version (2 or 3).</summary>
    public uint Version { get; }

    /// <summary>Alignment of the data section in bytes (<c>general.alignment</c> or 32).</summary>
    public long Alignment { get; }

    /// <summary>Absolute byte offset of the tensor data section.</summary>
    public long DataOffset { get; }

    /// <summary>All metadata key/value pairs, in file order.</summary>
    public IReadOnlyDictionary<string, GgufValue> Metadata { get; }

    /// <summary>All tensor infos, in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    /// <summary><c>general.architecture</c>, or null when absent.</summary>
    public string? Architecture => TryGetString(GgufKeys.Architecture, out var a) ? a : null;

    /// <summary>Opens and parses a GGUF file.</summary>
    /// <param name="path">Path of the .gguf file.</param>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="GgufFormatException">Not a GGUF file, or corrupt (the message names the field and byte offset).</exception>
    /// <exception cref="NotSupportedException">GGUF v1, a big-endian file, or a version newer than 3.</exception>
    public static GgufFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"No such file: {path}", path);
        }

        var length = new FileInfo(path).Length;
        if (length < 4)
        {
            throw new GgufFormatException($"{path} is not a GGUF file: {length} bytes, too short for the magic.", 0, "magic");
        }

        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        try
        {
            view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* ptr = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref ptr);
            ptr += view.PointerOffset;
            return new GgufFile(path, map, view, ptr, length);
        }
        catch
        {
            view?.Dispose();
            map.Dispose();
            throw;
        }
    }

    /// <summary>Looks a metadata key up.</summary>
    public bool TryGetValue(string key, out GgufValue value) => Metadata.TryGetValue(key, out value!);

    /// <summary>A required string value.</summary>
    /// <exception cref="GgufFormatException">Missing or not a string.</exception>
    public string GetString(string key) => Require(key).AsString();

    /// <summary>An optional string value.</summary>
    /// <exception cref="GgufFormatException">Present but not a string.</exception>
    public bool TryGetString(string key, out string value)
    {
        value = Metadata.TryGetValue(key, out var v) ? v.AsString() : string.Empty;
        return v is not null;
    }

    /// <summary>A required integer value of any integer type.</summary>
    /// <exception cref="GgufFormatException">Missing or not an integer.</exception>
    public long GetInt64(string key) => Require(key).AsInt64();

    /// <summary>An optional integer value of any integer type.</summary>
    /// <exception cref="GgufFormatException">Present but not an integer.</exception>
    public bool TryGetInt64(string key, out long value)
    {
        value = Metadata.TryGetValue(key, out var v) ? v.AsInt64() : 0;
        return v is not null;
    }

    /// <summary>A required number (float or integer).</summary>
    /// <exception cref="GgufFormatException">Missing or not a number.</exception>
    public double GetDouble(string key) => Require(key).AsDouble();

    /// <summary>An optional number (float or integer).</summary>
    /// <exception cref="GgufFormatException">Present but not a number.</exception>
    public bool TryGetDouble(string key, out double value)
    {
        value = Metadata.TryGetValue(key, out var v) ? v.AsDouble() : 0;
        return v is not null;
    }

    /// <summary>An optional bool.</summary>
    /// <exception cref="GgufFormatException">Present but not a bool.</exception>
    public bool TryGetBool(string key, out bool value)
    {
        value = Metadata.TryGetValue(key, out var v) && v.AsBool();
        return v is not null;
    }

    /// <summary>A required array of strings.</summary>
    /// <exception cref="GgufFormatException">Missing or of another type.</exception>
    public string[] GetStringArray(string key) => Require(key).AsStringArray();

    /// <summary>A required array of numbers as floats.</summary>
    /// <exception cref="GgufFormatException">Missing or of another type.</exception>
    public float[] GetFloatArray(string key) => Require(key).AsFloatArray();

    /// <summary>A required array of integers as ints.</summary>
    /// <exception cref="GgufFormatException">Missing or of another type.</exception>
    public int[] GetInt32Array(string key) => Require(key).AsInt32Array();

    /// <summary>The tensor named <paramref name="name"/>, or null.</summary>
    public GgufTensorInfo? FindTensor(string name) => _tensorsByName.GetValueOrDefault(name);

    /// <summary>The tensor named <paramref name="name"/>.</summary>
    /// <exception cref="GgufFormatException">No tensor has that name.</exception>
    public GgufTensorInfo GetTensor(string name) =>
        FindTensor(name) ?? throw new GgufFormatException($"{Path}: required tensor '{name}' is missing.", -1, name);

    /// <summary>
    /// The raw bytes of a tensor (ggml blocks, row-major, ne[0] contiguous): a view into the map, valid while this
    /// file is open.
    /// </summary>
    /// <exception cref="NotSupportedException">The tensor is larger than 2 GiB (use <see cref="GetTensorRows"/>).</exception>
    public ReadOnlySpan<byte> GetTensorBytes(GgufTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (tensor.ByteSize > int.MaxValue)
        {
            throw new NotSupportedException($"Tensor '{tensor.Name}' is {tensor.ByteSize} bytes; read it by rows.");
        }

        return new ReadOnlySpan<byte>(_base + DataOffset + tensor.Offset, (int)tensor.ByteSize);
    }

    /// <summary>The bytes of rows [<paramref name="firstRow"/>, firstRow + rowCount) of a tensor, each row ne[0] weights.</summary>
    public ReadOnlySpan<byte> GetTensorRows(GgufTensorInfo tensor, long firstRow, int rowCount)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var rowBytes = GgmlTypeTraits.RowSize(tensor.Type, tensor.Dimensions[0]);
        ArgumentOutOfRangeException.ThrowIfNegative(firstRow);
        if (firstRow + rowCount > tensor.RowCount || rowBytes * rowCount > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(rowCount));
        }

        return new ReadOnlySpan<byte>(_base + DataOffset + tensor.Offset + (firstRow * rowBytes), (int)(rowBytes * rowCount));
    }

    /// <summary>A tensor's weights as float32, row-major with ne[0] contiguous.</summary>
    /// <exception cref="NotSupportedException">The tensor's type has no dequantizer yet.</exception>
    public float[] DequantizeTensor(GgufTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var result = new float[checked((int)tensor.ElementCount)];
        Dequantizer.Dequantize(tensor.Type, GetTensorBytes(tensor), result);
        return result;
    }

    /// <summary>Unmaps the file.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }

        _map?.Dispose();
    }

    private GgufValue Require(string key) =>
        Metadata.TryGetValue(key, out var v) ? v : throw new GgufFormatException($"{Path}: required metadata key '{key}' is missing.", -1, key);

    /// <summary>Bounds-checked cursor over the mapped bytes.</summary>
    private struct Reader
    {
        private readonly byte* _p;
        private readonly long _length;
        private long _pos;
        private uint _version;

        public Reader(byte* p, long length)
        {
            _p = p;
            _length = length;
            _pos = 0;
            _version = 0;
        }

        private readonly long Remaining => _length - _pos;

        public (uint Version, IReadOnlyDictionary<string, GgufValue> Metadata, IReadOnlyList<GgufTensorInfo> Tensors, long Alignment, long DataOffset) ReadAll()
        {
            var magic = ReadU32("magic");
            if (magic != Magic)
            {
                throw new GgufFormatException($"Not a GGUF file: magic is 0x{magic:X8}, expected 'GGUF'.", 0, "magic");
            }

            var versionOffset = _pos;
            var version = ReadU32("version");
            if (version == 1)
            {
                throw new NotSupportedException("GGUF version 1 is not supported (its counts and lengths are 32-bit); re-convert the model with a current llama.cpp.");
            }

            if (version is not (2 or 3))
            {
                var swapped = BinaryPrimitives.ReverseEndianness(version);
                if (swapped is 1 or 2 or 3)
                {
                    throw new NotSupportedException($"Big-endian GGUF files are not supported (version field reads {swapped} when byte-swapped).");
                }

                throw new NotSupportedException($"GGUF version {version} at byte {versionOffset} is not supported (2 and 3 are).");
            }

            _version = version;
            var tensorCountOffset = _pos;
            var tensorCount = ReadU64("tensor_count");
            var kvCountOffset = _pos;
            var kvCount = ReadU64("metadata_kv_count");

            // Every metadata pair and tensor info takes at least one byte: a count above the bytes left is corrupt.
            // (Each item's own lengths are checked as it is read.)
            if (kvCount > (ulong)Remaining)
            {
                throw new GgufFormatException($"metadata_kv_count {kvCount} cannot fit in the {Remaining} bytes left.", kvCountOffset, "metadata_kv_count");
            }

            if (tensorCount > (ulong)Remaining)
            {
                throw new GgufFormatException($"tensor_count {tensorCount} cannot fit in the {Remaining} bytes left.", tensorCountOffset, "tensor_count");
            }

            var metadata = new Dictionary<string, GgufValue>((int)Math.Min(kvCount, 1024), StringComparer.Ordinal);
            var ordered = new List<KeyValuePair<string, GgufValue>>((int)Math.Min(kvCount, 1024));
            for (ulong i = 0; i < kvCount; i++)
            {
                var keyOffset = _pos;
                var key = ReadString("metadata key");
                var typeOffset = _pos;
                var type = (GgufValueType)ReadU32($"type of '{key}'");
                var value = ReadValue(key, type, typeOffset, 0);
                if (!metadata.TryAdd(key, value))
                {
                    throw new GgufFormatException($"Duplicate metadata key '{key}'.", keyOffset, key);
                }

                ordered.Add(new(key, value));
            }

            long alignment = DefaultAlignment;
            if (metadata.TryGetValue(GgufKeys.Alignment, out var alignValue))
            {
                if (alignValue.Type != GgufValueType.UInt32)
                {
                    throw new GgufFormatException($"'{GgufKeys.Alignment}' must be a uint32, found {alignValue.Type}.", -1, GgufKeys.Alignment);
                }

                alignment = (uint)alignValue.Value;
                if (alignment == 0 || (alignment & (alignment - 1)) != 0)
                {
                    throw new GgufFormatException($"'{GgufKeys.Alignment}' is {alignment}; it must be a non-zero power of two.", -1, GgufKeys.Alignment);
                }
            }

            var tensors = new List<GgufTensorInfo>((int)Math.Min(tensorCount, 1024));
            var names = new HashSet<string>(StringComparer.Ordinal);
            var infoOffsets = new List<long>((int)Math.Min(tensorCount, 1024));
            for (ulong i = 0; i < tensorCount; i++)
            {
                var infoOffset = _pos;
                var name = ReadString("tensor name");
                if (!names.Add(name))
                {
                    throw new GgufFormatException($"Duplicate tensor '{name}'.", infoOffset, name);
                }

                var nDimsOffset = _pos;
                var nDims = ReadU32($"n_dimensions of '{name}'");
                if (nDims is 0 or > MaxDimensions)
                {
                    throw new GgufFormatException($"Tensor '{name}' has {nDims} dimensions; ggml allows 1 to {MaxDimensions}.", nDimsOffset, "n_dimensions");
                }

                var dims = new long[nDims];
                long elements = 1;
                for (var d = 0; d < nDims; d++)
                {
                    var dimOffset = _pos;
                    var dim = ReadU64($"dimensions[{d}] of '{name}'");
                    if (dim > long.MaxValue)
                    {
                        throw new GgufFormatException($"Tensor '{name}' dimension {d} is {dim}, out of range.", dimOffset, "dimensions");
                    }

                    dims[d] = (long)dim;
                    if (dims[d] != 0 && elements > long.MaxValue / dims[d])
                    {
                        throw new GgufFormatException($"Tensor '{name}' has more elements than a 64-bit count can hold.", dimOffset, "dimensions");
                    }

                    elements *= dims[d];
                }

                var typeOffset = _pos;
                var type = (GgmlType)ReadU32($"type of '{name}'");
                if (!GgmlTypeTraits.IsKnown(type))
                {
                    throw new GgufFormatException($"Tensor '{name}' has ggml type id {(uint)type}, which is not a known ggml type.", typeOffset, "type");
                }

                var blockSize = GgmlTypeTraits.BlockSize(type);
                if (dims[0] % blockSize != 0)
                {
                    throw new GgufFormatException($"Tensor '{name}' ne[0] = {dims[0]} is not a multiple of the {type} block size {blockSize}.", dimsOffsetOf(nDimsOffset), "dimensions");
                }

                var offsetOffset = _pos;
                var offset = ReadU64($"offset of '{name}'");
                if (offset % (ulong)alignment != 0)
                {
                    throw new GgufFormatException($"Tensor '{name}' data offset {offset} is not a multiple of the alignment {alignment}.", offsetOffset, "offset");
                }

                var byteSize = elements / blockSize;
                if (byteSize > long.MaxValue / GgmlTypeTraits.TypeSize(type))
                {
                    throw new GgufFormatException($"Tensor '{name}' byte size overflows.", nDimsOffset, "dimensions");
                }

                byteSize *= GgmlTypeTraits.TypeSize(type);
                if (offset > long.MaxValue)
                {
                    throw new GgufFormatException($"Tensor '{name}' data offset {offset} is out of range.", offsetOffset, "offset");
                }

                tensors.Add(new GgufTensorInfo(name, type, dims, (long)offset) { ElementCount = elements, ByteSize = byteSize });
                infoOffsets.Add(offsetOffset);
            }

            var dataOffset = AlignUp(_pos, alignment);
            if (tensorCount > 0 && dataOffset > _length)
            {
                throw new GgufFormatException($"The tensor data section would start at byte {dataOffset}, past the end of the {_length}-byte file.", _pos, "tensor_data");
            }

            var dataLength = _length - Math.Min(dataOffset, _length);
            for (var i = 0; i < tensors.Count; i++)
            {
                var t = tensors[i];
                if (t.Offset > dataLength || t.ByteSize > dataLength - t.Offset)
                {
                    throw new GgufFormatException(
                        $"Tensor '{t.Name}' data [{t.Offset}, {t.Offset + t.ByteSize}) relative to the data section at {dataOffset} runs past the end of the {_length}-byte file.",
                        infoOffsets[i],
                        "offset");
                }
            }

            return (_version, new OrderedReadOnlyDictionary(metadata, ordered), tensors, alignment, dataOffset);

            static long dimsOffsetOf(long nDimsOffset) => nDimsOffset + 4;
        }

        private static long AlignUp(long x, long a) => (x + a - 1) / a * a;

        private void Need(long bytes, string field)
        {
            if (bytes < 0 || bytes > Remaining)
            {
                throw new GgufFormatException($"Unexpected end of file reading {field}: {bytes} bytes needed at byte {_pos}, {Remaining} left.", _pos, field);
            }
        }

        private uint ReadU32(string field)
        {
            Need(4, field);
            var v = BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(_p + _pos, 4));
            _pos += 4;
            return v;
        }

        private ulong ReadU64(string field)
        {
            Need(8, field);
            var v = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(_p + _pos, 8));
            _pos += 8;
            return v;
        }

        private string ReadString(string field)
        {
            var lengthOffset = _pos;
            var len = ReadU64(field + " length");
            if (len > (ulong)Remaining)
            {
                throw new GgufFormatException($"{field}: string length {len} at byte {lengthOffset} runs past the end of the file ({Remaining} bytes left).", lengthOffset, field);
            }

            if (len > int.MaxValue)
            {
                throw new GgufFormatException($"{field}: string length {len} at byte {lengthOffset} is too large.", lengthOffset, field);
            }

            var s = Encoding.UTF8.GetString(_p + _pos, (int)len);
            _pos += (long)len;
            return s;
        }

        private GgufValue ReadValue(string key, GgufValueType type, long typeOffset, int depth)
        {
            switch (type)
            {
                case GgufValueType.UInt8: Need(1, key); return new(type, _p[_pos++], key: key);
                case GgufValueType.Int8: Need(1, key); return new(type, (sbyte)_p[_pos++], key: key);
                case GgufValueType.UInt16: Need(2, key); _pos += 2; return new(type, BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(_p + _pos - 2, 2)), key: key);
                case GgufValueType.Int16: Need(2, key); _pos += 2; return new(type, BinaryPrimitives.ReadInt16LittleEndian(new ReadOnlySpan<byte>(_p + _pos - 2, 2)), key: key);
                case GgufValueType.UInt32: return new(type, ReadU32(key), key: key);
                case GgufValueType.Int32: return new(type, (int)ReadU32(key), key: key);
                case GgufValueType.Float32: return new(type, BitConverter.UInt32BitsToSingle(ReadU32(key)), key: key);
                case GgufValueType.UInt64: return new(type, ReadU64(key), key: key);
                case GgufValueType.Int64: return new(type, (long)ReadU64(key), key: key);
                case GgufValueType.Float64: return new(type, BitConverter.UInt64BitsToDouble(ReadU64(key)), key: key);
                case GgufValueType.Bool:
                    Need(1, key);
                    var b = _p[_pos];
                    if (b > 1)
                    {
                        throw new GgufFormatException($"Metadata key '{key}': bool byte is {b}, expected 0 or 1.", _pos, key);
                    }

                    _pos++;
                    return new(type, b == 1, key: key);
                case GgufValueType.String: return new(type, ReadString(key), key: key);
                case GgufValueType.Array: return ReadArray(key, depth);
                default:
                    throw new GgufFormatException($"Metadata key '{key}' has value type {(uint)type}, which GGUF does not define.", typeOffset, key);
            }
        }

        private GgufValue ReadArray(string key, int depth)
        {
            if (depth >= MaxArrayNesting)
            {
                throw new GgufFormatException($"Metadata key '{key}': arrays nested deeper than {MaxArrayNesting}.", _pos, key);
            }

            var elemTypeOffset = _pos;
            var elemType = (GgufValueType)ReadU32(key + " element type");
            var countOffset = _pos;
            var count = ReadU64(key + " count");
            var minSize = elemType switch
            {
                GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
                GgufValueType.UInt16 or GgufValueType.Int16 => 2,
                GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
                GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,
                GgufValueType.Array => 12,
                _ => throw new GgufFormatException($"Metadata key '{key}': array element type {(uint)elemType} is not defined by GGUF.", elemTypeOffset, key),
            };
            if (count > (ulong)(Remaining / minSize))
            {
                throw new GgufFormatException($"Metadata key '{key}': array count {count} at byte {countOffset} cannot fit in the {Remaining} bytes left.", countOffset, key);
            }

            var n = (int)count;
            var bytes = new ReadOnlySpan<byte>(_p + _pos, (int)Math.Min(Remaining, (long)n * minSize));
            object value;
            switch (elemType)
            {
                case GgufValueType.UInt8: value = bytes[..n].ToArray(); _pos += n; break;
                case GgufValueType.Int8: value = Cast<sbyte>(bytes, n); _pos += n; break;
                case GgufValueType.UInt16: value = Cast<ushort>(bytes, n); _pos += 2L * n; break;
                case GgufValueType.Int16: value = Cast<short>(bytes, n); _pos += 2L * n; break;
                case GgufValueType.UInt32: value = Cast<uint>(bytes, n); _pos += 4L * n; break;
                case GgufValueType.Int32: value = Cast<int>(bytes, n); _pos += 4L * n; break;
                case GgufValueType.Float32: value = Cast<float>(bytes, n); _pos += 4L * n; break;
                case GgufValueType.UInt64: value = Cast<ulong>(bytes, n); _pos += 8L * n; break;
                case GgufValueType.Int64: value = Cast<long>(bytes, n); _pos += 8L * n; break;
                case GgufValueType.Float64: value = Cast<double>(bytes, n); _pos += 8L * n; break;
                case GgufValueType.Bool:
                    var bools = new bool[n];
                    for (var i = 0; i < n; i++)
                    {
                        if (bytes[i] > 1)
                        {
                            throw new GgufFormatException($"Metadata key '{key}': bool element {i} is {bytes[i]}, expected 0 or 1.", _pos + i, key);
                        }

                        bools[i] = bytes[i] == 1;
                    }

                    _pos += n;
                    value = bools;
                    break;
                case GgufValueType.String:
                    var strings = new string[n];
                    for (var i = 0; i < n; i++)
                    {
                        strings[i] = ReadString(key);
                    }

                    value = strings;
                    break;
                default:
                    var nested = new GgufValue[n];
                    for (var i = 0; i < n; i++)
                    {
                        nested[i] = ReadArray(key, depth + 1);
                    }

                    value = nested;
                    break;
            }

            return new GgufValue(GgufValueType.Array, value, elemType, key);
        }

        private static T[] Cast<T>(ReadOnlySpan<byte> bytes, int n)
            where T : unmanaged
        {
            // GGUF is little-endian; so is every platform .NET runs this on (checked in GgufFile's static constructor).
            return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(bytes[..(n * sizeof(T))]).ToArray();
        }
    }

    static GgufFile()
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("gguf2qnn reads GGUF files on little-endian machines only.");
        }
    }

    /// <summary>A read-only dictionary that enumerates in insertion (file) order.</summary>
    private sealed class OrderedReadOnlyDictionary(Dictionary<string, GgufValue> map, List<KeyValuePair<string, GgufValue>> order)
        : IReadOnlyDictionary<string, GgufValue>
    {
        public GgufValue this[string key] => map[key];

        public IEnumerable<string> Keys => order.Select(p => p.Key);

        public IEnumerable<GgufValue> Values => order.Select(p => p.Value);

        public int Count => order.Count;

        public bool ContainsKey(string key) => map.ContainsKey(key);

        public bool TryGetValue(string key, out GgufValue value) => map.TryGetValue(key, out value!);

        public IEnumerator<KeyValuePair<string, GgufValue>> GetEnumerator() => order.GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}

/// <summary>
/// One tensor's info (GGUF spec, <c>gguf_tensor_info_t</c>): name, ggml type, dimensions ne (ne[0] innermost and
/// contiguous; a linear weight stored by PyTorch as [out, in] appears as ne = (in, out)), and the data offset relative
/// to <see cref="GgufFile.DataOffset"/>.
/// </summary>
public sealed record GgufTensorInfo(string Name, GgmlType Type, long[] Dimensions, long Offset)
{
    /// <summary>Product of the dimensions.</summary>
    public long ElementCount { get; init; } = Dimensions.Aggregate(1L, (a, d) => checked(a * d));

    /// <summary>Bytes of data: ElementCount / block size × type size.</summary>
    public long ByteSize { get; init; } = GgmlTypeTraits.RowSize(Type, Dimensions.Aggregate(1L, (a, d) => checked(a * d)));

    /// <summary>Rows: ElementCount / ne[0] (0 when ne[0] is 0).</summary>
    public long RowCount => Dimensions[0] == 0 ? 0 : ElementCount / Dimensions[0];

    /// <summary>Shape as ggml writes it, e.g. "[64, 512]" (ne order).</summary>
    public string ShapeText => "[" + string.Join(", ", Dimensions) + "]";
}
