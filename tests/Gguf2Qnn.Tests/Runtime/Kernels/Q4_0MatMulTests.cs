using Gguf2Qnn.Runtime.Kernels;
using Xunit;

namespace Gguf2Qnn.Tests.Runtime.Kernels;

public sealed unsafe class Q4_0MatMulTests
{
    /// <summary>Random MatMulNBits inputs: B [N, K/32, 16] nibbles, fp16-exact scales (some negative, one zero).</summary>
    private static (byte[] B, float[] Scales) RandomWeights(int n, int k, int seed)
    {
        var random = new Random(seed);
        var b = new byte[n * (k / 32) * 16];
        random.NextBytes(b);
        var scales = new float[n * (k / 32)];
        for (int i = 0; i < scales.Length; i++) scales[i] = (float)(Half)((random.NextSingle() - 0.3f) * 0.05f);
        scales[0] = 0f;
        return (b, scales);
    }

    /// <summary>MatMulNBits semantics (ORT ContribOperators.md): weight (row n, column c) = (nibble − 8) · scale, where
    /// byte j of a block holds column 2j in its low and 2j+1 in its high nibble.</summary>
    private static float MatMulNBitsWeight(byte[] b, float[] scales, int k, int n, int c) =>
        CenteredNibble(b, k, n, c) * scales[(n * (k / 32)) + (c / 32)];

    private static int CenteredNibble(byte[] b, int k, int n, int c)
    {
        byte v = b[((n * (k / 32)) + (c / 32)) * 16 + ((c % 32) / 2)];
        return ((c & 1) == 0 ? v & 0x0F : v >> 4) - 8;
    }

    [Fact]
    public void Packing_keeps_every_weight()
    {
        const int n = 37, k = 96;
        var (b, scales) = RandomWeights(n, k, 1);
        using var packed = Q4_0PackedWeights.FromMatMulNBits(b, scales, n, k);
        Assert.Equal(4, packed.Panels);
        var row = new float[k];
        for (int r = 0; r < n; r++)
        {
            packed.DequantizeRow(r, row);
            for (int c = 0; c < k; c++) Assert.Equal(MatMulNBitsWeight(b, scales, k, r, c), row[c]);
        }
    }

    [Fact]
    public void Packing_refuses_a_scale_that_is_not_fp16()
    {
        var (b, scales) = RandomWeights(16, 32, 2);
        scales[3] = 0.1f; // 0.1 is not a binary16 number
        Assert.Throws<NotSupportedException>(() => Q4_0PackedWeights.FromMatMulNBits(b, scales, 16, 32));
        scales[3] = float.PositiveInfinity;
        Assert.Throws<NotSupportedException>(() => Q4_0PackedWeights.FromMatMulNBits(b, scales, 16, 32));
    }

    [Fact]
    public void Sizes_that_do_not_match_N_and_K_are_refused_before_the_packed_copy_is_allocated()
    {
        // N = K = 2^20 would need a 0.6 TB packed copy; B and scales say otherwise: the documented ArgumentException,
        // not an OutOfMemoryException from allocating first.
        Assert.Throws<ArgumentException>(() => Q4_0PackedWeights.FromMatMulNBits(new byte[4096], new float[256], 1 << 20, 1 << 20));
    }

    [Fact]
    public void Packing_checks_sizes()
    {
        var (b, scales) = RandomWeights(16, 64, 3);
        Assert.Throws<ArgumentException>(() => Q4_0PackedWeights.FromMatMulNBits(b.AsSpan(1), scales, 16, 64));
        Assert.Throws<ArgumentOutOfRangeException>(() => Q4_0PackedWeights.FromMatMulNBits(b, scales, 16, 63));
    }

