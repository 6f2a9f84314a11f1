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
/// The MatMulQ4_0 custom op in ONNX Runtime sessions: a MatMulNBits graph (accuracy_level 4) run by ORT's own kernel
/// against the same graph after <see cref="Q4_0KernelRewriter"/> (bias Add, Split with a tail of less than 16 columns,
/// SwiGLU), for one and several rows, and from several threads on one session at once.
/// </summary>
public sealed class Q4_0MatMulOpSessionTests(ITestOutputHelper output)
{

    private static GraphBuilder Model(int k, int n, bool bias, long[]? split, bool swiglu, int seed = 1)
    {
        var g = new GraphBuilder("probe");
        g.Model.OpsetImport.Add(new OperatorSetIdProto { Domain = OnnxDomains.Microsoft, Version = 1 });
        g.AddInput("x", DataType.Float, "m", (long)k);
        var rnd = new Random(seed);
        var b = new byte[n * (k / 32) * 16];
        rnd.NextBytes(b);
        var s = new float[n * (k / 32)];
        for (int i = 0; i < s.Length; i++) s[i] = (float)(Half)((rnd.NextSingle() - 0.3f) * 0.05f);
        g.AddInitializer<byte>("w_B", DataType.Uint8, [n, k / 32, 16], b);
        g.AddInitializer<float>("w_scales", DataType.Float, [s.Length], s);
        g.AddNode("MatMulNBits", "mm", ["x", "w_B", "w_scales"], ["y0"], OnnxDomains.Microsoft,
            Attr.Int("K", k), Attr.Int("N", n), Attr.Int("bits", 4), Attr.Int("block_size", 32), Attr.Int("accuracy_level", 4));
        string y = "y0";
        if (bias)
        {
            var bv = Enumerable.Range(0, n).Select(i => (i % 7) * 0.1f).ToArray();
            g.AddInitializer<float>("bias", DataType.Float, [n], bv);
            g.AddNode("Add", "add", [y, "bias"], ["y1"]);
            y = "y1";
        }
        if (split is not null)
        {
            g.AddInt64("sizes", [split.Length], split);
            string[] outs = split.Select((_, i) => "part" + i).ToArray();
            g.AddNode("Split", "split", [y, "sizes"], outs, OnnxDomains.Onnx, Attr.Int("axis", -1));
            if (swiglu)
            {
                g.AddNode("Sigmoid", "sig", ["part0"], ["sg"]);
                g.AddNode("Mul", "silu", ["part0", "sg"], ["silu"]);
                g.AddNode("Mul", "gated", ["silu", "part1"], ["out0"]);
                g.AddOutput("out0", DataType.Float, "m", split[0]);
            }
            else
            {
                for (int i = 0; i < outs.Length; i++) g.AddOutput(outs[i], DataType.Float, "m", split[i]);
            }
        }
        else
        {
            g.AddOutput(y, DataType.Float, "m", (long)n);
        }
        return g;
    }

    private static float[][] Run(InferenceSession session, float[] x, int m, int k)
    {
        using var xv = OrtValue.CreateTensorValueFromMemory(x, [m, k]);
        using var run = new RunOptions();
        var names = session.OutputNames.ToArray();
        using var outs = session.Run(run, ["x"], [xv], names);
        return outs.Select(o => o.GetTensorDataAsSpan<float>().ToArray()).ToArray();
    }

    [Avx512Theory]
    [InlineData(64, 88, true, new long[] { 32, 48, 8 }, false)]
    [InlineData(64, 96, true, new long[] { 48, 48 }, true)]
    [InlineData(32, 17, true, null, false)]
    public void MatchesOnnxRuntimesMatMulNBits(int k, int n, bool bias, long[]? split, bool swiglu)
    {
        var g = Model(k, n, bias, split, swiglu);
        var bytes = g.Model.ToByteArray();
        var model = ModelProto.Parser.ParseFrom(bytes);
        var rw = Q4_0KernelRewriter.Rewrite(model);
        output.WriteLine(rw.ToString());
        Assert.Equal(new Q4_0Rewrite(1, bias ? 1 : 0, split is not null && !swiglu ? 1 : 0, swiglu ? 1 : 0), rw);
        using var so = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var ort = new InferenceSession(bytes, so);
        using var so2 = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR, IntraOpNumThreads = 2 };
        Q4_0MatMulOp.Domain.AddTo(so2);
        using var ours = new InferenceSession(model.ToByteArray(), so2);
        foreach (int m in new[] { 1, 2, 5, 13 })
        {
            var x = Enumerable.Range(0, m * k).Select(i => MathF.Sin(i * 0.3f) * 2).ToArray();
            var a = Run(ort, x, m, k);
            var o = Run(ours, x, m, k);
            Assert.Equal(a.Length, o.Length);
            double worst = 0;
            for (int i = 0; i < a.Length; i++)
            {
                Assert.Equal(a[i].Length, o[i].Length);
                for (int j = 0; j < a[i].Length; j++) worst = Math.Max(worst, Math.Abs(a[i][j] - o[i][j]) / (1 + Math.Abs(a[i][j])));
            }
            output.WriteLine($"m={m} worst rel {worst:E3}");
            Assert.True(worst < 1e-4, $"m={m}: worst relative difference {worst}"); // both quantize A per block to int8 as ggml does
        }

        // Concurrent runs on one session share the kernel object (its scratch and panel buffers).
        var xs = new[] { 1, 7, 2, 19 }.Select(m => (m, x: Enumerable.Range(0, m * k).Select(i => MathF.Cos(i * 0.11f + m)).ToArray())).ToArray();
        var exp = xs.Select(t => Run(ours, t.x, t.m, k)).ToArray();
        Parallel.For(0, 200, new ParallelOptions { MaxDegreeOfParallelism = 4 }, it =>
        {
            int i = it % xs.Length;
            var got = Run(ours, xs[i].x, xs[i].m, k);
            for (int j = 0; j < got.Length; j++) Assert.Equal(exp[i][j], got[j]);
        });
    }
}
