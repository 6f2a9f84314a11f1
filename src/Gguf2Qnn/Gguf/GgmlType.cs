namespace Gguf2Qnn.Gguf;

/// <summary>
/// A ggml tensor type, with the numbers it has on disk in a GGUF tensor info (ggml.h <c>enum ggml_type</c>;
/// GGUF spec, "File Structure"). Gaps are ids that ggml has retired (Q4_2, Q4_3, Q4_0_4_4 …).
/// </summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
}

/// <summary>
/// Block geometry of each <see cref="GgmlType"/>: how many weights one block holds and how many bytes it takes
/// (ggml.c <c>type_traits[]</c>: <c>blck_size</c>, <c>type_size</c>). A row of <c>n</c> weights takes
/// <c>n / BlockSize * TypeSize</c> bytes; <c>n</c> must be a multiple of the block size.
/// </summary>
public static class GgmlTypeTraits
{
    private static readonly Dictionary<GgmlType, (int BlockSize, int TypeSize)> Table = new()
    {
        [GgmlType.F32] = (1, 4),
        [GgmlType.F16] = (1, 2),
        [GgmlType.BF16] = (1, 2),
        [GgmlType.F64] = (1, 8),
        [GgmlType.I8] = (1, 1),
        [GgmlType.I16] = (1, 2),
        [GgmlType.I32] = (1, 4),
        [GgmlType.I64] = (1, 8),
        [GgmlType.Q4_0] = (32, 2 + 16),
        [GgmlType.Q4_1] = (32, 2 + 2 + 16),
        [GgmlType.Q5_0] = (32, 2 + 4 + 16),
        [GgmlType.Q5_1] = (32, 2 + 2 + 4 + 16),
        [GgmlType.Q8_0] = (32, 2 + 32),
        [GgmlType.Q8_1] = (32, 4 + 32),
        [GgmlType.Q2_K] = (256, 16 + 64 + 2 + 2),
        [GgmlType.Q3_K] = (256, 32 + 64 + 12 + 2),
        [GgmlType.Q4_K] = (256, 2 + 2 + 12 + 128),
        [GgmlType.Q5_K] = (256, 2 + 2 + 12 + 32 + 128),
        [GgmlType.Q6_K] = (256, 128 + 64 + 16 + 2),
        [GgmlType.Q8_K] = (256, 4 + 256 + 32),
        [GgmlType.IQ2_XXS] = (256, 2 + 64),
        [GgmlType.IQ2_XS] = (256, 2 + 64 + 8),
        [GgmlType.IQ2_S] = (256, 2 + 64 + 8 + 8),
        [GgmlType.IQ3_XXS] = (256, 2 + 96),
        [GgmlType.IQ3_S] = (256, 2 + 64 + 8 + 32 + 4),
        [GgmlType.IQ1_S] = (256, 2 + 32 + 16),
        [GgmlType.IQ1_M] = (256, 32 + 16 + 8),
        [GgmlType.IQ4_NL] = (32, 2 + 16),
        [GgmlType.IQ4_XS] = (256, 2 + 2 + 4 + 128),
        [GgmlType.TQ1_0] = (256, 48 + 4 + 2), // qs[48], qh[4], d (fp16)
        [GgmlType.TQ2_0] = (256, 2 + 64),
        [GgmlType.MXFP4] = (32, 1 + 16),
    };

    /// <summary>True when <paramref name="type"/> is a type this table knows.</summary>
    public static bool IsKnown(GgmlType type) => Table.ContainsKey(type);

    /// <summary>Weights per block (1 for plain types, 32 or 256 for quantized ones).</summary>
    /// <exception cref="NotSupportedException">The type id is unknown.</exception>
    public static int BlockSize(GgmlType type) => Get(type).BlockSize;

    /// <summary>Bytes per block.</summary>
    /// <exception cref="NotSupportedException">The type id is unknown.</exception>
    public static int TypeSize(GgmlType type) => Get(type).TypeSize;

    /// <summary>Bytes taken by <paramref name="nElements"/> consecutive weights (a row or a whole tensor).</summary>
    /// <exception cref="ArgumentException"><paramref name="nElements"/> is not a multiple of the block size.</exception>
    public static long RowSize(GgmlType type, long nElements)
    {
        var (block, size) = Get(type);
        if (nElements % block != 0)
        {
            throw new ArgumentException($"{nElements} weights are not a whole number of {type} blocks of {block}.", nameof(nElements));
        }

        return checked(nElements / block * size);
    }

    /// <summary>True for the types stored as plain floats (F32, F16, BF16, F64).</summary>
    public static bool IsFloat(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.F64;

    private static (int BlockSize, int TypeSize) Get(GgmlType type) =>
        Table.TryGetValue(type, out var t) ? t : throw new NotSupportedException($"ggml type id {(uint)type} is not a known ggml type.");
}
