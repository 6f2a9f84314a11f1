using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Gguf2Qnn.Runtime.Kernels;

/// <summary>
/// Y = A·Wᵀ (+ bias) for float32 activations A [M, K] (row-major) and Q6_K weights W [N, K] held as
/// <see cref="Q6_KPackedWeights"/>; Y is float32 [M, N], row-major. The arithmetic of ggml's Q6_K × Q8_K dot product
/// (ggml-cpu, ggml_vec_dot_q6_K_q8_K, with the activations quantized by quantize_row_q8_K, which on x86 is
/// quantize_row_q8_K_ref): each row of A is quantized per 256-value super-block to int8, q = round(a·s) with
/// s = 127/amax (amax = the block's largest magnitude; ggml uses −127/max of the signed extreme, which flips the signs
/// of q and d together) and d_a = 1/s in float32, round to nearest even; per 16-weight sub-block j the exact integer
/// Σ (q6 − 32)·q is multiplied by the int8 sc_j and summed in int32 over the super-block, which then adds
/// d_w·d_a·Σ to the float32 sum (d_w·d_a first, as ggml does). A NaN or ±Inf in a row of A makes that row of Y NaN
/// (as in ggml: a block holding ±Inf quantizes to all-zero q with d_a = ±Inf).
/// </summary>
/// <remarks>
/// x86-64 with AVX-512BW only (<see cref="IsSupported"/>). Per sub-block and 16 rows: the 6-bit codes are rebuilt
/// from a low chunk and the high-bit vector (masks, shifts and VPTERNLOGD), multiplied with the activations by
/// VPMADDUBSW (unsigned codes 0–63 times signed q: pair sums ≤ 16,002) and summed in 16 bits, where the −32 offset is
/// applied by subtracting 32·Σq of the matching activations (so each 16-bit half ends as Σ (q6 − 32)·q over 8
/// products, |·| ≤ 32,512: exact, the wrapping intermediate sums notwithstanding); VPMADDWD with the sub-block's scale
/// in both halves of every lane then gives sc_j·Σ in 32 bits. M = 1 (decode) streams the packed weights once, a pair of
/// panels (32 rows, one sequential stream) at a time, with software prefetches 16 KiB ahead; M ≥ 2 expands each pair once to bytes in an L2-sized buffer
/// (codes, scales as 16-bit pairs, d as float32) and runs a 4-row × 32-column register-blocked kernel over every group
/// of four rows of A (a 1-row copy for the rest) while prefetching the next pair. Work is split over panel pairs, on
/// the caller's <see cref="IKernelParallelFor"/> (ONNX Runtime's intra-op pool inside a session).
/// </remarks>
public sealed unsafe class Q6_KMatMul : IDisposable
{
    private const int Mr = 4;

    // How far ahead of the sub-block being read the decode kernel asks for the packed stream (bytes; ~2.4 pair blocks).
    // Measured on the 2-vCPU Zen 4 VM, head 151936 × 1536, M = 1: one thread 22 ms without, 10–11 ms with 8–16 KiB
    // (the hardware prefetcher alone kept one core near 8 GB/s); 32 KiB was no better.
    private const int PrefetchDistance = 16384;
    private const int SubBlocks = Q6_KPackedWeights.BlockSize / Q6_KPackedWeights.SubBlockSize;

    // The expanded form of a pair block: per sub-block j at 640·j, the codes of groups t = 0–3 for panel 0 then
    // panel 1 (8 × 64 bytes), then the scale pairs of panel 0 and panel 1 (2 × 64 bytes); d_w as float32 at 10240
    // (panel 0) and 10304 (panel 1).
    private const int ExpandedSubBlockBytes = 640;
    private const int ExpandedDOffset = SubBlocks * ExpandedSubBlockBytes;
    private const int ExpandedBlockBytes = ExpandedDOffset + 128;

