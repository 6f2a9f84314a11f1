using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Gguf2Qnn.Reference;

/// <summary>
/// ggml's own type table, dequantizers and quantizers, called in the libggml-base that LLamaSharp loaded
/// (llama.cpp commit 815a2a5, see <see cref="LlamaCppBackend"/>). These are the ground truth for the project's
/// dequantizers and quantizers: <c>to_float</c> is ggml's reference <c>dequantize_row_*</c>, and
/// <c>ggml_quantize_chunk</c> is what <c>llama-quantize</c> runs for each tensor (without an importance matrix).
/// </summary>
/// <remarks>
/// Type numbers are ggml's <c>enum ggml_type</c> (the on-disk numbers in GGUF tensor infos), passed as
/// <see cref="int"/> so that this assembly does not depend on the core library. ggml aborts the process on a
/// failed assertion, so every argument is checked here before the native call.
/// </remarks>
public static unsafe class GgmlNative
{
    /// <summary><c>GGML_TYPE_COUNT</c> of this build: the bound of <c>ggml_quantize_chunk</c>'s type switch.</summary>
    public const int TypeCount = 43;

    private const int GgmlTypeF32 = 0;

    /// <summary>
    /// Types <c>ggml_quantize_chunk</c> handles in this build (every other type falls to its <c>default:</c> case and
    /// aborts). Read from the jump table of ggml_quantize_chunk in the shipped libggml-base.so, which matches
    /// ggml.c's switch: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K…Q6_K, IQ2_XXS…IQ4_XS, IQ1_M, BF16, TQ1_0,
    /// TQ2_0, MXFP4, NVFP4, Q1_0, Q2_0.
    /// </summary>
    private static readonly HashSet<int> QuantizeChunkTypes =
        [0, 1, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20, 21, 22, 23, 29, 30, 34, 35, 39, 40, 41, 42];