    [Avx512Theory]
    [InlineData(1, 37, 96)]
    [InlineData(1, 64, 1536)]
    [InlineData(2, 40, 64)]
    [InlineData(6, 32, 32)]
    [InlineData(7, 50, 128)]
    [InlineData(13, 96, 256)]
    public void Matches_the_ggml_q4_0_by_q8_0_arithmetic(int m, int n, int k)
    {
        var (b, scales) = RandomWeights(n, k, 10 + m);
        var random = new Random(20 + m);
        var a = new float[m * k];
        for (int i = 0; i < a.Length; i++) a[i] = (random.NextSingle() - 0.5f) * 4f;
        a[5] = 0f;
        var bias = new float[n];
        for (int i = 0; i < n; i++) bias[i] = random.NextSingle();

        using var packed = Q4_0PackedWeights.FromMatMulNBits(b, scales, n, k);
        using var kernel = new Q4_0MatMul(packed);
        var y = new float[m * n];
        fixed (float* ap = a, yp = y, bp = bias)
        {
            kernel.Run(ap, m, yp, bp, SerialParallelFor.Instance);
        }

        // Hand-written reference of ggml's Q4_0 × Q8_0 dot product (ggml_vec_dot_q4_0_q8_0): activations in 32-value
        // blocks, d = max|a| / 127, q = round(a / d); each block adds d_w · d_a · Σ (nibble − 8)·q, in double here.
        int kb = k / 32;
        for (int row = 0; row < m; row++)
        {
            for (int col = 0; col < n; col++)
            {
                double sum = 0, exact = 0;
                for (int blk = 0; blk < kb; blk++)
                {
                    float amax = 0;
                    for (int c = 0; c < 32; c++) amax = MathF.Max(amax, MathF.Abs(a[(row * k) + (blk * 32) + c]));
                    float d = amax / 127f, id = amax > 0 ? 127f / amax : 0f;
                    long isum = 0;
                    for (int c = 0; c < 32; c++)
                    {
                        int col32 = (blk * 32) + c;
                        int q = (int)MathF.Round(a[(row * k) + col32] * id, MidpointRounding.ToEven);
                        isum += CenteredNibble(b, k, col, col32) * q;
                        exact += (double)a[(row * k) + col32] * MatMulNBitsWeight(b, scales, k, col, col32);
                    }

                    sum += (double)scales[(col * kb) + blk] * d * isum;
                }

                sum += bias[col];
                exact += bias[col];
                float got = y[(row * n) + col];
                Assert.True(Math.Abs(got - sum) <= 1e-4 * (1 + Math.Abs(sum)), $"[{row},{col}] {got} vs {sum}");

                // And close to the unquantized product: int8 activations lose at most half a step per value.
                Assert.True(Math.Abs(got - exact) <= 0.02 * k / 32 + 1e-3, $"[{row},{col}] {got} vs exact {exact}");
            }
        }
    }

    [Avx512Theory]
    [InlineData(1, 0)]
    [InlineData(1, 17)]
    [InlineData(3, 0)]
    [InlineData(8, 45)]
    public void A_NaN_in_a_row_of_A_gives_NaN_in_that_row_only(int m, int position)
    {
        const int n = 48, k = 64;
        var (b, scales) = RandomWeights(n, k, 60 + m);
        var a = new float[m * k];
        for (int i = 0; i < a.Length; i++) a[i] = MathF.Sin(i * 0.9f);
        using var packed = Q4_0PackedWeights.FromMatMulNBits(b, scales, n, k);
        using var kernel = new Q4_0MatMul(packed);
        var clean = new float[m * n];
        var y = new float[m * n];
        int nanRow = m - 1;
        fixed (float* ap = a, cp = clean, yp = y)
        {
            kernel.Run(ap, m, cp, null, SerialParallelFor.Instance);
            a[(nanRow * k) + position] = float.NaN; // IEEE 754: a NaN operand makes every sum it enters NaN
            kernel.Run(ap, m, yp, null, SerialParallelFor.Instance);
        }

        for (int col = 0; col < n; col++) Assert.True(float.IsNaN(y[(nanRow * n) + col]), $"[{nanRow},{col}] = {y[(nanRow * n) + col]}");
        Assert.Equal(clean.AsSpan(0, nanRow * n).ToArray(), y.AsSpan(0, nanRow * n).ToArray());
    }

