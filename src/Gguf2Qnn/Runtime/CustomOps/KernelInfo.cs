using System.Text;

namespace Gguf2Qnn.Runtime.CustomOps;

/// <summary>
/// The node a kernel is created for (an <c>OrtKernelInfo</c>): its name, attributes and constant inputs. Valid only
/// during the <see cref="CustomKernelFactory"/> call.
/// </summary>
public readonly unsafe ref struct KernelInfo
{
    private readonly nint _info;

    internal KernelInfo(nint info) => _info = info;

    /// <summary>The node's name (NodeProto.name).</summary>
    /// <exception cref="CustomOpException">ONNX Runtime rejects the query.</exception>
    public string NodeName
    {
        get
        {
            nuint size = 0;
            OrtApiTable.Check(OrtApiTable.KernelInfoGetNodeName(_info, null, &size), "KernelInfo_GetNodeName");
            var buffer = new byte[(int)size];
            fixed (byte* p = buffer)
            {
                OrtApiTable.Check(OrtApiTable.KernelInfoGetNodeName(_info, p, &size), "KernelInfo_GetNodeName");
            }

            return Encoding.UTF8.GetString(buffer, 0, Math.Max(0, (int)size - 1));
        }
    }

    /// <summary>The number of inputs the node has (including omitted optional ones before the last present one).</summary>
    /// <exception cref="CustomOpException">ONNX Runtime rejects the query.</exception>
    public int InputCount
    {
        get
        {
            nuint count;
            OrtApiTable.Check(OrtApiTable.KernelInfoGetInputCount(_info, &count), "KernelInfo_GetInputCount");
            return (int)count;
        }
    }

    /// <summary>Reads an int attribute.</summary>
    /// <exception cref="CustomOpException">The node has no such int attribute.</exception>
    public long GetInt64(string name)
    {
        long value;
        using var n = new Utf8Name(name);
        OrtApiTable.Check(OrtApiTable.KernelInfoGetAttributeInt64(_info, n.Pointer, &value), $"Reading int attribute '{name}'");
        return value;
    }

    /// <summary>Reads an int attribute, or returns <paramref name="fallback"/> when the node lacks it.</summary>
    public long GetInt64(string name, long fallback)
    {
        long value;
        using var n = new Utf8Name(name);
        return Succeeded(OrtApiTable.KernelInfoGetAttributeInt64(_info, n.Pointer, &value)) ? value : fallback;
    }

    /// <summary>Reads a float attribute.</summary>
    /// <exception cref="CustomOpException">The node has no such float attribute.</exception>
    public float GetFloat(string name)
    {
        float value;
        using var n = new Utf8Name(name);
        OrtApiTable.Check(OrtApiTable.KernelInfoGetAttributeFloat(_info, n.Pointer, &value), $"Reading float attribute '{name}'");
        return value;
    }

    /// <summary>Reads a float attribute, or returns <paramref name="fallback"/> when the node lacks it.</summary>
    public float GetFloat(string name, float fallback)
    {
        float value;
        using var n = new Utf8Name(name);
        return Succeeded(OrtApiTable.KernelInfoGetAttributeFloat(_info, n.Pointer, &value)) ? value : fallback;
    }

    /// <summary>Reads a string attribute (UTF-8 in the model).</summary>
    /// <exception cref="CustomOpException">The node has no such string attribute.</exception>
    public string GetString(string name)
    {
        using var n = new Utf8Name(name);
        nuint size = 0;
        OrtApiTable.Check(OrtApiTable.KernelInfoGetAttributeString(_info, n.Pointer, null, &size), $"Reading string attribute '{name}'");
        var buffer = new byte[(int)size];
        fixed (byte* p = buffer)
        {
            OrtApiTable.Check(OrtApiTable.KernelInfoGetAttributeString(_info, n.Pointer, p, &size), $"Reading string attribute '{name}'");
        }

        // size counts the terminating NUL.
        return Encoding.UTF8.GetString(buffer, 0, Math.Max(0, (int)size - 1));
    }

    /// <summary>Reads an ints attribute.</summary>
    /// <exception cref="CustomOpException">The node has no such ints attribute.</exception>
    public long[] GetInt64Array(string name)
    {
        using var n = new Utf8Name(name);
        nuint size = 0;
        OrtApiTable.Check(OrtApiTable.KernelInfoGetAttributeArrayInt64(_info, n.Pointer, null, &size), $"Reading ints attribute '{name}'");
        var values = new long[(int)size];
        fixed (long* p = values)
        {
            OrtApiTable.Check(OrtApiTable.KernelInfoGetAttributeArrayInt64(_info, n.Pointer, p, &size), $"Reading ints attribute '{name}'");
        }

        return values;
    }

    /// <summary>Reads a floats attribute.</summary>
    /// <exception cref="CustomOpException">The node has no such floats attribute.</exception>
    public float[] GetFloatArray(string name)
    {
        using var n = new Utf8Name(name);
        nuint size = 0;
        OrtApiTable.Check(OrtApiTable.KernelInfoGetAttributeArrayFloat(_info, n.Pointer, null, &size), $"Reading floats attribute '{name}'");
        var values = new float[(int)size];
        fixed (float* p = values)
        {
            OrtApiTable.Check(OrtApiTable.KernelInfoGetAttributeArrayFloat(_info, n.Pointer, p, &size), $"Reading floats attribute '{name}'");
        }

        return values;
    }

    /// <summary>
    /// Gets input <paramref name="index"/> when it is a constant initializer (ORT's
    /// <c>KernelInfoGetConstantInput_tensor</c>), so a kernel can check or pre-pack a weight once. The tensor's
    /// <see cref="KernelTensor.DataPointer"/> stays valid as long as the session (ORT owns the initializer); the
    /// view itself only during the factory call.
    /// </summary>
    /// <returns>False when the input is not a constant initializer (a graph input, a computed value, or absent).</returns>
    /// <exception cref="CustomOpException">ONNX Runtime rejects the query (e.g. the index is out of range).</exception>
    public bool TryGetConstantInput(int index, out KernelTensor tensor)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        int isConstant = 0;
        nint value = 0;
        OrtApiTable.Check(OrtApiTable.KernelInfoGetConstantInputTensor(_info, (nuint)index, &isConstant, &value), "KernelInfoGetConstantInput_tensor");
        tensor = isConstant != 0 && value != 0 ? KernelTensor.FromValue(value) : default;
        return tensor.IsPresent;
    }

    private static bool Succeeded(nint status)
    {
        if (status == 0)
        {
            return true;
        }

        OrtApiTable.ReleaseStatus(status);
        return false;
    }
}

/// <summary>A NUL-terminated UTF-8 copy of a string in native memory, for one call.</summary>
internal readonly unsafe ref struct Utf8Name
{
    public Utf8Name(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        int length = Encoding.UTF8.GetByteCount(value);
        Pointer = (byte*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)length + 1);
        Encoding.UTF8.GetBytes(value, new Span<byte>(Pointer, length));
        Pointer[length] = 0;
    }

    public byte* Pointer { get; }

    public void Dispose() => System.Runtime.InteropServices.NativeMemory.Free(Pointer);

    /// <summary>Allocates a copy that is never freed (names ORT keeps pointers to).</summary>
    public static byte* Immortal(string value) => new Utf8Name(value).Pointer;
}
