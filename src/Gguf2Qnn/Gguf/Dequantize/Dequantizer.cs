namespace Gguf2Qnn.Gguf;

/// <summary>
/// Turns ggml blocks into float32, bit-exact with ggml's <c>to_float</c> (ggml-quants.c <c>dequantize_row_*</c>) for
/// every type ggml can dequantize; F64 and the integer types are converted as C casts, and Q8_1 (which ggml cannot
/// dequantize) as <c>q · d</c>. Dispatches by <see cref="GgmlType"/> through one table; each type family lives in its
/// own file under <c>Gguf/Dequantize/</c>, with a vectorized path where it pays and a scalar reference beside it.
/// Block geometry comes from <see cref="GgmlTypeTraits"/>.
/// </summary>
public static class Dequantizer
{
    private delegate void Kernel(ReadOnlySpan<byte> src, Span<float> dst);

    /// <summary>Per type: the kernel used, and the scalar reference it must match (the same delegate when there is no vector path).</summary>
    private static readonly Dictionary<GgmlType, (Kernel Fast, Kernel Scalar)> Kernels = new()
    {
        [GgmlType.F32] = (FloatDequantizer.F32, FloatDequantizer.F32),
        [GgmlType.F16] = (FloatDequantizer.F16, FloatDequantizer.F16Scalar),
        [GgmlType.BF16] = (FloatDequantizer.BF16, FloatDequantizer.BF16Scalar),
        [GgmlType.F64] = (FloatDequantizer.F64, FloatDequantizer.F64),
        [GgmlType.I8] = (IntegerDequantizer.I8, IntegerDequantizer.I8),
        [GgmlType.I16] = (IntegerDequantizer.I16, IntegerDequantizer.I16),
        [GgmlType.I32] = (IntegerDequantizer.I32, IntegerDequantizer.I32),
        [GgmlType.I64] = (IntegerDequantizer.I64, IntegerDequantizer.I64),
        [GgmlType.Q4_0] = (Q4Dequantizer.Q4_0, Q4Dequantizer.Q4_0Scalar),
        [GgmlType.Q4_1] = (Q4Dequantizer.Q4_1, Q4Dequantizer.Q4_1Scalar),
        [GgmlType.Q5_0] = (Q5Dequantizer.Q5_0, Q5Dequantizer.Q5_0Scalar),
        [GgmlType.Q5_1] = (Q5Dequantizer.Q5_1, Q5Dequantizer.Q5_1Scalar),
        [GgmlType.Q8_0] = (Q8Dequantizer.Q8_0, Q8Dequantizer.Q8_0Scalar),
        [GgmlType.Q8_1] = (Q8Dequantizer.Q8_1, Q8Dequantizer.Q8_1),
        [GgmlType.Q2_K] = (KQuantDequantizer.Q2_K, KQuantDequantizer.Q2_KScalar),
        [GgmlType.Q3_K] = (KQuantDequantizer.Q3_K, KQuantDequantizer.Q3_KScalar),
        [GgmlType.Q4_K] = (KQuantDequantizer.Q4_K, KQuantDequantizer.Q4_KScalar),
        [GgmlType.Q5_K] = (KQuantDequantizer.Q5_K, KQuantDequantizer.Q5_KScalar),
        [GgmlType.Q6_K] = (KQuantDequantizer.Q6_K, KQuantDequantizer.Q6_KScalar),
        [GgmlType.Q8_K] = (KQuantDequantizer.Q8_K, KQuantDequantizer.Q8_K),
        [GgmlType.IQ1_S] = (IQ1Dequantizer.IQ1_S, IQ1Dequantizer.IQ1_S),
        [GgmlType.IQ1_M] = (IQ1Dequantizer.IQ1_M, IQ1Dequantizer.IQ1_M),
        [GgmlType.IQ2_XXS] = (IQ2Dequantizer.IQ2_XXS, IQ2Dequantizer.IQ2_XXS),
        [GgmlType.IQ2_XS] = (IQ2Dequantizer.IQ2_XS, IQ2Dequantizer.IQ2_XS),
        [GgmlType.IQ2_S] = (IQ2Dequantizer.IQ2_S, IQ2Dequantizer.IQ2_S),
        [GgmlType.IQ3_XXS] = (IQ3Dequantizer.IQ3_XXS, IQ3Dequantizer.IQ3_XXS),
        [GgmlType.IQ3_S] = (IQ3Dequantizer.IQ3_S, IQ3Dequantizer.IQ3_S),
        [GgmlType.IQ4_NL] = (IQ4Dequantizer.IQ4_NL, IQ4Dequantizer.IQ4_NLScalar),
        [GgmlType.IQ4_XS] = (IQ4Dequantizer.IQ4_XS, IQ4Dequantizer.IQ4_XSScalar),
        [GgmlType.TQ1_0] = (TernaryDequantizer.TQ1_0, TernaryDequantizer.TQ1_0),
        [GgmlType.TQ2_0] = (TernaryDequantizer.TQ2_0, TernaryDequantizer.TQ2_0),
        [GgmlType.MXFP4] = (Mxfp4Dequantizer.MXFP4, Mxfp4Dequantizer.MXFP4Scalar),
    };

    /// <summary>True when <paramref name="type"/> can be dequantized.</summary>
    public static bool IsSupported(GgmlType type) => Kernels.ContainsKey(type);

    /// <summary>The types that can be dequantized.</summary>
    public static IEnumerable<GgmlType> SupportedTypes => Kernels.Keys;

    /// <summary>
    /// Dequantizes whole blocks: <paramref name="src"/> holds n / BlockSize blocks of TypeSize bytes (ggml layout,
    /// <see cref="GgmlTypeTraits"/>), <paramref name="dst"/> receives the n weights in order.
    /// </summary>
    /// <exception cref="NotSupportedException">No dequantizer for <paramref name="type"/> (an id this build does not know).</exception>
    /// <exception cref="ArgumentException">The lengths do not match a whole number of blocks.</exception>
    public static void Dequantize(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst) => Get(type, src, dst).Fast(src, dst);

    /// <summary>The scalar reference of <see cref="Dequantize"/> (the vectorized paths are tested against it).</summary>
    internal static void DequantizeScalar(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst) => Get(type, src, dst).Scalar(src, dst);

    /// <summary>True when the type has a vector path distinct from its scalar reference.</summary>
    internal static bool HasVectorPath(GgmlType type) => Kernels.TryGetValue(type, out var k) && k.Fast != k.Scalar;

    private static (Kernel Fast, Kernel Scalar) Get(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (!Kernels.TryGetValue(type, out var kernels))
        {
            throw new NotSupportedException($"Dequantizing ggml type id {(uint)type} ({type}) is not supported.");
        }

        if (GgmlTypeTraits.RowSize(type, dst.Length) != src.Length)
        {
            throw new ArgumentException($"{type}: {src.Length} bytes do not hold exactly {dst.Length} weights.", nameof(src));
        }

        return kernels;
    }
}
