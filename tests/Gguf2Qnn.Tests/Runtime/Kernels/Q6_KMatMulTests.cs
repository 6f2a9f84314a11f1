using Gguf2Qnn.Runtime.Kernels;
using Xunit;

namespace Gguf2Qnn.Tests.Runtime.Kernels;

/// <summary>
/// <see cref="Q6_KPackedWeights"/> and <see cref="Q6_KMatMul"/> against hand-written references: MatMulNBits' own
/// formula for the weights, and ggml's Q6_K × Q8_K dot product (ggml-quants.c quantize_row_q8_K_ref, ggml-cpu
/// ggml_vec_dot_q6_K_q8_K) for the products.
/// </summary>
public sealed unsafe class Q6_KMatMulTests
{
    /// <summary>A Q6_K weight as ggml stores it, per row and super-block: codes q (0–63), int8 sc[16], fp16 d.</summary>
    internal sealed record Q6_KWeight(int N, int K, byte[] Q, sbyte[] Sc, Half[] D)
    {
        public int Blocks => K / 256;

        /// <summary>The MatMulNBits form the cpu target writes (bits 8, block_size 16): B = q − 32 + 128, scale = d·sc (float32).</summary>
        public (byte[] B, float[] Scales) MatMulNBits()
        {
            var b = new byte[N * K];
            for (int i = 0; i < b.Length; i++) b[i] = (byte)(Q[i] - 32 + 128);
            var scales = new float[N * (K / 16)];
            for (int i = 0; i < scales.Length; i++) scales[i] = (float)D[i / 16] * Sc[i];
            return (b, scales);
        }
    }

    /// <summary>Random ggml-shaped Q6_K numbers: sc in [−128, 127] with one −128 per super-block (as ggml's quantizer
    /// makes), d fp16 of either sign, normal or subnormal; some super-blocks all zero (d = 0).</summary>
    internal static Q6_KWeight RandomWeight(int n, int k, int seed)
    {
        var rnd = new Random(seed);
        int blocks = n * (k / 256);
        var q = new byte[n * k];
        for (int i = 0; i < q.Length; i++) q[i] = (byte)rnd.Next(64);
        var sc = new sbyte[blocks * 16];
        var d = new Half[blocks];
        for (int blk = 0; blk < blocks; blk++)
        {
            if (blk % 7 == 3)
            {
                d[blk] = Half.Zero;
                continue; // sc stay 0
            }

            for (int j = 0; j < 16; j++) sc[(blk * 16) + j] = (sbyte)rnd.Next(-127, 128);
            sc[(blk * 16) + rnd.Next(16)] = -128;
            float magnitude = blk % 11 == 5 ? 3e-7f : (0.5f + rnd.NextSingle()) * 2e-4f; // 3e-7: an fp16 subnormal
            d[blk] = (Half)(rnd.Next(2) == 0 ? magnitude : -magnitude);
        }

        return new Q6_KWeight(n, k, q, sc, d);
    }

    /// <summary>
    /// ggml's Q6_K × Q8_K for one row of A and one row of W, written from the definitions: the activations per
    /// 256-block as quantize_row_q8_K_ref makes them (max = the signed value of largest magnitude, iscale = −127/max,
    /// q = nearest_int(iscale·a), d_a = 1/iscale), then per block (fp16 d · d_a) · Σ_j sc_j Σ (q6 − 32)·q8; the block
    /// sums added in double here.
    /// </summary>
    internal static double Reference(Q6_KWeight w, ReadOnlySpan<float> a, int row, out double magnitude)
    {
        double sum = 0;
        magnitude = 0;
        for (int b = 0; b < w.Blocks; b++)
        {
            var x = a.Slice(b * 256, 256);
            float max = 0, amax = 0;
            for (int i = 0; i < 256; i++)
            {
                if (MathF.Abs(x[i]) > amax)
                {
                    amax = MathF.Abs(x[i]);
                    max = x[i];
                }
            }

            if (amax == 0) continue;
            float iscale = -127f / max;
            float da = 1 / iscale;
            long isum = 0;
            for (int j = 0; j < 16; j++)
            {
                long s = 0;
                for (int l = 0; l < 16; l++)
                {
                    int c = (16 * j) + l;
                    int q8 = Math.Min(127, (int)MathF.Round(iscale * x[c], MidpointRounding.ToEven));
                    s += (w.Q[((long)row * w.K) + (b * 256) + c] - 32) * q8;
                }

                isum += w.Sc[(((row * w.Blocks) + b) * 16) + j] * s;
            }

            float d = (float)w.D[(row * w.Blocks) + b] * da;
            sum += (double)d * isum;
            magnitude += Math.Abs((double)d * isum);
        }

        return sum;
    }

