using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Threading.Tasks;

namespace Gguf2Qnn.Runtime.Kernels;

/// <summary>
/// A ggml Q6_K weight matrix [N, K] (N output rows of K weights) recovered, without loss, from the MatMulNBits form the
/// cpu target writes for it, and re-packed into the panel layout <see cref="Q6_KMatMul"/> streams: ggml's 210 bytes per
/// 256 weights (0.8203 bytes per weight), in 16-row panels.
/// </summary>
/// <remarks>
/// <para>Source. <c>convert</c> (accuracy_level 4) writes a Q6_K weight as com.microsoft MatMulNBits bits = 8,
/// block_size = 16, no zero_points (default 128): B uint8 [N, K/16, 16] with u8 = code + 128 (code = q − 32 ∈
/// [−32, 31], ggml's 6-bit q ∈ [0, 63]) and scales float32 [N, K/16], each the exact float32 product d·sc of the
/// super-block's fp16 d and the sub-block's int8 sc (ggml-common.h, block_q6_K). Packing undoes the product: per
/// 256-weight super-block it looks for an fp16 d and sixteen int8 sc with d·sc_j equal to the stored scale_j (float32,
/// bit for bit), trying first what ggml's quantizer does (quantize_row_q6_K_ref: iscale = −128/max_scale, so the
/// sub-block of largest |scale| has sc = −128 and d = scale/−128), then sc = 127 and −127 there. An all-zero
/// super-block gets d = 0 (and sc = 0, also where ggml's fp16 d underflowed to 0 under nonzero sc). On llama.cpp's
/// data the first candidate gives back ggml's own d and sc (the sub-block of largest |scale| always has sc = −128
/// there, and no other sc reaches 128·|d|). Other data may factor differently
/// (e.g. every nonzero sc = 127 and d a small multiple of a power of two): the products, and so the weights, stay
/// exactly the same, but <see cref="Q6_KMatMul"/>'s float32 d·d_a may then round differently from the source's.
/// <see cref="Check"/> says whether (and why not) a weight can be taken.</para>
/// <para>Layout. Rows are grouped into panels of <see cref="PanelRows"/> = 16 (the panel count is rounded up to an
/// even number; missing rows are zero codes with zero scales and d), panels into pairs; a pair stores its K/256
/// super-blocks in K order, each a <see cref="PairBlockBytes"/> = 6720-byte pair block, so that a kernel working on
/// 32 rows reads one sequential stream. In a pair block, for each sub-block j (16 weights, 0–15) at 384·j: the low
/// chunks of panel 0 (two 64-byte chunks, 2j and 2j+1), those of panel 1, the high-bit vector of panel 0 (64 bytes),
/// that of panel 1; then at 6144 the scale vectors of panel 0 (4 × 64 bytes), at 6400 those of panel 1, at 6656 the
/// 16 fp16 d of panel 0 (row order, IEEE binary16, little-endian, exactly ggml's d), at 6688 those of panel 1. Lane n
/// (bytes 4n … 4n+3) of a 64-byte vector belongs to row n of the panel. Writing u(w) for ggml's 6-bit q of weight w of
/// the super-block: in low chunk 2j+h byte i has the low 4 bits of u(16j + 8h + i) in its low nibble and those of
/// u(16j + 8h + 4 + i) in its high nibble; in high-bit vector j byte i holds u(16j + 4t + i) >> 4 in bits 2t, 2t+1
/// (t = 0–3); in scale vector g byte i is the int8 sc of sub-block 4g + i.</para>
/// <para>Why: each 32-bit lane then holds, per row, four consecutive weights of one sub-block, which is the operand
/// shape of x86's byte multiply-add (VPMADDUBSW, unsigned codes times signed activations, with an activation word
/// broadcast to every lane); a low chunk masked or shifted gives two such groups, and the high-bit vector, masked and
/// shifted, their top two bits. The memory is 2 MiB-aligned and, on Linux, advised for transparent huge pages
/// (madvise MADV_HUGEPAGE), as for <see cref="Q4_0PackedWeights"/>.</para>
/// </remarks>
public sealed unsafe class Q6_KPackedWeights : IDisposable
{
    /// <summary>Rows per panel.</summary>
    public const int PanelRows = 16;

