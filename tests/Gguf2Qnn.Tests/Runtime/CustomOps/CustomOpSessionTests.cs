using System.Globalization;
using System.Text;
using Google.Protobuf;
using Gguf2Qnn.Onnx;
using Gguf2Qnn.Onnx.Proto;
using Gguf2Qnn.Runtime;
using Gguf2Qnn.Runtime.CustomOps;
using Microsoft.ML.OnnxRuntime;
using Xunit;
using Xunit.Abstractions;
using DataType = Gguf2Qnn.Onnx.Proto.TensorProto.Types.DataType;

namespace Gguf2Qnn.Tests.Runtime.CustomOps;

/// <summary>
/// C# custom ops in real ONNX Runtime sessions: graphs built with <see cref="GraphBuilder"/>, run with
/// <see cref="InferenceSession"/>, outputs checked against hand-computed values.
/// </summary>
[Trait("Category", "Runtime")]
public sealed class CustomOpSessionTests(ITestOutputHelper output)
{
    [Fact]
    public void ScaleAddComputesXTimesAlphaPlusB()
    {
        var g = Graph("scale_add");
        g.AddInput("X", DataType.Float, 2L, 3L);
        g.AddInput("B", DataType.Float, 3L);
        g.AddNode("ScaleAdd", "sa", ["X", "B"], ["Y"], TestOps.DomainName, Attr.Float("alpha", 0.5f));
        g.AddOutput("Y", DataType.Float, 2L, 3L);

        using var options = Options();
        using var session = new InferenceSession(g.Model.ToByteArray(), options);
        var y = RunFloat(session, ("X", [1, 2, 3, 4, 5, 6], [2, 3]), ("B", [10, 20, 30], [3]));

        // 0.5 * X + B, by hand.
        Assert.Equal([10.5f, 21f, 31.5f, 12f, 22.5f, 33f], y);
    }

    [Fact]
    public void AnOmittedOptionalInputIsAbsent()
    {
        var g = Graph("scale_only");
        g.AddInput("X", DataType.Float, 4L);
        g.AddNode("ScaleAdd", "sa", ["X"], ["Y"], TestOps.DomainName, Attr.Float("alpha", -2f));
        g.AddOutput("Y", DataType.Float, 4L);

        using var options = Options();
        using var session = new InferenceSession(g.Model.ToByteArray(), options);
        Assert.Equal([-2f, 0f, 3f, -8f], RunFloat(session, ("X", [1, 0, -1.5f, 4], [4])));
    }

    [Fact]
    public void AnOpWithTwoOutputsOfDifferentTypes()
    {
        var g = Graph("split_sign");
        g.AddInput("X", DataType.Float, 5L);
        g.AddNode("SplitSign", "ss", ["X"], ["Pos", "Count"], TestOps.DomainName);
        g.AddOutput("Pos", DataType.Float, 5L);
        g.AddOutput("Count", DataType.Int64);

        using var options = Options();
        using var session = new InferenceSession(g.Model.ToByteArray(), options);
        using var x = OrtValue.CreateTensorValueFromMemory(new float[] { -1, 2, 0, 3.5f, -0.25f }, [5]);
        using var run = new RunOptions();
        using var outputs = session.Run(run, ["X"], [x], ["Pos", "Count"]);
        Assert.Equal([0f, 2f, 0f, 3.5f, 0f], outputs[0].GetTensorDataAsSpan<float>().ToArray());
        Assert.Empty(outputs[1].GetTensorTypeAndShape().Shape);
        Assert.Equal(2L, outputs[1].GetTensorDataAsSpan<long>()[0]);
    }

