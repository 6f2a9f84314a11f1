using Gguf2Qnn.Onnx;
using Gguf2Qnn.Onnx.Proto;
using Xunit;
using DataType = Gguf2Qnn.Onnx.Proto.TensorProto.Types.DataType;

namespace Gguf2Qnn.Tests.Onnx;

[Trait("Category", "Onnx")]
public class ExternalDataWriterTests
{
    private static string Entry(TensorProto t, string key) => t.ExternalData.Single(e => e.Key == key).Value;

    [Fact]
    public void TensorsAreAlignedAndDescribedByLocationOffsetLength()
    {
        string dir = TestPaths.NewTempDir("extdata");
        TensorProto a, b;
        using (var writer = new ExternalDataWriter(dir))
        {
            a = writer.Write("a", DataType.Uint8, [3], [1, 2, 3]);
            var sink = writer.BeginTensor("b", DataType.Float, [2, 2]);
            sink.Write<float>([1f, 2f]);
            sink.Write<float>([3f, 4f]);
            b = writer.EndTensor();
        }

        Assert.Equal(TensorProto.Types.DataLocation.External, a.DataLocation);
        Assert.Equal(ExternalDataWriter.DefaultFileName, Entry(a, "location"));
        Assert.Equal("0", Entry(a, "offset"));
        Assert.Equal("3", Entry(a, "length"));
        Assert.Equal("64", Entry(b, "offset"));
        Assert.Equal("16", Entry(b, "length"));
        Assert.Equal([2L, 2L], b.Dims);

        byte[] file = File.ReadAllBytes(Path.Combine(dir, ExternalDataWriter.DefaultFileName));
        Assert.Equal(80, file.Length);
        Assert.Equal([1, 2, 3], file[..3]);
        Assert.All(file[3..64], x => Assert.Equal(0, x));
        Assert.Equal(3f, BitConverter.ToSingle(file, 64 + 8));
    }

