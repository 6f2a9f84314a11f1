using System.Buffers.Binary;

namespace Gguf2Qnn.Gguf;

/// <summary>
/// The affine form of a ggml block type: every weight is <c>scale·code</c> (no offset) or <c>scale·code + offset</c>,
/// with one float scale (and offset) per sub-block of consecutive weights and a small integer code per weight.
/// </summary>
/// <param name="Type">The ggml type.</param>
/// <param name="SubBlockSize">Weights sharing one scale/offset: 32 (Q4_1, Q5_0, Q5_1, Q4_K, Q5_K) or 16 (Q2_K, Q3_K, Q6_K).</param>
/// <param name="CodeMin">Smallest code.</param>
/// <param name="CodeMax">Largest code.</param>
/// <param name="HasOffset">True when weights carry an additive offset (the ggml "min": Q4_1, Q5_1, Q2_K, Q4_K, Q5_K).</param>
public sealed record AffineFormat(GgmlType Type, int SubBlockSize, int CodeMin, int CodeMax, bool HasOffset);

/// <summary>
/// Decodes ggml blocks into codes, scales and offsets (ggml-common.h block layouts; ggml-quants.c
/// <c>dequantize_row_*</c> for the arithmetic) such that ggml's float value of weight i in sub-block s is exactly
/// <c>fl(scales[s]·codes[i])</c>, or <c>fl(fl(scales[s]·codes[i]) + offsets[s])</c> when the type has an offset
/// (offsets hold ggml's <c>m</c> for Q4_1/Q5_1 and <c>−dmin·m</c> for the K-quants, so the sum reproduces ggml's
/// subtraction bit for bit). The scales themselves are exact products (an fp16 times a small integer).
/// </summary>
/// <remarks>The dequantizers of these types and the MatMulNBits packing share this one decoder.</remarks>
public static class AffineBlocks
{
    private static readonly Dictionary<GgmlType, AffineFormat> Formats = new()
    {
        [GgmlType.Q4_1] = new(GgmlType.Q4_1, 32, 0, 15, true),
        [GgmlType.Q5_0] = new(GgmlType.Q5_0, 32, -16, 15, false),
        [GgmlType.Q5_1] = new(GgmlType.Q5_1, 32, 0, 31, true),
        [GgmlType.Q2_K] = new(GgmlType.Q2_K, 16, 0, 3, true),
        [GgmlType.Q3_K] = new(GgmlType.Q3_K, 16, -4, 3, false),
        [GgmlType.Q4_K] = new(GgmlType.Q4_K, 32, 0, 15, true),
        [GgmlType.Q5_K] = new(GgmlType.Q5_K, 32, 0, 31, true),
        [GgmlType.Q6_K] = new(GgmlType.Q6_K, 16, -32, 31, false),
    };

    /// <summary>The affine form of <paramref name="type"/>, or false for types without one here (Q4_0/Q8_0 have their own packers).</summary>
    public static bool TryGetFormat(GgmlType type, out AffineFormat format) => Formats.TryGetValue(type, out format!);

    /// <summary>The types this class decodes.</summary>
    public static IEnumerable<GgmlType> Types => Formats.Keys;

    /// <summary>
    /// Decodes whole blocks of <paramref name="type"/>: n weights → n codes, n / SubBlockSize scales and (when the
    /// type has them) offsets.
    /// </summary>
    /// <exception cref="NotSupportedException">The type has no affine form here.</exception>
    /// <exception cref="ArgumentException">The source is not whole blocks for <c>codes.Length</c> weights, or an output is too short.</exception>
    public static void Decode(GgmlType type, ReadOnlySpan<byte> src, Span<sbyte> codes, Span<float> scales, Span<float> offsets)
    {
        if (!Formats.TryGetValue(type, out var f))
        {
            throw new NotSupportedException($"{type} has no affine block form.");
        }

        int n = codes.Length;
        int block = GgmlTypeTraits.BlockSize(type);
        int blockBytes = GgmlTypeTraits.TypeSize(type);
        if (n % block != 0 || src.Length != (long)n / block * blockBytes)
        {
            throw new ArgumentException($"{type}: {src.Length} bytes are not whole blocks for {n} weights.", nameof(src));
        }

        int subs = n / f.SubBlockSize;
        if (scales.Length < subs || (f.HasOffset && offsets.Length < subs))
        {
            throw new ArgumentException($"{type}: {n} weights need {subs} scales{(f.HasOffset ? " and offsets" : string.Empty)}.", nameof(scales));
        }

        int subsPerBlock = block / f.SubBlockSize;
        for (int b = 0; b < n / block; b++)
        {
            var s = src.Slice(b * blockBytes, blockBytes);
            var c = codes.Slice(b * block, block);
            var sc = scales.Slice(b * subsPerBlock, subsPerBlock);
            var of = f.HasOffset ? offsets.Slice(b * subsPerBlock, subsPerBlock) : default;
            switch (type)
            {
                case GgmlType.Q4_1: Q4_1(s, c, sc, of); break;
                case GgmlType.Q5_0: Q5_0(s, c, sc); break;
                case GgmlType.Q5_1: Q5_1(s, c, sc, of); break;
                case GgmlType.Q2_K: Q2_K(s, c, sc, of); break;
                case GgmlType.Q3_K: Q3_K(s, c, sc); break;
                case GgmlType.Q4_K: Q4_K(s, c, sc, of); break;
                case GgmlType.Q5_K: Q5_K(s, c, sc, of); break;
                default: Q6_K(s, c, sc); break;
            }
        }
    }

