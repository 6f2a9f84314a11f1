using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.InteropServices;
using Gguf2Qnn.Onnx.Proto;
using Microsoft.Win32.SafeHandles;

namespace Gguf2Qnn.Onnx;

/// <summary>
/// Writes initializer bytes to one external-data file beside the model (ONNX external data, onnx/onnx.proto
/// TensorProto fields 13 external_data and 14 data_location): each tensor is stored raw and little-endian, and its
/// TensorProto carries data_location = EXTERNAL plus the keys <c>location</c> (file name relative to the model),
/// <c>offset</c> and <c>length</c> (bytes).
/// </summary>
/// <remarks>
/// <para>Alignment: every tensor starts at a multiple of <see cref="Alignment"/> bytes (default 64), padded with
/// zeros. 64 bytes is one cache line and the widest SIMD load (AVX-512), so a runtime that memory-maps the file can
/// use the tensor in place without a misaligned first row; it costs at most 63 bytes per tensor.</para>
/// <para>Tensors are streamed one at a time (<see cref="BeginTensor"/>, <see cref="TensorSink.WriteBytes"/>,
/// <see cref="EndTensor"/>). The bytes are gathered into <see cref="ChunkBytes"/>-byte chunks (at most
/// <see cref="ChunkCount"/> of them, 32 MiB of native memory in all) that a background thread writes with one
/// positioned write each, so producing the next bytes overlaps writing the last ones. With
/// <see cref="ExternalDataWriteMode.Direct"/> on Linux the file is opened with O_DIRECT (open(2); .NET has no
/// option for it): the device reads the
/// chunks straight from the (4096-byte aligned) buffers instead of the kernel copying every byte into the page
/// cache and writing it back later; the last chunk is padded to 4096 bytes and the file truncated to its length.
/// Where the file system refuses direct I/O on open the writer falls back to buffered writes.</para>
/// </remarks>
public sealed partial class ExternalDataWriter : IDisposable
{
    /// <summary>Default tensor alignment in bytes (see remarks).</summary>
    public const int DefaultAlignment = 64;

    /// <summary>The conventional external-data file name for <c>model.onnx</c>.</summary>
    public const string DefaultFileName = "model.onnx.data";

    /// <summary>Bytes per write chunk (each chunk is one positioned write).</summary>
    public const int ChunkBytes = 8 << 20;

    /// <summary>Chunks in flight at most (filling, queued, being written).</summary>
    public const int ChunkCount = 4;

    // Direct I/O needs buffer addresses, file offsets and lengths aligned to the logical block size (512 or 4096).
    private const int DirectAlignment = 4096;

    private readonly SafeFileHandle _file;
    private readonly Sink _sink;
    private readonly BlockingCollection<Chunk> _queue = new(ChunkCount + 1);
    private readonly BlockingCollection<Chunk> _free = new(ChunkCount);
    private readonly Chunk[] _chunks;
    private readonly Thread _writer;
    private Chunk _current;
    private long _length;
    private long _onFile;
    private volatile Exception? _error;
    private bool _errorReported;
    private bool _disposed;
    private TensorProto? _open;
    private long _openOffset;
    private long _openExpected;

    /// <summary>Creates (or truncates) <paramref name="fileName"/> inside <paramref name="directory"/> with buffered writes.</summary>
    /// <param name="directory">The folder that will hold the model file too (locations are relative to it).</param>
    /// <param name="fileName">File name only, no folders.</param>
    /// <param name="alignment">Tensor start alignment in bytes; a power of two.</param>
    /// <exception cref="ArgumentException">The file name has folders in it, or the alignment is not a power of two.</exception>
    /// <exception cref="IOException">The file cannot be created.</exception>
    public ExternalDataWriter(string directory, string fileName = DefaultFileName, int alignment = DefaultAlignment)
        : this(directory, fileName, alignment, ExternalDataWriteMode.Buffered)
    {
    }

