using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Conversion;

/// <summary>
/// Re-packs ggml Q4_0 / Q8_0 blocks into ONNX Runtime's com.microsoft MatMulNBits inputs, losslessly.
/// </summary>
/// <remarks>
/// <para>ggml (ggml-common.h, block_q4_0 / block_q8_0): a block holds 32 consecutive weights of one row: an fp16
/// scale d, then for Q4_0 16 bytes where byte j holds weight j in its low nibble and weight j+16 in its high nibble
/// (value = d·(nibble − 8)); for Q8_0 32 signed bytes (value = d·q).</para>
/// <para>MatMulNBits (ORT docs/ContribOperators.md, com.microsoft opset 1): B is uint8 [N, K/block_size, blob_size],
/// block_size 32, blob_size = 32·bits/8; weights are packed in K order, low bits first, so for bits = 4 byte j holds
/// weights 2j (low nibble) and 2j+1 (high nibble). Scales are [N, K/block_size] in A's type (float32 here). Without
/// zero_points the zero point is 2^(bits−1): 8 for 4 bits, 128 for 8 bits, so a Q8_0 q is stored as q + 128.</para>
/// <para>A GGUF linear weight has ne = (K = in, N = out) and rows of K weights, which is exactly MatMulNBits' [N, K]
/// orientation: rows map to rows, blocks to blocks, only the bytes inside a block move. fp16 → float32 scale
/// conversion is exact, so dequantized values match ggml's bit for bit.</para>
/// </remarks>
public static class MatMulNBitsPacking
{
    /// <summary>Weights per ggml Q4_0/Q8_0 block and per MatMulNBits block as written by gguf2qnn.</summary>
    public const int BlockSize = 32;

    /// <summary>Bytes of one ggml Q4_0 block (fp16 d + 16 bytes).</summary>
    public const int Q4_0BlockBytes = 18;

    /// <summary>Bytes of one ggml Q8_0 block (fp16 d + 32 bytes).</summary>
    public const int Q8_0BlockBytes = 34;

    /// <summary>
    /// Re-packs whole Q4_0 blocks. <paramref name="blocks"/> holds n blocks (18·n bytes, any number of rows, in row
    /// order); writes 16·n bytes to <paramref name="b"/> and n scales to <paramref name="scales"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The source is not whole blocks or a destination is too small.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // called on ~16 MiB at a time: skip the tier-0/OSR versions
    public static void PackQ4_0(ReadOnlySpan<byte> blocks, Span<byte> b, Span<float> scales)
    {
        int n = CheckSizes(blocks, Q4_0BlockBytes, b, 16, scales);
        if (Vector128.IsHardwareAccelerated && BitConverter.IsLittleEndian)
        {
            // As 8 little-endian pairs u = qs[2j] | qs[2j+1] << 8: output byte j is
            // (u & 0x0F) | ((u >> 4) & 0xF0) and byte j + 8 is ((u >> 4) & 0x0F) | ((u >> 8) & 0xF0).
            // CheckSizes bounds every access below: n blocks of 18 source bytes, 16 output bytes and one scale each.
            ref byte src0 = ref MemoryMarshal.GetReference(blocks);
            ref byte dst0 = ref MemoryMarshal.GetReference(b);
            ref float scale0 = ref MemoryMarshal.GetReference(scales);
            var lowNibbles = Vector128.Create((ushort)0x000F);
            var highNibbles = Vector128.Create((ushort)0x00F0);
            for (int blk = 0; blk < n; blk++)
            {
                ref byte src = ref Unsafe.Add(ref src0, blk * Q4_0BlockBytes);
                Unsafe.Add(ref scale0, blk) = (float)Unsafe.ReadUnaligned<Half>(ref src);
                var u = Vector128.LoadUnsafe(ref Unsafe.Add(ref src, 2)).AsUInt16();
                var low = (u & lowNibbles) | ((u >> 4) & highNibbles);
                var high = ((u >> 4) & lowNibbles) | ((u >> 8) & highNibbles);
                Vector128.Narrow(low, high).StoreUnsafe(ref dst0, (nuint)blk * 16);
            }

            return;
        }

        for (int blk = 0; blk < n; blk++)
        {
            var src = blocks.Slice(blk * Q4_0BlockBytes, Q4_0BlockBytes);
            scales[blk] = (float)BinaryPrimitives.ReadHalfLittleEndian(src);
            var qs = src[2..];
            var dst = b.Slice(blk * 16, 16);

            // Weights 0..15 are the low nibbles of qs[0..15], weights 16..31 the high nibbles.
            for (int j = 0; j < 8; j++)
            {
                dst[j] = (byte)((qs[2 * j] & 0x0F) | ((qs[(2 * j) + 1] & 0x0F) << 4));
                dst[j + 8] = (byte)((qs[2 * j] >> 4) | (qs[(2 * j) + 1] & 0xF0));
            }
        }
    }

    /// <summary>
    /// Re-packs whole Q8_0 blocks for MatMulNBits bits = 8: 34·n source bytes → 32·n bytes (q + 128) and n scales.
    /// </summary>
    /// <exception cref="ArgumentException">The source is not whole blocks or a destination is too small.</exception>
    public static void PackQ8_0(ReadOnlySpan<byte> blocks, Span<byte> b, Span<float> scales)
    {
        int n = CheckSizes(blocks, Q8_0BlockBytes, b, 32, scales);
        for (int blk = 0; blk < n; blk++)
        {
            var src = blocks.Slice(blk * Q8_0BlockBytes, Q8_0BlockBytes);
            scales[blk] = (float)BinaryPrimitives.ReadHalfLittleEndian(src);
            var qs = src[2..];
            var dst = b.Slice(blk * 32, 32);
            for (int j = 0; j < 32; j++)
            {
                dst[j] = (byte)(qs[j] ^ 0x80); // (sbyte)q + 128
            }
        }
    }

