using Gguf2Qnn.Gguf;
using Xunit;

namespace Gguf2Qnn.Tests.Gguf;

/// <summary>
/// The catalogue of hand-built bad GGUF files: each is a few dozen bytes written field by field (<see cref="RawGguf"/>)
/// with one defect, and each test asserts the exception type, the field it names and the byte offset it reports.
/// Files are opened from disk (the memory-mapped path) and, for the allocation checks, from memory.
/// </summary>
[Trait("Category", "Gguf")]
public sealed class GgufHardeningTests
{
    [Fact]
    public void TruncatedVersion_NamesVersionAtOffset4()
    {
        var g = RawGguf.Header(0, 0);
        var bytes = g.ToArray()[..6];
        AssertFormat(bytes, "version", 4);
    }

    [Fact]
    public void EmptyAndTinyFilesAreNotGguf()
    {
        AssertFormat([], "magic", 0);
        AssertFormat([0x47, 0x47, 0x55], "magic", 0);
    }

    [Fact]
    public void FutureVersion_IsNotSupported()
    {
        var ex = Assert.Throws<NotSupportedException>(() => GgufFile.Open(RawGguf.Header(0, 0, version: 4).WriteTemp()));
        Assert.Contains("version 4", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MetadataCountBeyondTheBytesLeft_IsRefusedBeforeAllocating()
    {
        // 24-byte header + 26 bytes: at most 2 pairs of 13 bytes fit, 3 do not.
        var g = RawGguf.Header(0, 3).Raw(new byte[26]);
        AssertFormat(g.ToArray(), "metadata_kv_count", 16);
    }

    [Fact]
    public void TensorCountBeyondTheBytesLeft_IsRefusedBeforeAllocating()
    {
        // No metadata; 63 bytes left hold at most one 32-byte tensor info.
        var g = RawGguf.Header(2, 0).Raw(new byte[63]);
        AssertFormat(g.ToArray(), "tensor_count", 8);
    }

    [Fact]
    public void StringValueLongerThanTheFile_NamesTheKeyAndTheLengthField()
    {
        var g = RawGguf.Header(0, 1).Key("general.name", GgufValueType.String);
        var at = g.Position;
        g.U64(1000).Raw("short"u8);
        AssertFormat(g.ToArray(), "general.name", at);
    }

    [Fact]
    public void UndefinedValueType_NamesTheKeyAndTheTypeField()
    {
        var g = RawGguf.Header(0, 1).Str("k");
        var at = g.Position;
        g.U32(13).U32(0);
        AssertFormat(g.ToArray(), "k", at);
    }

    [Fact]
    public void BoolOtherThan0Or1_IsAnError()
    {
        var g = RawGguf.Header(0, 1).Key("b", GgufValueType.Bool);
        var at = g.Position;
        g.U8(2);
        AssertFormat(g.ToArray(), "b", at);
    }

    [Fact]
    public void BoolArrayElementOtherThan0Or1_NamesItsOffset()
    {
        var g = RawGguf.Header(0, 1).Key("bools", GgufValueType.Array).U32((uint)GgufValueType.Bool).U64(6);
        var at = g.Position + 4;
        g.Raw([1, 0, 1, 1, 7, 0]);
        AssertFormat(g.ToArray(), "bools", at);
    }

    [Fact]
    public void ArrayCountBeyondTheBytesLeft_IsRefusedBeforeAllocating()
    {
        var g = RawGguf.Header(0, 1).Key("xs", GgufValueType.Array).U32((uint)GgufValueType.UInt32);
        var at = g.Position;
        g.U64(1UL << 40).U32(1).U32(2);
        AssertFormat(g.ToArray(), "xs", at, maxAllocation: 64 * 1024);
    }

    [Fact]
    public void ArrayOfUndefinedElementType_IsAnError()
    {
        var g = RawGguf.Header(0, 1).Key("xs", GgufValueType.Array);
        var at = g.Position;
        g.U32(42).U64(1).U32(0);
        AssertFormat(g.ToArray(), "xs", at);
    }

    [Fact]
    public void ArraysNestedEightDeepParse_NineDeepIsAnError()
    {
        Assert.Equal(8, GgufFile.MaxArrayNesting);
        using (var f = GgufFile.Open(Nested(8).ToArray()))
        {
            var v = f.Metadata["deep"];
            for (var level = 1; level < 8; level++)
            {
                Assert.Equal(GgufValueType.Array, v.ElementType);
                v = ((GgufValue[])v.Value)[0];
            }

            Assert.Equal([7], v.AsInt32Array());
        }

        var nine = Nested(9);
        AssertFormat(nine.ToArray(), "deep", 24 + 8 + 4 + 4 + (8 * 12));
    }

    [Fact]
    public void DuplicateKey_NamesTheSecondOccurrence()
    {
        var g = RawGguf.Header(0, 2).Key("a", GgufValueType.UInt8).U8(1);
        var at = g.Position;
        g.Key("a", GgufValueType.UInt8).U8(2);
        AssertFormat(g.ToArray(), "a", at);
    }

    [Theory]
    [InlineData(GgufValueType.Int32, 32u)]
    [InlineData(GgufValueType.UInt32, 0u)]
    [InlineData(GgufValueType.UInt32, 48u)]
    public void AlignmentOfTheWrongTypeOrNotAPowerOfTwo_IsAnErrorAtItsValue(GgufValueType type, uint value)
    {
        var g = RawGguf.Header(0, 1).Key(GgufKeys.Alignment, type);
        var at = g.Position;
        g.U32(value);
        AssertFormat(g.ToArray(), GgufKeys.Alignment, at);
    }

    [Fact]
    public void ArchitectureThatIsNotAString_IsAnError()
    {
        var g = RawGguf.Header(0, 1).Key(GgufKeys.Architecture, GgufValueType.UInt32).U32(7);
        var ex = Assert.Throws<GgufFormatException>(() => GgufFile.Open(g.ToArray()));
        Assert.Equal(GgufKeys.Architecture, ex.Field);
    }

    [Fact]
    public void DuplicateTensor_IsAnError()
    {
        var g = RawGguf.Header(2, 0).Tensor("t", GgmlType.F32, 0, 8);
        var at = g.Position;
        g.Tensor("t", GgmlType.F32, 32, 8).Pad(32).Raw(new byte[64]);
        AssertFormat(g.ToArray(), "t", at);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(5u)]
    [InlineData(0xFFFF_FFFFu)]
    public void DimensionCountOutside1To4_IsAnError(uint nDims)
    {
        var g = RawGguf.Header(1, 0).Str("t");
        var at = g.Position;
        g.U32(nDims).U64(8).U32(0).U64(0).Pad(32).Raw(new byte[32]);
        AssertFormat(g.ToArray(), "n_dimensions", at);
    }

    [Fact]
    public void DimensionOf2Pow63_IsAnError()
    {
        var g = RawGguf.Header(1, 0).Str("t").U32(1);
        var at = g.Position;
        g.U64(1UL << 63).U32(0).U64(0).Pad(32);
        AssertFormat(g.ToArray(), "dimensions", at);
    }

    [Fact]
    public void ElementCountOverflow_IsAnErrorAtTheDimensionThatOverflows()
    {
        var g = RawGguf.Header(1, 0).Str("t").U32(3).U64(1UL << 31).U64(1UL << 31);
        var at = g.Position;
        g.U64(1UL << 31).U32(0).U64(0).Pad(32);
        AssertFormat(g.ToArray(), "dimensions", at);
    }

    [Fact]
    public void ByteSizeOverflow_IsAnError()
    {
        // 2^62 F32 weights: the element count fits in 64 bits, their 2^64 bytes do not.
        var g = RawGguf.Header(1, 0).Tensor("t", GgmlType.F32, 0, 1UL << 62).Pad(32);
        var ex = Assert.Throws<GgufFormatException>(() => GgufFile.Open(g.ToArray()));
        Assert.Equal("dimensions", ex.Field);
    }

    [Fact]
    public void ZeroDimensionsAreEmptyTensorsWithoutArithmeticFaults()
    {
        var g = RawGguf.Header(2, 0).Tensor("rows0", GgmlType.Q4_0, 0, 32, 0).Tensor("cols0", GgmlType.Q8_0, 0, 0, 7).Pad(32);
        using var f = GgufFile.Open(g.WriteTemp());
        foreach (var t in f.Tensors)
        {
            Assert.Equal(0, t.ElementCount);
            Assert.Equal(0, t.ByteSize);
            Assert.Equal(0, t.RowCount);
            Assert.Empty(f.DequantizeTensor(t));
            Assert.Equal(0, f.GetTensorBytes(t).Length);
        }

        Assert.Equal(0, f.GetTensorRows(f.GetTensor("rows0"), 0, 0).Length);
    }

    [Theory]
    [InlineData(4u)]   // Q4_2, retired
    [InlineData(36u)]  // a gap in ggml's numbering
    [InlineData(1000u)]
    public void UnknownTensorType_NamesTheIdAndTheTensor(uint id)
    {
        var g = RawGguf.Header(1, 0).Str("blk.0.attn_q.weight").U32(1).U64(32);
        var at = g.Position;
        g.U32(id).U64(0).Pad(32).Raw(new byte[64]);
        var ex = AssertFormat(g.ToArray(), "type", at);
        Assert.Contains($"type id {id}", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'blk.0.attn_q.weight'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RowNotAWholeNumberOfBlocks_IsAnError()
    {
        var g = RawGguf.Header(1, 0).Str("t").U32(2);
        var at = g.Position;
        g.U64(48).U64(2).U32((uint)GgmlType.Q4_0).U64(0).Pad(32).Raw(new byte[64]);
        AssertFormat(g.ToArray(), "dimensions", at);
    }

    [Fact]
    public void MisalignedTensorOffset_IsAnError()
    {
        var g = RawGguf.Header(1, 0).Str("t").U32(1).U64(8).U32(0);
        var at = g.Position;
        g.U64(8).Pad(32).Raw(new byte[64]);
        AssertFormat(g.ToArray(), "offset", at);
    }

    [Fact]
    public void DataSectionStartingPastTheEnd_IsAnError()
    {
        // One 0-byte tensor; the file stops right after the tensor infos, before the padding to 32.
        var g = RawGguf.Header(1, 0).Tensor("t", GgmlType.F32, 0, 0);
        Assert.NotEqual(0, g.Position % 32);
        AssertFormat(g.ToArray(), "tensor_data", g.Position);
    }

    [Fact]
    public void ManyTinyMetadataPairs_ExceedTheAllocationBudgetAndAreRefused()
    {
        // 40,000 pairs of 18 bytes (5-char key, uint8 value) would cost ~300 bytes each as objects: far more than the
        // 720 KB file. The reader charges each pair before making it and stops at file length + 48 KiB.
        const int pairs = 40_000;
        var g = RawGguf.Header(0, pairs);
        for (var i = 0; i < pairs; i++)
        {
            g.Key(i.ToString("x5", System.Globalization.CultureInfo.InvariantCulture), GgufValueType.UInt8).U8(0);
        }

        var bytes = g.ToArray();
        var before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<GgufFormatException>(() => GgufFile.Open(bytes));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("more memory than", ex.Message, StringComparison.Ordinal);
        Assert.True(allocated <= bytes.Length + (64 * 1024), $"allocated {allocated} for {bytes.Length} bytes");
    }

    [Fact]
    public void InvalidUtf8IsReplacedWithoutAllocationBlowUp()
    {
        var garbage = Enumerable.Range(0, 20_000).Select(i => (byte)(0x80 | (i % 64))).ToArray(); // lone continuation bytes
        var g = RawGguf.Header(0, 1).U64((ulong)garbage.Length).Raw(garbage).U32((uint)GgufValueType.UInt8).U8(1);
        var bytes = g.ToArray();
        var before = GC.GetAllocatedBytesForCurrentThread();
        using (var f = GgufFile.Open(bytes))
        {
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            var key = Assert.Single(f.Metadata.Keys);
            Assert.Equal(20_000, key.Length);
            Assert.All(key, c => Assert.Equal('\uFFFD', c));
            Assert.True(allocated <= bytes.Length + GgufFile.MetadataAllocationSlack + (2 * garbage.Length), $"allocated {allocated}");
        }
    }

    private static RawGguf Nested(int levels)
    {
        // "deep": array of array of … of one int32 array [7].
        var g = RawGguf.Header(0, 1).Key("deep", GgufValueType.Array);
        for (var level = 1; level < levels; level++)
        {
            g.U32((uint)GgufValueType.Array).U64(1);
        }

        return g.U32((uint)GgufValueType.Int32).U64(1).U32(7);
    }

    /// <summary>Opens the bytes from disk and from memory; both must throw the same typed error.</summary>
    private static GgufFormatException AssertFormat(byte[] bytes, string field, long offset, long maxAllocation = long.MaxValue)
    {
        var path = Path.Combine(TestPaths.NewTempDir("gguf-bad"), "bad.gguf");
        File.WriteAllBytes(path, bytes);
        var fromDisk = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path));
        var before = GC.GetAllocatedBytesForCurrentThread();
        var fromMemory = Assert.Throws<GgufFormatException>(() => GgufFile.Open(bytes));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated <= maxAllocation, $"allocated {allocated} bytes");
        Assert.Equal((field, offset), (fromDisk.Field, fromDisk.Offset));
        Assert.Equal((field, offset), (fromMemory.Field, fromMemory.Offset));
        return fromDisk;
    }
}
