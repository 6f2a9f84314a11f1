using System.Runtime.InteropServices;
using System.Threading.Tasks;

namespace Gguf2Qnn.Runtime.Kernels;

/// <summary>
/// A Q4_0 weight matrix [N, K] (N output rows of K weights, as a GGUF linear weight or ONNX Runtime's MatMulNBits B)
/// re-packed, without loss, into the panel layout the <see cref="Q4_0MatMul"/> kernels stream: the same 18 bytes per
/// 32 weights as ggml's block_q4_0 (0.5625 bytes per weight), in 16-row panels.
/// </summary>
/// <remarks>
/// <para>Layout. Rows are grouped into panels of <see cref="PanelRows"/> = 16 (the panel count is rounded up to an
/// even number; missing rows are zero weights with zero scales), panels into pairs. A pair stores its K/32 blocks in
/// K order, block b of the pair being block b of its first panel then block b of its second, so that a kernel working
/// on 32 rows reads one sequential stream. A panel block is <see cref="PanelBlockBytes"/> = 288 bytes: four 64-byte chunks, then 16 fp16 scales d (row order, IEEE binary16,
/// little-endian, exactly ggml's d). In chunk q (0–3), 32-bit word n (0–15) holds row n's weights 8q … 8q+7 of the
/// block: byte j (0–3) has weight 8q+j in its low nibble and weight 8q+4+j in its high nibble. A nibble u stands for
/// the value d·(u − 8), as in ggml's Q4_0 (ggml-common.h, block_q4_0) and MatMulNBits without zero points.</para>
/// <para>Why: masking a chunk with 0x0F gives, for all 16 rows at once, four consecutive weights per 32-bit lane,
/// which is the operand shape of x86's byte multiply-add (VPMADDUBSW, unsigned weights times signed activations, with
/// an activation word broadcast to every lane); shifting by 4 gives the next four. The memory is 2 MiB-aligned and,
/// on Linux, advised for transparent huge pages (madvise MADV_HUGEPAGE), because the decode kernel streams all of it
/// once per token and 4 KiB pages cost it TLB misses.</para>
/// </remarks>
public sealed unsafe class Q4_0PackedWeights : IDisposable
{
    /// <summary>Rows per panel.</summary>
    public const int PanelRows = 16;

    /// <summary>Weights per block along K (ggml QK4_0).</summary>
    public const int BlockSize = 32;

    /// <summary>Bytes of one panel block: 256 bytes of nibbles for 16 rows × 32 weights, then 16 fp16 scales.</summary>
    public const int PanelBlockBytes = 288;

    private byte* _data;

