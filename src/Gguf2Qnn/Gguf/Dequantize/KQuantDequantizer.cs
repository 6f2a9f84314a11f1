using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Gguf2Qnn.Gguf;

/// <summary>
/// The k-quants (ggml-common.h <c>block_q2_K</c> … <c>block_q8_K</c>): super-blocks of 256 weights made of 16 or 8
/// sub-blocks, each with its own small scale (and min) that multiplies the super-block's fp16 d (and dmin). Layouts
/// and formulas are given on each method; operand order follows ggml's <c>dequantize_row_*</c> so the float roundings
/// are the same.
/// </summary>
internal static class KQuantDequantizer
{
    /// <summary>Weights per super-block (256 for every type of this family, from <see cref="GgmlTypeTraits"/>).</summary>
    private static readonly int QK = GgmlTypeTraits.BlockSize(GgmlType.Q4_K);
    private static readonly int Q2_KBytes = GgmlTypeTraits.TypeSize(GgmlType.Q2_K);
    private static readonly int Q3_KBytes = GgmlTypeTraits.TypeSize(GgmlType.Q3_K);
    private static readonly int Q4_KBytes = GgmlTypeTraits.TypeSize(GgmlType.Q4_K);
    private static readonly int Q5_KBytes = GgmlTypeTraits.TypeSize(GgmlType.Q5_K);
    private static readonly int Q6_KBytes = GgmlTypeTraits.TypeSize(GgmlType.Q6_K);
    private static readonly int Q8_KBytes = GgmlTypeTraits.TypeSize(GgmlType.Q8_K);

    /// <summary>
    /// Q2_K (84 bytes): scales[16] at 0 (low nibble scale, high nibble min, one pair per 16 weights), qs[64] at 16
    /// (2-bit codes), fp16 d at 80, fp16 dmin at 82. Each 128-weight half reads 32 bytes of qs four times, at bit
    /// shifts 0, 2, 4, 6; each shift covers 32 weights as two sub-blocks of 16 (bytes 0–15, then 16–31).
    /// value = (d · scale) · q − dmin · min.
    /// </summary>
    public static void Q2_K(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (Vector128.IsHardwareAccelerated)
        {
            Q2_KVector128(src, dst);
        }
        else
        {
            Q2_KScalar(src, dst);
        }
    }

    public static void Q2_KVector128(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / QK;
        ref var y = ref MemoryMarshal.GetReference(dst);
        var three = Vector128.Create((byte)3);
        for (var b = 0; b < blocks; b++)
        {
            var o = b * Q2_KBytes;
            var d = FloatDequantizer.ReadHalf(src, o + 80);
            var min = FloatDequantizer.ReadHalf(src, o + 82);
            ref var yb = ref Unsafe.Add(ref y, b * QK);
            var n = 0;
            var sub = 0;
            for (var half = 0; half < 2; half++)
            {
                var q0 = DequantizeSimd.Load16(src, o + 16 + (32 * half));
                var q1 = DequantizeSimd.Load16(src, o + 16 + (32 * half) + 16);
                for (var shift = 0; shift < 8; shift += 2)
                {
                    var sc = src[o + sub++];
                    DequantizeSimd.ScaleSubtract16((DequantizeSimd.ShiftRightBits(q0, shift) & three).AsSByte(), Vector128.Create(d * (sc & 0xF)), Vector128.Create(min * (sc >> 4)), ref Unsafe.Add(ref yb, n));
                    sc = src[o + sub++];
                    DequantizeSimd.ScaleSubtract16((DequantizeSimd.ShiftRightBits(q1, shift) & three).AsSByte(), Vector128.Create(d * (sc & 0xF)), Vector128.Create(min * (sc >> 4)), ref Unsafe.Add(ref yb, n + 16));
                    n += 32;
                }
            }
        }
    }

