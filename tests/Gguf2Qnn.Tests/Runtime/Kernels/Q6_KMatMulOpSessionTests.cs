using Gguf2Qnn.Onnx;
using Gguf2Qnn.Onnx.Proto;
using Gguf2Qnn.Runtime.Kernels;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Xunit;
using Xunit.Abstractions;
using DataType = Gguf2Qnn.Onnx.Proto.TensorProto.Types.DataType;

namespace Gguf2Qnn.Tests.Runtime.Kernels;

/// <summary>
/// <see cref="Q6_KKernelRewriter"/> on hand-built graphs, and the MatMulQ6_K custom op in ONNX Runtime sessions: a Q6_K
/// MatMulNBits node (bits 8, block_size 16, accuracy_level 4, as the cpu target writes it, weights in external data)
/// run by ORT's own kernel against the same node after the rewrite. The two quantize the activations differently (ORT
/// per MatMulNBits block of 16, ggml's Q8_K per 256), so they agree within the bound that rounding allows, not exactly.
/// </summary>
public sealed class Q6_KMatMulOpSessionTests(ITestOutputHelper output)
{
    /// <summary>x [m, K] → MatMulNBits (Q6_K form) [→ + bias as input 5] → y; big initializers in model.onnx.data when
    /// <paramref name="folder"/> is given. The scales are [N, K/16] as the cpu target writes them.</summary>
    private static ModelProto Model(Q6_KMatMulTests.Q6_KWeight w, string? folder, bool bias = false, byte[]? b = null, float[]? scales = null, long accuracyLevel = 4)
    {
        var (b0, s0) = w.MatMulNBits();
        b ??= b0;
        scales ??= s0;
        using var external = folder is null ? null : new ExternalDataWriter(folder);
        var g = new GraphBuilder("probe", external);
        g.AddInput("x", DataType.Float, "m", (long)w.K);
        g.AddInitializer<byte>("w_B", DataType.Uint8, [w.N, w.K / 16, 16], b);
        g.AddInitializer<float>("w_scales", DataType.Float, [w.N, w.K / 16], scales);
        var inputs = new List<string> { "x", "w_B", "w_scales" };
        if (bias)
        {
            g.AddInitializer<float>("w_bias", DataType.Float, [w.N], Enumerable.Range(0, w.N).Select(i => ((i % 9) - 4) * 0.25f).ToArray());
            inputs.AddRange(["", "", "w_bias"]);
        }

        g.AddNode("MatMulNBits", "head", inputs, ["y"], OnnxDomains.Microsoft,
            Attr.Int("K", w.K), Attr.Int("N", w.N), Attr.Int("bits", 8), Attr.Int("block_size", 16), Attr.Int("accuracy_level", accuracyLevel));
        g.AddOutput("y", DataType.Float, "m", (long)w.N);
        if (folder is not null) g.Save(Path.Combine(folder, "model.onnx"));
        return ModelProto.Parser.ParseFrom(g.Model.ToByteArray());
    }