    private static readonly Lazy<Api> Native = new(Bind, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// Reads <c>ggml_get_type_traits(type)</c>: the number of weights per block, the bytes per block, and ggml's name
    /// for the type (<c>"q4_0"</c>, <c>"f16"</c>…).
    /// </summary>
    /// <param name="ggmlType">A <c>ggml_type</c> number.</param>
    /// <param name="blockSize">Weights per block (<c>blck_size</c>); 1 for F32/F16/BF16.</param>
    /// <param name="typeSize">Bytes per block (<c>type_size</c>).</param>
    /// <param name="name">ggml's type name.</param>
    /// <returns>false when the number is outside [0, <see cref="TypeCount"/>) or names a removed type (block size 0).</returns>
    /// <exception cref="InvalidOperationException">The struct read disagrees with <c>ggml_blck_size</c>/<c>ggml_type_size</c> (layout mismatch).</exception>
    public static bool TryGetTypeTraits(int ggmlType, out int blockSize, out long typeSize, out string name)
    {
        blockSize = 0;
        typeSize = 0;
        name = string.Empty;
        if ((uint)ggmlType >= TypeCount)
        {
            return false;
        }

        var api = Native.Value;
        var traits = api.GetTypeTraits(ggmlType);
        if (traits->BlockSize <= 0)
        {
            return false;
        }

        // Cross-check the hand-written struct layout against ggml's scalar accessors.
        if (traits->BlockSize != api.BlockSize(ggmlType) || (long)traits->TypeSize != (long)api.TypeSize(ggmlType))
        {
            throw new InvalidOperationException(
                $"ggml_type_traits layout mismatch for type {ggmlType}: struct says ({traits->BlockSize}, {traits->TypeSize}), "
                + $"ggml_blck_size/ggml_type_size say ({api.BlockSize(ggmlType)}, {api.TypeSize(ggmlType)}).");
        }

        blockSize = checked((int)traits->BlockSize);
        typeSize = (long)traits->TypeSize;
        name = Marshal.PtrToStringUTF8(traits->TypeName) ?? string.Empty;
        return true;
    }

    /// <summary>
    /// Dequantizes whole blocks with ggml's <c>to_float</c> for the type (F32 is copied as is: ggml-base has no
    /// <c>to_float</c> for it).
    /// </summary>
    /// <param name="ggmlType">A <c>ggml_type</c> number.</param>
    /// <param name="src">Blocks in ggml layout: at least <c>dst.Length / blockSize * typeSize</c> bytes.</param>
    /// <param name="dst">Output; its length (the number of weights) must be a multiple of the block size.</param>
    /// <exception cref="ArgumentOutOfRangeException">Unknown type.</exception>
    /// <exception cref="ArgumentException">dst length not a multiple of the block size, or src too short.</exception>
    /// <exception cref="NotSupportedException">ggml has no <c>to_float</c> for the type (e.g. Q8_1, Q8_K, I8…).</exception>
    public static void DequantizeRow(int ggmlType, ReadOnlySpan<byte> src, Span<float> dst)
    {
        var traits = GetTraits(ggmlType, out var blockSize, out var typeSize, out var name);
        if (dst.Length % blockSize != 0)
        {
            throw new ArgumentException($"{name}: {dst.Length} weights is not a multiple of the block size {blockSize}.", nameof(dst));
        }

        var needed = (long)(dst.Length / blockSize) * typeSize;
        if (src.Length < needed)
        {
            throw new ArgumentException($"{name}: {dst.Length} weights need {needed} bytes, got {src.Length}.", nameof(src));
        }

        if (dst.IsEmpty)
        {
            return;
        }

        if (ggmlType == GgmlTypeF32)
        {
            MemoryMarshal.Cast<byte, float>(src[..(int)needed]).CopyTo(dst);
            return;
        }

        if (traits->ToFloat == IntPtr.Zero)
        {
            throw new NotSupportedException($"ggml has no to_float for type {name} ({ggmlType}).");
        }

        var toFloat = (delegate* unmanaged[Cdecl]<void*, float*, long, void>)traits->ToFloat;
        fixed (byte* s = src)
        fixed (float* d = dst)
        {
            toFloat(s, d, dst.Length);
        }
    }

    /// <summary>
    /// Quantizes <paramref name="nRows"/> rows of <paramref name="nPerRow"/> floats with
    /// <c>ggml_quantize_chunk(type, src, dst, 0, nRows, nPerRow, imatrix: NULL)</c>.
    /// </summary>
    /// <param name="ggmlType">A <c>ggml_type</c> number that ggml_quantize_chunk handles (see remarks).</param>
    /// <param name="src">Row-major input: at least <c>nRows * nPerRow</c> floats.</param>
    /// <param name="dst">Output blocks: at least <c>nRows * (nPerRow / blockSize) * typeSize</c> bytes.</param>
    /// <param name="nRows">Number of rows.</param>
    /// <param name="nPerRow">Weights per row; a multiple of the block size.</param>
    /// <returns>Bytes written (<c>nRows</c> times the row size).</returns>
    /// <remarks>
    /// Supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ3_XXS, IQ4_NL, IQ3_S,
    /// IQ2_S, IQ4_XS, IQ1_M, TQ1_0, TQ2_0, MXFP4, NVFP4, Q1_0, Q2_0. IQ2_XXS, IQ2_XS and IQ1_S need an importance
    /// matrix and are refused.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException">Unknown type or non-positive sizes.</exception>
    /// <exception cref="ArgumentException">nPerRow not a multiple of the block size, or a span too short.</exception>
    /// <exception cref="NotSupportedException">ggml_quantize_chunk cannot make the type, or it needs an importance matrix.</exception>
    public static long QuantizeChunk(int ggmlType, ReadOnlySpan<float> src, Span<byte> dst, long nRows, long nPerRow)
    {
        GetTraits(ggmlType, out var blockSize, out var typeSize, out var name);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(nRows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(nPerRow);
        if (!QuantizeChunkTypes.Contains(ggmlType))
        {
            throw new NotSupportedException($"ggml_quantize_chunk cannot produce type {name} ({ggmlType}).");
        }

        var api = Native.Value;
        if (api.RequiresImatrix(ggmlType) != 0)
        {
            throw new NotSupportedException($"ggml_quantize_chunk needs an importance matrix for type {name} ({ggmlType}).");
        }

        if (nPerRow % blockSize != 0)
        {
            throw new ArgumentException($"{name}: {nPerRow} weights per row is not a multiple of the block size {blockSize}.", nameof(nPerRow));
        }

        var count = checked(nRows * nPerRow);
        if (src.Length < count)
        {
            throw new ArgumentException($"{name}: {nRows}×{nPerRow} weights, but src holds {src.Length}.", nameof(src));
        }

        var bytes = checked(nRows * (nPerRow / blockSize) * typeSize);
        if (dst.Length < bytes)
        {
            throw new ArgumentException($"{name}: {nRows}×{nPerRow} weights need {bytes} bytes, dst holds {dst.Length}.", nameof(dst));
        }

        fixed (float* s = src)
        fixed (byte* d = dst)
        {
            return (long)api.QuantizeChunk(ggmlType, s, d, 0, nRows, nPerRow, null);
        }
    }

    private static TypeTraits* GetTraits(int ggmlType, out int blockSize, out long typeSize, out string name)
    {
        if (!TryGetTypeTraits(ggmlType, out blockSize, out typeSize, out name))
        {
            throw new ArgumentOutOfRangeException(nameof(ggmlType), ggmlType, "Not a ggml type of this llama.cpp build.");
        }

        return Native.Value.GetTypeTraits(ggmlType);
    }

    private static Api Bind()
    {
        if (Unsafe.SizeOf<TypeTraits>() != 7 * 8)
        {
            throw new PlatformNotSupportedException("ggml_type_traits is laid out for 64-bit targets only.");
        }

        return new Api(
            (delegate* unmanaged[Cdecl]<int, TypeTraits*>)LlamaCppBackend.GgmlBaseExport("ggml_get_type_traits"),
            (delegate* unmanaged[Cdecl]<int, long>)LlamaCppBackend.GgmlBaseExport("ggml_blck_size"),
            (delegate* unmanaged[Cdecl]<int, nuint>)LlamaCppBackend.GgmlBaseExport("ggml_type_size"),
            (delegate* unmanaged[Cdecl]<int, byte>)LlamaCppBackend.GgmlBaseExport("ggml_quantize_requires_imatrix"),
            (delegate* unmanaged[Cdecl]<int, float*, void*, long, long, long, float*, nuint>)LlamaCppBackend.GgmlBaseExport("ggml_quantize_chunk"));
    }

    /// <summary>
    /// <c>struct ggml_type_traits</c> of ggml.h at llama.cpp 815a2a5 (56 bytes on 64-bit targets; the offsets of
    /// blck_size (8) and type_size (24) match the loads in the shipped ggml_blck_size/ggml_type_size).
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct TypeTraits
    {
        public IntPtr TypeName;          // const char * type_name
        public long BlockSize;           // int64_t blck_size
        public long BlockSizeInterleave; // int64_t blck_size_interleave
        public nuint TypeSize;           // size_t type_size
        public byte IsQuantized;         // bool is_quantized
        public IntPtr ToFloat;           // ggml_to_float_t: void (*)(const void * x, float * y, int64_t k)
        public IntPtr FromFloatRef;      // ggml_from_float_t: void (*)(const float * x, void * y, int64_t k)
    }

    private sealed class Api(
        delegate* unmanaged[Cdecl]<int, TypeTraits*> getTypeTraits,
        delegate* unmanaged[Cdecl]<int, long> blockSize,
        delegate* unmanaged[Cdecl]<int, nuint> typeSize,
        delegate* unmanaged[Cdecl]<int, byte> requiresImatrix,
        delegate* unmanaged[Cdecl]<int, float*, void*, long, long, long, float*, nuint> quantizeChunk)
    {
        public TypeTraits* GetTypeTraits(int type) => getTypeTraits(type);

        public long BlockSize(int type) => blockSize(type);

        public nuint TypeSize(int type) => typeSize(type);

        public byte RequiresImatrix(int type) => requiresImatrix(type);

        public nuint QuantizeChunk(int type, float* src, void* dst, long start, long nRows, long nPerRow, float* imatrix) =>
            quantizeChunk(type, src, dst, start, nRows, nPerRow, imatrix);
    }
}
