using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Gguf2Qnn.Runtime.Kernels;

/// <summary>
/// Runs a parallel loop for a kernel: calls <c>body(state, i)</c> once for every i in [0, count), on any threads,
/// and returns when all calls have returned. Inside ONNX Runtime this is the session's intra-op thread pool.
/// </summary>
public unsafe interface IKernelParallelFor
{
    /// <summary>Calls <paramref name="body"/>(<paramref name="state"/>, i) for i in [0, <paramref name="count"/>).</summary>
    void For(int count, delegate*<void*, int, void> body, void* state);
}

/// <summary>Runs the loop on the calling thread, in order.</summary>
public sealed unsafe class SerialParallelFor : IKernelParallelFor
{
    /// <summary>The one instance.</summary>
    public static readonly SerialParallelFor Instance = new();

    /// <inheritdoc />
    public void For(int count, delegate*<void*, int, void> body, void* state)
    {
        for (int i = 0; i < count; i++) body(state, i);
    }
}

/// <summary>
/// Y = A·Wᵀ (+ bias) for float32 activations A [M, K] (row-major) and Q4_0 weights W [N, K] held as
/// <see cref="Q4_0PackedWeights"/>; Y is float32 [M, N], row-major. The arithmetic of ggml's Q4_0 × Q8_0 dot product
/// (ggml-cpu, ggml_vec_dot_q4_0_q8_0): each row of A is quantized per 32-value block to int8, q = round(a·127/amax)
/// (amax = the block's largest magnitude, round to nearest even), integer dot products are exact within a block, and
/// a block contributes d_w · d_a · Σ (u − 8)·q to the float32 sum, with d_a = amax/127. One difference: d_a stays
/// float32 here, where ggml's block_q8_0 rounds it to fp16 (a relative 2^−11 at most). A NaN in a row of A makes that
/// row of Y NaN.
/// </summary>
/// <remarks>
/// x86-64 with AVX-512BW only (<see cref="IsSupported"/>); the byte products use VPMADDUBSW (16-bit sums of two
/// products, eight of them accumulated in 16 bits: |u·q| ≤ 15·127, 16 products ≤ 30,480 fits) then VPMADDWD. M = 1
/// (decode) streams the packed nibbles once, a pair of panels (32 rows, one sequential stream) at a time; M ≥ 2
/// (prefill) expands each pair of panels to bytes once, in an L2-sized buffer, and runs a 6-row × 32-column
/// register-blocked kernel over every group of six rows (a 2-row copy of it for the one to four rows left over) while
/// prefetching the next pair. Work is split over panel pairs, on the
/// caller's <see cref="IKernelParallelFor"/> (ONNX Runtime's intra-op pool inside a session).
/// </remarks>
public sealed unsafe class Q4_0MatMul : IDisposable
{
    private const int Mr = 6;
    private const int PairBlockBytes = 1152; // 8 quads × 128 bytes of weights + 32 float32 scales

    private readonly Q4_0PackedWeights _weights;
    private readonly bool _ownsWeights;
    private readonly ConcurrentBag<nint> _panelBuffers = new();
    private readonly ConcurrentBag<Scratch> _scratch = new();
    private readonly int[] _widths;
    private readonly bool _swiGlu;
    private GCHandle _self;

    /// <summary>Creates the kernel over packed weights: one output Y [M, N].</summary>
    /// <param name="weights">The weights.</param>
    /// <param name="ownsWeights">Dispose <paramref name="weights"/> with this kernel.</param>
    /// <exception cref="PlatformNotSupportedException">The CPU has no AVX-512BW.</exception>
    public Q4_0MatMul(Q4_0PackedWeights weights, bool ownsWeights = false)
        : this(weights, ownsWeights, Q4_0Epilogue.None)
    {
    }