    /// <summary>Weights per super-block along K (ggml QK_K).</summary>
    public const int BlockSize = 256;

    /// <summary>Weights per sub-block (one int8 scale), the MatMulNBits block_size of a converted Q6_K weight.</summary>
    public const int SubBlockSize = 16;

    /// <summary>Bytes of one pair block: two panels × (2048 low-nibble + 1024 high-bit + 256 scale + 32 d bytes).</summary>
    public const int PairBlockBytes = 6720;

    /// <summary>Offset of a sub-block's 384 bytes (low chunks and high bits of both panels) in a pair block: 384·j.</summary>
    internal const int SubBlockStride = 384;

    /// <summary>Offset of the scale vectors of panel 0 in a pair block (panel 1's follow 256 bytes later).</summary>
    internal const int ScalesOffset = 6144;

    /// <summary>Offset of the fp16 d of panel 0 in a pair block (panel 1's follow 32 bytes later).</summary>
    internal const int DOffset = 6656;

    private const int SubBlocks = BlockSize / SubBlockSize;

    private byte* _data;

    private Q6_KPackedWeights(int n, int k)
    {
        CheckShape(n, k);
        N = n;
        K = k;
        Blocks = k / BlockSize;
        int panels = (n + PanelRows - 1) / PanelRows;
        Panels = panels + (panels & 1);
        ByteLength = (long)(Panels / 2) * Blocks * PairBlockBytes;
        _data = KernelMemory.AllocateHugePageAligned(ByteLength);
    }

    /// <summary>Output rows N.</summary>
    public int N { get; }

    /// <summary>Weights per row K (a multiple of 256).</summary>
    public int K { get; }

    /// <summary>Super-blocks per row, K / 256.</summary>
    public int Blocks { get; }

    /// <summary>Panels of 16 rows (even; ≥ N / 16).</summary>
    public int Panels { get; }

    /// <summary>Bytes of packed data (Panels / 2 × Blocks × 6720).</summary>
    public long ByteLength { get; }

    /// <summary>The packed bytes; valid until <see cref="Dispose"/>.</summary>
    internal byte* Data => _data != null ? _data : throw new ObjectDisposedException(nameof(Q6_KPackedWeights));

    /// <summary>Bytes from one pair of panels to the next (Blocks × 6720).</summary>
    internal long PairStride => (long)Blocks * PairBlockBytes;

