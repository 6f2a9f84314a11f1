using System.Runtime.InteropServices;
using System.Text;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Reference;
using Gguf2Qnn.Tests.Reference;
using Xunit;

namespace Gguf2Qnn.Tests.Gguf;

/// <summary>
/// Split models read as one (<see cref="GgufModel"/>): stories260K split into three parts the way llama.cpp's
/// gguf-split lays them out, checked against the unsplit file, against llama.cpp's own loader and its
/// <c>llama_split_path</c> naming; and each way a split set can be inconsistent.
/// </summary>
[Collection(LlamaCppCollection.Name)]
[Trait("Category", "Gguf")]
public sealed class GgufModelTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("gguf-split");

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void SplitPathMatchesLlamaCppNaming()
    {
        foreach (var (no, count) in new[] { (0, 1), (0, 3), (2, 3), (41, 99999) })
        {
            Assert.Equal(LlamaSplitPath("/m/model", no, count), GgufModel.SplitPath("/m/model", no, count));
        }

        Assert.True(GgufModel.TryParseSplitPath("/m/Qwen2-7B-Q4_K_M-00002-of-00003.gguf", out var prefix, out var n, out var c));
        Assert.Equal(("/m/Qwen2-7B-Q4_K_M", 1, 3), (prefix, n, c));
        Assert.False(GgufModel.TryParseSplitPath("/m/model-00004-of-00003.gguf", out _, out _, out _));
        Assert.False(GgufModel.TryParseSplitPath("/m/model-0001-of-0003.gguf", out _, out _, out _));
        Assert.False(GgufModel.TryParseSplitPath("/m/model.gguf", out _, out _, out _));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void AnyPartOpensTheWholeModelWithTheFirstPartsMetadata(int partToOpen)
    {
        var parts = WriteStoriesSplit(3);
        using var original = GgufFile.Open(TestPaths.Stories260K);
        using var model = GgufModel.Open(parts[partToOpen]);
        Assert.True(model.IsSplit);
        Assert.Equal(3, model.Parts.Count);
        Assert.Equal(parts[0], model.Path);
        Assert.Equal(original.Tensors.Select(t => t.Name), model.Tensors.Select(t => t.Name));
        Assert.Equal("llama", model.Architecture);
        Assert.Equal(original.GetInt64(GgufKeys.BlockCount("llama")), model.GetInt64(GgufKeys.BlockCount("llama")));
        Assert.Equal(original.GetStringArray(GgufKeys.Tokens), model.GetStringArray(GgufKeys.Tokens));
        foreach (var t in original.Tensors)
        {
            var mine = model.GetTensor(t.Name);
            Assert.Equal(t.Dimensions, mine.Dimensions);
            Assert.True(original.GetTensorBytes(t).SequenceEqual(model.GetTensorBytes(mine)), t.Name);
            Assert.Equal(original.DequantizeTensor(t), model.DequantizeTensor(mine));
        }

        Assert.Same(model.Parts[2], model.PartOf(model.Tensors[^1]));
        Assert.Throws<ArgumentException>(() => model.GetTensorBytes(original.Tensors[0]));
    }

    [Fact]
    public void LlamaCppLoadsTheSplitAndComputesWhatItComputesOnTheOriginal()
    {
        // Oracle for the split layout itself: llama.cpp's loader reads our three parts as one model.
        var parts = WriteStoriesSplit(3);
        var options = new LlamaCppOptions { Threads = 1, ContextSize = 64 };
        using var whole = LlamaCppModel.Load(TestPaths.Stories260K, options);
        using var split = LlamaCppModel.Load(parts[0], options);
        var ids = whole.Tokenize(" once upon a time", addSpecial: true, parseSpecial: false);
        Assert.Equal(whole.EvaluateLogits(ids), split.EvaluateLogits(ids));
    }

    [Fact]
    public void ASplitModelConvertsAndGeneratesWhatLlamaCppGeneratesOnIt()
    {
        // Any part names the model; the conversion reads every part (weights byte for byte those of the unsplit file),
        // and the converted model's greedy tokens are llama.cpp's own on the same split set.
        var parts = WriteStoriesSplit(3);
        var fromSplit = Gguf2Qnn.Conversion.OnnxConverter.Convert(new Gguf2Qnn.Conversion.ConvertOptions { GgufPath = parts[1], OutputDirectory = Path.Combine(_dir, "onnx-split") });
        var fromWhole = Gguf2Qnn.Conversion.OnnxConverter.Convert(new Gguf2Qnn.Conversion.ConvertOptions { GgufPath = TestPaths.Stories260K, OutputDirectory = Path.Combine(_dir, "onnx-whole") });
        var data = Gguf2Qnn.Onnx.ExternalDataWriter.DefaultFileName;
        Assert.Equal(File.ReadAllBytes(Path.Combine(fromWhole.OutputDirectory, data)), File.ReadAllBytes(Path.Combine(fromSplit.OutputDirectory, data)));

        using (var manifest = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(fromSplit.OutputDirectory, Gguf2Qnn.Conversion.OnnxConverter.ManifestFileName))))
        {
            var listed = manifest.RootElement.GetProperty("source").GetProperty("split_parts");
            Assert.Equal(parts, listed.EnumerateArray().Select(p => p.GetProperty("path").GetString()));
            var sha = listed.EnumerateArray().Select(p => p.GetProperty("sha256").GetString()).ToArray();
            Assert.Equal(parts.Select(p => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(p)))), sha);
        }

        using var reference = LlamaCppModel.Load(parts[0], new LlamaCppOptions { Threads = 1, ContextSize = 128 });
        var ids = reference.Tokenize(" once upon a time", addSpecial: true, parseSpecial: false);
        var expected = reference.GenerateGreedy(ids, 24, stopAtEndOfGeneration: false);
        using var lm = Gguf2Qnn.Runtime.OnnxCausalLm.Open(fromSplit.OutputDirectory);
        Assert.Equal(expected, lm.Generate(ids, new Gguf2Qnn.Runtime.GenerationOptions { MaxNewTokens = 24, Greedy = true }).ToArray());
    }

    [Fact]
    public void SingleFileIsAOnePartModel()
    {
        using var model = GgufModel.Open(TestPaths.Stories260K);
        Assert.False(model.IsSplit);
        Assert.Equal(48, model.Tensors.Count);
        IGgufSource source = model;
        Assert.Equal(64, source.GetTensor(GgufTensorNames.TokenEmbedding).Dimensions[0]);
    }

    [Fact]
    public void MissingPartIsFileNotFoundNamingIt()
    {
        var parts = WriteStoriesSplit(3);
        File.Delete(parts[1]);
        var ex = Assert.Throws<FileNotFoundException>(() => GgufModel.Open(parts[0]));
        Assert.Equal(parts[1], ex.FileName);
    }

    [Fact]
    public void PartWhoseSplitNoDisagreesWithItsNameIsAnError()
    {
        var parts = WriteStoriesSplit(3);
        File.Move(parts[1], parts[1] + ".tmp");
        File.Move(parts[2], parts[1]);
        File.Move(parts[1] + ".tmp", parts[2]);
        var ex = Assert.Throws<GgufFormatException>(() => GgufModel.Open(parts[0]));
        Assert.Equal(GgufSplitKeys.No, ex.Field);
    }

    [Fact]
    public void SplitTensorsCountMismatchIsAnError()
    {
        var parts = WriteStoriesSplit(3, tensorsCount: 47);
        var ex = Assert.Throws<GgufFormatException>(() => GgufModel.Open(parts[0]));
        Assert.Equal(GgufSplitKeys.TensorsCount, ex.Field);
    }

    [Fact]
    public void TensorInTwoPartsIsAnError()
    {
        var parts = WriteStoriesSplit(2, duplicateFirstTensor: true);
        var ex = Assert.Throws<GgufFormatException>(() => GgufModel.Open(parts[0]));
        Assert.Equal(GgufTensorNames.TokenEmbedding, ex.Field);
    }

    [Fact]
    public void SplitCountOfTheWrongTypeIsAnErrorNamingTheKey()
    {
        var w = new GgufWriter();
        w.AddString(GgufSplitKeys.Count, "three");
        var path = Path.Combine(_dir, "m-00001-of-00003.gguf");
        w.WriteTo(path);
        var ex = Assert.Throws<GgufFormatException>(() => GgufModel.Open(path));
        Assert.Equal(GgufSplitKeys.Count, ex.Field);
    }

    /// <summary>
    /// Splits stories260K as gguf-split does: the first part carries every metadata pair of the original plus split.no,
    /// split.count (uint16) and split.tensors.count (int32); the others only split.no and split.count; tensors are
    /// dealt out in order.
    /// </summary>
    private string[] WriteStoriesSplit(int count, int tensorsCount = -1, bool duplicateFirstTensor = false)
    {
        using var original = GgufFile.Open(TestPaths.Stories260K);
        var paths = Enumerable.Range(0, count).Select(i => GgufModel.SplitPath(Path.Combine(_dir, "stories260K"), i, count)).ToArray();
        var perPart = (original.Tensors.Count + count - 1) / count;
        for (var i = 0; i < count; i++)
        {
            var w = new GgufWriter();
            if (i == 0)
            {
                foreach (var (key, value) in original.Metadata)
                {
                    w.AddValue(key, value);
                }
            }

            w.AddValue(GgufSplitKeys.No, new GgufValue(GgufValueType.UInt16, (ushort)i));
            w.AddValue(GgufSplitKeys.Count, new GgufValue(GgufValueType.UInt16, (ushort)count));
            if (i == 0)
            {
                w.AddValue(GgufSplitKeys.TensorsCount, new GgufValue(GgufValueType.Int32, tensorsCount < 0 ? original.Tensors.Count : tensorsCount));
            }

            foreach (var t in original.Tensors.Skip(i * perPart).Take(perPart))
            {
                w.AddTensor(t.Name, t.Type, t.Dimensions, original.GetTensorBytes(t));
            }

            if (duplicateFirstTensor && i == count - 1)
            {
                var t = original.Tensors[0];
                w.AddTensor(t.Name, t.Type, t.Dimensions, original.GetTensorBytes(t));
            }

            w.WriteTo(paths[i]);
        }

        return paths;
    }

    /// <summary>llama.cpp's <c>llama_split_path(buf, maxlen, prefix, split_no, split_count)</c>, from the loaded libllama.</summary>
    private static unsafe string LlamaSplitPath(string prefix, int no, int count)
    {
        LlamaCppBackend.EnsureLoaded();
        var name = OperatingSystem.IsWindows() ? "llama.dll" : OperatingSystem.IsMacOS() ? "libllama.dylib" : "libllama.so";
        var lib = NativeLibrary.Load(Path.Combine(LlamaCppBackend.LibraryDirectory, name));
        var fn = (delegate* unmanaged[Cdecl]<byte*, nuint, byte*, int, int, int>)NativeLibrary.GetExport(lib, "llama_split_path");
        var buffer = new byte[512];
        var p = Encoding.UTF8.GetBytes(prefix + "\0");
        fixed (byte* b = buffer)
        fixed (byte* pp = p)
        {
            var n = fn(b, (nuint)buffer.Length, pp, no, count);
            Assert.True(n > 0);
            return Encoding.UTF8.GetString(buffer, 0, n);
        }
    }
}
