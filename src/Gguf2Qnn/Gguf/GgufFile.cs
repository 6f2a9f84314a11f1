using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace Gguf2Qnn.Gguf;

/// <summary>
/// A GGUF file (v2 or v3, little-endian), memory-mapped read-only (GGUF spec, "File Structure"). The header, metadata
/// and tensor infos are parsed once on <see cref="Open(string)"/>; tensor data stay in the map and are handed out as spans.
/// Every count, length, dimension, type id and offset is checked against the bytes that remain before anything is
/// allocated or read, and parsing never allocates more than the file's length plus <see cref="MetadataAllocationSlack"/>
/// (arrays of strings stay as bytes until first read): a file from an untrusted source can fail to open, never exhaust
/// memory. Errors are <see cref="GgufFormatException"/> (corrupt: field name and byte offset) or
/// <see cref="NotSupportedException"/> (GGUF v1, big-endian). For split models use <see cref="GgufModel"/>.
/// </summary>
public sealed unsafe class GgufFile : IGgufSource
{
    /// <summary>"GGUF" read as a little-endian uint32.</summary>
    public const uint Magic = 0x46554747;

    /// <summary>Default alignment of the tensor data section and of each tensor's data, in bytes.</summary>
    public const int DefaultAlignment = 32;

    /// <summary>ggml's maximum number of tensor dimensions (GGML_MAX_DIMS).</summary>
    public const int MaxDimensions = 4;

    /// <summary>
    /// Parsing a file allocates at most its length plus this many bytes (not counting the memory map): arrays of
    /// strings are kept as their bytes until first read, and every other allocation is charged against that budget
    /// before it is made. A file that would need more is rejected as corrupt.
    /// </summary>
    public const int MetadataAllocationSlack = 48 * 1024;

    /// <summary>Deepest nesting of arrays of arrays accepted in metadata.</summary>
    public const int MaxArrayNesting = 8;

    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private GCHandle _pin;
    private readonly byte* _base;
    private readonly long _length;
    private readonly Dictionary<string, GgufTensorInfo> _tensorsByName;
    private bool _disposed;

    private GgufFile(string path, MemoryMappedFile? map, MemoryMappedViewAccessor? view, GCHandle pin, byte* basePtr, long length)
    {
        Path = path;
        _map = map;
        _view = view;
        _pin = pin;
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

    /// <summary>The file's path as given to <see cref="Open(string)"/>.</summary>
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
            return new GgufFile(path, map, view, default, ptr, length);
        }
        catch
        {
            view?.Dispose();
            map.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Parses a GGUF file held in memory (tests, fuzzing, files fetched over the network). The array is pinned, not
    /// copied, until <see cref="Dispose"/>; do not change it meanwhile.
    /// </summary>
    /// <param name="bytes">The whole file.</param>
    /// <param name="name">Used as <see cref="Path"/> in messages.</param>
    /// <exception cref="GgufFormatException">Corrupt (the message names the field and byte offset).</exception>
    /// <exception cref="NotSupportedException">GGUF v1, a big-endian file, or a version newer than 3.</exception>
    public static GgufFile Open(byte[] bytes, string name = "<memory>")
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return Open(bytes, bytes.Length, name);
    }