    private Q4_0PackedWeights(int n, int k, bool pairHalves)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "N must be positive.");
        if (pairHalves && n % (2 * PanelRows) != 0)
            throw new ArgumentOutOfRangeException(nameof(n), n, $"Pairing the halves of N needs N a multiple of {2 * PanelRows}.");
        PairsHalves = pairHalves;
        if (k <= 0 || k % BlockSize != 0)
            throw new ArgumentOutOfRangeException(nameof(k), k, $"K must be a positive multiple of {BlockSize}.");
        N = n;
        K = k;
        Blocks = k / BlockSize;
        int panels = (n + PanelRows - 1) / PanelRows;
        Panels = panels + (panels & 1);
        ByteLength = (long)Panels * Blocks * PanelBlockBytes;
        _data = KernelMemory.AllocateHugePageAligned(ByteLength);
    }

    /// <summary>Output rows N.</summary>
    public int N { get; }

    /// <summary>Weights per row K (a multiple of 32).</summary>
    public int K { get; }

    /// <summary>Blocks per row, K / 32.</summary>
    public int Blocks { get; }

    /// <summary>Panels of 16 rows (even; ≥ N / 16).</summary>
    public int Panels { get; }

    /// <summary>
    /// False: panel p holds rows 16p … 16p+15. True: the two halves of N are paired (the layout a fused SwiGLU wants,
    /// with gate rows first and up rows second, as llama.cpp's and the cpu target's fused gate_up weight): pair i holds
    /// rows 16i … 16i+15 in its first panel and rows N/2 + 16i … in its second.
    /// </summary>
    public bool PairsHalves { get; }

    /// <summary>Bytes of packed data (Panels × Blocks × 288).</summary>
    public long ByteLength { get; }

    /// <summary>The packed bytes; valid until <see cref="Dispose"/>.</summary>
    internal byte* Data => _data != null ? _data : throw new ObjectDisposedException(nameof(Q4_0PackedWeights));

    /// <summary>Bytes from one pair of panels to the next (Blocks × 2 × 288; the two panels of a pair interleave per block).</summary>
    internal long PairStride => (long)Blocks * 2 * PanelBlockBytes;

    /// <summary>The 288 bytes of block <paramref name="blk"/> of panel <paramref name="panel"/>.</summary>
    internal byte* PanelBlock(int panel, int blk) =>
        Data + ((panel >> 1) * PairStride) + ((long)blk * 2 * PanelBlockBytes) + ((panel & 1) * PanelBlockBytes);

    /// <summary>
    /// Re-packs MatMulNBits inputs (com.microsoft MatMulNBits, bits 4, block_size 32, no zero_points, A float32):
    /// <paramref name="b"/> uint8 [N, K/32, 16] where byte j of a block holds weight 2j in its low nibble and 2j+1 in
    /// its high nibble, and <paramref name="scales"/> float32 [N, K/32].
    /// </summary>
    /// <exception cref="ArgumentException">A size does not match N and K.</exception>
    /// <exception cref="NotSupportedException">A scale is not exactly a finite fp16 number (the 2-byte layout would lose
    /// it); weights converted from ggml Q4_0 with finite d always are.</exception>
    public static Q4_0PackedWeights FromMatMulNBits(ReadOnlySpan<byte> b, ReadOnlySpan<float> scales, int n, int k) =>
        FromMatMulNBits(b, scales, n, k, pairHalves: false);

    /// <summary>
    /// As <see cref="FromMatMulNBits(ReadOnlySpan{byte}, ReadOnlySpan{float}, int, int)"/>, optionally pairing the two
    /// halves of N (see <see cref="PairsHalves"/>; N must then be a multiple of 32).
    /// </summary>
    /// <exception cref="ArgumentException">A size does not match N and K.</exception>
    /// <exception cref="NotSupportedException">A scale is not exactly a finite fp16 number.</exception>
    public static Q4_0PackedWeights FromMatMulNBits(ReadOnlySpan<byte> b, ReadOnlySpan<float> scales, int n, int k, bool pairHalves)
    {
        // Sizes first, so that B and scales that do not match N and K fail as such before the packed copy is allocated
        // (N and K themselves are checked by the constructor).
        if (n > 0 && k > 0 && k % BlockSize == 0)
        {
            long kb = k / BlockSize;
            if (b.Length != n * kb * 16)
                throw new ArgumentException($"B has {b.Length} bytes; [N={n}, K/32={kb}, 16] needs {n * kb * 16}.", nameof(b));
            if (scales.Length != n * kb)
                throw new ArgumentException($"scales has {scales.Length} values; [N={n}, K/32={kb}] needs {n * kb}.", nameof(scales));
        }

        var packed = new Q4_0PackedWeights(n, k, pairHalves);
        try
        {
            fixed (byte* bp = b)
            fixed (float* sp = scales)
            {
                packed.Fill(bp, sp);
            }

            return packed;
        }
        catch
        {
            packed.Dispose();
            throw;
        }
    }

    private void Fill(byte* b, float* scales)
    {
        byte* dst0 = _data;
        int n = N, kb = Blocks;
        long pairStride = PairStride;
        int inexact = 0;
        nint bAddr = (nint)b, sAddr = (nint)scales, dAddr = (nint)dst0;
        Parallel.For(0, Panels, p =>
        {
            int firstRow = FirstRow(p);
            byte* src = (byte*)bAddr;
            float* sc = (float*)sAddr;
            byte* panel = (byte*)dAddr + ((p >> 1) * pairStride) + ((p & 1) * PanelBlockBytes);
            for (int blk = 0; blk < kb; blk++)
            {
                byte* dst = panel + ((long)blk * 2 * PanelBlockBytes);
                ushort* dScales = (ushort*)(dst + 256);
                for (int r = 0; r < PanelRows; r++)
                {
                    int row = firstRow + r;
                    if (row >= n)
                    {
                        for (int q = 0; q < 4; q++) *(uint*)(dst + (q * 64) + (r * 4)) = 0;
                        dScales[r] = 0;
                        continue;
                    }

                    byte* blockSrc = src + ((((long)row * kb) + blk) * 16);
                    for (int q = 0; q < 4; q++)
                    {
                        // Nibbles of the source word are weights 8q … 8q+7 in order; the target word wants weight
                        // 8q+j in the low nibble and 8q+4+j in the high nibble of byte j: an outer perfect shuffle of
                        // the eight nibbles (swap bytes 1 and 2, then nibbles 1↔2 and 5↔6).
                        uint x = *(uint*)(blockSrc + (q * 4));
                        uint t = (x ^ (x >> 8)) & 0x0000FF00u;
                        x ^= t ^ (t << 8);
                        t = (x ^ (x >> 4)) & 0x00F000F0u;
                        x ^= t ^ (t << 4);
                        *(uint*)(dst + (q * 64) + (r * 4)) = x;
                    }

                    float s = sc[((long)row * kb) + blk];
                    var h = (Half)s;
                    if ((float)h != s || !Half.IsFinite(h)) Interlocked.Exchange(ref inexact, 1);
                    dScales[r] = BitConverter.HalfToUInt16Bits(h);
                }
            }
        });
        if (inexact != 0)
            throw new NotSupportedException("A MatMulNBits scale is not a finite fp16 number; the Q4_0 kernel keeps finite fp16 scales only.");
    }

    /// <summary>Dequantizes row <paramref name="row"/> back to float32 (reference and tests): value = d·(u − 8).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The row is outside [0, N) or the span is not K long.</exception>
    public void DequantizeRow(int row, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, N);
        if (destination.Length != K) throw new ArgumentOutOfRangeException(nameof(destination), "Needs K values.");
        int half = N / 2;
        int panel = !PairsHalves ? row / PanelRows : row < half ? 2 * (row / PanelRows) : (2 * ((row - half) / PanelRows)) + 1;
        int r = row % PanelRows;
        for (int blk = 0; blk < Blocks; blk++)
        {
            byte* src = PanelBlock(panel, blk);
            float d = (float)BitConverter.UInt16BitsToHalf(((ushort*)(src + 256))[r]);
            for (int q = 0; q < 4; q++)
            {
                for (int j = 0; j < 4; j++)
                {
                    byte v = src[(q * 64) + (r * 4) + j];
                    destination[(blk * 32) + (q * 8) + j] = d * ((v & 0x0F) - 8);
                    destination[(blk * 32) + (q * 8) + 4 + j] = d * ((v >> 4) - 8);
                }
            }
        }
    }

    /// <summary>The first row held by panel <paramref name="panel"/>.</summary>
    private int FirstRow(int panel) =>
        !PairsHalves ? panel * PanelRows : ((panel >> 1) * PanelRows) + ((panel & 1) * (N / 2));

    /// <summary>Frees the packed memory.</summary>
    public void Dispose()
    {
        if (_data != null)
        {
            NativeMemory.AlignedFree(_data);
            _data = null;
        }
    }
}
