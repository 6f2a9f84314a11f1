namespace Gguf2Qnn.Gguf;

/// <summary>
/// Turns ggml blocks into float32, bit-exact with ggml's <c>to_float</c> (ggml-quants.c <c>dequantize_row_*</c>).
/// Dispatches by <see cref="GgmlType"/> through one table; each family lives in its own file.
/// </summary>
public static class Dequantizer
{
    private delegate void Kernel(ReadOnlySpan<byte> src, Span<float> dst);

    private static readonly Dictionary<GgmlType, Kernel> Kernels = new()
    {
        [GgmlType.F32] = FloatDequantizer.F32,
        [GgmlType.F16] = FloatDequantizer.F16,
        [GgmlType.BF16] = FloatDequantizer.BF16,
        [GgmlType.Q4_0] = Q4_0Dequantizer.Dequantize,
        [GgmlType.Q8_0] = Q8_0Dequantizer.Dequantize,
        [GgmlType.Q6_K] = Q6_KDequantizer.Dequantize,
        [GgmlType.Q4_1] = (src, dst) => AffineBlocks.Dequantize(GgmlType.Q4_1, src, dst),
        [GgmlType.Q5_0] = (src, dst) => AffineBlocks.Dequantize(GgmlType.Q5_0, src, dst),
        [GgmlType.Q5_1] = (src, dst) => AffineBlocks.Dequantize(GgmlType.Q5_1, src, dst),
        [GgmlType.Q2_K] = (src, dst) => AffineBlocks.Dequantize(GgmlType.Q2_K, src, dst),
        [GgmlType.Q3_K] = (src, dst) => AffineBlocks.Dequantize(GgmlType.Q3_K, src, dst),
        [GgmlType.Q4_K] = (src, dst) => AffineBlocks.Dequantize(GgmlType.Q4_K, src, dst),
        [GgmlType.Q5_K] = (src, dst) => AffineBlocks.Dequantize(GgmlType.Q5_K, src, dst),
    };

    /// <summary>True when <paramref name="type"/> can be dequantized.</summary>
    public static bool IsSupported(GgmlType type) => Kernels.ContainsKey(type);

    /// <summary>The types that can be dequantized.</summary>
    public static IEnumerable<GgmlType> SupportedTypes => Kernels.Keys;

    /// <summary>
    /// Dequantizes whole blocks: <paramref name="src"/> holds n / BlockSize blocks of TypeSize bytes,
    /// <paramref name="dst"/> receives n floats in order.
    /// </summary>
    /// <exception cref="NotSupportedException">No dequantizer for <paramref name="type"/> yet.</exception>
    /// <exception cref="ArgumentException">The lengths do not match a whole number of blocks.</exception>
    public static void Dequantize(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (!Kernels.TryGetValue(type, out var kernel))
        {
            throw new NotSupportedException($"Dequantizing {type} is not supported yet (supported: {string.Join(", ", Kernels.Keys)}).");
        }

        if (GgmlTypeTraits.RowSize(type, dst.Length) != src.Length)
        {
            throw new ArgumentException($"{type}: {src.Length} bytes do not hold exactly {dst.Length} weights.", nameof(src));
        }

        kernel(src, dst);
    }
}