    /// <summary>Parses the first <paramref name="length"/> bytes of <paramref name="bytes"/> as a whole GGUF file (the fuzz tests truncate this way).</summary>
    internal static GgufFile Open(byte[] bytes, int length, string name)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, bytes.Length);
        if (length < 4)
        {
            throw new GgufFormatException($"{name} is not a GGUF file: {length} bytes, too short for the magic.", 0, "magic");
        }

        var pin = GCHandle.Alloc(bytes, GCHandleType.Pinned);
        return new GgufFile(name, null, null, pin, (byte*)pin.AddrOfPinnedObject(), length);
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

    /// <summary>
    /// SHA-256 (FIPS 180-4) of the whole file as 64 lowercase hex digits, read from the memory map this file already
    /// holds (no second read of the file through read(2), which copies every byte once more).
    /// </summary>
    /// <exception cref="ObjectDisposedException">The file is closed.</exception>
    public string ComputeSha256()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        const int Slice = 1 << 30;
        for (long at = 0; at < _length; at += Slice)
        {
            hash.AppendData(new ReadOnlySpan<byte>(_base + at, (int)Math.Min(Slice, _length - at)));
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
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
    /// <exception cref="NotSupportedException">The tensor has more weights than one .NET array holds (read it by rows with <see cref="GetTensorRows"/>).</exception>
    public float[] DequantizeTensor(GgufTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.ElementCount > Array.MaxLength)
        {
            throw new NotSupportedException($"Tensor '{tensor.Name}' has {tensor.ElementCount} weights, more than one array holds; dequantize it by rows.");
        }

        var result = new float[tensor.ElementCount];
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
        if (_pin.IsAllocated)
        {
            _pin.Free();
        }
    }

    private GgufValue Require(string key) =>
        Metadata.TryGetValue(key, out var v) ? v : throw new GgufFormatException($"{Path}: required metadata key '{key}' is missing.", -1, key);

    /// <summary>
    /// Bounds-checked cursor over the file's bytes. Every count and length is compared with the bytes that remain
    /// before anything is allocated or read; error messages are built only when an error is thrown.
    /// </summary>
    private struct Reader
    {
        /// <summary>Smallest metadata pair: key length (8), a key of 0 bytes, value type (4), a 1-byte value.</summary>
        private const int MinKeyValueBytes = 8 + 4 + 1;

        /// <summary>Smallest tensor info: name length (8), n_dimensions (4), one dimension (8), type (4), offset (8).</summary>
        private const int MinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;

        /// <summary>
        /// Upper bound of what one metadata pair costs besides its key and value bytes: the <see cref="GgufValue"/>,
        /// a boxed scalar, and its share of the dictionary's and list's storage (counting their growth).
        /// </summary>
        private const int KeyValueCost = 256;

        /// <summary>Upper bound of what one tensor info costs besides its name: the record, its share of the lists, sets and the name index.</summary>
        private const int TensorInfoCost = 320;

        private readonly byte* _p;
        private readonly long _length;
        private long _pos;
        private long _budget;

        public Reader(byte* p, long length)
        {
            _p = p;
            _length = length;
            _pos = 0;
            _budget = length + MetadataAllocationSlack;
        }

        private readonly long Remaining => _length - _pos;

        public (uint Version, IReadOnlyDictionary<string, GgufValue> Metadata, IReadOnlyList<GgufTensorInfo> Tensors, long Alignment, long DataOffset) ReadAll()
        {
            var magic = ReadU32("magic", null);
            if (magic != Magic)
            {
                GgufThrowHelper.BadMagic(magic);
            }

            var versionOffset = _pos;
            var version = ReadU32("version", null);
            if (version is not (2 or 3))
            {
                GgufThrowHelper.UnsupportedVersion(version, versionOffset);
            }

            var tensorCountOffset = _pos;
            var tensorCount = ReadU64("tensor_count", null);
            var kvCountOffset = _pos;
            var kvCount = ReadU64("metadata_kv_count", null);
            if (kvCount > (ulong)(Remaining / MinKeyValueBytes))
            {
                GgufThrowHelper.CountTooLarge("metadata_kv_count", kvCount, kvCountOffset, Remaining);
            }

            // Capacities grow with what is actually read, never from a count the file merely claims.
            var metadata = new Dictionary<string, GgufValue>((int)Math.Min(kvCount, 64), StringComparer.Ordinal);
            var ordered = new List<KeyValuePair<string, GgufValue>>((int)Math.Min(kvCount, 64));
            long alignmentOffset = -1;
            for (ulong i = 0; i < kvCount; i++)
            {
                var keyOffset = _pos;
                Charge(KeyValueCost, "metadata key", null);
                var key = ReadString("metadata key", null);
                var typeOffset = _pos;
                var type = (GgufValueType)ReadU32("metadata value type", key);
                if (key == GgufKeys.Alignment)
                {
                    alignmentOffset = _pos;
                }

                var value = ReadValue(key, type, typeOffset);
                if (!metadata.TryAdd(key, value))
                {
                    GgufThrowHelper.DuplicateKey(key, keyOffset);
                }

                ordered.Add(new(key, value));
            }

            long alignment = DefaultAlignment;
            if (metadata.TryGetValue(GgufKeys.Alignment, out var alignValue))
            {
                if (alignValue.Type != GgufValueType.UInt32)
                {
                    GgufThrowHelper.KeyWrongType(GgufKeys.Alignment, alignValue, "a uint32", alignmentOffset);
                }

                alignment = (uint)alignValue.Value;
                if (alignment == 0 || (alignment & (alignment - 1)) != 0)
                {
                    GgufThrowHelper.BadAlignment(alignment, alignmentOffset);
                }
            }

            if (metadata.TryGetValue(GgufKeys.Architecture, out var arch) && arch.Type != GgufValueType.String)
            {
                GgufThrowHelper.KeyWrongType(GgufKeys.Architecture, arch, "a string", -1);
            }

            if (tensorCount > (ulong)(Remaining / MinTensorInfoBytes))
            {
                GgufThrowHelper.CountTooLarge("tensor_count", tensorCount, tensorCountOffset, Remaining);
            }

            var tensors = new List<GgufTensorInfo>((int)Math.Min(tensorCount, 64));
            var names = new HashSet<string>((int)Math.Min(tensorCount, 64), StringComparer.Ordinal);
            var infoOffsets = new List<long>((int)Math.Min(tensorCount, 64));
            for (var i = 0; i < (int)tensorCount; i++)
            {
                var infoOffset = _pos;
                Charge(TensorInfoCost, "tensor name", null);
                var name = ReadString("tensor name", null);
                if (!names.Add(name))
                {
                    GgufThrowHelper.DuplicateTensor(name, infoOffset);
                }

                var nDimsOffset = _pos;
                var nDims = ReadU32("n_dimensions", name);
                if (nDims is 0 or > MaxDimensions)
                {
                    GgufThrowHelper.BadDimensionCount(name, nDims, nDimsOffset);
                }

                var dims = new long[nDims];
                long elements = 1;
                for (var d = 0; d < nDims; d++)
                {
                    var dimOffset = _pos;
                    var dim = ReadU64("dimensions", name);
                    if (dim > long.MaxValue)
                    {
                        GgufThrowHelper.BadDimension(name, d, dim, dimOffset);
                    }

                    dims[d] = (long)dim;
                    if (dims[d] != 0 && elements > long.MaxValue / dims[d])
                    {
                        GgufThrowHelper.TooManyElements(name, dimOffset);
                    }

                    elements *= dims[d];
                }

                var typeOffset = _pos;
                var type = (GgmlType)ReadU32("type", name);
                if (!GgmlTypeTraits.IsKnown(type))
                {
                    GgufThrowHelper.UnknownTensorType(name, (uint)type, typeOffset);
                }

                var blockSize = GgmlTypeTraits.BlockSize(type);
                if (dims[0] % blockSize != 0)
                {
                    GgufThrowHelper.NotWholeBlocks(name, dims[0], type, blockSize, nDimsOffset + 4);
                }

                var offsetOffset = _pos;
                var offset = ReadU64("offset", name);
                if (offset % (ulong)alignment != 0)
                {
                    GgufThrowHelper.MisalignedOffset(name, offset, alignment, offsetOffset);
                }

                // elements / blockSize * typeSize: ne[0] is a whole number of blocks, so the division is exact.
                var blocks = elements / blockSize;
                var typeSize = GgmlTypeTraits.TypeSize(type);
                if (blocks > long.MaxValue / typeSize || offset > long.MaxValue)
                {
                    GgufThrowHelper.TooManyElements(name, nDimsOffset);
                }

                tensors.Add(new GgufTensorInfo(name, type, dims, (long)offset) { ElementCount = elements, ByteSize = blocks * typeSize });
                infoOffsets.Add(offsetOffset);
            }

            var dataOffset = AlignUp(_pos, alignment);
            if (tensorCount > 0 && dataOffset > _length)
            {
                GgufThrowHelper.DataSectionPastEnd(dataOffset, _length, _pos);
            }

            var dataLength = _length - Math.Min(dataOffset, _length);
            for (var i = 0; i < tensors.Count; i++)
            {
                var t = tensors[i];
                if (t.Offset > dataLength || t.ByteSize > dataLength - t.Offset)
                {
                    GgufThrowHelper.DataPastEnd(t, dataOffset, _length, infoOffsets[i]);
                }
            }

            return (version, new OrderedReadOnlyDictionary(metadata, ordered), tensors, alignment, dataOffset);
        }

        private static long AlignUp(long x, long a) => x + ((a - (x % a)) % a);

        /// <summary>
        /// Takes <paramref name="bytes"/> (an upper bound of what the next allocation costs) from the budget of file
        /// length + <see cref="MetadataAllocationSlack"/>, so that no file, however crafted, makes parsing allocate
        /// more than that.
        /// </summary>
        private void Charge(long bytes, string field, string? owner)
        {
            _budget -= bytes;
            if (_budget < 0)
            {
                GgufThrowHelper.OverBudget(_pos, _length, field, owner);
            }
        }

        private readonly void Need(long bytes, string field, string? owner)
        {
            if (bytes > Remaining)
            {
                GgufThrowHelper.Truncated(_pos, bytes, Remaining, field, owner);
            }
        }

        private uint ReadU32(string field, string? owner)
        {
            Need(4, field, owner);
            var v = BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(_p + _pos, 4));
            _pos += 4;
            return v;
        }

        private ulong ReadU64(string field, string? owner)
        {
            Need(8, field, owner);
            var v = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(_p + _pos, 8));
            _pos += 8;
            return v;
        }

        /// <summary>Skips a string (uint64 length + bytes) after checking its length; returns where its bytes start and how many.</summary>
        private (long Start, int Length) SkipString(string field, string? owner)
        {
            var lengthOffset = _pos;
            var len = ReadU64(field, owner);
            if (len > (ulong)Remaining || len > int.MaxValue)
            {
                GgufThrowHelper.StringTooLong(field, owner, len, lengthOffset, Remaining);
            }

            var start = _pos;
            _pos += (long)len;
            return (start, (int)len);
        }

        private string ReadString(string field, string? owner)
        {
            var (start, len) = SkipString(field, owner);
            Charge(32 + (2L * len), field, owner); // UTF-16: at most one char per byte
            return GgufUtf8.Decode(new ReadOnlySpan<byte>(_p + start, len));
        }

        private GgufValue ReadValue(string key, GgufValueType type, long typeOffset)
        {
            switch (type)
            {
                case GgufValueType.UInt8: Need(1, key, null); return new(type, _p[_pos++], key: key);
                case GgufValueType.Int8: Need(1, key, null); return new(type, (sbyte)_p[_pos++], key: key);
                case GgufValueType.UInt16: Need(2, key, null); _pos += 2; return new(type, BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(_p + _pos - 2, 2)), key: key);
                case GgufValueType.Int16: Need(2, key, null); _pos += 2; return new(type, BinaryPrimitives.ReadInt16LittleEndian(new ReadOnlySpan<byte>(_p + _pos - 2, 2)), key: key);
                case GgufValueType.UInt32: return new(type, ReadU32(key, null), key: key);
                case GgufValueType.Int32: return new(type, (int)ReadU32(key, null), key: key);
                case GgufValueType.Float32: return new(type, BitConverter.UInt32BitsToSingle(ReadU32(key, null)), key: key);
                case GgufValueType.UInt64: return new(type, ReadU64(key, null), key: key);
                case GgufValueType.Int64: return new(type, (long)ReadU64(key, null), key: key);
                case GgufValueType.Float64: return new(type, BitConverter.UInt64BitsToDouble(ReadU64(key, null)), key: key);
                case GgufValueType.Bool:
                    Need(1, key, null);
                    if (_p[_pos] > 1)
                    {
                        GgufThrowHelper.BadBool(key, -1, _p[_pos], _pos);
                    }

                    return new(type, _p[_pos++] == 1, key: key);
                case GgufValueType.String: return new(type, ReadString(key, null), key: key);
                case GgufValueType.Array: return ReadArray(key, 0);
                default:
                    GgufThrowHelper.UnknownValueType(key, (uint)type, typeOffset);
                    return null!;
            }
        }

        private GgufValue ReadArray(string key, int depth)
        {
            if (depth >= MaxArrayNesting)
            {
                GgufThrowHelper.NestingTooDeep(key, _pos);
            }

            var elemTypeOffset = _pos;
            var elemType = (GgufValueType)ReadU32("array element type", key);
            var countOffset = _pos;
            var count = ReadU64("array count", key);
            var minSize = elemType switch
            {
                GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
                GgufValueType.UInt16 or GgufValueType.Int16 => 2,
                GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
                GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,
                GgufValueType.Array => 12,
                _ => -1,
            };
            if (minSize < 0)
            {
                GgufThrowHelper.UnknownValueType(key, (uint)elemType, elemTypeOffset);
            }

            if (count > (ulong)(Remaining / minSize))
            {
                GgufThrowHelper.ArrayTooLong(key, count, countOffset, Remaining);
            }

            var n = (int)count;
            Charge(64 + ((long)n * (elemType == GgufValueType.Array ? 8 : minSize)), "array", key); // the GgufValue and its .NET array
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
                    var bad = bytes[..n].IndexOfAnyExcept((byte)0, (byte)1);
                    if (bad >= 0)
                    {
                        GgufThrowHelper.BadBool(key, bad, bytes[bad], _pos + bad);
                    }

                    value = MemoryMarshal.Cast<byte, bool>(bytes[..n]).ToArray();
                    _pos += n;
                    break;
                case GgufValueType.String:
                    // Check every length now; keep the raw bytes and decode on first use (GgufValue).
                    var start = _pos;
                    for (var i = 0; i < n; i++)
                    {
                        SkipString(key, null);
                    }

                    if (_pos - start > int.MaxValue)
                    {
                        GgufThrowHelper.ArrayTooLong(key, count, countOffset, Remaining);
                    }

                    return new GgufValue(new ReadOnlySpan<byte>(_p + start, (int)(_pos - start)).ToArray(), n, key);
                default:
                    var nested = n == 0 ? [] : new GgufValue[n];
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
            return MemoryMarshal.Cast<byte, T>(bytes[..(n * sizeof(T))]).ToArray();
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
