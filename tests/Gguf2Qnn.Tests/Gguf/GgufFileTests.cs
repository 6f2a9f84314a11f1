using System.Buffers.Binary;
using Gguf2Qnn.Gguf;
using Xunit;

namespace Gguf2Qnn.Tests.Gguf;

[Trait("Category", "Gguf")]
public class GgufFileTests
{
    [Fact]
    public void ReadsStories260KHeaderAndHyperParameters()
    {
        // Values from ../shared/models/SOURCES.md: v3, llama, dim 64, 5 layers, 8 heads / 4 kv heads, ffn 172, 48 F32 tensors, vocab 512.
        using var f = GgufFile.Open(TestPaths.Stories260K);
        Assert.Equal(3u, f.Version);
        Assert.Equal("llama", f.Architecture);
        Assert.Equal(64, f.GetInt64(GgufKeys.EmbeddingLength("llama")));
        Assert.Equal(5, f.GetInt64(GgufKeys.BlockCount("llama")));
        Assert.Equal(8, f.GetInt64(GgufKeys.HeadCount("llama")));
        Assert.Equal(4, f.GetInt64(GgufKeys.HeadCountKv("llama")));
        Assert.Equal(172, f.GetInt64(GgufKeys.FeedForwardLength("llama")));
        Assert.Equal(48, f.Tensors.Count);
        Assert.All(f.Tensors, t => Assert.Equal(GgmlType.F32, t.Type));
        Assert.Equal(512, f.GetStringArray(GgufKeys.Tokens).Length);
        Assert.Equal("llama", f.GetString(GgufKeys.TokenizerModel));
        var embd = f.GetTensor(GgufTensorNames.TokenEmbedding);
        Assert.Equal([64L, 512L], embd.Dimensions);
        Assert.Equal(0, f.DataOffset % 32);
        Assert.Equal(f.Length, f.DataOffset + f.Tensors.Max(t => t.Offset + t.ByteSize));
    }

    [Fact]
    public void ReadsF16TensorsOfLlamaTinyRandom()
    {
        using var f = GgufFile.Open(TestPaths.LlamaTinyRandom);
        Assert.Equal(9, f.Tensors.Count(t => t.Type == GgmlType.F16));
        Assert.Equal(3, f.Tensors.Count(t => t.Type == GgmlType.F32));
        Assert.Equal(32000, f.GetStringArray(GgufKeys.Tokens).Length);
        var values = f.DequantizeTensor(f.GetTensor(GgufTensorNames.TokenEmbedding));
        Assert.All(values, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void RefusesGgufV1WithNotSupported()
    {
        var path = Path.Combine(TestPaths.Models, "legacy", "tinyllamas-stories-260k-f32.gguf");
        var ex = Assert.Throws<NotSupportedException>(() => GgufFile.Open(path));
        Assert.Contains("version 1", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RefusesBigEndianFile()
    {
        var bytes = new byte[64];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, GgufFile.Magic);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), 3);
        var path = WriteTemp(bytes);
        var ex = Assert.Throws<NotSupportedException>(() => GgufFile.Open(path));
        Assert.Contains("Big-endian", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RefusesNonGgufFileWithTypedError()
    {
        var path = WriteTemp("hello world, not a model"u8.ToArray());
        var ex = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path));
        Assert.Equal(0, ex.Offset);
        Assert.Equal("magic", ex.Field);
    }

    [Fact]
    public void RefusesKeyLengthOf2Pow48InA48ByteFileBeforeAllocating()
    {
        // magic, version 3, tensor_count 0, kv_count 1, then the first key's length = 2^48, then 16 bytes: 48 in all.
        var bytes = new byte[48];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, GgufFile.Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 3);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), 0);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(16), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(24), 1UL << 48);
        var path = WriteTemp(bytes);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(24, ex.Offset);
        Assert.Equal("metadata key", ex.Field);
        Assert.True(allocated < 1 << 20, $"allocated {allocated} bytes");
    }

    [Fact]
    public void RefusesTensorWhoseDataRunsPastTheEnd()
    {
        var w = new GgufWriter();
        w.AddString(GgufKeys.Architecture, "llama");
        w.AddTensorF32("a.weight", [32], new float[32]);
        var path = TestPaths.NewTempDir("gguf") + "/t.gguf";
        w.WriteTo(path);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^8]); // cut the last 8 bytes of tensor data
        var ex = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path));
        Assert.Equal("offset", ex.Field);
        Assert.Contains("past the end", ex.Message, StringComparison.Ordinal);
        Assert.True(ex.Offset > 0);
    }

    [Fact]
    public void WriterRoundTripsEveryWrittenValueTypeAndHonoursAlignment16()
    {
        var w = new GgufWriter();
        w.AddUInt32(GgufKeys.Alignment, 16);
        w.AddString("s", "héllo");
        w.AddInt32("i", -5);
        w.AddUInt64("u", ulong.MaxValue);
        w.AddFloat32("f", 1.5f);
        w.AddBool("b", true);
        w.AddStringArray("sa", ["a", "", "ü"]);
        w.AddFloat32Array("fa", [1f, -2f]);
        w.AddInt32Array("ia", [3, 4, 5]);
        w.AddTensorF32("t0", [3], [1f, 2f, 3f]); // 12 bytes: the next tensor starts at 16, not 32
        w.AddTensor("t1", GgmlType.Q8_0, [32, 2], Quantizer.QuantizeQ8_0(Enumerable.Range(0, 64).Select(i => i / 64f).ToArray()));
        var path = TestPaths.NewTempDir("gguf") + "/rt.gguf";
        w.WriteTo(path);

        using var f = GgufFile.Open(path);
        Assert.Equal(16, f.Alignment);
        Assert.Equal(0, f.DataOffset % 16);
        Assert.Equal("héllo", f.GetString("s"));
        Assert.Equal(-5, f.GetInt64("i"));
        Assert.Equal(ulong.MaxValue, (ulong)f.Metadata["u"].Value);
        Assert.Equal(1.5, f.GetDouble("f"));
        Assert.True(f.TryGetBool("b", out var b) && b);
        Assert.Equal(["a", "", "ü"], f.GetStringArray("sa"));
        Assert.Equal([1f, -2f], f.GetFloatArray("fa"));
        Assert.Equal([3, 4, 5], f.GetInt32Array("ia"));
        Assert.Equal(16, f.GetTensor("t1").Offset);
        Assert.Equal([1f, 2f, 3f], f.DequantizeTensor(f.GetTensor("t0")));
        Assert.Equal(["s", "i"], f.Metadata.Keys.Skip(1).Take(2));
    }

    [Fact]
    public void WrongValueTypeForAKnownKeyIsATypedErrorNamingTheKey()
    {
        var w = new GgufWriter();
        w.AddInt32(GgufKeys.Alignment, 32); // the spec says uint32
        var path = TestPaths.NewTempDir("gguf") + "/a.gguf";
        w.WriteTo(path);
        var ex = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path));
        Assert.Equal(GgufKeys.Alignment, ex.Field);

        var ok = new GgufWriter();
        ok.AddString("name", "x");
        var path2 = TestPaths.NewTempDir("gguf") + "/b.gguf";
        ok.WriteTo(path2);
        using var f = GgufFile.Open(path2);
        var ex2 = Assert.Throws<GgufFormatException>(() => f.GetInt64("name"));
        Assert.Equal("name", ex2.Field);
        Assert.Throws<GgufFormatException>(() => f.GetInt64("missing"));
    }

    private static string WriteTemp(byte[] bytes)
    {
        var path = Path.Combine(TestPaths.NewTempDir("gguf"), "f.gguf");
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
