using System.Runtime.InteropServices;

namespace Gguf2Qnn.Onnx;

/// <summary>
/// Receives the raw bytes of one initializer, in order, as little-endian values (ONNX raw_data layout:
/// row-major, last dimension contiguous). Lets a producer stream a tensor in pieces instead of building it whole.
/// </summary>
public abstract class TensorSink
{
    /// <summary>Bytes received so far.</summary>
    public long Written { get; protected set; }

    private byte[]? _scratch;

    /// <summary>Appends raw bytes.</summary>
    public abstract void WriteBytes(ReadOnlySpan<byte> bytes);

    /// <summary>Appends values of an unmanaged element type in machine order (checked to be little-endian).</summary>
    public void Write<T>(ReadOnlySpan<T> values)
        where T : unmanaged
    {
        EnsureLittleEndian();
        WriteBytes(MemoryMarshal.AsBytes(values));
    }

    /// <summary>
    /// Returns a buffer of at least <paramref name="minimumBytes"/> bytes to fill in place (no copy where the sink can
    /// hand out its own memory); then call <see cref="Advance"/> with the number of bytes filled, before any other
    /// call on this sink. The span may be longer than asked for; its contents are unspecified.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="minimumBytes"/> is below 1.</exception>
    public virtual Span<byte> GetSpan(int minimumBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(minimumBytes, 1);
        if (_scratch is null || _scratch.Length < minimumBytes)
        {
            _scratch = new byte[Math.Max(minimumBytes, 64 << 10)];
        }

        return _scratch;
    }

    /// <summary>Commits the first <paramref name="count"/> bytes of the span the last <see cref="GetSpan"/> returned.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative or beyond that span.</exception>
    public virtual void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _scratch?.Length ?? 0);
        WriteBytes(_scratch.AsSpan(0, count));
    }

    internal static void EnsureLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("ONNX raw tensor data is little-endian; big-endian hosts are not supported.");
        }
    }
}

/// <summary>A sink that collects bytes in memory (small initializers stored inline as raw_data).</summary>
internal sealed class MemoryTensorSink : TensorSink
{
    private readonly MemoryStream _buffer;

    public MemoryTensorSink(long capacity)
    {
        _buffer = new MemoryStream(checked((int)capacity));
    }

    public override void WriteBytes(ReadOnlySpan<byte> bytes)
    {
        _buffer.Write(bytes);
        Written += bytes.Length;
    }

    public ReadOnlySpan<byte> Bytes => _buffer.GetBuffer().AsSpan(0, (int)_buffer.Length);
}
