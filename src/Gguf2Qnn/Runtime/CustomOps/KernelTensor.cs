using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Gguf2Qnn.Runtime.CustomOps;

/// <summary>
/// A view of one tensor (an <c>OrtValue</c>) handed to a custom op: element type, shape and data, without copies.
/// Valid only while the call that produced it runs (a <see cref="ICustomOpKernel.Compute"/> or a
/// <see cref="CustomKernelFactory"/> call), except <see cref="DataPointer"/> of a constant initializer (see
/// <see cref="KernelInfo.TryGetConstantInput"/>).
/// </summary>
/// <remarks>Data are dense, row-major (C order), in the CPU's byte order, as ONNX Runtime's CPU provider keeps them.</remarks>
public readonly unsafe ref struct KernelTensor
{
    private readonly nint _value;
    private readonly long* _shape;
    private readonly int _rank;

    private KernelTensor(nint value, TensorElementType elementType, long* shape, int rank, void* data)
    {
        _value = value;
        ElementType = elementType;
        _shape = shape;
        _rank = rank;
        DataPointer = (nint)data;
    }

    /// <summary>False for an optional input the node leaves out (everything else is then empty).</summary>
    public bool IsPresent => _value != 0;

    /// <summary>The element type.</summary>
    public TensorElementType ElementType { get; }

    /// <summary>The dimensions (empty for a scalar), owned by the OrtValue.</summary>
    public ReadOnlySpan<long> Shape => new(_shape, _rank);

    /// <summary>The number of dimensions.</summary>
    public int Rank => _rank;

    /// <summary>The product of the dimensions (1 for a scalar, 0 when absent).</summary>
    public long ElementCount
    {
        get
        {
            if (!IsPresent)
            {
                return 0;
            }

            long count = 1;
            for (int i = 0; i < _rank; i++)
            {
                count *= _shape[i];
            }

            return count;
        }
    }

    /// <summary>
    /// The address of the first element (may be zero for an empty tensor). For a constant initializer this points
    /// into ORT's copy of the weight, which lives as long as the session.
    /// </summary>
    public nint DataPointer { get; }

    /// <summary>The data size in bytes (ORT's <c>GetTensorSizeInBytes</c>; packed 4-bit types round up).</summary>
    /// <exception cref="CustomOpException">ONNX Runtime rejects the query.</exception>
    public long ByteLength
    {
        get
        {
            if (!IsPresent)
            {
                return 0;
            }

            nuint size;
            OrtApiTable.Check(OrtApiTable.GetTensorSizeInBytes(_value, &size), "GetTensorSizeInBytes");
            return (long)size;
        }
    }

    /// <summary>The elements as a read-only span.</summary>
    /// <typeparam name="T">The element's .NET type: float, double, Half or Float16, BFloat16, byte, sbyte, short, ushort, int, uint, long, ulong or bool.</typeparam>
    /// <exception cref="InvalidOperationException">The tensor is absent, <typeparamref name="T"/> does not match <see cref="ElementType"/>, or it has 2^31 elements or more.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not one of the types listed.</exception>
    public ReadOnlySpan<T> GetData<T>()
        where T : unmanaged => GetMutableData<T>();

    /// <summary>The elements as a writable span (for outputs).</summary>
    /// <typeparam name="T">As for <see cref="GetData{T}"/>.</typeparam>
    /// <exception cref="InvalidOperationException">As for <see cref="GetData{T}"/>.</exception>
    /// <exception cref="NotSupportedException">As for <see cref="GetData{T}"/>.</exception>
    public Span<T> GetMutableData<T>()
        where T : unmanaged
    {
        var expected = ElementTypes.Of<T>();
        if (!IsPresent)
        {
            throw new InvalidOperationException("The tensor is absent (an optional input the node leaves out).");
        }

        if (expected != ElementType)
        {
            throw new InvalidOperationException($"The tensor holds {ElementType}; {typeof(T).Name} maps to {expected}.");
        }

        long count = ElementCount;
        if (count > int.MaxValue)
        {
            throw new InvalidOperationException($"The tensor has {count} elements, more than a span holds; use DataPointer.");
        }

        return new Span<T>((void*)DataPointer, (int)count);
    }

    /// <summary>The raw bytes (<see cref="ByteLength"/> of them).</summary>
    /// <exception cref="InvalidOperationException">The tensor is absent or has 2^31 bytes or more.</exception>
    public ReadOnlySpan<byte> GetBytes()
    {
        if (!IsPresent)
        {
            throw new InvalidOperationException("The tensor is absent (an optional input the node leaves out).");
        }

        long length = ByteLength;
        if (length > int.MaxValue)
        {
            throw new InvalidOperationException($"The tensor has {length} bytes, more than a span holds; use DataPointer.");
        }

        return new ReadOnlySpan<byte>((void*)DataPointer, (int)length);
    }

    /// <summary>Views <paramref name="value"/> (an <c>OrtValue*</c>); zero gives the absent tensor.</summary>
    internal static KernelTensor FromValue(nint value)
    {
        if (value == 0)
        {
            return default;
        }

        int type;
        long* shape;
        nuint rank;
        void* data;
        OrtApiTable.Check(OrtApiTable.GetTensorElementTypeAndShapeDataReference(value, &type, &shape, &rank), "GetTensorElementTypeAndShapeDataReference");
        OrtApiTable.Check(OrtApiTable.GetTensorMutableData(value, &data), "GetTensorMutableData");
        return new KernelTensor(value, (TensorElementType)type, shape, (int)rank, data);
    }
}

/// <summary>Maps .NET element types to ONNX tensor element types.</summary>
internal static class ElementTypes
{
    /// <summary>The <see cref="TensorElementType"/> of <typeparamref name="T"/>.</summary>
    /// <exception cref="NotSupportedException">No tensor element type has that .NET type.</exception>
    public static TensorElementType Of<T>()
        where T : unmanaged => Cache<T>.Value ?? throw new NotSupportedException($"{typeof(T).Name} is not a tensor element type.");

    private static class Cache<T>
    {
        public static readonly TensorElementType? Value = Map(typeof(T));
    }

    private static TensorElementType? Map(Type t) =>
        t == typeof(float) ? TensorElementType.Float :
        t == typeof(double) ? TensorElementType.Double :
        t == typeof(Half) || t == typeof(Float16) ? TensorElementType.Float16 :
        t == typeof(BFloat16) ? TensorElementType.BFloat16 :
        t == typeof(byte) ? TensorElementType.UInt8 :
        t == typeof(sbyte) ? TensorElementType.Int8 :
        t == typeof(short) ? TensorElementType.Int16 :
        t == typeof(ushort) ? TensorElementType.UInt16 :
        t == typeof(int) ? TensorElementType.Int32 :
        t == typeof(uint) ? TensorElementType.UInt32 :
        t == typeof(long) ? TensorElementType.Int64 :
        t == typeof(ulong) ? TensorElementType.UInt64 :
        t == typeof(bool) ? TensorElementType.Bool :
        null;
}