    /// <summary>Creates (or truncates) <paramref name="fileName"/> inside <paramref name="directory"/>.</summary>
    /// <param name="directory">The folder that will hold the model file too (locations are relative to it).</param>
    /// <param name="fileName">File name only, no folders.</param>
    /// <param name="alignment">Tensor start alignment in bytes; a power of two.</param>
    /// <param name="mode">Buffered (page cache) or direct I/O (see remarks).</param>
    /// <exception cref="ArgumentException">The file name has folders in it, or the alignment is not a power of two.</exception>
    /// <exception cref="IOException">The file cannot be created.</exception>
    public ExternalDataWriter(string directory, string fileName, int alignment, ExternalDataWriteMode mode)
    {
        if (fileName.Length == 0 || Path.GetFileName(fileName) != fileName)
        {
            throw new ArgumentException("The external-data location must be a plain file name.", nameof(fileName));
        }

        if (alignment <= 0 || (alignment & (alignment - 1)) != 0)
        {
            throw new ArgumentException("Alignment must be a power of two.", nameof(alignment));
        }

        FileName = fileName;
        Alignment = alignment;
        FullPath = Path.Combine(directory, fileName);
        (_file, Direct) = Open(FullPath, mode);
        _sink = new Sink(this);
        _chunks = new Chunk[ChunkCount];
        for (int i = 0; i < ChunkCount; i++)
        {
            _chunks[i] = new Chunk();
            _free.Add(_chunks[i]);
        }

        _current = _free.Take();
        _writer = new Thread(WriteLoop) { IsBackground = true, Name = "gguf2qnn external-data writer" };
        _writer.Start();
    }

    /// <summary>The file name written into each TensorProto's <c>location</c>.</summary>
    public string FileName { get; }

    /// <summary>The absolute path of the data file.</summary>
    public string FullPath { get; }

    /// <summary>Tensor start alignment in bytes.</summary>
    public int Alignment { get; }

    /// <summary>Whether the file was opened for direct I/O (see remarks).</summary>
    public bool Direct { get; }

    /// <summary>Whether a background write has failed (whether or not a call has reported it yet).</summary>
    internal bool WriteFailed => _error is not null;

    /// <summary>Bytes written so far (including padding), whether or not they have reached the file yet.</summary>
    public long Length => _length;