    [Fact]
    public void Packing_recovers_ggmls_numbers_and_keeps_every_weight()
    {
        const int n = 37, k = 512;
        var w = RandomWeight(n, k, 1);
        var (b, scales) = w.MatMulNBits();
        Assert.Null(Q6_KPackedWeights.Check(b, scales, n, k));
        using var packed = Q6_KPackedWeights.FromMatMulNBits(b, scales, n, k);
        Assert.Equal(4, packed.Panels);
        var codes = new byte[256];
        var sc = new sbyte[16];
        var row = new float[k];
        for (int r = 0; r < n; r++)
        {
            for (int blk = 0; blk < w.Blocks; blk++)
            {
                Half d = packed.GetBlock(r, blk, codes, sc);
                Assert.Equal(w.D[(r * w.Blocks) + blk], d);
                Assert.Equal(w.Sc.AsSpan(((r * w.Blocks) + blk) * 16, 16).ToArray(), sc);
                Assert.Equal(w.Q.AsSpan((r * k) + (blk * 256), 256).ToArray(), codes);
            }

            // MatMulNBits (ORT ContribOperators.md): weight = (u8 − 128) · scale.
            packed.DequantizeRow(r, row);
            for (int c = 0; c < k; c++) Assert.Equal((b[(r * k) + c] - 128) * scales[((r * k) + c) / 16], row[c]);
        }
    }

    [Fact]
    public void Packing_takes_other_scale_choices_whose_products_are_the_same()
    {
        // Not ggml's choice (no sub-block at −128): the largest scale is d·127 or d·(−127).
        const int n = 16, k = 256;
        var w = RandomWeight(n, k, 2);
        for (int blk = 0; blk < n; blk++)
        {
            for (int j = 0; j < 16; j++) w.Sc[(blk * 16) + j] = (sbyte)Math.Clamp((int)w.Sc[(blk * 16) + j], -100, 100);
            w.Sc[(blk * 16) + 5] = (sbyte)(blk % 2 == 0 ? 127 : -127);
        }

        var (b, scales) = w.MatMulNBits();
        using var packed = Q6_KPackedWeights.FromMatMulNBits(b, scales, n, k);
        var row = new float[k];
        for (int r = 0; r < n; r++)
        {
            packed.DequantizeRow(r, row);
            for (int c = 0; c < k; c++) Assert.Equal((b[(r * k) + c] - 128) * scales[((r * k) + c) / 16], row[c]);
        }
    }

    [Fact]
    public void Check_says_why_data_are_not_a_Q6_K_weight()
    {
        const int n = 20, k = 256;
        var w = RandomWeight(n, k, 3);
        var (b, scales) = w.MatMulNBits();
        Assert.Null(Q6_KPackedWeights.Check(b, scales, n, k));

        var badScale = scales.ToArray();
        badScale[(17 * 16) + 4] = 0.1f; // not d·sc for the block's d
        Assert.Contains("row 17, super-block 0", Q6_KPackedWeights.Check(b, badScale, n, k), StringComparison.Ordinal);
        Assert.Throws<NotSupportedException>(() => Q6_KPackedWeights.FromMatMulNBits(b, badScale, n, k));
        badScale[(17 * 16) + 4] = float.NaN;
        Assert.NotNull(Q6_KPackedWeights.Check(b, badScale, n, k));

        var badCode = b.ToArray();
        badCode[(3 * k) + 100] = 95; // code −33
        Assert.Contains("row 3: B byte 95 at column 100", Q6_KPackedWeights.Check(badCode, scales, n, k), StringComparison.Ordinal);
        Assert.Throws<NotSupportedException>(() => Q6_KPackedWeights.FromMatMulNBits(badCode, scales, n, k));
        badCode[(3 * k) + 100] = 160; // code 32
        Assert.NotNull(Q6_KPackedWeights.Check(badCode, scales, n, k));

        Assert.Contains("multiple of 256", Q6_KPackedWeights.Check(b.AsSpan(0, n * 128), scales.AsSpan(0, n * 8), n, 128), StringComparison.Ordinal);
        Assert.NotNull(Q6_KPackedWeights.Check(b.AsSpan(1), scales, n, k));
        Assert.Throws<ArgumentException>(() => Q6_KPackedWeights.FromMatMulNBits(b.AsSpan(1), scales, n, k));
        Assert.Throws<ArgumentOutOfRangeException>(() => Q6_KPackedWeights.FromMatMulNBits(b, scales, n, 255));
    }

    [Fact]
    public void Sizes_that_do_not_match_N_and_K_are_refused_before_the_packed_copy_is_allocated()
    {
        // N = K = 2^20 would need a ~0.9 TB packed copy; B and scales say otherwise. The documented ArgumentException,
        // not an OutOfMemoryException from allocating first.
        Assert.Throws<ArgumentException>(() => Q6_KPackedWeights.FromMatMulNBits(new byte[4096], new float[256], 1 << 20, 1 << 20));
    }