    private static float[] Run(InferenceSession session, float[] x, int m, int k)
    {
        using var xv = OrtValue.CreateTensorValueFromMemory(x, [m, k]);
        using var run = new RunOptions();
        using var outs = session.Run(run, ["x"], [xv], ["y"]);
        return outs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    [Fact]
    public void RewritesTheQ6_KFormOnly()
    {
        var w = Q6_KMatMulTests.RandomWeight(40, 512, 1);
        var model = Model(w, folder: null, bias: true);
        var result = Q6_KKernelRewriter.Rewrite(model, externalDataFolder: null);
        Assert.Equal(1, result.Nodes);
        Assert.Empty(result.LeftAlone);
        var node = Assert.Single(model.Graph.Node);
        Assert.Equal((Q6_KKernelRewriter.OpType, "com.gguf2qnn"), (node.OpType, node.Domain));
        Assert.Equal(["x", "w_B", "w_scales", "w_bias"], node.Input);
        Assert.Equal(["K", "N"], node.Attribute.Select(a => a.Name));
        Assert.Contains(model.OpsetImport, o => o.Domain == "com.gguf2qnn");

        // Other forms are not this rewriter's business and are not reported: accuracy_level 0, Q4_0 (bits 4).
        var level0 = Model(w, folder: null, accuracyLevel: 0);
        var none = Q6_KKernelRewriter.Rewrite(level0, null);
        Assert.Equal(0, none.Nodes);
        Assert.Empty(none.LeftAlone);
        var q4 = Model(w, folder: null);
        q4.Graph.Node[0].Attribute.Single(a => a.Name == "bits").I = 4;
        Assert.Equal(0, Q6_KKernelRewriter.Rewrite(q4, null).Nodes);
        var withZeroPoints = Model(w, folder: null);
        withZeroPoints.Graph.Node[0].Input.Add("zp");
        Assert.Equal(0, Q6_KKernelRewriter.Rewrite(withZeroPoints, null).Nodes);
        var weightAsInput = Model(w, folder: null);
        weightAsInput.Graph.Input.Add(new ValueInfoProto { Name = "w_scales" });
        Assert.Equal(0, Q6_KKernelRewriter.Rewrite(weightAsInput, null).Nodes);
        Assert.Equal("MatMulNBits", weightAsInput.Graph.Node[0].OpType);
    }

    [Fact]
    public void LeavesANodeWhoseDataAreNotAQ6_KWeightToOnnxRuntimeAndSaysWhy()
    {
        var w = Q6_KMatMulTests.RandomWeight(24, 256, 2);
        var (b, scales) = w.MatMulNBits();

        var badScales = scales.ToArray();
        badScales[(9 * 16) + 2] = 0.1f;
        var model = Model(w, null, scales: badScales);
        var result = Q6_KKernelRewriter.Rewrite(model, null);
        Assert.Equal(0, result.Nodes);
        Assert.Contains("'head': row 9, super-block 0: the scales", Assert.Single(result.LeftAlone), StringComparison.Ordinal);
        Assert.Equal("MatMulNBits", model.Graph.Node[0].OpType);
        Assert.DoesNotContain(model.OpsetImport, o => o.Domain == "com.gguf2qnn");

        var badCodes = b.ToArray();
        badCodes[77] = 200;
        Assert.Contains("B byte 200 at column 77", Assert.Single(Q6_KKernelRewriter.Rewrite(Model(w, null, b: badCodes), null).LeftAlone), StringComparison.Ordinal);

        // K not a multiple of 256: a Q6_K weight cannot have it (the super-block is 256 weights).
        var small = Model(w, null);
        small.Graph.Node[0].Attribute.Single(a => a.Name == "K").I = 128;
        Assert.Contains("multiple of 256", Assert.Single(Q6_KKernelRewriter.Rewrite(small, null).LeftAlone), StringComparison.Ordinal);

        // External data without the folder it is relative to.
        string dir = TestPaths.NewTempDir("q6k-rewrite");
        try
        {
            var external = Model(w, dir);
            Assert.Contains("folder is not known", Assert.Single(Q6_KKernelRewriter.Rewrite(external, null).LeftAlone), StringComparison.Ordinal);
            Assert.Equal(1, Q6_KKernelRewriter.Rewrite(external, dir).Nodes);
        }
        finally
        {
            TestPaths.DeleteQuietly(dir);
        }
    }

    [Avx512Fact]
    public void TwoNodesSharingOneWeightInExternalDataBothRunIt()
    {
        // The first kernel to load packs B and scales and then drops ORT's mapped pages of them (MappedFilePages); the
        // second reads the same initializers afterwards, faulted back in from model.onnx.data.
        var w = Q6_KMatMulTests.RandomWeight(256, 1024, 6);
        var (b, scales) = w.MatMulNBits();
        string dir = TestPaths.NewTempDir("q6k-shared");
        try
        {
            using (var external = new ExternalDataWriter(dir))
            {
                var g = new GraphBuilder("shared", external);
                g.AddInput("x", DataType.Float, "m", (long)w.K);
                g.AddInitializer<byte>("w_B", DataType.Uint8, [w.N, w.K / 16, 16], b);
                g.AddInitializer<float>("w_scales", DataType.Float, [w.N, w.K / 16], scales);
                foreach (string y in new[] { "y1", "y2" })
                {
                    g.AddNode("MatMulNBits", "head_" + y, ["x", "w_B", "w_scales"], [y], OnnxDomains.Microsoft,
                        Attr.Int("K", w.K), Attr.Int("N", w.N), Attr.Int("bits", 8), Attr.Int("block_size", 16), Attr.Int("accuracy_level", 4));
                    g.AddOutput(y, DataType.Float, "m", (long)w.N);
                }

                g.Save(Path.Combine(dir, "model.onnx"));
            }

            ModelProto model;
            using (var stream = File.OpenRead(Path.Combine(dir, "model.onnx"))) model = ModelProto.Parser.ParseFrom(stream);
            Assert.Equal(2, Q6_KKernelRewriter.Rewrite(model, dir).Nodes);
            using var so = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR, IntraOpNumThreads = 2 };
            so.AddSessionConfigEntry("session.model_external_initializers_file_folder_path", dir);
            Q6_KMatMulOp.Domain.AddTo(so);
            using var session = new InferenceSession(model.ToByteArray(), so);
            var x = Enumerable.Range(0, 3 * w.K).Select(i => MathF.Sin(i * 0.21f)).ToArray();
            using var xv = OrtValue.CreateTensorValueFromMemory(x, [3, w.K]);
            using var run = new RunOptions();
            using var outs = session.Run(run, ["x"], [xv], ["y1", "y2"]);
            var y1 = outs[0].GetTensorDataAsSpan<float>().ToArray();
            Assert.Equal(y1, outs[1].GetTensorDataAsSpan<float>().ToArray());
            for (int row = 0; row < 3; row++)
            {
                for (int col = 0; col < w.N; col++)
                {
                    double ggml = Q6_KMatMulTests.Reference(w, x.AsSpan(row * w.K, w.K), col, out double magnitude);
                    Assert.True(Math.Abs(y1[(row * w.N) + col] - ggml) <= 2e-6 * (1 + magnitude), $"[{row},{col}] {y1[(row * w.N) + col]} vs ggml {ggml}");
                }
            }
        }
        finally
        {
            TestPaths.DeleteQuietly(dir);
        }
    }