    /// <summary>ggml's float values from a decoded form (the rounding described on <see cref="AffineBlocks"/>).</summary>
    public static void Evaluate(AffineFormat format, ReadOnlySpan<sbyte> codes, ReadOnlySpan<float> scales, ReadOnlySpan<float> offsets, Span<float> dst)
    {
        ArgumentNullException.ThrowIfNull(format);
        int sub = format.SubBlockSize;
        for (int i = 0; i < codes.Length; i++)
        {
            float v = scales[i / sub] * codes[i];
            dst[i] = format.HasOffset ? v + offsets[i / sub] : v;
        }
    }

    /// <summary>Dequantizes through <see cref="Decode"/> and <see cref="Evaluate"/>, a block at a time.</summary>
    internal static void Dequantize(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        var f = Formats[type];
        int block = GgmlTypeTraits.BlockSize(type);
        int blockBytes = GgmlTypeTraits.TypeSize(type);
        Span<sbyte> codes = stackalloc sbyte[block];
        Span<float> scales = stackalloc float[block / f.SubBlockSize];
        Span<float> offsets = stackalloc float[block / f.SubBlockSize];
        for (int b = 0; b < dst.Length / block; b++)
        {
            Decode(type, src.Slice(b * blockBytes, blockBytes), codes, scales, offsets);
            Evaluate(f, codes, scales, offsets, dst.Slice(b * block, block));
        }
    }

    private static float Half(ReadOnlySpan<byte> s, int offset) => FloatDequantizer.ReadHalf(s, offset);

    // block_q4_1: d, m (fp16), qs[16]; weight j = low nibble of qs[j], weight j+16 = high nibble; y = q·d + m.
    private static void Q4_1(ReadOnlySpan<byte> s, Span<sbyte> c, Span<float> sc, Span<float> of)
    {
        sc[0] = Half(s, 0);
        of[0] = Half(s, 2);
        var qs = s.Slice(4, 16);
        for (int j = 0; j < 16; j++)
        {
            c[j] = (sbyte)(qs[j] & 0x0F);
            c[j + 16] = (sbyte)(qs[j] >> 4);
        }
    }

    // block_q5_0: d, qh (uint32: bit j is the fifth bit of weight j), qs[16]; y = (q − 16)·d.
    private static void Q5_0(ReadOnlySpan<byte> s, Span<sbyte> c, Span<float> sc)
    {
        sc[0] = Half(s, 0);
        uint qh = BinaryPrimitives.ReadUInt32LittleEndian(s[2..]);
        var qs = s.Slice(6, 16);
        for (int j = 0; j < 16; j++)
        {
            int h0 = (int)((qh >> j) << 4) & 0x10;
            int h1 = (int)(qh >> (j + 12)) & 0x10;
            c[j] = (sbyte)(((qs[j] & 0x0F) | h0) - 16);
            c[j + 16] = (sbyte)(((qs[j] >> 4) | h1) - 16);
        }
    }

    // block_q5_1: d, m, qh, qs[16]; y = q·d + m.
    private static void Q5_1(ReadOnlySpan<byte> s, Span<sbyte> c, Span<float> sc, Span<float> of)
    {
        sc[0] = Half(s, 0);
        of[0] = Half(s, 2);
        uint qh = BinaryPrimitives.ReadUInt32LittleEndian(s[4..]);
        var qs = s.Slice(8, 16);
        for (int j = 0; j < 16; j++)
        {
            int h0 = (int)((qh >> j) << 4) & 0x10;
            int h1 = (int)(qh >> (j + 12)) & 0x10;
            c[j] = (sbyte)((qs[j] & 0x0F) | h0);
            c[j + 16] = (sbyte)((qs[j] >> 4) | h1);
        }
    }

    // block_q2_K: scales[16] (low nibble scale, high nibble min), qs[64], d, dmin; y = d·sc·q − dmin·m.
    private static void Q2_K(ReadOnlySpan<byte> s, Span<sbyte> c, Span<float> sc, Span<float> of)
    {
        var scales = s[..16];
        var qs = s.Slice(16, 64);
        float d = Half(s, 80), min = Half(s, 82);
        int y = 0, sub = 0;
        for (int half = 0; half < 2; half++)
        {
            var q = qs.Slice(half * 32, 32);
            for (int shift = 0; shift < 8; shift += 2)
            {
                for (int part = 0; part < 2; part++)
                {
                    byte packed = scales[sub];
                    sc[sub] = d * (packed & 0x0F);
                    of[sub] = -(min * (packed >> 4));
                    sub++;
                    for (int l = 0; l < 16; l++)
                    {
                        c[y++] = (sbyte)((q[(part * 16) + l] >> shift) & 3);
                    }
                }
            }
        }
    }

