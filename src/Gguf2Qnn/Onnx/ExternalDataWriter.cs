using System.Globalization;
using Gguf2Qnn.Onnx.Proto;

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
/// <see cref="EndTensor"/>); nothing but a write buffer is kept in memory.</para>
/// </remarks>
public sealed class ExternalDataWriter : IDisposable
{
    /// <summary>Default tensor alignment in bytes (see remarks).</summary>
    public const int DefaultAlignment = 64;

    /// <summary>The conventional external-data file name for <c>model.onnx</c>.</summary>
    public const string DefaultFileName = "model.onnx.data";

    private readonly FileStream _stream;
    private readonly Sink _sink;
    private TensorProto? _open;
    private long _openOffset;
    private long _openExpected;

    /// <summary>Creates (or truncates) <paramref name="fileName"/> inside <paramref name="directory"/>.</summary>
    /// <param name="directory">The folder that will hold the model file too (locations are relative to it).</param>
    /// <param name="fileName">File name only, no folders.</param>
    /// <param name="alignment">Tensor start alignment in bytes; a power of two.</param>
    /// <exception cref="ArgumentException">The file name has folders in it, or the alignment is not a power of two.</exception>
    public ExternalDataWriter(string directory, string fileName = DefaultFileName, int alignment = DefaultAlignment)
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
        _stream = new FileStream(FullPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        _sink = new Sink(this);
    }

    /// <summary>The file name written into each TensorProto's <c>location</c>.</summary>
    public string FileName { get; }

    /// <summary>The absolute path of the data file.</summary>
    public string FullPath { get; }

    /// <summary>Tensor start alignment in bytes.</summary>
    public int Alignment { get; }

    /// <summary>Bytes written so far (including padding).</summary>
    public long Length => _stream.Position;

    /// <summary>
    /// Starts a tensor of the given type and shape; its bytes go to the returned sink, then call
    /// <see cref="EndTensor"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another tensor is still open.</exception>
    public TensorSink BeginTensor(string name, TensorProto.Types.DataType dataType, IReadOnlyList<long> dims)
    {
        if (_open is not null)
        {
            throw new InvalidOperationException($"Tensor '{_open.Name}' is still open.");
        }

        TensorSink.EnsureLittleEndian();
        long pad = (Alignment - (_stream.Position % Alignment)) % Alignment;
        Span<byte> zeros = stackalloc byte[64];
        while (pad > 0)
        {
            int n = (int)Math.Min(pad, zeros.Length);
            _stream.Write(zeros[..n]);
            pad -= n;
        }

        _open = new TensorProto { Name = name, DataType = (int)dataType };
        _open.Dims.AddRange(dims);
        _openOffset = _stream.Position;
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

    /// <summary>Flushes buffered bytes to disk (and the OS cache to the device).</summary>
    public void Flush() => _stream.Flush(flushToDisk: true);

    /// <inheritdoc />
    public void Dispose() => _stream.Dispose();

    private sealed class Sink(ExternalDataWriter owner) : TensorSink
    {
        public void Reset() => Written = 0;

        public override void WriteBytes(ReadOnlySpan<byte> bytes)
        {
            owner._stream.Write(bytes);
            Written += bytes.Length;
        }
    }
}