    [Fact]
    public void TheFactoryReadsEveryAttributeKind()
    {
        var g = Graph("attrs");
        var ints = new AttributeProto { Name = "ints", Type = AttributeProto.Types.AttributeType.Ints };
        ints.Ints.Add([4, -5, 6]);
        var floats = new AttributeProto { Name = "floats", Type = AttributeProto.Types.AttributeType.Floats };
        floats.Floats.Add([0.25f, -1.5f]);
        g.AddNode("AttrEcho", "echo_node", [], ["V", "S"], TestOps.DomainName,
            Attr.Int("i", 42), Attr.Float("f", 1.75f), Attr.String("s", "Grüße"), ints, floats);
        g.AddOutput("V", DataType.Float, "n");
        g.AddOutput("S", DataType.Uint8, "m");

        using var options = Options();
        using var session = new InferenceSession(g.Model.ToByteArray(), options);
        using var run = new RunOptions();
        using var outputs = session.Run(run, [], [], ["V", "S"]);

        // i, f, ints, floats, the two fallbacks for the absent attribute, input count 0, "echo_node".Length.
        Assert.Equal([42f, 1.75f, 4f, -5f, 6f, 0.25f, -1.5f, -7f, 2.5f, 0f, 9f], outputs[0].GetTensorDataAsSpan<float>().ToArray());
        Assert.Equal("Grüße", Encoding.UTF8.GetString(outputs[1].GetTensorDataAsSpan<byte>()));
    }

