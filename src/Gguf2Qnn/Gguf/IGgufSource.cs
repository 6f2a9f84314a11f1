namespace Gguf2Qnn.Gguf;

/// <summary>
/// What a GGUF model offers its readers, whether it is one file (<see cref="GgufFile"/>) or a split set read as one
/// (<see cref="GgufModel"/>): metadata, tensor infos and tensor data views. Code that takes an
/// <see cref="IGgufSource"/> works on both; the members keep the names and contracts of <see cref="GgufFile"/>.
/// </summary>
public interface IGgufSource : IDisposable
{
    /// <summary>The path the model was opened from (the first part of a split set).</summary>
    string Path { get; }

    /// <summary>All metadata key/value pairs in file order (of the first part, for a split set).</summary>
    IReadOnlyDictionary<string, GgufValue> Metadata { get; }

    /// <summary>All tensor infos, in file order (parts in order, for a split set).</summary>
    IReadOnlyList<GgufTensorInfo> Tensors { get; }

    /// <summary><c>general.architecture</c>, or null when absent.</summary>
    string? Architecture { get; }

    /// <summary>Looks a metadata key up.</summary>
    bool TryGetValue(string key, out GgufValue value);

    /// <summary>A required string value.</summary>
    /// <exception cref="GgufFormatException">Missing or not a string.</exception>
    string GetString(string key);

    /// <summary>An optional string value.</summary>
    /// <exception cref="GgufFormatException">Present but not a string.</exception>
    bool TryGetString(string key, out string value);

    /// <summary>A required integer value of any integer type.</summary>
    /// <exception cref="GgufFormatException">Missing or not an integer.</exception>
    long GetInt64(string key);

    /// <summary>An optional integer value of any integer type.</summary>
    /// <exception cref="GgufFormatException">Present but not an integer.</exception>
    bool TryGetInt64(string key, out long value);

    /// <summary>A required number (float or integer).</summary>
    /// <exception cref="GgufFormatException">Missing or not a number.</exception>
    double GetDouble(string key);

    /// <summary>An optional number (float or integer).</summary>
    /// <exception cref="GgufFormatException">Present but not a number.</exception>
    bool TryGetDouble(string key, out double value);

    /// <summary>An optional bool.</summary>
    /// <exception cref="GgufFormatException">Present but not a bool.</exception>
    bool TryGetBool(string key, out bool value);

    /// <summary>A required array of strings.</summary>
    /// <exception cref="GgufFormatException">Missing or of another type.</exception>
    string[] GetStringArray(string key);

    /// <summary>A required array of numbers as floats.</summary>
    /// <exception cref="GgufFormatException">Missing or of another type.</exception>
    float[] GetFloatArray(string key);

    /// <summary>A required array of integers as ints.</summary>
    /// <exception cref="GgufFormatException">Missing or of another type.</exception>
    int[] GetInt32Array(string key);

    /// <summary>The tensor named <paramref name="name"/>, or null.</summary>
    GgufTensorInfo? FindTensor(string name);

    /// <summary>The tensor named <paramref name="name"/>.</summary>
    /// <exception cref="GgufFormatException">No tensor has that name.</exception>
    GgufTensorInfo GetTensor(string name);

    /// <summary>The raw bytes of a tensor (ggml blocks, ne[0] contiguous), a view valid while the source is open.</summary>
    /// <exception cref="NotSupportedException">The tensor is larger than 2 GiB (use <see cref="GetTensorRows"/>).</exception>
    ReadOnlySpan<byte> GetTensorBytes(GgufTensorInfo tensor);

    /// <summary>The bytes of rows [<paramref name="firstRow"/>, firstRow + rowCount) of a tensor, each row ne[0] weights.</summary>
    ReadOnlySpan<byte> GetTensorRows(GgufTensorInfo tensor, long firstRow, int rowCount);

    /// <summary>A tensor's weights as float32, row-major with ne[0] contiguous.</summary>
    float[] DequantizeTensor(GgufTensorInfo tensor);
}