    /// <summary>
    /// Starts a tensor of the given type and shape; its bytes go to the returned sink, then call
    /// <see cref="EndTensor"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another tensor is still open.</exception>
    /// <exception cref="IOException">An earlier background write failed.</exception>
    public TensorSink BeginTensor(string name, TensorProto.Types.DataType dataType, IReadOnlyList<long> dims)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_open is not null)
        {
            throw new InvalidOperationException($"Tensor '{_open.Name}' is still open.");
        }

        TensorSink.EnsureLittleEndian();
        long pad = (Alignment - (_length % Alignment)) % Alignment;
        Span<byte> zeros = stackalloc byte[64];
        zeros.Clear();
        while (pad > 0)
        {
            int n = (int)Math.Min(pad, zeros.Length);
            Append(zeros[..n]);
            pad -= n;
        }

        _open = new TensorProto { Name = name, DataType = (int)dataType };
        _open.Dims.AddRange(dims);
        _openOffset = _length;
        _openExpected = OnnxTensorTypes.ByteSize(dataType, dims);
        _sink.Reset();
        return _sink;
    }

    /// <summary>Finishes the open tensor and returns its TensorProto (data_location EXTERNAL).</summary>
    /// <exception cref="InvalidOperationException">No tensor is open, or the bytes written do not match its shape.</exception>
    public TensorProto EndTensor()
    {
        var tensor = _open ?? throw new InvalidOperationException("No tensor is open.");
        if (_sink.Written != _openExpected)
        {
            throw new InvalidOperationException(
                $"Tensor '{tensor.Name}' received {_sink.Written} bytes; its type and shape need {_openExpected}.");
        }

        tensor.DataLocation = TensorProto.Types.DataLocation.External;
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = FileName });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = _openOffset.ToString(CultureInfo.InvariantCulture) });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = _openExpected.ToString(CultureInfo.InvariantCulture) });
        _open = null;
        return tensor;
    }

    /// <summary>Writes a whole tensor at once.</summary>
    public TensorProto Write(string name, TensorProto.Types.DataType dataType, IReadOnlyList<long> dims, ReadOnlySpan<byte> data)
    {
        BeginTensor(name, dataType, dims).WriteBytes(data);
        return EndTensor();
    }

    /// <summary>Writes every byte so far to the file and flushes it to the device (fsync); more tensors may follow.</summary>
    /// <exception cref="IOException">A write or the flush failed.</exception>
    public void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Drain();
        RandomAccess.FlushToDisk(_file);
    }

    /// <summary>Writes what is still buffered (without fsync; call <see cref="Flush"/> for that) and closes the file.</summary>
    /// <exception cref="IOException">Writing the last bytes failed, or an earlier background write failed and no
    /// call since has reported it.</exception>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        try
        {
            if (_error is null || !_errorReported)
            {
                // Drain reports a failure no call has reported yet (the file is short: the caller must not use it).
                Drain();
            }
        }
        finally
        {
            _disposed = true;
            _queue.CompleteAdding();
            _writer.Join();
            _file.Dispose();
            foreach (var chunk in _chunks)
            {
                chunk.Free();
            }

            _queue.Dispose();
            _free.Dispose();
        }
    }

    private static (SafeFileHandle File, bool Direct) Open(string path, ExternalDataWriteMode mode)
    {
        if (mode == ExternalDataWriteMode.Direct && OperatingSystem.IsLinux() && DirectFlag() is int direct)
        {
            // open(2) with O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, mode 0666 (before the umask).
            int fd;
            try
            {
                fd = LinuxOpen(path, 0x1 | 0x40 | 0x200 | 0x80000 | direct, 438);
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                fd = -1; // a C library without a loadable "libc" name (e.g. musl): buffered writes below
            }

            if (fd >= 0)
            {
                return (new SafeFileHandle(fd, ownsHandle: true), true);
            }

            // EINVAL: the file system does not do direct I/O; anything else, the buffered open below reports.
        }

        return (File.OpenHandle(path, FileMode.Create, FileAccess.Write, FileShare.None), false);
    }

    // O_DIRECT differs between Linux architectures (asm-generic/fcntl.h: 0x4000; arm and arm64: 0x10000).
    private static int? DirectFlag() => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 or Architecture.X86 => 0x4000,
        Architecture.Arm64 or Architecture.Arm => 0x10000,
        _ => null,
    };

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LinuxOpen(string path, int flags, int mode);

    // Copies bytes into the current chunk, handing full chunks to the writer thread.
    private void Append(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            int n = Math.Min(bytes.Length, ChunkBytes - _current.Fill);
            bytes[..n].CopyTo(_current.Span[_current.Fill..]);
            _current.Fill += n;
            _length += n;
            bytes = bytes[n..];
            if (_current.Fill == ChunkBytes)
            {
                NextChunk();
            }
        }
    }

    // Counts bytes the sink's caller wrote straight into the current chunk.
    private void Commit(int count)
    {
        _current.Fill += count;
        _length += count;
        if (_current.Fill == ChunkBytes)
        {
            NextChunk();
        }
    }

    private void NextChunk()
    {
        Submit(_current, _current.Fill);
        var next = _free.Take();
        next.FileOffset = _current.FileOffset + ChunkBytes;
        next.Fill = 0;
        _current = next;
    }

    private void Submit(Chunk chunk, int writeLength)
    {
        ThrowIfFailed();
        chunk.WriteLength = writeLength;
        _queue.Add(chunk);
    }

    // Writes the partial chunk and waits until every chunk is back; the current chunk keeps its bytes so that later
    // appends continue it (with direct I/O its padded tail is simply written again).
    private void Drain()
    {
        ThrowIfFailed();
        int fill = _current.Fill;
        if (fill == 0 || _current.FileOffset + fill == _onFile)
        {
            WaitAllFree(submitted: false);
            ThrowIfFailed();
            return;
        }

        int writeLength = fill;
        bool padded = Direct && fill % DirectAlignment != 0;
        if (padded)
        {
            writeLength = ((fill / DirectAlignment) + 1) * DirectAlignment;
            _current.Span[fill..writeLength].Clear();
        }

        Submit(_current, writeLength);
        WaitAllFree(submitted: true);
        ThrowIfFailed();
        if (padded)
        {
            RandomAccess.SetLength(_file, _length);
        }

        _onFile = _length;

        // Whole written blocks leave the chunk: only the unaligned tail (direct I/O) is written again next time.
        int keep = padded ? fill % DirectAlignment : 0;
        int drop = fill - keep;
        _current.Span.Slice(drop, keep).CopyTo(_current.Span);
        _current.FileOffset += drop;
        _current.Fill = keep;
    }

    // Waits until the writer thread has handed back every chunk (all writes done); the current chunk stays current.
    private void WaitAllFree(bool submitted)
    {
        var back = new List<Chunk>(ChunkCount);
        for (int i = submitted ? 0 : 1; i < ChunkCount; i++)
        {
            back.Add(_free.Take());
        }

        foreach (var chunk in back)
        {
            if (!ReferenceEquals(chunk, _current))
            {
                _free.Add(chunk);
            }
        }
    }

    private void ThrowIfFailed()
    {
        if (_error is { } e)
        {
            _errorReported = true;
            throw new IOException($"Writing '{FullPath}' failed: {e.Message}", e);
        }
    }

    private void WriteLoop()
    {
        foreach (var chunk in _queue.GetConsumingEnumerable())
        {
            try
            {
                if (_error is null)
                {
                    RandomAccess.Write(_file, chunk.Span[..chunk.WriteLength], chunk.FileOffset);
                }
            }
            catch (Exception e)
            {
                // Reported to the producer on its next call; later chunks are returned unwritten.
                _error = e;
            }
            finally
            {
                _free.Add(chunk);
            }
        }
    }

    // One write buffer: ChunkBytes of native memory aligned for direct I/O.
    private sealed unsafe class Chunk
    {
        private byte* _data = (byte*)NativeMemory.AlignedAlloc(ChunkBytes, DirectAlignment);

        public int Fill { get; set; }

        public int WriteLength { get; set; }

        public long FileOffset { get; set; }

        public Span<byte> Span => new(_data, ChunkBytes);

        public void Free()
        {
            if (_data != null)
            {
                NativeMemory.AlignedFree(_data);
                _data = null;
            }
        }
    }

    private sealed class Sink(ExternalDataWriter owner) : TensorSink
    {
        public void Reset() => Written = 0;

        private int _lent;

        public override void WriteBytes(ReadOnlySpan<byte> bytes)
        {
            owner.Append(bytes);
            Written += bytes.Length;
        }

        // The rest of the current chunk when it holds minimumBytes, else the base class's scratch buffer (copied on Advance).
        public override Span<byte> GetSpan(int minimumBytes)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(minimumBytes, 1);
            var chunk = owner._current;
            if (ChunkBytes - chunk.Fill >= minimumBytes)
            {
                _lent = ChunkBytes - chunk.Fill;
                return chunk.Span[chunk.Fill..];
            }

            _lent = -1;
            return base.GetSpan(minimumBytes);
        }

        public override void Advance(int count)
        {
            if (_lent < 0)
            {
                base.Advance(count);
                return;
            }

            ArgumentOutOfRangeException.ThrowIfNegative(count);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _lent);
            _lent = 0;
            owner.Commit(count);
            Written += count;
        }
    }
}

/// <summary>How <see cref="ExternalDataWriter"/> writes its file.</summary>
public enum ExternalDataWriteMode
{
    /// <summary>Ordinary writes through the page cache.</summary>
    Buffered,

    /// <summary>Direct I/O where the OS and file system allow it (Linux O_DIRECT), else buffered.</summary>
    Direct,
}