    [Avx512Fact]
    public void Parallel_tasks_give_the_serial_result()
    {
        const int n = 1000, k = 512;
        var (b, scales) = RandomWeights(n, k, 5);
        using var packed = Q4_0PackedWeights.FromMatMulNBits(b, scales, n, k);
        using var kernel = new Q4_0MatMul(packed);
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

    [Avx512Theory]
    [InlineData(1)]
    [InlineData(7)]
    public void SplitOutputsAreTheColumnsOfY(int m)
    {
        const int n = 88, k = 64;
        var (b, scales) = RandomWeights(n, k, 30 + m);
        var a = new float[m * k];
        for (int i = 0; i < a.Length; i++) a[i] = MathF.Cos(i * 0.7f);
        var bias = new float[n];
        for (int i = 0; i < n; i++) bias[i] = i * 0.01f;
        using var packed = Q4_0PackedWeights.FromMatMulNBits(b, scales, n, k);
        using var plain = new Q4_0MatMul(packed);
        using var split = new Q4_0MatMul(packed, ownsWeights: false, Q4_0Epilogue.Split(32, 48, 8));
        Assert.Equal([32, 48, 8], split.OutputWidths);
        var y = new float[m * n];
        var parts = new[] { new float[m * 32], new float[m * 48], new float[m * 8] };
        fixed (float* ap = a, yp = y, bp = bias, y0 = parts[0], y1 = parts[1], y2 = parts[2])
        {
            plain.Run(ap, m, yp, bp, SerialParallelFor.Instance);
            split.Run(ap, m, [(nint)y0, (nint)y1, (nint)y2], bp, SerialParallelFor.Instance);
        }

        for (int row = 0; row < m; row++)
        {
            Assert.Equal(y.AsSpan((row * n) + 0, 32).ToArray(), parts[0].AsSpan(row * 32, 32).ToArray());
            Assert.Equal(y.AsSpan((row * n) + 32, 48).ToArray(), parts[1].AsSpan(row * 48, 48).ToArray());
            Assert.Equal(y.AsSpan((row * n) + 80, 8).ToArray(), parts[2].AsSpan(row * 8, 8).ToArray());
        }
    }

    [Avx512Theory]
    [InlineData(1)]
    [InlineData(13)]
    public void SwiGluIsSiluOfTheFirstHalfTimesTheSecond(int m)
    {
        const int n = 96, k = 64, half = n / 2;
        var (b, scales) = RandomWeights(n, k, 40 + m);
        var a = new float[m * k];
        for (int i = 0; i < a.Length; i++) a[i] = MathF.Sin(i * 1.3f) * 3;
        var bias = new float[n];
        for (int i = 0; i < n; i++) bias[i] = (i % 7) - 3;
        using var plainWeights = Q4_0PackedWeights.FromMatMulNBits(b, scales, n, k);
        using var pairedWeights = Q4_0PackedWeights.FromMatMulNBits(b, scales, n, k, pairHalves: true);
        var row = new float[k];
        var expectedRow = new float[k];
        for (int r = 0; r < n; r++)
        {
            pairedWeights.DequantizeRow(r, row);
            plainWeights.DequantizeRow(r, expectedRow);
            Assert.Equal(expectedRow, row);
        }

        using var plain = new Q4_0MatMul(plainWeights);
        using var swiGlu = new Q4_0MatMul(pairedWeights, ownsWeights: false, Q4_0Epilogue.SwiGlu);
        Assert.Equal([half], swiGlu.OutputWidths);
        var y = new float[m * n];
        var gated = new float[m * half];
        fixed (float* ap = a, yp = y, bp = bias, gp = gated)
        {
            plain.Run(ap, m, yp, bp, SerialParallelFor.Instance);
            swiGlu.Run(ap, m, gp, bp, SerialParallelFor.Instance);
        }

        for (int r = 0; r < m; r++)
        {
            for (int j = 0; j < half; j++)
            {
                double g = y[(r * n) + j], u = y[(r * n) + half + j];
                double expected = g / (1 + Math.Exp(-g)) * u; // silu(g) · u, ggml_swiglu
                Assert.True(Math.Abs(gated[(r * half) + j] - expected) <= 1e-5 * (1 + Math.Abs(expected)), $"[{r},{j}] {gated[(r * half) + j]} vs {expected}");
            }
        }
    }

    [Avx512Theory]
    [InlineData(1)]
    [InlineData(7)]
    public void SubnormalZeroAndNegativeScalesAreExact(int m)
    {
        // fp16 scales below 2^-14 are subnormal (smallest 2^-24); with normal ones, zeros and negatives.
        const int n = 32, k = 64;
        var (b, _) = RandomWeights(n, k, 60);
        float[] pool = [(float)Half.Epsilon, 3 * (float)Half.Epsilon, -(float)BitConverter.UInt16BitsToHalf(0x03FF), 6.1035156e-5f, 0f, -0f, -0.015625f, 1.5f];
        var scales = new float[n * (k / 32)];
        for (int i = 0; i < scales.Length; i++) scales[i] = pool[i % pool.Length];
        var a = new float[m * k];
        for (int i = 0; i < a.Length; i++) a[i] = 1f + (i % 5);
        using var packed = Q4_0PackedWeights.FromMatMulNBits(b, scales, n, k);
        using var kernel = new Q4_0MatMul(packed);
        var y = new float[m * n];
        fixed (float* ap = a, yp = y)
        {
            kernel.Run(ap, m, yp, null, SerialParallelFor.Instance);
        }

        for (int row = 0; row < m; row++)
        {
            for (int col = 0; col < n; col++)
            {
                double sum = 0;
                for (int blk = 0; blk < k / 32; blk++)
                {
                    float amax = 0;
                    for (int c = 0; c < 32; c++) amax = MathF.Max(amax, MathF.Abs(a[(row * k) + (blk * 32) + c]));
                    long isum = 0;
                    for (int c = 0; c < 32; c++)
                    {
                        int q = (int)MathF.Round(a[(row * k) + (blk * 32) + c] * (127f / amax), MidpointRounding.ToEven);
                        isum += CenteredNibble(b, k, col, (blk * 32) + c) * q;
                    }

                    sum += (double)scales[(col * (k / 32)) + blk] * (amax / 127f) * isum;
                }

                Assert.True(Math.Abs(y[(row * n) + col] - sum) <= 1e-5 * (1e-6 + Math.Abs(sum)), $"[{row},{col}] {y[(row * n) + col]} vs {sum}");
            }
        }
    }

    [Avx512Fact]
    public void EpiloguesThatDoNotFitTheWeightsAreRefused()
    {
        var (b, scales) = RandomWeights(64, 32, 50);
        using var plain = Q4_0PackedWeights.FromMatMulNBits(b, scales, 64, 32);
        using var paired = Q4_0PackedWeights.FromMatMulNBits(b, scales, 64, 32, pairHalves: true);
        Assert.Throws<ArgumentException>(() => new Q4_0MatMul(plain, false, Q4_0Epilogue.SwiGlu));
        Assert.Throws<ArgumentException>(() => new Q4_0MatMul(paired, false, Q4_0Epilogue.None));
        Assert.Throws<ArgumentException>(() => new Q4_0MatMul(plain, false, Q4_0Epilogue.Split(40, 24)));
        Assert.Throws<ArgumentException>(() => new Q4_0MatMul(plain, false, Q4_0Epilogue.Split(32, 16)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Q4_0PackedWeights.FromMatMulNBits(b.AsSpan(0, 48 * 16), scales.AsSpan(0, 48), 48, 32, pairHalves: true));
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

/// <summary>A fact that runs only where <see cref="Q4_0MatMul.IsSupported"/> (x86-64 with AVX-512BW; the same test as <see cref="Q6_KMatMul.IsSupported"/>).</summary>
public sealed class Avx512FactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> on CPUs without AVX-512BW.</summary>
    public Avx512FactAttribute()
    {
        if (!Q4_0MatMul.IsSupported) Skip = "gguf2qnn's kernels (Q4_0, Q6_K) need x86-64 AVX-512BW; this CPU has none.";
    }
}

/// <summary>A theory that runs only where <see cref="Q4_0MatMul.IsSupported"/> (x86-64 with AVX-512BW).</summary>
public sealed class Avx512TheoryAttribute : TheoryAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> on CPUs without AVX-512BW.</summary>
    public Avx512TheoryAttribute()
    {
        if (!Q4_0MatMul.IsSupported) Skip = "gguf2qnn's kernels (Q4_0, Q6_K) need x86-64 AVX-512BW; this CPU has none.";
    }
}