    [Avx512Theory]
    [InlineData(1, 37, 256)]
    [InlineData(1, 64, 1536)]
    [InlineData(2, 40, 512)]
    [InlineData(3, 33, 256)]
    [InlineData(4, 32, 256)]
    [InlineData(5, 50, 768)]
    [InlineData(6, 17, 256)]
    [InlineData(7, 96, 512)]
    [InlineData(8, 48, 256)]
    [InlineData(9, 70, 1024)]
    public void Matches_the_ggml_q6_K_by_q8_K_arithmetic(int m, int n, int k)
    {
        var w = RandomWeight(n, k, 10 + m);
        var (b, scales) = w.MatMulNBits();
        var random = new Random(20 + m);
        var a = new float[m * k];
        for (int i = 0; i < a.Length; i++) a[i] = (random.NextSingle() - 0.5f) * 4f * (1 + ((i / 256) % 3));
        a[5] = 0f;
        if (m > 1) a.AsSpan(k, Math.Min(k, 256)).Clear(); // an all-zero activation block (d_a = 0)
        var bias = new float[n];
        for (int i = 0; i < n; i++) bias[i] = random.NextSingle();

        using var packed = Q6_KPackedWeights.FromMatMulNBits(b, scales, n, k);
        using var kernel = new Q6_KMatMul(packed);
        var y = new float[m * n];
        fixed (float* ap = a, yp = y, bp = bias)
        {
            kernel.Run(ap, m, yp, bp, SerialParallelFor.Instance);
        }

        for (int row = 0; row < m; row++)
        {
            for (int col = 0; col < n; col++)
            {
                double expected = Reference(w, a.AsSpan(row * k, k), col, out double magnitude) + bias[col];
                float got = y[(row * n) + col];
                Assert.True(Math.Abs(got - expected) <= 2e-6 * (1 + magnitude + Math.Abs(bias[col])), $"[{row},{col}] {got} vs {expected}");
            }
        }
    }

    [Avx512Theory]
    [InlineData(1, 0)]
    [InlineData(1, 300)]
    [InlineData(3, 0)]
    [InlineData(6, 45)]
    public void A_NaN_in_a_row_of_A_gives_NaN_in_that_row_only(int m, int position)
    {
        const int n = 48, k = 512;
        var w = RandomWeight(n, k, 60 + m);
        var (b, scales) = w.MatMulNBits();
        var a = new float[m * k];
        for (int i = 0; i < a.Length; i++) a[i] = MathF.Sin(i * 0.9f);
        using var packed = Q6_KPackedWeights.FromMatMulNBits(b, scales, n, k);
        using var kernel = new Q6_KMatMul(packed);
        var clean = new float[m * n];
        var y = new float[m * n];
        int nanRow = m - 1;
        fixed (float* ap = a, cp = clean, yp = y)
        {
            kernel.Run(ap, m, cp, null, SerialParallelFor.Instance);
            a[(nanRow * k) + position] = float.NaN; // IEEE 754: a NaN operand makes every sum it enters NaN
            kernel.Run(ap, m, yp, null, SerialParallelFor.Instance);
        }

        // Every column, including those whose weights in the NaN's block are all zero (d = 0: 0·NaN is NaN).
        for (int col = 0; col < n; col++) Assert.True(float.IsNaN(y[(nanRow * n) + col]), $"[{nanRow},{col}] = {y[(nanRow * n) + col]}");
        Assert.Equal(clean.AsSpan(0, nanRow * n).ToArray(), y.AsSpan(0, nanRow * n).ToArray());
    }

    [Avx512Theory]
    [InlineData(1, float.PositiveInfinity)]
    [InlineData(1, float.NegativeInfinity)]
    [InlineData(5, float.PositiveInfinity)]
    public void An_infinity_in_a_row_of_A_gives_NaN_in_that_row_only(int m, float infinity)
    {
        // quantize_row_q8_K_ref on a block holding ±Inf: iscale = −127/±Inf = ∓0, so every q8 is 0 (the Inf's own
        // 0·Inf = NaN rounds to 0 as well) and d_a = 1/iscale = ∓Inf; the block then adds (d_w·d_a)·0 = NaN.
        const int n = 40, k = 512;
        var w = RandomWeight(n, k, 80 + m);
        var (b, scales) = w.MatMulNBits();
        var a = new float[m * k];
        for (int i = 0; i < a.Length; i++) a[i] = MathF.Cos(i * 0.7f);
        using var packed = Q6_KPackedWeights.FromMatMulNBits(b, scales, n, k);
        using var kernel = new Q6_KMatMul(packed);
        var clean = new float[m * n];
        var y = new float[m * n];
        int infRow = m - 1;
        fixed (float* ap = a, cp = clean, yp = y)
        {
            kernel.Run(ap, m, cp, null, SerialParallelFor.Instance);
            a[(infRow * k) + 300] = infinity;
            kernel.Run(ap, m, yp, null, SerialParallelFor.Instance);
        }

        for (int col = 0; col < n; col++) Assert.True(float.IsNaN(y[(infRow * n) + col]), $"[{infRow},{col}] = {y[(infRow * n) + col]}");
        Assert.Equal(clean.AsSpan(0, infRow * n).ToArray(), y.AsSpan(0, infRow * n).ToArray());
    }