    /// <summary>Creates the kernel over packed weights with an epilogue applied as results leave the registers.</summary>
    /// <param name="weights">The weights; for <see cref="Q4_0Epilogue.SwiGlu"/> packed with
    /// <see cref="Q4_0PackedWeights.PairsHalves"/>.</param>
    /// <param name="ownsWeights">Dispose <paramref name="weights"/> with this kernel.</param>
    /// <param name="epilogue">What is written (see <see cref="Q4_0Epilogue"/>).</param>
    /// <exception cref="PlatformNotSupportedException">The CPU has no AVX-512BW.</exception>
    /// <exception cref="ArgumentException">The epilogue does not fit the weights.</exception>
    public Q4_0MatMul(Q4_0PackedWeights weights, bool ownsWeights, Q4_0Epilogue epilogue)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(epilogue);
        if (!IsSupported) throw new PlatformNotSupportedException("The Q4_0 kernel needs x86-64 AVX-512BW.");
        _swiGlu = epilogue.IsSwiGlu;
        if (_swiGlu != weights.PairsHalves)
            throw new ArgumentException("SwiGLU needs weights packed with the halves of N paired, and only SwiGLU reads them so.", nameof(epilogue));
        _widths = epilogue.IsSwiGlu ? [weights.N / 2] : epilogue.SplitWidths.Count == 0 ? [weights.N] : [.. epilogue.SplitWidths];
        if (!_swiGlu)
        {
            if (_widths.Length > 3 || _widths.Sum() != weights.N || _widths.Any(w => w <= 0) || _widths[..^1].Any(w => w % Q4_0PackedWeights.PanelRows != 0))
                throw new ArgumentException($"Split widths must be 1 to 3 positive numbers summing to N = {weights.N}, all but the last multiples of 16.", nameof(epilogue));
        }

