using System.Buffers.Binary;
using Gguf2Qnn.Gguf;
using Xunit;

namespace Gguf2Qnn.Tests.Gguf;

[Trait("Category", "Gguf")]
public class GgufFileTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void Sha256OfTheMapIsTheFilesDigestThatSourcesMdLists()
    {
        // ../shared/models/SOURCES.md gives stories260K.gguf's sha256 (computed there by sha256sum).
        using var f = GgufFile.Open(TestPaths.Stories260K);
        Assert.Equal("270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d", f.ComputeSha256());
    }

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
    public void RefusesTheIssues32ByteFileWithA2Pow48KeyLengthBeforeAllocating()
    {
        // Issue 2's case as stated: a 32-byte file whose first metadata key declares 2^48 bytes. The reader refuses it
        // at kv_count already (one pair cannot fit in the 8 bytes left), before reading or allocating the key.
        var bytes = new byte[32];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, GgufFile.Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 3);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(16), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(24), 1UL << 48);
        var path = WriteTemp(bytes);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.InRange(ex.Offset, 0, 31);
        Assert.NotNull(ex.Field);
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

    [Fact]
    public void ReadsEveryScalarTypeWrittenByHand()
    {
        // Little-endian encodings per the GGUF spec (gguf_metadata_value_type), written field by field.
        var g = RawGguf.Header(0, 13)
            .Key("u8", GgufValueType.UInt8).U8(0xFE)
            .Key("i8", GgufValueType.Int8).U8(0x80)
            .Key("u16", GgufValueType.UInt16).Raw([0x34, 0x12])
            .Key("i16", GgufValueType.Int16).Raw([0xFE, 0xFF])
            .Key("u32", GgufValueType.UInt32).Raw([0x78, 0x56, 0x34, 0x12])
            .Key("i32", GgufValueType.Int32).Raw([0x00, 0x00, 0x00, 0x80])
            .Key("f32", GgufValueType.Float32).Raw([0x00, 0x00, 0xC0, 0x3F])
            .Key("bool", GgufValueType.Bool).U8(1)
            .Key("str", GgufValueType.String).U64(3).Raw([0x61, 0xC3, 0xA9])
            .Key("u64", GgufValueType.UInt64).Raw([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
            .Key("i64", GgufValueType.Int64).Raw([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
            .Key("f64", GgufValueType.Float64).Raw([0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF0, 0xBF])
            .Key("empty", GgufValueType.String).U64(0);
        using var f = GgufFile.Open(g.WriteTemp());
        Assert.Equal((byte)0xFE, f.Metadata["u8"].Value);
        Assert.Equal((sbyte)-128, f.Metadata["i8"].Value);
        Assert.Equal((ushort)0x1234, f.Metadata["u16"].Value);
        Assert.Equal((short)-2, f.Metadata["i16"].Value);
        Assert.Equal(0x12345678u, f.Metadata["u32"].Value);
        Assert.Equal(int.MinValue, f.Metadata["i32"].Value);
        Assert.Equal(1.5f, f.Metadata["f32"].Value);
        Assert.True(f.TryGetBool("bool", out var b) && b);
        Assert.Equal("aé", f.GetString("str"));
        Assert.Equal(ulong.MaxValue, f.Metadata["u64"].Value);
        Assert.Equal(-1L, f.GetInt64("i64"));
        Assert.Equal(-1.0, f.GetDouble("f64"));
        Assert.Equal(string.Empty, f.GetString("empty"));
        Assert.Equal(0x1234, f.GetInt64("u16"));
        Assert.Throws<GgufFormatException>(() => f.GetInt64("u64")); // 2^64 - 1 does not fit an int64
        Assert.Equal(
            ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "u64", "i64", "f64", "empty"],
            f.Metadata.Select(p => p.Key));
    }

    [Fact]
    public void ReadsArraysOfEveryElementTypeAndArraysOfArrays()
    {
        var g = RawGguf.Header(0, 8)
            .Key("u8s", GgufValueType.Array).U32((uint)GgufValueType.UInt8).U64(3).Raw([1, 2, 255])
            .Key("i16s", GgufValueType.Array).U32((uint)GgufValueType.Int16).U64(2).Raw([0xFF, 0x7F, 0x00, 0x80])
            .Key("f64s", GgufValueType.Array).U32((uint)GgufValueType.Float64).U64(1).Raw(BitConverter.GetBytes(0.25))
            .Key("bools", GgufValueType.Array).U32((uint)GgufValueType.Bool).U64(3).Raw([1, 0, 1])
            .Key("strs", GgufValueType.Array).U32((uint)GgufValueType.String).U64(3).Str("a").Str(string.Empty).Str("ü")
            .Key("none", GgufValueType.Array).U32((uint)GgufValueType.UInt32).U64(0)
            .Key("u64s", GgufValueType.Array).U32((uint)GgufValueType.UInt64).U64(1).U64(7)
            // [[1, 2], ["x"], []]: an array of arrays whose members have different element types.
            .Key("nested", GgufValueType.Array).U32((uint)GgufValueType.Array).U64(3)
                .U32((uint)GgufValueType.Int32).U64(2).U32(1).U32(2)
                .U32((uint)GgufValueType.String).U64(1).Str("x")
                .U32((uint)GgufValueType.Float32).U64(0);
        using var f = GgufFile.Open(g.WriteTemp());
        Assert.Equal(new byte[] { 1, 2, 255 }, f.Metadata["u8s"].Value);
        Assert.Equal(new short[] { short.MaxValue, short.MinValue }, f.Metadata["i16s"].Value);
        Assert.Equal([0.25f], f.GetFloatArray("f64s"));
        Assert.Equal(new[] { true, false, true }, f.Metadata["bools"].Value);
        Assert.Equal(3, f.Metadata["strs"].Count);
        Assert.Equal(["a", "", "ü"], f.GetStringArray("strs"));
        Assert.Empty(f.GetInt32Array("none"));
        Assert.Equal([7], f.GetInt32Array("u64s"));
        var nested = (GgufValue[])f.Metadata["nested"].Value;
        Assert.Equal(GgufValueType.Array, f.Metadata["nested"].ElementType);
        Assert.Equal([1, 2], nested[0].AsInt32Array());
        Assert.Equal(["x"], nested[1].AsStringArray());
        Assert.Equal(GgufValueType.Float32, nested[2].ElementType);
        Assert.Empty(nested[2].AsFloatArray());
        var ex = Assert.Throws<GgufFormatException>(() => f.GetStringArray("u8s"));
        Assert.Equal("u8s", ex.Field);
    }

    [Theory]
    [InlineData(16)]
    [InlineData(64)]
    [InlineData(1)]
    public void DeclaredAlignmentPlacesTheDataAtTheNextMultiple(int alignment)
    {
        // Header and infos end at byte 135; the data section starts at the next multiple of the declared alignment
        // (144, 192, 135 for 16, 64, 1; 160 for the default 32),
        // and the tensor's offset (0) is relative to it.
        var g = RawGguf.Header(1, 2).Key(GgufKeys.Alignment, GgufValueType.UInt32).U32((uint)alignment)
            .Key("pad", GgufValueType.String).Str("twenty-two bytes pad..")
            .Tensor("t", GgmlType.F32, 0, 2);
        Assert.Equal(135, g.Position);
        var dataStart = alignment switch { 16 => 144, 64 => 192, _ => 135 };
        g.Pad(alignment).Raw(BitConverter.GetBytes(3.5f)).Raw(BitConverter.GetBytes(-1f));
        using var f = GgufFile.Open(g.WriteTemp());
        Assert.Equal(alignment, f.Alignment);
        Assert.Equal(dataStart, f.DataOffset);
        Assert.Equal([3.5f, -1f], f.DequantizeTensor(f.GetTensor("t")));
    }

    [Fact]
    public void DefaultAlignmentIs32()
    {
        var g = RawGguf.Header(1, 0).Tensor("t", GgmlType.F32, 0, 1);
        g.Pad(32).Raw(BitConverter.GetBytes(2f));
        using var f = GgufFile.Open(g.WriteTemp());
        Assert.Equal(32, f.Alignment);
        Assert.Equal(64, f.DataOffset);
        Assert.Equal([2f], f.DequantizeTensor(f.GetTensor("t")));
    }

    [Theory]
    // Architecture, tokenizer model and vocabulary size per ../shared/models/SOURCES.md §2.
    [InlineData("bert-bge", "bert", "bert", 30522)]
    [InlineData("deepseek-coder", "llama", "gpt2", 32256)]
    [InlineData("deepseek-llm", "llama", "gpt2", 102400)]
    [InlineData("falcon", "falcon", "gpt2", 65024)]
    [InlineData("gpt-2", "gpt2", "gpt2", 50257)]
    [InlineData("llama-spm", "llama", "llama", 32000)]
    [InlineData("phi-3", "phi3", "llama", 32064)]
    public void VocabOnlyFilesAreInspectable(string name, string arch, string tokenizerModel, int vocab)
    {
        using var f = GgufFile.Open(Path.Combine(TestPaths.Vocab, $"ggml-vocab-{name}.gguf"));
        Assert.Empty(f.Tensors);
        Assert.Equal(arch, f.Architecture);
        Assert.Equal(tokenizerModel, f.GetString(GgufKeys.TokenizerModel));
        Assert.Equal(vocab, f.Metadata[GgufKeys.Tokens].Count);
        Assert.Equal(vocab, f.GetStringArray(GgufKeys.Tokens).Length);
        using var model = GgufModel.Open(f.Path);
        Assert.Empty(model.Tensors);
    }

    [Fact]
    public void OpeningFromMemoryEqualsOpeningFromDisk()
    {
        using var disk = GgufFile.Open(TestPaths.Stories260K);
        using var memory = GgufFile.Open(File.ReadAllBytes(TestPaths.Stories260K), "stories");
        Assert.Equal(disk.Metadata.Keys, memory.Metadata.Keys);
        Assert.Equal(disk.DataOffset, memory.DataOffset);
        Assert.Equal(disk.DequantizeTensor(disk.Tensors[^1]), memory.DequantizeTensor(memory.Tensors[^1]));
    }

    [Fact]
    public void OpensTheMetadataOfA151936TokenVocabularyInUnder50MsWarm()
    {
        // Qwen2's vocabulary size; tokens, scores, token types and merges written with the project's writer.
        const int vocab = 151_936;
        var tokens = Enumerable.Range(0, vocab).Select(i => i % 7 == 0 ? $"Ġtök{i}" : $"t{i}").ToArray();
        var merges = Enumerable.Range(0, vocab - 549).Select(i => $"t{i} t{i + 1}").ToArray();
        var w = new GgufWriter();
        w.AddString(GgufKeys.Architecture, "qwen2");
        w.AddString(GgufKeys.TokenizerModel, "gpt2");
        w.AddStringArray(GgufKeys.Tokens, tokens);
        w.AddFloat32Array(GgufKeys.Scores, new float[vocab]);
        w.AddInt32Array(GgufKeys.TokenType, Enumerable.Repeat(1, vocab).ToArray());
        w.AddStringArray(GgufKeys.Merges, merges);
        var path = Path.Combine(TestPaths.NewTempDir("gguf-vocab"), "qwen2-vocab.gguf");
        w.WriteTo(path);

        var open = double.MaxValue;
        var openAndDecode = double.MaxValue;
        for (var run = 0; run < 4; run++)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            using var f = GgufFile.Open(path);
            open = Math.Min(open, clock.Elapsed.TotalMilliseconds);
            Assert.Equal(tokens[^1], f.GetStringArray(GgufKeys.Tokens)[^1]);
            Assert.Equal(merges.Length, f.GetStringArray(GgufKeys.Merges).Length);
            openAndDecode = Math.Min(openAndDecode, clock.Elapsed.TotalMilliseconds);
        }

        output.WriteLine($"open {open:F2} ms; open + decode tokens and merges {openAndDecode:F1} ms (best of 4)");

        // The 50 ms bound is for optimized code (CI runs -c Release); a Debug build of the library gets 5× the time.
        var optimized = !(typeof(GgufFile).Assembly.GetCustomAttributes(typeof(System.Diagnostics.DebuggableAttribute), false)
            .OfType<System.Diagnostics.DebuggableAttribute>().FirstOrDefault()?.IsJITOptimizerDisabled ?? false);
        Assert.True(open <= (optimized ? 50 : 250), $"opening took {open:F1} ms (optimized: {optimized})");
    }

    private static string WriteTemp(byte[] bytes)
    {
        var path = Path.Combine(TestPaths.NewTempDir("gguf"), "f.gguf");
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