    [Avx512Fact]
    public void Extreme_codes_and_activations_do_not_overflow_the_16_bit_sums()
    {
        // Every code 0 (q6 − 32 = −32) against activations all at −max (q8 = −127 after ggml's sign flip: +127 here) and
        // every code 63 against +max: the 16-bit halves reach ±32,512 and ±31,496.
        const int n = 32, k = 256;
        var w = RandomWeight(n, k, 70);
        for (int r = 0; r < n; r++)
        {
            Array.Fill(w.Q, (byte)(r % 2 == 0 ? 0 : 63), r * k, k);
            w.D[r] = (Half)1e-3f;
            for (int j = 0; j < 16; j++) w.Sc[(r * 16) + j] = (sbyte)(j % 2 == 0 ? -128 : 127);
        }

        var (b, scales) = w.MatMulNBits();
        using var packed = Q6_KPackedWeights.FromMatMulNBits(b, scales, n, k);
        using var kernel = new Q6_KMatMul(packed);
        foreach (float sign in new[] { 1f, -1f })
        {
            foreach (int m in new[] { 1, 5 })
            {
                var a = new float[m * k];
                Array.Fill(a, sign * 3.5f);
                var y = new float[m * n];
                fixed (float* ap = a, yp = y)
                {
                    kernel.Run(ap, m, yp, null, SerialParallelFor.Instance);
                }

                for (int row = 0; row < m; row++)
                {
                    for (int col = 0; col < n; col++)
                    {
                        double expected = Reference(w, a.AsSpan(row * k, k), col, out double magnitude);
                        Assert.True(Math.Abs(y[(row * n) + col] - expected) <= 1e-6 * (1 + magnitude), $"sign {sign}, [{row},{col}] {y[(row * n) + col]} vs {expected}");
                    }
                }
            }
        }
    }

    [Avx512Fact]
    public void Parallel_tasks_give_the_serial_result()
    {
        const int n = 1000, k = 512;
        var w = RandomWeight(n, k, 5);
        var (b, scales) = w.MatMulNBits();
        using var packed = Q6_KPackedWeights.FromMatMulNBits(b, scales, n, k);
        using var kernel = new Q6_KMatMul(packed);
        foreach (int m in new[] { 1, 9 })
        {
            var a = new float[m * k];
            for (int i = 0; i < a.Length; i++) a[i] = MathF.Sin(i * 0.37f);
            var serial = new float[m * n];
            var parallel = new float[m * n];
            fixed (float* ap = a, sp = serial, pp = parallel)
            {
                kernel.Run(ap, m, sp, null, SerialParallelFor.Instance);
                kernel.Run(ap, m, pp, null, new ThreadPoolParallelFor());
            }

            Assert.Equal(serial, parallel);
        }
    }

    [Avx512Fact]
    public void One_row_and_several_rows_give_the_same_result_for_a_row()
    {
        // The decode path (M = 1, packed weights) and the prefill path (M ≥ 2, expanded buffer) do the same arithmetic.
        const int n = 80, k = 768;
        var w = RandomWeight(n, k, 6);
        var (b, scales) = w.MatMulNBits();
        using var packed = Q6_KPackedWeights.FromMatMulNBits(b, scales, n, k);
        using var kernel = new Q6_KMatMul(packed);
        const int m = 7;
        var a = new float[m * k];
        for (int i = 0; i < a.Length; i++) a[i] = MathF.Cos(i * 0.13f) * (1 + (i % 5));
        var all = new float[m * n];
        var one = new float[n];
        fixed (float* ap = a, yp = all, op = one)
        {
            kernel.Run(ap, m, yp, null, SerialParallelFor.Instance);
            for (int row = 0; row < m; row++)
            {
                kernel.Run(ap + (row * k), 1, op, null, SerialParallelFor.Instance);
                Assert.Equal(all.AsSpan(row * n, n).ToArray(), one);
            }
        }
    }

    private sealed class ThreadPoolParallelFor : IKernelParallelFor
    {
        public void For(int count, delegate*<void*, int, void> body, void* state)
        {
            nint s = (nint)state, f = (nint)body;
            Parallel.For(0, count, i => ((delegate*<void*, int, void>)f)((void*)s, i));
        }
    }
}