    /// <summary>
    /// Re-packs MatMulNBits inputs (com.microsoft MatMulNBits, bits 8, block_size 16, no zero_points):
    /// <paramref name="b"/> uint8 [N, K/16, 16] (u8 = code + 128) and <paramref name="scales"/> float32 [N, K/16].
    /// </summary>
    /// <exception cref="ArgumentException">A size does not match N and K.</exception>
    /// <exception cref="ArgumentOutOfRangeException">N ≤ 0, or K not a positive multiple of 256.</exception>
    /// <exception cref="NotSupportedException">The data are not a Q6_K weight (see <see cref="Check"/>); the message says
    /// which row and super-block.</exception>
    public static Q6_KPackedWeights FromMatMulNBits(ReadOnlySpan<byte> b, ReadOnlySpan<float> scales, int n, int k)
    {
        // The sizes first: N and K alone decide how much the packed copy allocates.
        CheckShape(n, k);
        CheckSizes(b.Length, scales.Length, n, k);
        var packed = new Q6_KPackedWeights(n, k);
        try
        {
            fixed (byte* bp = b)
            fixed (float* sp = scales)
            {
                if (packed.Fill(bp, sp) is { } why) throw new NotSupportedException(why);
            }

            return packed;
        }
        catch
        {
            packed.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Whether MatMulNBits inputs (bits 8, block_size 16, no zero_points; B uint8 [N, K/16, 16], scales float32
    /// [N, K/16]) hold a Q6_K weight this class can pack: null when they do, else why not (K not a multiple of 256, a
    /// size that does not match, a B byte outside [96, 159] (a code outside [−32, 31]), or a super-block whose 16
    /// scales are not d·sc for an fp16 d and int8 sc). Reads everything once; does not allocate the packed copy.
    /// </summary>
    public static string? Check(ReadOnlySpan<byte> b, ReadOnlySpan<float> scales, int n, int k)
    {
        if (n <= 0) return $"N = {n} is not positive";
        if (k <= 0 || k % BlockSize != 0) return $"K = {k} is not a positive multiple of {BlockSize}";
        try
        {
            CheckSizes(b.Length, scales.Length, n, k);
        }
        catch (ArgumentException e)
        {
            return e.Message;
        }

        fixed (byte* bp = b)
        fixed (float* sp = scales)
        {
            nint bAddr = (nint)bp, sAddr = (nint)sp;
            string? first = null;
            var lockObject = new object();
            const int rowsPerTask = 64;
            Parallel.For(0, (n + rowsPerTask - 1) / rowsPerTask, (task, state) =>
            {
                string? why = CheckRows((byte*)bAddr, (float*)sAddr, k, task * rowsPerTask, Math.Min(n, (task + 1) * rowsPerTask));
                if (why is null) return;
                lock (lockObject) first ??= why;
                state.Stop();
            });
            return first;
        }
    }

    /// <summary>
    /// ggml's numbers for super-block <paramref name="blk"/> of row <paramref name="row"/>: the 256 6-bit codes q
    /// (0–63; the weight is d·sc·(q − 32)) into <paramref name="codes"/>, the 16 int8 sub-block scales into
    /// <paramref name="subScales"/>; returns d.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Row or block out of range, or a span too short.</exception>
    public Half GetBlock(int row, int blk, Span<byte> codes, Span<sbyte> subScales)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, N);
        ArgumentOutOfRangeException.ThrowIfNegative(blk);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(blk, Blocks);
        if (codes.Length < BlockSize) throw new ArgumentOutOfRangeException(nameof(codes), "Needs 256 codes.");
        if (subScales.Length < SubBlocks) throw new ArgumentOutOfRangeException(nameof(subScales), "Needs 16 scales.");
        int panel = row / PanelRows, r = row % PanelRows, p = panel & 1;
        byte* pb = Data + ((panel >> 1) * PairStride) + ((long)blk * PairBlockBytes);
        for (int j = 0; j < SubBlocks; j++)
        {
            byte* sub = pb + (j * SubBlockStride);
            byte* lo = sub + (p * 128) + (r * 4);
            byte* hi = sub + 256 + (p * 64) + (r * 4);
            for (int t = 0; t < 4; t++)
            {
                for (int i = 0; i < 4; i++)
                {
                    byte nibbles = lo[((t >> 1) * 64) + i];
                    int low = (t & 1) == 0 ? nibbles & 0x0F : nibbles >> 4;
                    codes[(16 * j) + (4 * t) + i] = (byte)(low | (((hi[i] >> (2 * t)) & 3) << 4));
                }
            }

            subScales[j] = (sbyte)pb[ScalesOffset + (p * 256) + ((j >> 2) * 64) + (r * 4) + (j & 3)];
        }

        return BitConverter.UInt16BitsToHalf(((ushort*)(pb + DOffset + (p * 32)))[r]);
    }

    /// <summary>Dequantizes row <paramref name="row"/> to float32 (reference and tests): weight = (d·sc)·(q − 32), the
    /// float32 value MatMulNBits gives it.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The row is outside [0, N) or the span is not K long.</exception>
    public void DequantizeRow(int row, Span<float> destination)
    {
        if (destination.Length != K) throw new ArgumentOutOfRangeException(nameof(destination), "Needs K values.");
        Span<byte> codes = stackalloc byte[BlockSize];
        Span<sbyte> sc = stackalloc sbyte[SubBlocks];
        for (int blk = 0; blk < Blocks; blk++)
        {
            float d = (float)GetBlock(row, blk, codes, sc);
            for (int i = 0; i < BlockSize; i++) destination[(blk * BlockSize) + i] = (d * sc[i / SubBlockSize]) * (codes[i] - 32);
        }
    }

    /// <summary>Frees the packed memory.</summary>
    public void Dispose()
    {
        if (_data != null)
        {
            NativeMemory.AlignedFree(_data);
            _data = null;
        }
    }

    private static void CheckShape(int n, int k)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "N must be positive.");
        if (k <= 0 || k % BlockSize != 0)
            throw new ArgumentOutOfRangeException(nameof(k), k, $"K must be a positive multiple of {BlockSize}.");
    }

    private static void CheckSizes(long bLength, long scaleCount, int n, int k)
    {
        long subBlocks = (long)n * (k / SubBlockSize);
        if (bLength != subBlocks * SubBlockSize)
            throw new ArgumentException($"B has {bLength} bytes; [N={n}, K/16={k / SubBlockSize}, 16] needs {subBlocks * SubBlockSize}.", "b");
        if (scaleCount != subBlocks)
            throw new ArgumentException($"scales has {scaleCount} values; [N={n}, K/16={k / SubBlockSize}] needs {subBlocks}.", "scales");
    }

    /// <summary>Whether every byte of <paramref name="b"/>[0, count) is in [96, 159]; else the first one's index.</summary>
    private static bool CodesInRange(byte* b, long count, out long at)
    {
        long i = 0;
        var offset = Vector512.Create((byte)96);
        var high = Vector512.Create((byte)0xC0);
        for (; i + 64 <= count; i += 64)
        {
            if (((Vector512.Load(b + i) - offset) & high) != Vector512<byte>.Zero) break;
        }

        for (; i < count; i++)
        {
            if ((byte)(b[i] - 96) > 63)
            {
                at = i;
                return false;
            }
        }

        at = -1;
        return true;
    }

    /// <summary>
    /// Finds an fp16 d and int8 sc[16] with d·sc_j == scales_j (float32, exactly) for one super-block; false when none
    /// of the candidates fits. Candidates: the sub-block of largest |scale| has sc −128 (ggml's quantizer), 127 or −127.
    /// </summary>
    internal static bool TryRecover(float* scales, Span<sbyte> sc, out ushort dBits)
    {
        dBits = 0;
        if (!AllFinite(scales)) return false;
        var v = Vector512.Load(scales);
        int jmax = 0;
        float amax = 0;
        for (int j = 0; j < SubBlocks; j++)
        {
            float a = MathF.Abs(scales[j]);
            if (a > amax)
            {
                amax = a;
                jmax = j;
            }
        }

        if (amax == 0)
        {
            sc.Clear();
            return true;
        }

        ReadOnlySpan<float> candidates = [-128f, 127f, -127f];
        foreach (float c in candidates)
        {
            float d = scales[jmax] / c;
            var h = (Half)d;
            float df = (float)h;
            if (df != d || df == 0 || !Half.IsFinite(h)) continue;
            var dv = Vector512.Create(df);
            var q = Vector512.Round(v / dv); // exact multiples come out exact; anything else fails the product check
            if (Vector512.LessThanAny(q, Vector512.Create(-128f)) || Vector512.GreaterThanAny(q, Vector512.Create(127f))) continue;
            if (!Vector512.EqualsAll(q * dv, v)) continue;
            for (int j = 0; j < SubBlocks; j++) sc[j] = (sbyte)q[j];
            dBits = BitConverter.HalfToUInt16Bits(h);
            return true;
        }

        return false;
    }

    private static bool AllFinite(float* scales)
    {
        for (int j = 0; j < SubBlocks; j++)
        {
            if (!float.IsFinite(scales[j])) return false;
        }

        return true;
    }

    private static string Unrecoverable(int row, int blk, float* scales)
    {
        var values = string.Join(", ", Enumerable.Range(0, SubBlocks).Select(j => scales[j].ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
        return $"row {row}, super-block {blk}: the scales [{values}] are not d·sc for an fp16 d and int8 sc (not a Q6_K weight)";
    }

    private string? Fill(byte* b, float* scales)
    {
        int n = N, k = K, blocks = Blocks;
        long pairStride = PairStride;
        string? first = null;
        var lockObject = new object();
        nint bAddr = (nint)b, sAddr = (nint)scales, dAddr = (nint)_data;
        Parallel.For(0, Panels, (panel, state) =>
        {
            string? why = FillPanel((byte*)bAddr, (float*)sAddr, (byte*)dAddr + ((panel >> 1) * pairStride), panel, n, k, blocks);
            if (why is null) return;
            lock (lockObject) first ??= why;
            state.Stop();
        });
        return first;
    }

    /// <summary>Recovers and packs panel <paramref name="panel"/> (its 16 rows, all super-blocks) into its pair at
    /// <paramref name="pair"/>; returns why not when a row is not a Q6_K weight's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per session: tier-0 code would be 4× slower
    private static string? FillPanel(byte* b, float* scales, byte* pair, int panel, int n, int k, int blocks)
    {
        Span<sbyte> sc = stackalloc sbyte[SubBlocks];
        int p = panel & 1;
        for (int blk = 0; blk < blocks; blk++)
        {
            byte* pb = pair + ((long)blk * PairBlockBytes);
            ushort* d = (ushort*)(pb + DOffset + (p * 32));
            for (int r = 0; r < PanelRows; r++)
            {
                int row = (panel * PanelRows) + r;
                ushort dBits = 0;
                byte* codes = null;
                if (row < n)
                {
                    float* s = scales + ((((long)row * blocks) + blk) * SubBlocks);
                    codes = b + ((long)row * k) + ((long)blk * BlockSize);
                    string? why = !TryRecover(s, sc, out dBits) ? Unrecoverable(row, blk, s)
                        : !CodesInRange(codes, BlockSize, out long at) ? $"row {row}: B byte {codes[at]} at column {((long)blk * BlockSize) + at} is outside [96, 159] (a Q6_K code is in [−32, 31])"
                        : null;
                    if (why is not null) return why;
                }

                d[r] = dBits;
                for (int j = 0; j < SubBlocks; j++)
                {
                    byte* sub = pb + (j * SubBlockStride);
                    uint lo0 = 0, lo1 = 0, hi = 0;
                    if (codes != null)
                    {
                        // Byte i of x, y, z, w is u(16j + i), u(16j + 4 + i), u(16j + 8 + i), u(16j + 12 + i), with
                        // u = u8 − 96 = code + 32, ggml's q (every byte was checked to be in [96, 159]: no borrow).
                        uint* src = (uint*)(codes + (16 * j));
                        uint x = src[0] - 0x60606060u, y = src[1] - 0x60606060u, z = src[2] - 0x60606060u, w = src[3] - 0x60606060u;
                        lo0 = (x & 0x0F0F0F0Fu) | ((y & 0x0F0F0F0Fu) << 4);
                        lo1 = (z & 0x0F0F0F0Fu) | ((w & 0x0F0F0F0Fu) << 4);
                        hi = ((x >> 4) & 0x03030303u) | (((y >> 4) & 0x03030303u) << 2) | (((z >> 4) & 0x03030303u) << 4) | (((w >> 4) & 0x03030303u) << 6);
                    }

                    *(uint*)(sub + (p * 128) + (r * 4)) = lo0;
                    *(uint*)(sub + (p * 128) + 64 + (r * 4)) = lo1;
                    *(uint*)(sub + 256 + (p * 64) + (r * 4)) = hi;
                    pb[ScalesOffset + (p * 256) + ((j >> 2) * 64) + (r * 4) + (j & 3)] = row < n ? (byte)sc[j] : (byte)0;
                }
            }
        }

        return null;
    }

    /// <summary>The checks of <see cref="Check"/> for rows [<paramref name="from"/>, <paramref name="to"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static string? CheckRows(byte* b, float* scales, int k, int from, int to)
    {
        Span<sbyte> sc = stackalloc sbyte[SubBlocks];
        int blocks = k / BlockSize;
        for (int row = from; row < to; row++)
        {
            if (!CodesInRange(b + ((long)row * k), k, out long at))
                return $"row {row}: B byte {b[((long)row * k) + at]} at column {at} is outside [96, 159] (a Q6_K code is in [−32, 31])";
            for (int blk = 0; blk < blocks; blk++)
            {
                float* s = scales + ((((long)row * blocks) + blk) * SubBlocks);
                if (!TryRecover(s, sc, out _)) return Unrecoverable(row, blk, s);
            }
        }

        return null;
    }
}