    [Theory]
    [InlineData("offset", "12x")]
    [InlineData("offset", "99999999999999999999")]
    [InlineData("length", "")]
    public void AnExternalDataEntryThatIsNotANumberLeavesTheNodeAloneAndSaysWhy(string key, string value)
    {
        // The rewriter's reading must not throw out of Rewrite (and so out of opening a model with --kernels auto):
        // the node stays with ONNX Runtime, which reports the model's error in its own words.
        var w = Q6_KMatMulTests.RandomWeight(16, 256, 5);
        string dir = TestPaths.NewTempDir("q6k-badentry");
        try
        {
            var model = Model(w, dir);
            var b = model.Graph.Initializer.Single(t => t.Name == "w_B"); // 4 KiB: in model.onnx.data
            b.ExternalData.Single(e => e.Key == key).Value = value;
            var rewrite = Q6_KKernelRewriter.Rewrite(model, dir);
            Assert.Equal(0, rewrite.Nodes);
            Assert.Contains($"'{key}'", Assert.Single(rewrite.LeftAlone), StringComparison.Ordinal);
            Assert.Equal("MatMulNBits", model.Graph.Node[0].OpType);
        }
        finally
        {
            TestPaths.DeleteQuietly(dir);
        }
    }

    [Avx512Fact]
    public void TakesExternalDataWithoutALengthAsOnnxRuntimeDoes()
    {
        // onnx external_data: "length" is optional; without it the tensor's bytes are its dims × element size from
        // "offset" on (ORT reads exactly that much), not the rest of the file.
        var w = Q6_KMatMulTests.RandomWeight(40, 512, 4);
        string dir = TestPaths.NewTempDir("q6k-nolength");
        try
        {
            var model = Model(w, dir, bias: true);
            foreach (var t in model.Graph.Initializer.Where(t => t.DataLocation == TensorProto.Types.DataLocation.External))
            {
                var kept = t.ExternalData.Where(e => e.Key != "length").ToArray();
                t.ExternalData.Clear();
                t.ExternalData.AddRange(kept);
            }

            File.WriteAllBytes(Path.Combine(dir, "model.onnx"), model.ToByteArray());
            using var so = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR, IntraOpNumThreads = 1 };
            using var ort = new InferenceSession(Path.Combine(dir, "model.onnx"), so); // ORT takes the model as it is

            var rewrite = Q6_KKernelRewriter.Rewrite(model, dir);
            Assert.Empty(rewrite.LeftAlone);
            Assert.Equal(1, rewrite.Nodes);
            using var so2 = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR, IntraOpNumThreads = 1 };
            so2.AddSessionConfigEntry("session.model_external_initializers_file_folder_path", dir);
            Q6_KMatMulOp.Domain.AddTo(so2);
            using var ours = new InferenceSession(model.ToByteArray(), so2);
            var x = Enumerable.Range(0, 2 * w.K).Select(i => MathF.Sin(i * 0.7f)).ToArray();
            var y = Run(ours, x, 2, w.K);
            for (int col = 0; col < w.N; col++)
            {
                double ggml = Q6_KMatMulTests.Reference(w, x.AsSpan(w.K, w.K), col, out double magnitude) + (((col % 9) - 4) * 0.25);
                Assert.True(Math.Abs(y[w.N + col] - ggml) <= 2e-6 * (2 + magnitude), $"[1,{col}] {y[w.N + col]} vs ggml {ggml}");
            }
        }
        finally
        {
            TestPaths.DeleteQuietly(dir);
        }
    }

    [Avx512Theory]
    [InlineData(512, 100, false)]
    [InlineData(1536, 250, true)]
    public void MatchesOnnxRuntimesMatMulNBitsWithinTheRoundingOfTheActivations(int k, int n, bool bias)
    {
        var w = Q6_KMatMulTests.RandomWeight(n, k, 3);
        string dir = TestPaths.NewTempDir("q6k-session");
        try
        {
            var model = Model(w, dir, bias);
            var rewrite = Q6_KKernelRewriter.Rewrite(model, dir);
            Assert.Equal(1, rewrite.Nodes);
            using var so = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR, IntraOpNumThreads = 2 };
            using var ort = new InferenceSession(Path.Combine(dir, "model.onnx"), so);
            using var so2 = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR, IntraOpNumThreads = 2 };
            so2.AddSessionConfigEntry("session.model_external_initializers_file_folder_path", dir);
            Q6_KMatMulOp.Domain.AddTo(so2);
            using var ours = new InferenceSession(model.ToByteArray(), so2);

            var (bBytes, scales) = w.MatMulNBits();
            var biasValues = Enumerable.Range(0, n).Select(i => bias ? ((i % 9) - 4) * 0.25f : 0f).ToArray();
            foreach (int m in new[] { 1, 2, 5, 13 })
            {
                var x = Enumerable.Range(0, m * k).Select(i => MathF.Sin(i * 0.3f) * (1 + ((i / 256) % 4))).ToArray();
                var a = Run(ort, x, m, k);
                var o = Run(ours, x, m, k);
                double worst = 0;
                for (int row = 0; row < m; row++)
                {
                    for (int col = 0; col < n; col++)
                    {
                        // Ours is ggml's arithmetic (within float rounding of the sums).
                        double ggml = Q6_KMatMulTests.Reference(w, x.AsSpan(row * k, k), col, out double magnitude) + biasValues[col];
                        float got = o[(row * n) + col];
                        Assert.True(Math.Abs(got - ggml) <= 2e-6 * (1 + magnitude + Math.Abs(biasValues[col])), $"m={m} [{row},{col}] {got} vs ggml {ggml}");

                        // Each side rounds an activation by at most half its step; ggml's Q8_K step (amax/127 per 256) is
                        // never smaller than a per-16 one, so each result is within Σ |w|·step/2 of the exact product.
                        double bound = 0;
                        for (int blk = 0; blk < k / 256; blk++)
                        {
                            float amax = 0;
                            for (int c = 0; c < 256; c++) amax = MathF.Max(amax, MathF.Abs(x[(row * k) + (blk * 256) + c]));
                            double absW = 0;
                            for (int c = 0; c < 256; c++) absW += Math.Abs((bBytes[(col * k) + (blk * 256) + c] - 128) * (double)scales[((col * k) + (blk * 256) + c) / 16]);
                            bound += absW * amax / 127 / 2;
                        }

                        double diff = Math.Abs(a[(row * n) + col] - got);
                        Assert.True(diff <= (2 * bound) + 1e-4, $"m={m} [{row},{col}] ours {got} vs ORT {a[(row * n) + col]}: {diff} > {2 * bound}");
                        worst = Math.Max(worst, diff / ((2 * bound) + 1e-4));
                    }
                }

                output.WriteLine($"K={k} N={n} m={m}: worst |ours − ORT| = {worst:P1} of the rounding bound");
            }

            // Concurrent runs on one session share the kernel object (its scratch and panel buffers).
            var xs = new[] { 1, 7, 2, 19 }.Select(m => (m, x: Enumerable.Range(0, m * k).Select(i => MathF.Cos((i * 0.11f) + m)).ToArray())).ToArray();
            var expected = xs.Select(t => Run(ours, t.x, t.m, k)).ToArray();
            Parallel.For(0, 100, new ParallelOptions { MaxDegreeOfParallelism = 4 }, it =>
            {
                int i = it % xs.Length;
                Assert.Equal(expected[i], Run(ours, xs[i].x, xs[i].m, k));
            });
        }
        finally
        {
            TestPaths.DeleteQuietly(dir);
        }
    }
}