    // block_q3_K: hmask[32], qs[64], scales[12] (16 packed 6-bit values, biased by 32), d; y = d·(sc − 32)·(q − 4·!h).
    private static void Q3_K(ReadOnlySpan<byte> s, Span<sbyte> c, Span<float> sc)
    {
        var hmask = s[..32];
        var qs = s.Slice(32, 64);
        var packed = s.Slice(96, 12);
        float d = Half(s, 108);
        Span<sbyte> scales = stackalloc sbyte[16];
        for (int i = 0; i < 16; i++)
        {
            // Low 4 bits: byte i (i < 8, low nibble) or byte i − 8 (high nibble); high 2 bits from bytes 8..11.
            int low = i < 8 ? packed[i] & 0x0F : packed[i - 8] >> 4;
            int high = (packed[8 + (i % 4)] >> (2 * (i / 4))) & 3;
            scales[i] = (sbyte)(low | (high << 4));
        }

        int y = 0, sub = 0;
        int m = 1;
        for (int half = 0; half < 2; half++)
        {
            var q = qs.Slice(half * 32, 32);
            for (int shift = 0; shift < 8; shift += 2)
            {
                for (int part = 0; part < 2; part++)
                {
                    sc[sub] = d * (scales[sub] - 32);
                    sub++;
                    for (int l = 0; l < 16; l++)
                    {
                        int idx = (part * 16) + l;
                        c[y++] = (sbyte)(((q[idx] >> shift) & 3) - ((hmask[idx] & m) != 0 ? 0 : 4));
                    }
                }

                m <<= 1;
            }
        }
    }

    // Sub-blocks 2j and 2j + 1 of a Q4_K/Q5_K block: scale d·s and offset −dmin·m from the 12-byte packed field
    // (get_scale_min_k4, shared with the dequantizer: KQuantDequantizer.ScaleMin).
    private static void ScalesK4(int j, float d, float min, ReadOnlySpan<byte> packed, Span<float> sc, Span<float> of)
    {
        for (int k = 2 * j; k <= (2 * j) + 1; k++)
        {
            var (s, m) = KQuantDequantizer.ScaleMin(packed, k);
            sc[k] = d * s;
            of[k] = -(min * m);
        }
    }

    // block_q4_K: d, dmin, scales[12], qs[128]; 64 weights per 32 bytes of qs: low nibbles then high nibbles.
    private static void Q4_K(ReadOnlySpan<byte> s, Span<sbyte> c, Span<float> sc, Span<float> of)
    {
        float d = Half(s, 0), min = Half(s, 2);
        var packed = s.Slice(4, 12);
        var qs = s.Slice(16, 128);
        for (int j = 0; j < 4; j++)
        {
            ScalesK4(j, d, min, packed, sc, of);
            var q = qs.Slice(j * 32, 32);
            for (int l = 0; l < 32; l++)
            {
                c[(j * 64) + l] = (sbyte)(q[l] & 0x0F);
                c[(j * 64) + 32 + l] = (sbyte)(q[l] >> 4);
            }
        }
    }

    // block_q5_K: d, dmin, scales[12], qh[32], qs[128]; the fifth bit of weight l in sub-block k is bit k of qh[l].
    private static void Q5_K(ReadOnlySpan<byte> s, Span<sbyte> c, Span<float> sc, Span<float> of)
    {
        float d = Half(s, 0), min = Half(s, 2);
        var packed = s.Slice(4, 12);
        var qh = s.Slice(16, 32);
        var qs = s.Slice(48, 128);
        for (int j = 0; j < 4; j++)
        {
            ScalesK4(j, d, min, packed, sc, of);
            var q = qs.Slice(j * 32, 32);
            int u1 = 1 << (2 * j), u2 = 2 << (2 * j);
            for (int l = 0; l < 32; l++)
            {
                c[(j * 64) + l] = (sbyte)((q[l] & 0x0F) + ((qh[l] & u1) != 0 ? 16 : 0));
                c[(j * 64) + 32 + l] = (sbyte)((q[l] >> 4) + ((qh[l] & u2) != 0 ? 16 : 0));
            }
        }
    }

    // block_q6_K: ql[128], qh[64], scales[16] int8, d; y = (d·sc)·(q − 32), sub-block k of 16 uses scales[k].
    private static void Q6_K(ReadOnlySpan<byte> s, Span<sbyte> c, Span<float> sc)
    {
        float d = Half(s, 208);
        for (int k = 0; k < 16; k++)
        {
            sc[k] = d * (sbyte)s[192 + k];
        }

        for (int half = 0; half < 2; half++)
        {
            var ql = s.Slice(half * 64, 64);
            var qh = s.Slice(128 + (half * 32), 32);
            var y = c.Slice(half * 128, 128);
            for (int l = 0; l < 32; l++)
            {
                y[l] = (sbyte)(((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32);
                y[l + 32] = (sbyte)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                y[l + 64] = (sbyte)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                y[l + 96] = (sbyte)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
    }
}