    public static void Q2_KScalar(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / QK;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Q2_KBytes, Q2_KBytes);
            var d = FloatDequantizer.ReadHalf(block, 80);
            var min = FloatDequantizer.ReadHalf(block, 82);
            var y = dst.Slice(b * QK, QK);
            var n = 0;
            var sub = 0;
            for (var half = 0; half < 2; half++)
            {
                var q = block.Slice(16 + (32 * half), 32);
                for (var shift = 0; shift < 8; shift += 2)
                {
                    for (var part = 0; part < 2; part++)
                    {
                        var sc = block[sub++];
                        var dl = d * (sc & 0xF);
                        var ml = min * (sc >> 4);
                        for (var l = 0; l < 16; l++)
                        {
                            y[n++] = (dl * ((q[(16 * part) + l] >> shift) & 3)) - ml;
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Q3_K (110 bytes): hmask[32] at 0 (third bit), qs[64] at 32 (low 2 bits), scales[12] at 96 (sixteen 6-bit
    /// scales: low 4 bits of scale i in byte i for i &lt; 8, in the high nibble of byte i − 8 for i ≥ 8; high 2 bits
    /// at bit 2·(i / 4) of byte 8 + i % 4), fp16 d at 108. Codes are read like Q2_K; the hmask bit of weight l at
    /// shift step s (bit s + 4·half of hmask[l]) clear subtracts 4. value = (d · (scale − 32)) · (q − (hbit ? 0 : 4)).
    /// </summary>
    public static void Q3_K(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (Vector128.IsHardwareAccelerated)
        {
            Q3_KVector128(src, dst);
        }
        else
        {
            Q3_KScalar(src, dst);
        }
    }

    public static void Q3_KVector128(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / QK;
        ref var y = ref MemoryMarshal.GetReference(dst);
        var three = Vector128.Create((byte)3);
        var one = Vector128.Create((byte)1);
        for (var b = 0; b < blocks; b++)
        {
            var o = b * Q3_KBytes;
            var block = src.Slice(o, Q3_KBytes);
            var d = FloatDequantizer.ReadHalf(block, 108);
            var packed = block.Slice(96, 12);
            var hm0 = DequantizeSimd.Load16(block, 0);
            var hm1 = DequantizeSimd.Load16(block, 16);
            ref var yb = ref Unsafe.Add(ref y, b * QK);
            for (var step = 0; step < 8; step++)
            {
                // Step s: shift 2·(s % 4) of qs half s / 4, hmask bit s, sub-blocks 2s and 2s + 1.
                var q0 = DequantizeSimd.Load16(block, 32 + (32 * (step / 4)));
                var q1 = DequantizeSimd.Load16(block, 48 + (32 * (step / 4)));
                var shift = 2 * (step % 4);
                // q − 4 where the hmask bit is clear: (low 2 bits) − ((bit ^ 1) << 2).
                var c0 = ((DequantizeSimd.ShiftRightBits(q0, shift) & three) - ((~DequantizeSimd.ShiftRightBits(hm0, step) & one) << 2)).AsSByte();
                var c1 = ((DequantizeSimd.ShiftRightBits(q1, shift) & three) - ((~DequantizeSimd.ShiftRightBits(hm1, step) & one) << 2)).AsSByte();
                DequantizeSimd.Scale16(c0, Vector128.Create(d * Q3_KScale(packed, 2 * step)), ref Unsafe.Add(ref yb, 32 * step));
                DequantizeSimd.Scale16(c1, Vector128.Create(d * Q3_KScale(packed, (2 * step) + 1)), ref Unsafe.Add(ref yb, (32 * step) + 16));
            }
        }
    }

    public static void Q3_KScalar(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / QK;
        Span<int> scales = stackalloc int[16];
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Q3_KBytes, Q3_KBytes);
            var d = FloatDequantizer.ReadHalf(block, 108);
            Q3_KScales(block.Slice(96, 12), scales);

            var hm = block[..32];
            var y = dst.Slice(b * QK, QK);
            var n = 0;
            var sub = 0;
            var bit = 0;
            for (var half = 0; half < 2; half++)
            {
                var q = block.Slice(32 + (32 * half), 32);
                for (var shift = 0; shift < 8; shift += 2)
                {
                    for (var part = 0; part < 2; part++)
                    {
                        var dl = d * scales[sub++];
                        for (var l = 0; l < 16; l++)
                        {
                            var k = (16 * part) + l;
                            y[n++] = dl * (((q[k] >> shift) & 3) - (((~hm[k] >> bit) & 1) << 2));
                        }
                    }

                    bit++;
                }
            }
        }
    }

    /// <summary>
    /// Q4_K (144 bytes): fp16 d at 0, fp16 dmin at 2, scales[12] at 4 (eight 6-bit scale/min pairs, see
    /// <see cref="ScaleMin"/>), qs[128] at 16. Each 64 weights read 32 bytes: low nibbles with pair 2j, high nibbles
    /// with pair 2j + 1. value = (d · scale) · q − dmin · min.
    /// </summary>
    public static void Q4_K(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (Vector128.IsHardwareAccelerated)
        {
            Q4_KVector128(src, dst);
        }
        else
        {
            Q4_KScalar(src, dst);
        }
    }

    public static void Q4_KScalar(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / QK;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Q4_KBytes, Q4_KBytes);
            var d = FloatDequantizer.ReadHalf(block, 0);
            var min = FloatDequantizer.ReadHalf(block, 2);
            var scales = block.Slice(4, 12);
            var y = dst.Slice(b * QK, QK);
            for (var j = 0; j < 4; j++)
            {
                var (sc1, m1) = ScaleMin(scales, 2 * j);
                var (sc2, m2) = ScaleMin(scales, (2 * j) + 1);
                float d1 = d * sc1, dm1 = min * m1, d2 = d * sc2, dm2 = min * m2;
                var q = block.Slice(16 + (32 * j), 32);
                var yy = y.Slice(64 * j, 64);
                for (var l = 0; l < 32; l++)
                {
                    yy[l] = (d1 * (q[l] & 0xF)) - dm1;
                    yy[l + 32] = (d2 * (q[l] >> 4)) - dm2;
                }
            }
        }
    }

    public static void Q4_KVector128(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / QK;
        ref var y = ref MemoryMarshal.GetReference(dst);
        var mask = Vector128.Create((byte)0x0F);
        for (var b = 0; b < blocks; b++)
        {
            var o = b * Q4_KBytes;
            var block = src.Slice(o, Q4_KBytes);
            var d = FloatDequantizer.ReadHalf(block, 0);
            var min = FloatDequantizer.ReadHalf(block, 2);
            var scales = block.Slice(4, 12);
            for (var j = 0; j < 4; j++)
            {
                var (sc1, m1) = ScaleMin(scales, 2 * j);
                var (sc2, m2) = ScaleMin(scales, (2 * j) + 1);
                var d1 = Vector128.Create(d * sc1);
                var dm1 = Vector128.Create(min * m1);
                var d2 = Vector128.Create(d * sc2);
                var dm2 = Vector128.Create(min * m2);
                ref var yy = ref Unsafe.Add(ref y, (b * QK) + (64 * j));
                for (var h = 0; h < 32; h += 16)
                {
                    var q = DequantizeSimd.Load16(src, o + 16 + (32 * j) + h);
                    DequantizeSimd.ScaleSubtract16((q & mask).AsSByte(), d1, dm1, ref Unsafe.Add(ref yy, h));
                    DequantizeSimd.ScaleSubtract16(Vector128.ShiftRightLogical(q, 4).AsSByte(), d2, dm2, ref Unsafe.Add(ref yy, 32 + h));
                }
            }
        }
    }

    /// <summary>
    /// Q5_K (176 bytes): fp16 d at 0, fp16 dmin at 2, scales[12] at 4 (as Q4_K), qh[32] at 16, qs[128] at 48. As
    /// Q4_K, plus a fifth bit: for the j-th 64 weights, bit 2j of qh[l] adds 16 to low-nibble weight l and bit 2j + 1
    /// to high-nibble weight l. value = (d · scale) · q − dmin · min.
    /// </summary>
    public static void Q5_K(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (Vector128.IsHardwareAccelerated)
        {
            Q5_KVector128(src, dst);
        }
        else
        {
            Q5_KScalar(src, dst);
        }
    }

    public static void Q5_KVector128(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / QK;
        ref var y = ref MemoryMarshal.GetReference(dst);
        var mask = Vector128.Create((byte)0x0F);
        var one = Vector128.Create((byte)1);
        for (var b = 0; b < blocks; b++)
        {
            var o = b * Q5_KBytes;
            var block = src.Slice(o, Q5_KBytes);
            var d = FloatDequantizer.ReadHalf(block, 0);
            var min = FloatDequantizer.ReadHalf(block, 2);
            var scales = block.Slice(4, 12);
            for (var j = 0; j < 4; j++)
            {
                var (sc1, m1) = ScaleMin(scales, 2 * j);
                var (sc2, m2) = ScaleMin(scales, (2 * j) + 1);
                var d1 = Vector128.Create(d * sc1);
                var dm1 = Vector128.Create(min * m1);
                var d2 = Vector128.Create(d * sc2);
                var dm2 = Vector128.Create(min * m2);
                ref var yy = ref Unsafe.Add(ref y, (b * QK) + (64 * j));
                for (var h = 0; h < 32; h += 16)
                {
                    var q = DequantizeSimd.Load16(src, o + 48 + (32 * j) + h);
                    var qh = DequantizeSimd.Load16(src, o + 16 + h);
                    var lo = (q & mask) | ((DequantizeSimd.ShiftRightBits(qh, 2 * j) & one) << 4);
                    var hi = Vector128.ShiftRightLogical(q, 4) | ((DequantizeSimd.ShiftRightBits(qh, (2 * j) + 1) & one) << 4);
                    DequantizeSimd.ScaleSubtract16(lo.AsSByte(), d1, dm1, ref Unsafe.Add(ref yy, h));
                    DequantizeSimd.ScaleSubtract16(hi.AsSByte(), d2, dm2, ref Unsafe.Add(ref yy, 32 + h));
                }
            }
        }
    }

    public static void Q5_KScalar(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / QK;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Q5_KBytes, Q5_KBytes);
            var d = FloatDequantizer.ReadHalf(block, 0);
            var min = FloatDequantizer.ReadHalf(block, 2);
            var scales = block.Slice(4, 12);
            var qh = block.Slice(16, 32);
            var y = dst.Slice(b * QK, QK);
            for (var j = 0; j < 4; j++)
            {
                var (sc1, m1) = ScaleMin(scales, 2 * j);
                var (sc2, m2) = ScaleMin(scales, (2 * j) + 1);
                float d1 = d * sc1, dm1 = min * m1, d2 = d * sc2, dm2 = min * m2;
                var ql = block.Slice(48 + (32 * j), 32);
                var yy = y.Slice(64 * j, 64);
                for (var l = 0; l < 32; l++)
                {
                    yy[l] = (d1 * ((ql[l] & 0xF) | (((qh[l] >> (2 * j)) & 1) << 4))) - dm1;
                    yy[l + 32] = (d2 * ((ql[l] >> 4) | (((qh[l] >> ((2 * j) + 1)) & 1) << 4))) - dm2;
                }
            }
        }
    }

    /// <summary>
    /// Q6_K (210 bytes): ql[128] at 0 (low 4 bits), qh[64] at 128 (high 2 bits), scales[16] int8 at 192, fp16 d at
    /// 208. Each 128-weight half uses ql[64·h …], qh[32·h …], scales[8·h …]: weight l + 32·k (k = 0..3, l = 0..31)
    /// takes nibble (k &amp; 1 ? ql[l + 32] : ql[l]) (low for k &lt; 2, high otherwise) and bits 2k..2k+1 of qh[l], and
    /// scale 2k + l / 16. value = (d · scale) · (q − 32).
    /// </summary>
    public static void Q6_K(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (Vector128.IsHardwareAccelerated)
        {
            Q6_KVector128(src, dst);
        }
        else
        {
            Q6_KScalar(src, dst);
        }
    }

    public static void Q6_KScalar(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / QK;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Q6_KBytes, Q6_KBytes);
            var d = FloatDequantizer.ReadHalf(block, 208);
            var y = dst.Slice(b * QK, QK);
            for (var half = 0; half < 2; half++)
            {
                var ql = block.Slice(64 * half, 64);
                var qh = block.Slice(128 + (32 * half), 32);
                var sc = block.Slice(192 + (8 * half), 8);
                var yy = y.Slice(128 * half, 128);
                for (var l = 0; l < 32; l++)
                {
                    var s = l / 16;
                    var q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    var q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    var q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    var q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    yy[l] = d * (sbyte)sc[s] * q1;
                    yy[l + 32] = d * (sbyte)sc[s + 2] * q2;
                    yy[l + 64] = d * (sbyte)sc[s + 4] * q3;
                    yy[l + 96] = d * (sbyte)sc[s + 6] * q4;
                }
            }
        }
    }

    public static void Q6_KVector128(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / QK;
        ref var y = ref MemoryMarshal.GetReference(dst);
        var low4 = Vector128.Create((byte)0x0F);
        var low2 = Vector128.Create((byte)0x03);
        var bias = Vector128.Create((sbyte)32);
        for (var b = 0; b < blocks; b++)
        {
            var o = b * Q6_KBytes;
            var d = FloatDequantizer.ReadHalf(src, o + 208);
            for (var half = 0; half < 2; half++)
            {
                var ql = o + (64 * half);
                var qhOffset = o + 128 + (32 * half);
                var sc = o + 192 + (8 * half);
                ref var yy = ref Unsafe.Add(ref y, (b * QK) + (128 * half));
                for (var s = 0; s < 2; s++)
                {
                    var l = 16 * s;
                    var a = DequantizeSimd.Load16(src, ql + l);
                    var c = DequantizeSimd.Load16(src, ql + l + 32);
                    var h = DequantizeSimd.Load16(src, qhOffset + l);
                    var q1 = ((a & low4) | ((h & low2) << 4)).AsSByte() - bias;
                    var q2 = ((c & low4) | ((Vector128.ShiftRightLogical(h, 2) & low2) << 4)).AsSByte() - bias;
                    var q3 = (Vector128.ShiftRightLogical(a, 4) | ((Vector128.ShiftRightLogical(h, 4) & low2) << 4)).AsSByte() - bias;
                    var q4 = (Vector128.ShiftRightLogical(c, 4) | (Vector128.ShiftRightLogical(h, 6) << 4)).AsSByte() - bias;
                    DequantizeSimd.Scale16(q1, Vector128.Create(d * (sbyte)src[sc + s]), ref Unsafe.Add(ref yy, l));
                    DequantizeSimd.Scale16(q2, Vector128.Create(d * (sbyte)src[sc + s + 2]), ref Unsafe.Add(ref yy, l + 32));
                    DequantizeSimd.Scale16(q3, Vector128.Create(d * (sbyte)src[sc + s + 4]), ref Unsafe.Add(ref yy, l + 64));
                    DequantizeSimd.Scale16(q4, Vector128.Create(d * (sbyte)src[sc + s + 6]), ref Unsafe.Add(ref yy, l + 96));
                }
            }
        }
    }

    /// <summary>Q8_K (292 bytes): f32 d at 0, qs[256] int8 at 4, bsums[16] int16 at 260 (unused here). value = d · q.</summary>
    public static void Q8_K(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = dst.Length / QK;
        for (var b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * Q8_KBytes, Q8_KBytes);
            var d = BinaryPrimitives.ReadSingleLittleEndian(block);
            var y = dst.Slice(b * QK, QK);
            for (var j = 0; j < QK; j++)
            {
                y[j] = d * (sbyte)block[4 + j];
            }
        }
    }

    /// <summary>
    /// The sixteen Q3_K scales minus 32: low 4 bits of scale i in byte i (i &lt; 8) or the high nibble of byte i − 8,
    /// high 2 bits at bit 2·(i / 4) of byte 8 + i % 4.
    /// </summary>
    private static void Q3_KScales(ReadOnlySpan<byte> packed, Span<int> scales)
    {
        for (var i = 0; i < 16; i++)
        {
            scales[i] = Q3_KScale(packed, i);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Q3_KScale(ReadOnlySpan<byte> packed, int i)
    {
        var low = (packed[i & 7] >> (4 * (i >> 3))) & 0xF;
        var high = (packed[8 + (i & 3)] >> (2 * (i >> 2))) & 3;
        return (low | (high << 4)) - 32;
    }

    /// <summary>
    /// Scale and min j (0..7) of the 12-byte Q4_K/Q5_K scales field, 6 bits each (ggml <c>get_scale_min_k4</c>): for
    /// j &lt; 4, scale = low 6 bits of byte j and min = low 6 bits of byte j + 4; for j ≥ 4 the low 4 bits come from
    /// byte j + 4 (scale: low nibble, min: high nibble) and the high 2 bits from the top bits of bytes j − 4 (scale)
    /// and j (min) — split across bytes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (int Scale, int Min) ScaleMin(ReadOnlySpan<byte> q, int j) =>
        j < 4
            ? (q[j] & 63, q[j + 4] & 63)
            : ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4));
}