        _weights = weights;
        _ownsWeights = ownsWeights;
        _self = GCHandle.Alloc(this, GCHandleType.Weak); // how the static tasks reach the panel-buffer pool
    }

    /// <summary>The widths of the outputs <see cref="Run(float*, int, ReadOnlySpan{nint}, float*, IKernelParallelFor)"/> writes.</summary>
    public IReadOnlyList<int> OutputWidths => _widths;

    /// <summary>Whether this CPU runs the kernel (AVX-512 F and BW).</summary>
    public static bool IsSupported => Avx512BW.IsSupported && Avx512F.IsSupported;

    /// <summary>The weights.</summary>
    public Q4_0PackedWeights Weights => _weights;

    /// <summary>
    /// Computes Y [M, N] = A [M, K] · Wᵀ + bias. <paramref name="bias"/> is null or N floats.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">M is negative.</exception>
    public void Run(float* a, int m, float* y, float* bias, IKernelParallelFor parallel)
    {
        nint yAddress = (nint)y;
        Run(a, m, new ReadOnlySpan<nint>(&yAddress, 1), bias, parallel);
    }

    /// <summary>
    /// Computes A [M, K] · Wᵀ + bias and writes it through the epilogue: output i is float32 [M, OutputWidths[i]],
    /// row-major. <paramref name="bias"/> is null or N floats (in W's row order).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">M is negative.</exception>
    /// <exception cref="ArgumentException">Not one output pointer per <see cref="OutputWidths"/>.</exception>
    public void Run(float* a, int m, ReadOnlySpan<nint> outputs, float* bias, IKernelParallelFor parallel)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        if (outputs.Length != _widths.Length) throw new ArgumentException($"Needs {_widths.Length} output(s).", nameof(outputs));
        ArgumentNullException.ThrowIfNull(parallel);
        if (m == 0) return;
        int k = _weights.K, kb = _weights.Blocks;
        int mPad = m == 1 ? 1 : ((m + Mr - 1) / Mr) * Mr;
        if (!_scratch.TryTake(out var scratch)) scratch = new Scratch();
        try
        {
            scratch.Ensure(mPad, k, kb);
            var job = new Job
            {
                Weights = _weights.Data,
                PairStride = _weights.PairStride,
                N = _weights.N,
                K = k,
                Kb = kb,
                M = m,
                MPad = mPad,
                A = a,
                Y0 = (float*)outputs[0],
                Y1 = outputs.Length > 1 ? (float*)outputs[1] : null,
                Y2 = outputs.Length > 2 ? (float*)outputs[2] : null,
                W0 = _widths[0],
                W1 = _widths.Length > 1 ? _widths[1] : 0,
                W2 = _widths.Length > 2 ? _widths[2] : 0,
                SwiGlu = _swiGlu,
                Bias = bias,
                Q = scratch.Q,
                ScaleA = scratch.ScaleA,
                OffsetA = scratch.OffsetA,
                Owner = GCHandle.ToIntPtr(_self),
            };
            int rowTasks = Math.Min(mPad, 64);
            job.RowsPerTask = (mPad + rowTasks - 1) / rowTasks;
            if (m == 1)
            {
                QuantizeRows(&job, 0);
                parallel.For(KernelMemory.TaskCount(_weights.Panels / 2, 8, 64, out job.PairsPerTask), &GemvTask, &job);
            }
            else
            {
                parallel.For((mPad + job.RowsPerTask - 1) / job.RowsPerTask, &QuantizeTask, &job);
                parallel.For(KernelMemory.TaskCount(_weights.Panels / 2, 1, 64, out job.PairsPerTask), &GemmTask, &job);
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
        public int N, K, Kb, M, MPad, RowsPerTask, PairsPerTask;
        public float* A, Y0, Y1, Y2, Bias;
        public int W0, W1, W2;
        public bool SwiGlu;
        public sbyte* Q;
        public float* ScaleA, OffsetA;
        public nint Owner;
    }

    private sealed class Scratch : IDisposable
    {
        private long _qBytes, _scaleCount;

        public sbyte* Q;
        public float* ScaleA, OffsetA;

        public void Ensure(int rows, int k, int kb)
        {
            long q = (long)rows * k, s = (long)rows * kb;
            if (q > _qBytes)
            {
                NativeMemory.AlignedFree(Q);
                Q = (sbyte*)NativeMemory.AlignedAlloc((nuint)q, 64);
                _qBytes = q;
            }

            if (s > _scaleCount)
            {
                NativeMemory.AlignedFree(ScaleA);
                NativeMemory.AlignedFree(OffsetA);
                ScaleA = (float*)NativeMemory.AlignedAlloc((nuint)(s * 4), 64);
                OffsetA = (float*)NativeMemory.AlignedAlloc((nuint)(s * 4), 64);
                _scaleCount = s;
            }
        }

        public void Dispose()
        {
            NativeMemory.AlignedFree(Q);
            NativeMemory.AlignedFree(ScaleA);
            NativeMemory.AlignedFree(OffsetA);
            Q = null;
            ScaleA = OffsetA = null;
            _qBytes = _scaleCount = 0;
        }
    }

    private static void QuantizeTask(void* state, int task)
    {
        var job = (Job*)state;
        int start = task * job->RowsPerTask;
        int end = Math.Min(start + job->RowsPerTask, job->MPad);
        for (int row = start; row < end; row++) QuantizeRows(job, row);
    }

    /// <summary>
    /// Row <paramref name="row"/> of A to int8 per 32-block: q = round(a / d), d = max|a| / 127; keeps d and
    /// 8·d·Σq (the term that turns Σ u·q into Σ (u − 8)·q). Rows past M (padding) become zeros.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void QuantizeRows(Job* job, int row)
    {
        int k = job->K, kb = job->Kb;
        sbyte* q = job->Q + ((long)row * k);
        float* scale = job->ScaleA + ((long)row * kb);
        float* offset = job->OffsetA + ((long)row * kb);
        if (row >= job->M)
        {
            new Span<byte>(q, k).Clear();
            new Span<float>(scale, kb).Clear();
            new Span<float>(offset, kb).Clear();
            return;
        }

        float* a = job->A + ((long)row * k);
        var absMask = Vector512.Create(0x7FFFFFFF);
        for (int b = 0; b < kb; b++)
        {
            var v0 = Vector512.Load(a + (b * 32));
            var v1 = Vector512.Load(a + (b * 32) + 16);

            // max |a| taken on the magnitude bits as integers, which order like the floats they encode with every NaN
            // above +Inf: a NaN anywhere in the block becomes amax (so d, and the row's outputs, are NaN). The float
            // max (VMAXPS) returns its second operand when either is NaN, and would drop a NaN of v0.
            var mx = Avx512F.Max(v0.AsInt32() & absMask, v1.AsInt32() & absMask);
            var m256 = Vector256.Max(mx.GetLower(), mx.GetUpper());
            var m128 = Vector128.Max(m256.GetLower(), m256.GetUpper());
            float amax = BitConverter.Int32BitsToSingle(Math.Max(Math.Max(m128[0], m128[1]), Math.Max(m128[2], m128[3])));
            float d = amax / 127f;
            float id = amax > 0 ? 127f / amax : 0f;
            var q0 = Avx512F.ConvertToVector512Int32(v0 * id); // MXCSR default: round to nearest even
            var q1 = Avx512F.ConvertToVector512Int32(v1 * id);
            Avx512F.ConvertToVector128SByte(q0).Store(q + (b * 32));
            Avx512F.ConvertToVector128SByte(q1).Store(q + (b * 32) + 16);
            int sum = Vector512.Sum(q0 + q1);
            scale[b] = d;
            offset[b] = 8f * d * sum;
        }
    }

    /// <summary>Decode: one row of A against panel pairs [task·PairsPerTask, …), reading the nibbles directly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GemvTask(void* state, int task)
    {
        var job = (Job*)state;
        int pairs = (int)(job->N + 31) / 32;
        int start = task * job->PairsPerTask;
        int end = Math.Min(start + job->PairsPerTask, pairs);
        int kb = job->Kb;
        var low = Vector512.Create((byte)0x0F);
        var ones = Vector512.Create((short)1);
        sbyte* q = job->Q;
        float* scaleA = job->ScaleA, offsetA = job->OffsetA;
        for (int pair = start; pair < end; pair++)
        {
            byte* w = job->Weights + (pair * job->PairStride);
            var acc0 = Vector512<float>.Zero;
            var acc1 = Vector512<float>.Zero;
            for (int b = 0; b < kb; b++)
            {
                int* ab = (int*)(q + (b * 32));
                var a0 = Vector512.Create(ab[0]).AsSByte();
                var a1 = Vector512.Create(ab[1]).AsSByte();
                var a2 = Vector512.Create(ab[2]).AsSByte();
                var a3 = Vector512.Create(ab[3]).AsSByte();
                var a4 = Vector512.Create(ab[4]).AsSByte();
                var a5 = Vector512.Create(ab[5]).AsSByte();
                var a6 = Vector512.Create(ab[6]).AsSByte();
                var a7 = Vector512.Create(ab[7]).AsSByte();
                var sa = Vector512.Create(scaleA[b]);
                var oa = Vector512.Create(offsetA[b]);

                byte* p0 = w + ((long)b * 2 * Q4_0PackedWeights.PanelBlockBytes);
                byte* p1 = p0 + Q4_0PackedWeights.PanelBlockBytes;
                acc0 = PanelBlock(p0, acc0, low, ones, a0, a1, a2, a3, a4, a5, a6, a7, sa, oa);
                acc1 = PanelBlock(p1, acc1, low, ones, a0, a1, a2, a3, a4, a5, a6, a7, sa, oa);
            }

            StorePair(job, 0, pair, acc0, acc1);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> PanelBlock(
        byte* p, Vector512<float> acc, Vector512<byte> low, Vector512<short> ones,
        Vector512<sbyte> a0, Vector512<sbyte> a1, Vector512<sbyte> a2, Vector512<sbyte> a3,
        Vector512<sbyte> a4, Vector512<sbyte> a5, Vector512<sbyte> a6, Vector512<sbyte> a7,
        Vector512<float> sa, Vector512<float> oa)
    {
        var c0 = Vector512.Load(p);
        var c1 = Vector512.Load(p + 64);
        var c2 = Vector512.Load(p + 128);
        var c3 = Vector512.Load(p + 192);
        var s = Avx512BW.MultiplyAddAdjacent(c0 & low, a0);
        s = Avx512BW.Add(s, Avx512BW.MultiplyAddAdjacent(Avx512BW.ShiftRightLogical(c0.AsUInt16(), 4).AsByte() & low, a1));
        s = Avx512BW.Add(s, Avx512BW.MultiplyAddAdjacent(c1 & low, a2));
        s = Avx512BW.Add(s, Avx512BW.MultiplyAddAdjacent(Avx512BW.ShiftRightLogical(c1.AsUInt16(), 4).AsByte() & low, a3));
        s = Avx512BW.Add(s, Avx512BW.MultiplyAddAdjacent(c2 & low, a4));
        s = Avx512BW.Add(s, Avx512BW.MultiplyAddAdjacent(Avx512BW.ShiftRightLogical(c2.AsUInt16(), 4).AsByte() & low, a5));
        s = Avx512BW.Add(s, Avx512BW.MultiplyAddAdjacent(c3 & low, a6));
        s = Avx512BW.Add(s, Avx512BW.MultiplyAddAdjacent(Avx512BW.ShiftRightLogical(c3.AsUInt16(), 4).AsByte() & low, a7));
        var dot = Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(s, ones));
        var t = Avx512F.FusedMultiplySubtract(dot, sa, oa);
        return Avx512F.FusedMultiplyAdd(t, HalfToSingle(Vector256.Load((ushort*)(p + 256))), acc);
    }

    /// <summary>16 IEEE binary16 numbers to float32, exactly for zeros, subnormals and normals: normals by moving the
    /// exponent and mantissa bits to float32's place and rebasing the exponent (+112), subnormals as their integer
    /// mantissa × 2^−24 (so no float32 subnormal is involved and MXCSR.DAZ cannot zero them). Not for Inf/NaN, which
    /// <see cref="Q4_0PackedWeights"/> refuses.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> HalfToSingle(Vector256<ushort> h)
    {
        var x = Avx512F.ConvertToVector512UInt32(h);
        var magnitude = x & Vector512.Create(0x7FFFu);
        var normal = (Avx512F.ShiftLeftLogical(magnitude, 13) + Vector512.Create(112u << 23)).AsSingle();
        var subnormal = Avx512F.ConvertToVector512Single(magnitude.AsInt32()) * Vector512.Create(5.9604644775390625e-8f); // 2^-24
        var isSubnormal = Vector512.Equals(x & Vector512.Create(0x7C00u), Vector512<uint>.Zero).AsSingle();
        var value = Vector512.ConditionalSelect(isSubnormal, subnormal, normal);
        return (value.AsUInt32() | Avx512F.ShiftLeftLogical(x & Vector512.Create(0x8000u), 16)).AsSingle();
    }

    /// <summary>Writes the 32 results of panel pair <paramref name="pair"/> for one row of A through the epilogue.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StorePair(Job* job, int row, int pair, Vector512<float> first, Vector512<float> second)
    {
        if (job->SwiGlu)
        {
            // Pair i holds gate rows 16i… and up rows N/2 + 16i…: silu(gate)·up = gate·up / (1 + e^−gate).
            int half = job->W0, col = pair * 16;
            if (job->Bias != null)
            {
                first += Vector512.Load(job->Bias + col);
                second += Vector512.Load(job->Bias + half + col);
            }

            (first * second / (Vector512<float>.One + Vector512.Exp(-first))).Store(job->Y0 + ((long)row * half) + col);
            return;
        }

        Store(job, row, pair * 32, first);
        Store(job, row, (pair * 32) + 16, second);
    }

    /// <summary>Writes 16 results from column <paramref name="col"/> of W's rows into the split output holding them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Job* job, int row, int col, Vector512<float> v)
    {
        int n = job->N;
        if (col >= n) return;
        if (job->Bias != null)
        {
            v += col + 16 <= n ? Vector512.Load(job->Bias + col) : KernelMemory.Tail(job->Bias + col, n - col);
        }

        float* y;
        int width;
        if (col < job->W0)
        {
            y = job->Y0 + ((long)row * job->W0) + col;
            width = job->W0 - col;
        }
        else if (col < job->W0 + job->W1)
        {
            int c = col - job->W0;
            y = job->Y1 + ((long)row * job->W1) + c;
            width = job->W1 - c;
        }
        else
        {
            int c = col - job->W0 - job->W1;
            y = job->Y2 + ((long)row * job->W2) + c;
            width = job->W2 - c;
        }

        KernelMemory.Store(v, y, width);
    }

    /// <summary>Prefill: expand a panel pair to bytes once, then every 6-row group of A against it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GemmTask(void* state, int task)
    {
        var job = (Job*)state;
        var owner = (Q4_0MatMul)GCHandle.FromIntPtr(job->Owner).Target!;
        int pairs = (job->N + 31) / 32;
        int start = task * job->PairsPerTask;
        int end = Math.Min(start + job->PairsPerTask, pairs);
        if (!owner._panelBuffers.TryTake(out var bufferAddress))
            bufferAddress = (nint)NativeMemory.AlignedAlloc((nuint)job->Kb * PairBlockBytes, 64);
        byte* buffer = (byte*)bufferAddress;
        try
        {
            for (int pair = start; pair < end; pair++)
            {
                Expand(job, pair, buffer);

                // While the expanded pair is multiplied (compute-bound), pull the next pair's packed weights into L2,
                // a slice per row group, so that its Expand does not wait on memory.
                byte* next = pair + 1 < end ? job->Weights + ((pair + 1) * job->PairStride) : null;
                int groups = job->MPad / Mr;
                long slice = ((job->PairStride / groups) + 63) & ~63L;
                for (int m0 = 0, gi = 0; m0 < job->MPad; m0 += Mr, gi++)
                {
                    if (next != null)
                    {
                        long from = gi * slice, to = Math.Min(from + slice, job->PairStride);
                        for (long off = from; off < to; off += 64) Sse.Prefetch1(next + off);
                    }

                    // The last group: rows past M are padding (zeros); a remainder of 1–4 rows runs the 2-row kernel
                    // once or twice instead of computing 6 rows.
                    int rows = Math.Min(Mr, job->M - m0);
                    if (rows == Mr || rows == 5) Kernel6x32(job, buffer, m0, pair);
                    else
                    {
                        Kernel2x32(job, buffer, m0, pair);
                        if (rows > 2) Kernel2x32(job, buffer, m0 + 2, pair);
                    }
                }
            }
        }
        finally
        {
            owner._panelBuffers.Add(bufferAddress);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Expand(Job* job, int pair, byte* buffer)
    {
        byte* w = job->Weights + (pair * job->PairStride);
        var low = Vector512.Create((byte)0x0F);
        for (int b = 0; b < job->Kb; b++)
        {
            byte* p0 = w + ((long)b * 2 * Q4_0PackedWeights.PanelBlockBytes);
            byte* p1 = p0 + Q4_0PackedWeights.PanelBlockBytes;
            byte* dst = buffer + ((long)b * PairBlockBytes);
            for (int c = 0; c < 4; c++)
            {
                var c0 = Vector512.Load(p0 + (c * 64));
                var c1 = Vector512.Load(p1 + (c * 64));
                (c0 & low).Store(dst + (c * 256));
                (c1 & low).Store(dst + (c * 256) + 64);
                (Avx512BW.ShiftRightLogical(c0.AsUInt16(), 4).AsByte() & low).Store(dst + (c * 256) + 128);
                (Avx512BW.ShiftRightLogical(c1.AsUInt16(), 4).AsByte() & low).Store(dst + (c * 256) + 192);
            }

            HalfToSingle(Vector256.Load((ushort*)(p0 + 256))).Store((float*)(dst + 1024));
            HalfToSingle(Vector256.Load((ushort*)(p1 + 256))).Store((float*)(dst + 1088));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x32(Job* job, byte* buffer, int m0, int pair)
    {
        int k = job->K, kb = job->Kb;
        sbyte* q0 = job->Q + ((long)m0 * k);
        float* scaleA = job->ScaleA + ((long)m0 * kb);
        float* offsetA = job->OffsetA + ((long)m0 * kb);
        var ones = Vector512.Create((short)1);
        Vector512<float> f00 = default, f01 = default, f10 = default, f11 = default, f20 = default, f21 = default;
        Vector512<float> f30 = default, f31 = default, f40 = default, f41 = default, f50 = default, f51 = default;
        for (int b = 0; b < kb; b++)
        {
            Vector512<short> s00 = default, s01 = default, s10 = default, s11 = default, s20 = default, s21 = default;
            Vector512<short> s30 = default, s31 = default, s40 = default, s41 = default, s50 = default, s51 = default;
            byte* wb = buffer + ((long)b * PairBlockBytes);
            sbyte* ab = q0 + (b * 32);
            for (int g = 0; g < 8; g++)
            {
                var w0 = Vector512.Load(wb + (g * 128));
                var w1 = Vector512.Load(wb + (g * 128) + 64);
                var x = Vector512.Create(*(int*)(ab + (g * 4))).AsSByte();
                s00 = Avx512BW.Add(s00, Avx512BW.MultiplyAddAdjacent(w0, x));
                s01 = Avx512BW.Add(s01, Avx512BW.MultiplyAddAdjacent(w1, x));
                x = Vector512.Create(*(int*)(ab + k + (g * 4))).AsSByte();
                s10 = Avx512BW.Add(s10, Avx512BW.MultiplyAddAdjacent(w0, x));
                s11 = Avx512BW.Add(s11, Avx512BW.MultiplyAddAdjacent(w1, x));
                x = Vector512.Create(*(int*)(ab + (2 * k) + (g * 4))).AsSByte();
                s20 = Avx512BW.Add(s20, Avx512BW.MultiplyAddAdjacent(w0, x));
                s21 = Avx512BW.Add(s21, Avx512BW.MultiplyAddAdjacent(w1, x));
                x = Vector512.Create(*(int*)(ab + (3 * k) + (g * 4))).AsSByte();
                s30 = Avx512BW.Add(s30, Avx512BW.MultiplyAddAdjacent(w0, x));
                s31 = Avx512BW.Add(s31, Avx512BW.MultiplyAddAdjacent(w1, x));
                x = Vector512.Create(*(int*)(ab + (4 * k) + (g * 4))).AsSByte();
                s40 = Avx512BW.Add(s40, Avx512BW.MultiplyAddAdjacent(w0, x));
                s41 = Avx512BW.Add(s41, Avx512BW.MultiplyAddAdjacent(w1, x));
                x = Vector512.Create(*(int*)(ab + (5 * k) + (g * 4))).AsSByte();
                s50 = Avx512BW.Add(s50, Avx512BW.MultiplyAddAdjacent(w0, x));
                s51 = Avx512BW.Add(s51, Avx512BW.MultiplyAddAdjacent(w1, x));
            }

            var ws0 = Vector512.Load((float*)(wb + 1024));
            var ws1 = Vector512.Load((float*)(wb + 1088));
            float* sa = scaleA + b;
            float* oa = offsetA + b;
            f00 = Finish(f00, s00, ws0, sa[0], oa[0], ones);
            f01 = Finish(f01, s01, ws1, sa[0], oa[0], ones);
            f10 = Finish(f10, s10, ws0, sa[kb], oa[kb], ones);
            f11 = Finish(f11, s11, ws1, sa[kb], oa[kb], ones);
            f20 = Finish(f20, s20, ws0, sa[2 * kb], oa[2 * kb], ones);
            f21 = Finish(f21, s21, ws1, sa[2 * kb], oa[2 * kb], ones);
            f30 = Finish(f30, s30, ws0, sa[3 * kb], oa[3 * kb], ones);
            f31 = Finish(f31, s31, ws1, sa[3 * kb], oa[3 * kb], ones);
            f40 = Finish(f40, s40, ws0, sa[4 * kb], oa[4 * kb], ones);
            f41 = Finish(f41, s41, ws1, sa[4 * kb], oa[4 * kb], ones);
            f50 = Finish(f50, s50, ws0, sa[5 * kb], oa[5 * kb], ones);
            f51 = Finish(f51, s51, ws1, sa[5 * kb], oa[5 * kb], ones);
        }

        int m = job->M;
        if (m0 < m) StorePair(job, m0, pair, f00, f01);
        if (m0 + 1 < m) StorePair(job, m0 + 1, pair, f10, f11);
        if (m0 + 2 < m) StorePair(job, m0 + 2, pair, f20, f21);
        if (m0 + 3 < m) StorePair(job, m0 + 3, pair, f30, f31);
        if (m0 + 4 < m) StorePair(job, m0 + 4, pair, f40, f41);
        if (m0 + 5 < m) StorePair(job, m0 + 5, pair, f50, f51);
    }

    /// <summary><see cref="Kernel6x32"/> for two rows (the remainder of M after groups of six).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel2x32(Job* job, byte* buffer, int m0, int pair)
    {
        int k = job->K, kb = job->Kb;
        sbyte* q0 = job->Q + ((long)m0 * k);
        float* scaleA = job->ScaleA + ((long)m0 * kb);
        float* offsetA = job->OffsetA + ((long)m0 * kb);
        var ones = Vector512.Create((short)1);
        Vector512<float> f00 = default, f01 = default, f10 = default, f11 = default;
        for (int b = 0; b < kb; b++)
        {
            Vector512<short> s00 = default, s01 = default, s10 = default, s11 = default;
            byte* wb = buffer + ((long)b * PairBlockBytes);
            sbyte* ab = q0 + (b * 32);
            for (int g = 0; g < 8; g++)
            {
                var w0 = Vector512.Load(wb + (g * 128));
                var w1 = Vector512.Load(wb + (g * 128) + 64);
                var x = Vector512.Create(*(int*)(ab + (g * 4))).AsSByte();
                s00 = Avx512BW.Add(s00, Avx512BW.MultiplyAddAdjacent(w0, x));
                s01 = Avx512BW.Add(s01, Avx512BW.MultiplyAddAdjacent(w1, x));
                x = Vector512.Create(*(int*)(ab + k + (g * 4))).AsSByte();
                s10 = Avx512BW.Add(s10, Avx512BW.MultiplyAddAdjacent(w0, x));
                s11 = Avx512BW.Add(s11, Avx512BW.MultiplyAddAdjacent(w1, x));
            }

            var ws0 = Vector512.Load((float*)(wb + 1024));
            var ws1 = Vector512.Load((float*)(wb + 1088));
            float* sa = scaleA + b;
            float* oa = offsetA + b;
            f00 = Finish(f00, s00, ws0, sa[0], oa[0], ones);
            f01 = Finish(f01, s01, ws1, sa[0], oa[0], ones);
            f10 = Finish(f10, s10, ws0, sa[kb], oa[kb], ones);
            f11 = Finish(f11, s11, ws1, sa[kb], oa[kb], ones);
        }

        int m = job->M;
        if (m0 < m) StorePair(job, m0, pair, f00, f01);
        if (m0 + 1 < m) StorePair(job, m0 + 1, pair, f10, f11);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Finish(Vector512<float> acc, Vector512<short> s, Vector512<float> ws, float sa, float oa, Vector512<short> ones)
    {
        var dot = Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(s, ones));
        var t = Avx512F.FusedMultiplySubtract(dot, Vector512.Create(sa), Vector512.Create(oa));
        return Avx512F.FusedMultiplyAdd(t, ws, acc);
    }
}

/// <summary>
/// What <see cref="Q4_0MatMul"/> writes: Y as one output (<see cref="None"/>), Y's columns split into up to three
/// outputs (ONNX Split along the last axis, e.g. the q, k and v of a fused projection), or SwiGLU of Y's two halves
/// (silu(Y[:, :N/2]) · Y[:, N/2:], the llama.cpp/ggml swiglu of a fused gate_up projection) as one [M, N/2] output.
/// </summary>
public sealed class Q4_0Epilogue
{
    private Q4_0Epilogue(bool swiGlu, IReadOnlyList<int> widths)
    {
        IsSwiGlu = swiGlu;
        SplitWidths = widths;
    }

    /// <summary>One output, Y.</summary>
    public static Q4_0Epilogue None { get; } = new(false, []);

    /// <summary>silu(first half) · second half.</summary>
    public static Q4_0Epilogue SwiGlu { get; } = new(true, []);

    /// <summary>Whether this is <see cref="SwiGlu"/>.</summary>
    public bool IsSwiGlu { get; }

    /// <summary>The widths of the split outputs; empty for one output.</summary>
    public IReadOnlyList<int> SplitWidths { get; }

    /// <summary>Y's columns into outputs of the given widths, in order (all but the last multiples of 16).</summary>
    public static Q4_0Epilogue Split(params int[] widths) => new(false, widths.ToArray());
}