    // Tensors larger than a write chunk, a flush in the middle (with direct I/O the padded tail block is written again
    // later), bytes filled in place through GetSpan/Advance: the file must hold exactly the tensors and zero padding.
    [Theory]
    [InlineData(ExternalDataWriteMode.Buffered)]
    [InlineData(ExternalDataWriteMode.Direct)]
    public void ChunkedWritesAcrossFlushesGiveTheSameBytes(ExternalDataWriteMode mode)
    {
        string dir = TestPaths.NewTempDir("extdata");
        var rng = new Random(5);
        var big = new byte[ExternalDataWriter.ChunkBytes + 123_457];
        rng.NextBytes(big);
        var small = new byte[5001];
        rng.NextBytes(small);
        var expected = new MemoryStream();
        long Expect(ReadOnlySpan<byte> bytes)
        {
            expected.Write(new byte[(64 - (expected.Length % 64)) % 64]);
            long offset = expected.Length;
            expected.Write(bytes);
            return offset;
        }

        TensorProto c;
        long cOffset;
        using (var writer = new ExternalDataWriter(dir, ExternalDataWriter.DefaultFileName, ExternalDataWriter.DefaultAlignment, mode))
        {
            writer.Write("a", DataType.Uint8, [3], [7, 8, 9]);
            Expect([7, 8, 9]);
            var sink = writer.BeginTensor("b", DataType.Uint8, [big.Length]);
            for (int at = 0; at < big.Length;)
            {
                int n = Math.Min(big.Length - at, 1_000_003);
                sink.WriteBytes(big.AsSpan(at, n));
                at += n;
            }

            writer.EndTensor();
            Expect(big);
            writer.Flush();
            Assert.Equal(expected.Length, new FileInfo(writer.FullPath).Length);

            sink = writer.BeginTensor("c", DataType.Uint8, [small.Length]);
            for (int at = 0; at < small.Length;)
            {
                var span = sink.GetSpan(16);
                int n = Math.Min(small.Length - at, Math.Min(span.Length, 1000));
                small.AsSpan(at, n).CopyTo(span);
                sink.Advance(n);
                at += n;
            }

            c = writer.EndTensor();
            cOffset = Expect(small);
            writer.Write("d", DataType.Uint8, [big.Length], big);
            Expect(big);
        }

        Assert.Equal(cOffset.ToString(System.Globalization.CultureInfo.InvariantCulture), Entry(c, "offset"));
        Assert.True(expected.ToArray().AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(dir, ExternalDataWriter.DefaultFileName))));
    }

    [Fact]
    public void WrongByteCountIsRejected()
    {
        using var writer = new ExternalDataWriter(TestPaths.NewTempDir("extdata"));
        writer.BeginTensor("t", DataType.Float, [4]).WriteBytes(new byte[12]);
        Assert.Throws<InvalidOperationException>(() => writer.EndTensor());
    }

    [Fact]
    public void GraphBuilderKeepsSmallInitializersInlineAndStreamsLargeOnesOut()
    {
        string dir = TestPaths.NewTempDir("graph");
        using var writer = new ExternalDataWriter(dir);
        var g = new GraphBuilder("g", writer, externalThresholdBytes: 64);
        g.AddInitializer<float>("small", DataType.Float, [4], [1f, 2f, 3f, 4f]);
        g.AddInitializer<float>("large", DataType.Float, [32], new float[32]);

        var small = g.Graph.Initializer.Single(t => t.Name == "small");
        var large = g.Graph.Initializer.Single(t => t.Name == "large");
        Assert.Equal(16, small.RawData.Length);
        Assert.Equal(TensorProto.Types.DataLocation.Default, small.DataLocation);
        Assert.Equal(TensorProto.Types.DataLocation.External, large.DataLocation);
        Assert.Equal("128", Entry(large, "length"));
        Assert.Contains(g.Model.OpsetImport, o => o.Domain == "" && o.Version == 21);
        Assert.Contains(g.Model.OpsetImport, o => o.Domain == "com.microsoft" && o.Version == 1);
        Assert.Equal(10, g.Model.IrVersion);
    }

    [Fact]
    public void NamesAreUnique()
    {
        var g = new GraphBuilder("g");
        g.AddInput("x", DataType.Float, "batch", 4L);
        g.AddNode("Relu", "n", ["x"]);
        Assert.Throws<InvalidOperationException>(() => g.AddNode("Relu", "n", ["x"], ["other"]));
        Assert.Throws<InvalidOperationException>(() => g.AddInitializer<float>("x", DataType.Float, [1], [0f]));
        Assert.Equal("layers.3/attn/q_proj", OnnxNames.Layer(3, "attn/q_proj"));
        Assert.Equal("n/output_0", g.Graph.Node[0].Output[0]);
        Assert.Equal("past_key_values.12.value", OnnxNames.PastValue(12));
        Assert.Equal("present.0.key", OnnxNames.PresentKey(0));
    }

    [Fact]
    public void ABackgroundWriteFailureThatNoCallReportedMakesDisposeThrow()
    {
        // /dev/full refuses every write (ENOSPC); a Linux device, so the check runs where the tests run (Linux only).
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var writer = new ExternalDataWriter("/dev", "full");
        writer.Write("a", DataType.Uint8, [ExternalDataWriter.ChunkBytes], new byte[ExternalDataWriter.ChunkBytes]); // one full chunk goes to the writer thread
        Assert.True(SpinWait.SpinUntil(() => writer.WriteFailed, TimeSpan.FromSeconds(10)));

        // Before the fix Dispose skipped its drain once the error was recorded and returned quietly: a short file
        // looked complete to a caller that relies on Dispose (the documented contract) instead of Flush.
        Assert.Throws<IOException>(writer.Dispose);
        writer.Dispose(); // a second Dispose is a no-op
    }
}
