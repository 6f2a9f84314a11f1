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

    /// <summary>Appends raw bytes.</summary>
    public abstract void WriteBytes(ReadOnlySpan<byte> bytes);

    /// <summary>Appends values of an unmanaged element type in machine order (checked to be little-endian).</summary>
    public void Write<T>(ReadOnlySpan<T> values)
        where T : unmanaged
    {
        EnsureLittleEndian();
        WriteBytes(MemoryMarshal.AsBytes(values));
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