    /// <summary>
    /// How an <see cref="AffineFormat"/> is stored for MatMulNBits: 4 bits when the codes span at most 16 values, else 8;
    /// block_size = the sub-block size; stored value u = code + zero point, with the default zero point 2^(bits−1)
    /// when every code fits around it (then <see cref="AffinePlan.ZeroPoint"/> is null and no zero_points input is
    /// written), else an explicit uniform zero point −CodeMin. MatMulNBits then computes (u − zp)·scale = code·scale,
    /// which is ggml's product for the types without offset (Q5_0, Q3_K, Q6_K) bit for bit.
    /// </summary>
    /// <remarks>Resulting plans: Q5_0 8-bit/32, Q6_K 8-bit/16, Q3_K 4-bit/16, Q2_K 4-bit/16, Q5_1 and Q5_K 8-bit/32
    /// (default zero point 128), Q4_1 and Q4_K 4-bit/32 with zero_points 0.</remarks>
    public static AffinePlan PlanAffine(AffineFormat format)
    {
        ArgumentNullException.ThrowIfNull(format);
        int bits = format.CodeMax - format.CodeMin < 16 ? 4 : 8;
        int half = 1 << (bits - 1);
        int? zp = format.CodeMin >= -half && format.CodeMax < half ? null : -format.CodeMin;
        return new AffinePlan(bits, format.SubBlockSize, zp);
    }

    /// <summary>
    /// Packs codes (K order, whole blocks) as MatMulNBits B bytes: 8 bits → one byte u per code; 4 bits → byte j of a
    /// block holds codes 2j (low nibble) and 2j+1 (high nibble).
    /// </summary>
    /// <exception cref="ArgumentException">The destination is too small.</exception>
    public static void PackCodes(ReadOnlySpan<sbyte> codes, AffinePlan plan, Span<byte> b)
    {
        ArgumentNullException.ThrowIfNull(plan);
        int zp = plan.ZeroPoint ?? (1 << (plan.Bits - 1));
        int bytes = codes.Length * plan.Bits / 8;
        if (b.Length < bytes)
        {
            throw new ArgumentException($"{codes.Length} codes need {bytes} packed bytes.", nameof(b));
        }

        if (plan.Bits == 8)
        {
            for (int i = 0; i < codes.Length; i++)
            {
                b[i] = (byte)(codes[i] + zp);
            }

            return;
        }

        for (int i = 0; i < bytes; i++)
        {
            b[i] = (byte)((codes[2 * i] + zp) | ((codes[(2 * i) + 1] + zp) << 4));
        }
    }

    /// <summary>
    /// MatMulNBits zero_points holding <paramref name="zeroPoint"/> for every block: uint8 [N · ceil(blocks · bits / 8)],
    /// 4-bit values two per byte (low nibble first), each row padded to whole bytes.
    /// </summary>
    public static byte[] UniformZeroPoints(int zeroPoint, int bits, int n, int blocksPerRow)
    {
        int rowBytes = ((blocksPerRow * bits) + 7) / 8;
        var zps = new byte[(long)n * rowBytes];
        zps.AsSpan().Fill(bits == 8 ? (byte)zeroPoint : (byte)(zeroPoint | (zeroPoint << 4)));
        return zps;
    }

    /// <summary>
    /// Largest |(fl(scale·code) + offset) − fl(fl(scale·code) + offset)| over the weights: how far the exact sum that
    /// MatMulNBits plus the offset term represent lies from ggml's rounded float weight (at most half an ulp of the
    /// weight; 0 for formats without offset).
    /// </summary>
    public static double MaxOffsetSplitError(AffineFormat format, ReadOnlySpan<sbyte> codes, ReadOnlySpan<float> scales, ReadOnlySpan<float> offsets)
    {
        ArgumentNullException.ThrowIfNull(format);
        if (!format.HasOffset)
        {
            return 0;
        }

        double max = 0;
        int sub = format.SubBlockSize;
        for (int i = 0; i < codes.Length; i++)
        {
            float product = scales[i / sub] * codes[i];
            float o = offsets[i / sub];
            float ggml = product + o;
            max = Math.Max(max, Math.Abs(((double)product + o) - ggml));
        }

        return max;
    }

    private static int CheckSizes(ReadOnlySpan<byte> blocks, int blockBytes, Span<byte> b, int blobBytes, Span<float> scales)
    {
        if (blocks.Length % blockBytes != 0)
        {
            throw new ArgumentException($"The source holds {blocks.Length} bytes, not a whole number of {blockBytes}-byte blocks.", nameof(blocks));
        }

        int n = blocks.Length / blockBytes;
        if (b.Length < n * blobBytes || scales.Length < n)
        {
            throw new ArgumentException($"{n} blocks need {n * blobBytes} packed bytes and {n} scales.", nameof(b));
        }

        return n;
    }
}

/// <summary>MatMulNBits storage of an affine block type (<see cref="MatMulNBitsPacking.PlanAffine"/>).</summary>
/// <param name="Bits">4 or 8.</param>
/// <param name="BlockSize">MatMulNBits block_size (16 or 32).</param>
/// <param name="ZeroPoint">The explicit uniform zero point, or null for MatMulNBits' default 2^(bits−1).</param>
public sealed record AffinePlan(int Bits, int BlockSize, int? ZeroPoint);
