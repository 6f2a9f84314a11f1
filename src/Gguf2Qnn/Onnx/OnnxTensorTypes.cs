using Gguf2Qnn.Onnx.Proto;

namespace Gguf2Qnn.Onnx;

/// <summary>Element sizes of the ONNX tensor data types we write (onnx/onnx.proto TensorProto.DataType).</summary>
public static class OnnxTensorTypes
{
    /// <summary>Bytes per element.</summary>
    /// <exception cref="NotSupportedException">Sub-byte, string or complex types.</exception>
    public static int ElementSize(TensorProto.Types.DataType dataType) => dataType switch
    {
        TensorProto.Types.DataType.Float => 4,
        TensorProto.Types.DataType.Uint8 => 1,
        TensorProto.Types.DataType.Int8 => 1,
        TensorProto.Types.DataType.Uint16 => 2,
        TensorProto.Types.DataType.Int16 => 2,
        TensorProto.Types.DataType.Int32 => 4,
        TensorProto.Types.DataType.Int64 => 8,
        TensorProto.Types.DataType.Bool => 1,
        TensorProto.Types.DataType.Float16 => 2,
        TensorProto.Types.DataType.Double => 8,
        TensorProto.Types.DataType.Uint32 => 4,
        TensorProto.Types.DataType.Uint64 => 8,
        TensorProto.Types.DataType.Bfloat16 => 2,
        _ => throw new NotSupportedException($"ONNX data type {dataType} has no fixed byte size here."),
    };

    /// <summary>Bytes of raw data for a tensor of this type and shape.</summary>
    public static long ByteSize(TensorProto.Types.DataType dataType, IReadOnlyList<long> dims)
    {
        long count = 1;
        foreach (long d in dims)
        {
            if (d < 0)
            {
                throw new ArgumentException("Initializer dimensions must be non-negative.", nameof(dims));
            }

            count = checked(count * d);
        }

        return checked(count * ElementSize(dataType));
    }
}