    private readonly Q6_KPackedWeights _weights;
    private readonly bool _ownsWeights;
    private readonly ConcurrentBag<nint> _panelBuffers = new();
    private readonly ConcurrentBag<Scratch> _scratch = new();
    private GCHandle _self;

    /// <summary>Creates the kernel over packed weights.</summary>
    /// <param name="weights">The weights.</param>
    /// <param name="ownsWeights">Dispose <paramref name="weights"/> with this kernel.</param>
    /// <exception cref="PlatformNotSupportedException">The CPU has no AVX-512BW.</exception>
    public Q6_KMatMul(Q6_KPackedWeights weights, bool ownsWeights = false)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (!IsSupported) throw new PlatformNotSupportedException("The Q6_K kernel needs x86-64 AVX-512BW.");
        _weights = weights;
        _ownsWeights = ownsWeights;
        _self = GCHandle.Alloc(this, GCHandleType.Weak); // how the static tasks reach the panel-buffer pool
    }

    /// <summary>Whether this CPU runs the kernel (AVX-512 F and BW).</summary>
    public static bool IsSupported => Avx512BW.IsSupported && Avx512F.IsSupported;

    /// <summary>The weights.</summary>
    public Q6_KPackedWeights Weights => _weights;

    /// <summary>
    /// Computes Y [M, N] = A [M, K] · Wᵀ + bias. <paramref name="bias"/> is null or N floats.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">M is negative.</exception>
    public void Run(float* a, int m, float* y, float* bias, IKernelParallelFor parallel)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentNullException.ThrowIfNull(parallel);
        if (m == 0) return;
        int k = _weights.K, kb = _weights.Blocks;
        if (!_scratch.TryTake(out var scratch)) scratch = new Scratch();
        try
        {
            scratch.Ensure(m, k);
            var job = new Job
            {
                Weights = _weights.Data,
                PairStride = _weights.PairStride,
                N = _weights.N,
                K = k,
                Kb = kb,
                M = m,
                A = a,
                Y = y,
                Bias = bias,
                Q = scratch.Q,
                ScaleA = scratch.ScaleA,
                Offsets = scratch.Offsets,
                Owner = GCHandle.ToIntPtr(_self),
            };
            int pairs = _weights.Panels / 2;
            if (m == 1)
            {
                QuantizeRow(&job, 0);
                parallel.For(KernelMemory.TaskCount(pairs, 8, 64, out job.PairsPerTask), &GemvTask, &job);
            }
            else
            {
                int rowTasks = Math.Min(m, 64);
                job.RowsPerTask = (m + rowTasks - 1) / rowTasks;
                parallel.For((m + job.RowsPerTask - 1) / job.RowsPerTask, &QuantizeTask, &job);
                parallel.For(KernelMemory.TaskCount(pairs, 1, 64, out job.PairsPerTask), &GemmTask, &job);
            }
        }
        finally
        {
            _scratch.Add(scratch);
        }
    }

    /// <summary>Frees the scratch buffers (and the weights when owned).</summary>
    public void Dispose()
    {
        if (_self.IsAllocated) _self.Free();
        while (_panelBuffers.TryTake(out var p)) NativeMemory.AlignedFree((void*)p);
        while (_scratch.TryTake(out var s)) s.Dispose();
        if (_ownsWeights) _weights.Dispose();
    }

    private struct Job
    {
        public byte* Weights;
        public long PairStride;
        public int N, K, Kb, M, RowsPerTask, PairsPerTask;
        public float* A, Y, Bias;
        public sbyte* Q;
        public float* ScaleA;
        public int* Offsets;
        public nint Owner;
    }

    private sealed class Scratch : IDisposable
    {
        private long _qBytes;

        public sbyte* Q;
        public float* ScaleA;
        public int* Offsets;

        public void Ensure(int rows, int k)
        {
            long q = (long)rows * k;
            if (q <= _qBytes) return;
            Dispose();
            Q = (sbyte*)NativeMemory.AlignedAlloc((nuint)q, 64);
            ScaleA = (float*)NativeMemory.AlignedAlloc((nuint)(q / Q6_KPackedWeights.BlockSize * 4), 64);
            Offsets = (int*)NativeMemory.AlignedAlloc((nuint)(q / Q6_KPackedWeights.SubBlockSize * 4), 64);
            _qBytes = q;
        }

        public void Dispose()
        {
            NativeMemory.AlignedFree(Q);
            NativeMemory.AlignedFree(ScaleA);
            NativeMemory.AlignedFree(Offsets);
            Q = null;
            ScaleA = null;
            Offsets = null;
            _qBytes = 0;
        }
    }

    private static void QuantizeTask(void* state, int task)
    {
        var job = (Job*)state;
        int start = task * job->RowsPerTask;
        int end = Math.Min(start + job->RowsPerTask, job->M);
        for (int row = start; row < end; row++) QuantizeRow(job, row);
    }

    /// <summary>
    /// Row <paramref name="row"/> of A to Q8_K: per 256-block q = round(a·s), s = 127 / max|a|, d_a = 1/s (0 for an
    /// all-zero block); and per 16-value sub-block j the word 32·Σq over the values each 16-bit half of a VPMADDUBSW
    /// lane sees (positions 4t, 4t+1 in the low half, 4t+2, 4t+3 in the high half, t = 0–3).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void QuantizeRow(Job* job, int row)
    {
        int k = job->K, kb = job->Kb;
        float* a = job->A + ((long)row * k);
        sbyte* q = job->Q + ((long)row * k);
        float* scale = job->ScaleA + ((long)row * kb);
        int* offsets = job->Offsets + ((long)row * (k / Q6_KPackedWeights.SubBlockSize));
        var absMask = Vector512.Create(0x7FFFFFFF);
        for (int b = 0; b < kb; b++)
        {
            float* x = a + (b * Q6_KPackedWeights.BlockSize);

            // max |a| on the magnitude bits as integers, which order like the floats they encode with every NaN above
            // +Inf: a NaN anywhere in the block becomes amax, so d_a and the row's outputs are NaN.
            var mx = Vector512<int>.Zero;
            for (int i = 0; i < SubBlocks; i++) mx = Avx512F.Max(mx, Vector512.Load(x + (16 * i)).AsInt32() & absMask);
            var m256 = Vector256.Max(mx.GetLower(), mx.GetUpper());
            var m128 = Vector128.Max(m256.GetLower(), m256.GetUpper());
            float amax = BitConverter.Int32BitsToSingle(Math.Max(Math.Max(m128[0], m128[1]), Math.Max(m128[2], m128[3])));
            float s = 0f, d = 0f;
            if (amax != 0f)
            {
                s = 127f / amax;
                d = 1f / s;
            }

            scale[b] = d;
            var vs = Vector512.Create(s);
            sbyte* qb = q + (b * Q6_KPackedWeights.BlockSize);
            for (int j = 0; j < SubBlocks; j++)
            {
                var qi = Avx512F.ConvertToVector512Int32(Vector512.Load(x + (16 * j)) * vs); // MXCSR default: round to nearest even
                Avx512F.ConvertToVector128SByte(qi).Store(qb + (16 * j));
                int low = 0, high = 0;
                for (int t = 0; t < 4; t++)
                {
                    sbyte* g = qb + (16 * j) + (4 * t);
                    low += g[0] + g[1];
                    high += g[2] + g[3];
                }

                offsets[(b * SubBlocks) + j] = (ushort)(short)(32 * low) | ((32 * high) << 16);
            }
        }
    }

    /// <summary>The VPSHUFB controls that put byte <c>jj</c> of every 32-bit lane into the high byte of both of its
    /// 16-bit halves, zeroing the low bytes (an arithmetic shift right by 8 then sign-extends it).</summary>
    private static Vector512<byte> ScaleControl(int jj)
    {
        var c = Vector512<uint>.Zero;
        for (int lane = 0; lane < 16; lane++)
        {
            uint k = (uint)(((lane & 3) * 4) + jj);
            c = c.WithElement(lane, 0x80u | (k << 8) | (0x80u << 16) | (k << 24));
        }

        return c.AsByte();
    }

    /// <summary>The four code vectors (groups t = 0–3, unsigned 0–63) of one sub-block of one panel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Codes(byte* lo, byte* hi, out Vector512<byte> u0, out Vector512<byte> u1, out Vector512<byte> u2, out Vector512<byte> u3)
    {
        var low = Vector512.Create((byte)0x0F);
        var c0 = Vector512.Load(lo).AsUInt16();
        var c1 = Vector512.Load(lo + 64).AsUInt16();
        var h = Vector512.Load(hi);
        var hA = (h & Vector512.Create((byte)0x33)).AsUInt16(); // fields t = 0 (bits 0–1) and 2 (bits 4–5)
        var hB = (h & Vector512.Create((byte)0xCC)).AsUInt16(); // fields t = 1 (bits 2–3) and 3 (bits 6–7)

        // (A & 0x0F) | (B & 0xF0) with B's bits 6–7 zero by the masks above: the field lands in bits 4–5.
        u0 = Avx512F.TernaryLogic(c0.AsByte(), Avx512BW.ShiftLeftLogical(hA, 4).AsByte(), low, 0xE4);
        u1 = Avx512F.TernaryLogic(Avx512BW.ShiftRightLogical(c0, 4).AsByte(), Avx512BW.ShiftLeftLogical(hB, 2).AsByte(), low, 0xE4);
        u2 = Avx512F.TernaryLogic(c1.AsByte(), hA.AsByte(), low, 0xE4);
        u3 = Avx512F.TernaryLogic(Avx512BW.ShiftRightLogical(c1, 4).AsByte(), Avx512BW.ShiftRightLogical(hB, 2).AsByte(), low, 0xE4);
    }

    /// <summary>Sub-block scale sc_j of 16 rows as a pair of 16-bit words per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> ScalePairs(Vector512<byte> scales, Vector512<byte> control) =>
        Avx512BW.ShiftRightArithmetic(Avx512BW.Shuffle(scales, control).AsInt16(), 8);

    /// <summary>acc + sc_j · Σ (q6 − 32)·q over one sub-block of 16 rows (see the class remarks).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> SubBlock(
        byte* lo, byte* hi, Vector512<int> acc, Vector512<sbyte> a0, Vector512<sbyte> a1, Vector512<sbyte> a2, Vector512<sbyte> a3,
        Vector512<short> offset, Vector512<short> scalePairs)
    {
        Codes(lo, hi, out var u0, out var u1, out var u2, out var u3);
        var s = Avx512BW.Subtract(Avx512BW.MultiplyAddAdjacent(u0, a0), offset);
        s = Avx512BW.Add(s, Avx512BW.MultiplyAddAdjacent(u1, a1));
        s = Avx512BW.Add(s, Avx512BW.MultiplyAddAdjacent(u2, a2));
        s = Avx512BW.Add(s, Avx512BW.MultiplyAddAdjacent(u3, a3));
        return Avx512F.Add(acc, Avx512BW.MultiplyAddAdjacent(s, scalePairs));
    }

    /// <summary>Decode: one row of A against panel pairs [task·PairsPerTask, …), reading the packed weights directly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GemvTask(void* state, int task)
    {
        var job = (Job*)state;
        int pairs = (job->N + 31) / 32;
        int start = task * job->PairsPerTask;
        int end = Math.Min(start + job->PairsPerTask, pairs);
        int kb = job->Kb;
        var ctrl0 = ScaleControl(0);
        var ctrl1 = ScaleControl(1);
        var ctrl2 = ScaleControl(2);
        var ctrl3 = ScaleControl(3);
        for (int pair = start; pair < end; pair++)
        {
            byte* w = job->Weights + (pair * job->PairStride);
            var f0 = Vector512<float>.Zero;
            var f1 = Vector512<float>.Zero;
            for (int b = 0; b < kb; b++)
            {
                byte* pb = w + ((long)b * Q6_KPackedWeights.PairBlockBytes);
                int* qb = (int*)(job->Q + (b * Q6_KPackedWeights.BlockSize));
                int* ob = job->Offsets + (b * SubBlocks);
                var acc0 = Vector512<int>.Zero;
                var acc1 = Vector512<int>.Zero;
                for (int g = 0; g < 4; g++)
                {
                    var sc0 = Vector512.Load(pb + Q6_KPackedWeights.ScalesOffset + (g * 64));
                    var sc1 = Vector512.Load(pb + Q6_KPackedWeights.ScalesOffset + 256 + (g * 64));
                    Step(pb, qb, ob, (4 * g) + 0, ref acc0, ref acc1, ScalePairs(sc0, ctrl0), ScalePairs(sc1, ctrl0));
                    Step(pb, qb, ob, (4 * g) + 1, ref acc0, ref acc1, ScalePairs(sc0, ctrl1), ScalePairs(sc1, ctrl1));
                    Step(pb, qb, ob, (4 * g) + 2, ref acc0, ref acc1, ScalePairs(sc0, ctrl2), ScalePairs(sc1, ctrl2));
                    Step(pb, qb, ob, (4 * g) + 3, ref acc0, ref acc1, ScalePairs(sc0, ctrl3), ScalePairs(sc1, ctrl3));
                }

                var da = Vector512.Create(job->ScaleA[b]);
                var d0 = Q4_0MatMul.HalfToSingle(Vector256.Load((ushort*)(pb + Q6_KPackedWeights.DOffset))) * da;
                var d1 = Q4_0MatMul.HalfToSingle(Vector256.Load((ushort*)(pb + Q6_KPackedWeights.DOffset + 32))) * da;
                f0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(acc0), d0, f0);
                f1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(acc1), d1, f1);
            }

            Store(job, 0, pair * 32, f0);
            Store(job, 0, (pair * 32) + 16, f1);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step(byte* pb, int* qb, int* ob, int j, ref Vector512<int> acc0, ref Vector512<int> acc1, Vector512<short> sp0, Vector512<short> sp1)
    {
        byte* sub = pb + (j * Q6_KPackedWeights.SubBlockStride);
        byte* ahead = pb + PrefetchDistance + (j * 448); // 16 × 448 bytes cover a 6720-byte pair block
        for (int l = 0; l < 448; l += 64) Sse.Prefetch0(ahead + l); // hints: past the end of the weights they do nothing

        int* aw = qb + (4 * j);
        var a0 = Vector512.Create(aw[0]).AsSByte();
        var a1 = Vector512.Create(aw[1]).AsSByte();
        var a2 = Vector512.Create(aw[2]).AsSByte();
        var a3 = Vector512.Create(aw[3]).AsSByte();
        var offset = Vector512.Create(ob[j]).AsInt16();
        acc0 = SubBlock(sub, sub + 256, acc0, a0, a1, a2, a3, offset, sp0);
        acc1 = SubBlock(sub + 128, sub + 320, acc1, a0, a1, a2, a3, offset, sp1);
    }

    /// <summary>Writes 16 results from column <paramref name="col"/> of Y's row <paramref name="row"/> (+ bias).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Job* job, int row, int col, Vector512<float> v)
    {
        int n = job->N;
        if (col >= n) return;
        int width = n - col;
        if (job->Bias != null)
        {
            v += width >= 16 ? Vector512.Load(job->Bias + col) : KernelMemory.Tail(job->Bias + col, width);
        }

        float* y = job->Y + ((long)row * n) + col;
        KernelMemory.Store(v, y, width);
    }

    /// <summary>M ≥ 2: expand a panel pair once, then every group of rows of A against it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GemmTask(void* state, int task)
    {
        var job = (Job*)state;
        var owner = (Q6_KMatMul)GCHandle.FromIntPtr(job->Owner).Target!;
        int pairs = (job->N + 31) / 32;
        int start = task * job->PairsPerTask;
        int end = Math.Min(start + job->PairsPerTask, pairs);
        if (!owner._panelBuffers.TryTake(out var bufferAddress))
            bufferAddress = (nint)NativeMemory.AlignedAlloc((nuint)job->Kb * ExpandedBlockBytes, 64);
        byte* buffer = (byte*)bufferAddress;
        try
        {
            int groups = (job->M + Mr - 1) / Mr;
            long slice = ((job->PairStride / groups) + 63) & ~63L;
            for (int pair = start; pair < end; pair++)
            {
                Expand(job, pair, buffer);

                // While the expanded pair is multiplied (compute-bound), pull the next pair's packed weights into L2,
                // a slice per row group, so that its Expand does not wait on memory.
                byte* next = pair + 1 < end ? job->Weights + ((pair + 1) * job->PairStride) : null;
                for (int m0 = 0, gi = 0; m0 < job->M; m0 += Mr, gi++)
                {
                    if (next != null)
                    {
                        long from = gi * slice, to = Math.Min(from + slice, job->PairStride);
                        for (long off = from; off < to; off += 64) Sse.Prefetch1(next + off);
                    }

                    if (m0 + Mr <= job->M) Kernel4x32(job, buffer, m0, pair);
                    else
                    {
                        for (int r = m0; r < job->M; r++) Kernel1x32(job, buffer, r, pair);
                    }
                }
            }
        }
        finally
        {
            owner._panelBuffers.Add(bufferAddress);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Expand(Job* job, int pair, byte* buffer)
    {
        byte* w = job->Weights + (pair * job->PairStride);
        Span<Vector512<byte>> controls = [ScaleControl(0), ScaleControl(1), ScaleControl(2), ScaleControl(3)];
        for (int b = 0; b < job->Kb; b++)
        {
            byte* pb = w + ((long)b * Q6_KPackedWeights.PairBlockBytes);
            byte* eb = buffer + ((long)b * ExpandedBlockBytes);
            for (int j = 0; j < SubBlocks; j++)
            {
                byte* sub = pb + (j * Q6_KPackedWeights.SubBlockStride);
                byte* es = eb + (j * ExpandedSubBlockBytes);
                for (int p = 0; p < 2; p++)
                {
                    Codes(sub + (p * 128), sub + 256 + (p * 64), out var u0, out var u1, out var u2, out var u3);
                    u0.Store(es + (p * 64));
                    u1.Store(es + 128 + (p * 64));
                    u2.Store(es + 256 + (p * 64));
                    u3.Store(es + 384 + (p * 64));
                    var scales = Vector512.Load(pb + Q6_KPackedWeights.ScalesOffset + (p * 256) + ((j >> 2) * 64));
                    ScalePairs(scales, controls[j & 3]).Store((short*)(es + 512 + (p * 64)));
                }
            }

            Q4_0MatMul.HalfToSingle(Vector256.Load((ushort*)(pb + Q6_KPackedWeights.DOffset))).Store((float*)(eb + ExpandedDOffset));
            Q4_0MatMul.HalfToSingle(Vector256.Load((ushort*)(pb + Q6_KPackedWeights.DOffset + 32))).Store((float*)(eb + ExpandedDOffset + 64));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel4x32(Job* job, byte* buffer, int m0, int pair)
    {
        int k = job->K, kb = job->Kb, kSub = k / Q6_KPackedWeights.SubBlockSize;
        sbyte* q0 = job->Q + ((long)m0 * k);
        int* o0 = job->Offsets + ((long)m0 * kSub);
        float* scaleA = job->ScaleA + ((long)m0 * kb);
        Vector512<float> f00 = default, f01 = default, f10 = default, f11 = default, f20 = default, f21 = default, f30 = default, f31 = default;
        for (int b = 0; b < kb; b++)
        {
            Vector512<int> i00 = default, i01 = default, i10 = default, i11 = default, i20 = default, i21 = default, i30 = default, i31 = default;
            byte* eb = buffer + ((long)b * ExpandedBlockBytes);
            for (int j = 0; j < SubBlocks; j++)
            {
                byte* es = eb + (j * ExpandedSubBlockBytes);
                sbyte* ab = q0 + (b * Q6_KPackedWeights.BlockSize) + (16 * j);
                Vector512<short> s00 = default, s01 = default, s10 = default, s11 = default, s20 = default, s21 = default, s30 = default, s31 = default;
                for (int t = 0; t < 4; t++)
                {
                    var w0 = Vector512.Load(es + (t * 128));
                    var w1 = Vector512.Load(es + (t * 128) + 64);
                    var x = Vector512.Create(*(int*)(ab + (4 * t))).AsSByte();
                    s00 = Avx512BW.Add(s00, Avx512BW.MultiplyAddAdjacent(w0, x));
                    s01 = Avx512BW.Add(s01, Avx512BW.MultiplyAddAdjacent(w1, x));
                    x = Vector512.Create(*(int*)(ab + k + (4 * t))).AsSByte();
                    s10 = Avx512BW.Add(s10, Avx512BW.MultiplyAddAdjacent(w0, x));
                    s11 = Avx512BW.Add(s11, Avx512BW.MultiplyAddAdjacent(w1, x));
                    x = Vector512.Create(*(int*)(ab + (2 * k) + (4 * t))).AsSByte();
                    s20 = Avx512BW.Add(s20, Avx512BW.MultiplyAddAdjacent(w0, x));
                    s21 = Avx512BW.Add(s21, Avx512BW.MultiplyAddAdjacent(w1, x));
                    x = Vector512.Create(*(int*)(ab + (3 * k) + (4 * t))).AsSByte();
                    s30 = Avx512BW.Add(s30, Avx512BW.MultiplyAddAdjacent(w0, x));
                    s31 = Avx512BW.Add(s31, Avx512BW.MultiplyAddAdjacent(w1, x));
                }

                var sp0 = Vector512.Load((short*)(es + 512));
                var sp1 = Vector512.Load((short*)(es + 576));
                int* oj = o0 + (b * SubBlocks) + j;
                var off = Vector512.Create(oj[0]).AsInt16();
                i00 = Avx512F.Add(i00, Avx512BW.MultiplyAddAdjacent(Avx512BW.Subtract(s00, off), sp0));
                i01 = Avx512F.Add(i01, Avx512BW.MultiplyAddAdjacent(Avx512BW.Subtract(s01, off), sp1));
                off = Vector512.Create(oj[kSub]).AsInt16();
                i10 = Avx512F.Add(i10, Avx512BW.MultiplyAddAdjacent(Avx512BW.Subtract(s10, off), sp0));
                i11 = Avx512F.Add(i11, Avx512BW.MultiplyAddAdjacent(Avx512BW.Subtract(s11, off), sp1));
                off = Vector512.Create(oj[2 * kSub]).AsInt16();
                i20 = Avx512F.Add(i20, Avx512BW.MultiplyAddAdjacent(Avx512BW.Subtract(s20, off), sp0));
                i21 = Avx512F.Add(i21, Avx512BW.MultiplyAddAdjacent(Avx512BW.Subtract(s21, off), sp1));
                off = Vector512.Create(oj[3 * kSub]).AsInt16();
                i30 = Avx512F.Add(i30, Avx512BW.MultiplyAddAdjacent(Avx512BW.Subtract(s30, off), sp0));
                i31 = Avx512F.Add(i31, Avx512BW.MultiplyAddAdjacent(Avx512BW.Subtract(s31, off), sp1));
            }

            var dw0 = Vector512.Load((float*)(eb + ExpandedDOffset));
            var dw1 = Vector512.Load((float*)(eb + ExpandedDOffset + 64));
            float* sa = scaleA + b;
            f00 = Finish(f00, i00, dw0, sa[0]);
            f01 = Finish(f01, i01, dw1, sa[0]);
            f10 = Finish(f10, i10, dw0, sa[kb]);
            f11 = Finish(f11, i11, dw1, sa[kb]);
            f20 = Finish(f20, i20, dw0, sa[2 * kb]);
            f21 = Finish(f21, i21, dw1, sa[2 * kb]);
            f30 = Finish(f30, i30, dw0, sa[3 * kb]);
            f31 = Finish(f31, i31, dw1, sa[3 * kb]);
        }

        Store(job, m0, pair * 32, f00);
        Store(job, m0, (pair * 32) + 16, f01);
        Store(job, m0 + 1, pair * 32, f10);
        Store(job, m0 + 1, (pair * 32) + 16, f11);
        Store(job, m0 + 2, pair * 32, f20);
        Store(job, m0 + 2, (pair * 32) + 16, f21);
        Store(job, m0 + 3, pair * 32, f30);
        Store(job, m0 + 3, (pair * 32) + 16, f31);
    }

    /// <summary><see cref="Kernel4x32"/> for one row (the rows of M left after groups of four).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel1x32(Job* job, byte* buffer, int row, int pair)
    {
        int k = job->K, kb = job->Kb, kSub = k / Q6_KPackedWeights.SubBlockSize;
        sbyte* q0 = job->Q + ((long)row * k);
        int* o0 = job->Offsets + ((long)row * kSub);
        float* scaleA = job->ScaleA + ((long)row * kb);
        Vector512<float> f0 = default, f1 = default;
        for (int b = 0; b < kb; b++)
        {
            Vector512<int> i0 = default, i1 = default;
            byte* eb = buffer + ((long)b * ExpandedBlockBytes);
            for (int j = 0; j < SubBlocks; j++)
            {
                byte* es = eb + (j * ExpandedSubBlockBytes);
                sbyte* ab = q0 + (b * Q6_KPackedWeights.BlockSize) + (16 * j);
                Vector512<short> s0 = default, s1 = default;
                for (int t = 0; t < 4; t++)
                {
                    var x = Vector512.Create(*(int*)(ab + (4 * t))).AsSByte();
                    s0 = Avx512BW.Add(s0, Avx512BW.MultiplyAddAdjacent(Vector512.Load(es + (t * 128)), x));
                    s1 = Avx512BW.Add(s1, Avx512BW.MultiplyAddAdjacent(Vector512.Load(es + (t * 128) + 64), x));
                }

                var off = Vector512.Create(o0[(b * SubBlocks) + j]).AsInt16();
                i0 = Avx512F.Add(i0, Avx512BW.MultiplyAddAdjacent(Avx512BW.Subtract(s0, off), Vector512.Load((short*)(es + 512))));
                i1 = Avx512F.Add(i1, Avx512BW.MultiplyAddAdjacent(Avx512BW.Subtract(s1, off), Vector512.Load((short*)(es + 576))));
            }

            f0 = Finish(f0, i0, Vector512.Load((float*)(eb + ExpandedDOffset)), scaleA[b]);
            f1 = Finish(f1, i1, Vector512.Load((float*)(eb + ExpandedDOffset + 64)), scaleA[b]);
        }

        Store(job, row, pair * 32, f0);
        Store(job, row, (pair * 32) + 16, f1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Finish(Vector512<float> acc, Vector512<int> isum, Vector512<float> dw, float da) =>
        Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(isum), dw * Vector512.Create(da), acc);
}