    [Fact]
    public void AFactoryExceptionFailsSessionCreationWithItsMessage()
    {
        var g = Graph("no_alpha");
        g.AddInput("X", DataType.Float, 1L);
        g.AddNode("ScaleAdd", "sa", ["X"], ["Y"], TestOps.DomainName); // alpha missing
        g.AddOutput("Y", DataType.Float, 1L);

        using var options = Options();
        options.LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL; // the expected failure would log an error
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => new InferenceSession(g.Model.ToByteArray(), options));
        Assert.Contains("ScaleAdd", e.Message, StringComparison.Ordinal);
        Assert.Contains("alpha", e.Message, StringComparison.Ordinal);
        output.WriteLine(e.Message);
    }

    [Theory]
    [InlineData("compute", "boom from compute, flag 3")]
    [InlineData("parallel", "boom in iteration 37")]
    public void AComputeExceptionSurfacesAsOnnxRuntimeExceptionAndTheSessionStaysUsable(string where, string message)
    {
        var g = Graph("fail");
        g.AddInput("Flag", DataType.Int64);
        g.AddNode("Fail", "f", ["Flag"], ["Out"], TestOps.DomainName, Attr.String("where", where));
        g.AddOutput("Out", DataType.Int64);

        using var options = Options(intraOpThreads: 2);
        options.LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL; // the expected failures would log errors
        using var session = new InferenceSession(g.Model.ToByteArray(), options);
        var e = Assert.Throws<OnnxRuntimeException>(() => RunFlag(session, 3));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.Contains("System.InvalidOperationException", e.Message, StringComparison.Ordinal);
        output.WriteLine(e.Message);

        // The process and the session survive: the next run succeeds.
        Assert.Equal(0L, RunFlag(session, 0));
        Assert.Throws<OnnxRuntimeException>(() => RunFlag(session, 5));
        Assert.Equal(0L, RunFlag(session, 0));
    }

    [Theory]
    [InlineData(1, 1000, 0, false)]
    [InlineData(2, 1000, 0, false)]
    [InlineData(2, 64, 20000, false)]
    [InlineData(2, 1, 0, false)]
    [InlineData(2, 1000, 0, true)]
    [InlineData(2, 64, 20000, true)]
    public void ParallelForRunsEveryIndexExactlyOnce(int intraOpThreads, long total, long spin, bool adapter)
    {
        var g = Graph("cover");
        g.AddNode("Cover", "c", [], ["Counts", "Threads"], TestOps.DomainName, Attr.Int("total", total), Attr.Int("spin", spin), Attr.Int("adapter", adapter ? 1 : 0));
        g.AddOutput("Counts", DataType.Int32, total);
        g.AddOutput("Threads", DataType.Int64);

        using var options = Options(intraOpThreads);
        using var session = new InferenceSession(g.Model.ToByteArray(), options);
        using var run = new RunOptions();
        for (int r = 0; r < 3; r++)
        {
            using var outputs = session.Run(run, [], [], ["Counts", "Threads"]);
            Assert.All(outputs[0].GetTensorDataAsSpan<int>().ToArray(), c => Assert.Equal(1, c));
            long threads = outputs[1].GetTensorDataAsSpan<long>()[0];
            Assert.InRange(threads, 1, intraOpThreads);
            output.WriteLine($"intra-op threads {intraOpThreads}, total {total}, spin {spin}, adapter {adapter}: {threads} thread(s) ran iterations");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ParallelForBodiesSurviveCompactingCollections(int intraOpThreads)
    {
        var g = Graph("cover_gc");
        g.AddNode("Cover", "c", [], ["Counts", "Threads"], TestOps.DomainName, Attr.Int("total", 128), Attr.Int("gc", 1));
        g.AddOutput("Counts", DataType.Int32, 128L);
        g.AddOutput("Threads", DataType.Int64);

        using var options = Options(intraOpThreads);
        using var session = new InferenceSession(g.Model.ToByteArray(), options);
        using var run = new RunOptions();
        using var outputs = session.Run(run, [], [], ["Counts", "Threads"]);
        Assert.All(outputs[0].GetTensorDataAsSpan<int>().ToArray(), c => Assert.Equal(2, c)); // two loops, each index once
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(1, 16)]
    [InlineData(2, 1)]
    [InlineData(2, 2)]
    [InlineData(2, 16)]
    public void ParallelForOverheadPerCall(int intraOpThreads, long total)
    {
        var g = Graph("overhead");
        g.AddNode("Overhead", "o0", [], ["Struct"], TestOps.DomainName, Attr.Int("calls", 20000), Attr.Int("total", total), Attr.Int("mode", 0));
        g.AddNode("Overhead", "o1", [], ["Action"], TestOps.DomainName, Attr.Int("calls", 20000), Attr.Int("total", total), Attr.Int("mode", 1));
        g.AddOutput("Struct", DataType.Double, 1L);
        g.AddOutput("Action", DataType.Double, 1L);

        using var options = Options(intraOpThreads);
        using var session = new InferenceSession(g.Model.ToByteArray(), options);
        using var run = new RunOptions();
        double structNs = double.MaxValue, actionNs = double.MaxValue;
        for (int r = 0; r < 5; r++)
        {
            using var outputs = session.Run(run, [], [], ["Struct", "Action"]);
            structNs = Math.Min(structNs, outputs[0].GetTensorDataAsSpan<double>()[0]);
            actionNs = Math.Min(actionNs, outputs[1].GetTensorDataAsSpan<double>()[0]);
        }

        output.WriteLine(string.Format(CultureInfo.InvariantCulture,
            "ParallelFor, intra-op threads {0}, total {1}: struct body {2:F0} ns/call, Action body {3:F0} ns/call (best of 5 runs of 20000 calls)",
            intraOpThreads, total, structNs, actionNs));
        Assert.True(structNs > 0 && double.IsFinite(structNs));
        Assert.True(actionNs > 0 && double.IsFinite(actionNs));
    }

    [Fact]
    public void AnInlineInitializerReachesComputeWithItsBytes()
    {
        var bytes = Pattern(300);
        var g = Graph("inline_weight");
        g.AddInitializer<byte>("W", DataType.Uint8, [3, 100], bytes);
        g.AddNode("WeightProbe", "p", ["W"], ["Copy", "Info"], TestOps.DomainName);
        g.AddOutput("Copy", DataType.Uint8, 3L, 100L);
        g.AddOutput("Info", DataType.Int64, 4L);

        using var options = Options();
        using var session = new InferenceSession(g.Model.ToByteArray(), options);
        var (copy, info) = RunProbe(session);
        Assert.Equal(bytes, copy);
        Assert.Equal(300, info[2]);
        Assert.Equal(2, info[3]);
        Assert.Equal(info[0], info[1]); // the factory's constant input is the tensor Compute sees
    }

    [Theory]
    [InlineData(64)]
    [InlineData(4096)]
    public void AnExternalDataInitializerReachesComputeWithItsBytes(int alignment)
    {
        string dir = TestPaths.NewTempDir("customop-external");
        try
        {
            var bytes = Pattern(1 << 20); // 1 MiB: above every external/mmap threshold
            var small = Pattern(5000);
            string modelPath = Path.Combine(dir, "model.onnx");
            using (var writer = new ExternalDataWriter(dir, ExternalDataWriter.DefaultFileName, alignment))
            {
                var g = Graph("external_weight", writer);
                g.AddInitializer<byte>("Small", DataType.Uint8, [5000], small); // puts W at a non-zero offset
                g.AddInitializer<byte>("W", DataType.Uint8, [1024, 1024], bytes);
                g.AddNode("WeightProbe", "p0", ["Small"], ["SmallCopy", "SmallInfo"], TestOps.DomainName);
                g.AddNode("WeightProbe", "p", ["W"], ["Copy", "Info"], TestOps.DomainName);
                g.AddOutput("SmallCopy", DataType.Uint8, 5000L);
                g.AddOutput("SmallInfo", DataType.Int64, 4L);
                g.AddOutput("Copy", DataType.Uint8, 1024L, 1024L);
                g.AddOutput("Info", DataType.Int64, 4L);
                writer.Flush();
                g.Save(modelPath);
            }

            var offset = ExternalOffset(modelPath, "W");
            using var options = Options();
            using var session = new InferenceSession(modelPath, options);
            var (copy, info) = RunProbe(session);
            Assert.Equal(bytes, copy);
            Assert.Equal(1L << 20, info[2]);
            Assert.Equal(info[0], info[1]);
            var (smallCopy, smallInfo) = RunProbe(session, "SmallCopy", "SmallInfo");
            Assert.Equal(small, smallCopy);
            Assert.Equal(smallInfo[0], smallInfo[1]);
            string data = Path.Combine(dir, ExternalDataWriter.DefaultFileName);
            output.WriteLine($"alignment {alignment}: W (1 MiB) at file offset {offset}, data address 0x{info[0]:x}: {MappingOf(info[0], data)}");
            output.WriteLine($"alignment {alignment}: Small (5000 B) at file offset {ExternalOffset(modelPath, "Small")}, data address 0x{smallInfo[0]:x}: {MappingOf(smallInfo[0], data)}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void TwoSessionsShareOneDomain()
    {
        var g = Graph("shared");
        g.AddInput("X", DataType.Float, 2L);
        g.AddNode("ScaleAdd", "sa", ["X"], ["Y"], TestOps.DomainName, Attr.Float("alpha", 3f));
        g.AddOutput("Y", DataType.Float, 2L);
        byte[] model = g.Model.ToByteArray();

        using var options1 = Options();
        using var options2 = Options();
        options1.AddCustomOpDomain(TestOps.Domain); // a second add to the same options is a no-op
        using var a = new InferenceSession(model, options1);
        using var b = new InferenceSession(model, options1);
        using (var c = new InferenceSession(model, options2))
        {
            Assert.Equal([3f, -6f], RunFloat(c, ("X", [1, -2], [2])));
        }

        Assert.Equal([3f, 6f], RunFloat(a, ("X", [1, 2], [2])));
        a.Dispose();
        Assert.Equal([0f, 1.5f], RunFloat(b, ("X", [0, 0.5f], [2])));

        // Sessions created after the others are gone still work.
        using var d = new InferenceSession(model, options2);
        Assert.Equal([30f, -3f], RunFloat(d, ("X", [10, -1], [2])));
    }

    [Fact]
    public void RuntimeOptionsAttachCustomOpDomains()
    {
        var g = Graph("runtime_options");
        g.AddInput("X", DataType.Float, 1L);
        g.AddNode("ScaleAdd", "sa", ["X"], ["Y"], TestOps.DomainName, Attr.Float("alpha", 4f));
        g.AddOutput("Y", DataType.Float, 1L);
        byte[] model = g.Model.ToByteArray();

        var lines = new List<string>();
        using (var options = new RuntimeOptions { CustomOpDomains = [TestOps.Domain], Log = lines.Add }.ToSessionOptions())
        using (var session = new InferenceSession(model, options))
        {
            Assert.Equal([8f], RunFloat(session, ("X", [2], [1])));
        }

        Assert.Contains(lines, l => l.Contains(TestOps.DomainName, StringComparison.Ordinal));

        // Without the domain the model does not load.
        using var plain = new RuntimeOptions().ToSessionOptions();
        Assert.ThrowsAny<OnnxRuntimeException>(() => new InferenceSession(model, plain));
    }

    private static GraphBuilder Graph(string name, ExternalDataWriter? writer = null)
    {
        var g = new GraphBuilder(name, writer);
        g.Model.OpsetImport.Add(new OperatorSetIdProto { Domain = TestOps.DomainName, Version = 1 });
        return g;
    }

    private static SessionOptions Options(int intraOpThreads = 1)
    {
        var options = new SessionOptions { IntraOpNumThreads = intraOpThreads, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        options.AddCustomOpDomain(TestOps.Domain);
        return options;
    }

    private static float[] RunFloat(InferenceSession session, params (string Name, float[] Data, long[] Shape)[] inputs)
    {
        var values = inputs.Select(i => OrtValue.CreateTensorValueFromMemory(i.Data, i.Shape)).ToArray();
        try
        {
            using var run = new RunOptions();
            using var outputs = session.Run(run, inputs.Select(i => i.Name).ToArray(), values, [session.OutputNames[0]]);
            return outputs[0].GetTensorDataAsSpan<float>().ToArray();
        }
        finally
        {
            foreach (var v in values)
            {
                v.Dispose();
            }
        }
    }

    private static long RunFlag(InferenceSession session, long flag)
    {
        using var x = OrtValue.CreateTensorValueFromMemory(new[] { flag }, []);
        using var run = new RunOptions();
        using var outputs = session.Run(run, ["Flag"], [x], ["Out"]);
        return outputs[0].GetTensorDataAsSpan<long>()[0];
    }

    private static (byte[] Copy, long[] Info) RunProbe(InferenceSession session, string copyName = "Copy", string infoName = "Info")
    {
        using var run = new RunOptions();
        using var outputs = session.Run(run, [], [], [copyName, infoName]);
        return (outputs[0].GetTensorDataAsSpan<byte>().ToArray(), outputs[1].GetTensorDataAsSpan<long>().ToArray());
    }

    private static byte[] Pattern(int length)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = (byte)((i * 131) ^ (i >> 8));
        }

        return bytes;
    }

    private static long ExternalOffset(string modelPath, string tensor)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelPath));
        var proto = model.Graph.Initializer.Single(t => t.Name == tensor);
        return long.Parse(proto.ExternalData.Single(e => e.Key == "offset").Value, CultureInfo.InvariantCulture);
    }

    /// <summary>Which /proc/self/maps line holds <paramref name="address"/>, described.</summary>
    private static string MappingOf(long address, string dataFile)
    {
        string full = Path.GetFullPath(dataFile);
        foreach (string line in File.ReadLines("/proc/self/maps"))
        {
            var parts = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            var range = parts[0].Split('-');
            ulong start = ulong.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            ulong end = ulong.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if ((ulong)address >= start && (ulong)address < end)
            {
                string path = parts.Length > 5 ? parts[5].Trim() : "[anonymous]";
                return path == full
                    ? $"memory-mapped from {Path.GetFileName(full)} ({parts[1]}, file offset 0x{parts[2]} + {(ulong)address - start})"
                    : $"not mapped from the data file: in {path} ({parts[1]})";
            }
        }

        return "in no mapping";
    }
}
