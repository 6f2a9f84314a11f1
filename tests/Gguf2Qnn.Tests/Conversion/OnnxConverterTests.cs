using System.Text.Json.Nodes;
using Gguf2Qnn.Architectures;
using Gguf2Qnn.Conversion;
using Gguf2Qnn.Gguf;
using Xunit;

namespace Gguf2Qnn.Tests.Conversion;

[Trait("Category", "Conversion")]
public class OnnxConverterTests
{
    private static JsonNode ReadJson(string dir, string file) => JsonNode.Parse(File.ReadAllText(Path.Combine(dir, file)))!;

    [Fact]
    public void Stories260KConvertsToAnArtifactFolder()
    {
        string parent = TestPaths.NewTempDir("convert");
        string output = Path.Combine(parent, "stories");
        var progress = new List<ConversionProgress>();
        var result = OnnxConverter.Convert(
            new ConvertOptions { GgufPath = TestPaths.Stories260K, OutputDirectory = output },
            new SyncProgress(progress));

        foreach (string f in new[] { "model.onnx", "model.onnx.data", "genai_config.json", "conversion.json", "tokenizer.gguf", "tokenizer.json", "tokenizer_config.json" })
        {
            Assert.True(File.Exists(Path.Combine(output, f)), f);
            Assert.Contains(f, result.Files);
        }

        Assert.Equal([output], Directory.GetDirectories(parent)); // no temporary folder left behind
        Assert.NotEmpty(progress);

        // genai_config.json (values from shared/models/SOURCES.md and the file's tokenizer keys).
        var model = ReadJson(output, "genai_config.json")["model"]!;
        Assert.Equal(1, model["bos_token_id"]!.GetValue<long>());
        Assert.Equal(2, model["eos_token_id"]!.GetValue<long>());
        Assert.Equal(2048, model["context_length"]!.GetValue<int>());
        Assert.Equal(512, model["vocab_size"]!.GetValue<int>());
        Assert.Equal("llama", model["type"]!.GetValue<string>());
        var decoder = model["decoder"]!;
        Assert.Equal("model.onnx", decoder["filename"]!.GetValue<string>());
        Assert.Equal(8, decoder["head_size"]!.GetValue<int>());
        Assert.Equal(64, decoder["hidden_size"]!.GetValue<int>());
        Assert.Equal(8, decoder["num_attention_heads"]!.GetValue<int>());
        Assert.Equal(4, decoder["num_key_value_heads"]!.GetValue<int>());
        Assert.Equal(5, decoder["num_hidden_layers"]!.GetValue<int>());
        Assert.Equal("past_key_values.%d.key", decoder["inputs"]!["past_key_names"]!.GetValue<string>());
        Assert.Equal("present.%d.value", decoder["outputs"]!["present_value_names"]!.GetValue<string>());

        // conversion.json: the source hash is the one recorded in SOURCES.md; all 48 F32 tensors map exactly.
        var manifest = ReadJson(output, "conversion.json");
        Assert.Equal("270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d", manifest["source"]!["sha256"]!.GetValue<string>());
        var tensors = manifest["tensors"]!.AsArray();
        Assert.Equal(48, tensors.Select(t => t!["name"]!.GetValue<string>()).Distinct().Count());
        Assert.All(tensors, t => Assert.True(t!["exact"]!.GetValue<bool>()));
        Assert.Contains(tensors, t => t!["name"]!.GetValue<string>() == "blk.0.attn_q.weight" && t["onnx_op"]!.GetValue<string>() == "MatMul");
    }

    [Fact]
    public void F16WeightsRecordTheirRoundingError()
    {
        string output = Path.Combine(TestPaths.NewTempDir("convert"), "f16");
        var result = OnnxConverter.Convert(new ConvertOptions { GgufPath = TestPaths.Stories260K, OutputDirectory = output, Weights = WeightFormat.F16 });
        var q = result.Tensors.Single(t => t.Name == "blk.0.attn_q.weight");
        Assert.False(q.Exact);
        Assert.InRange(q.MaxAbsError, 1e-9, 1e-2);
        Assert.Equal("Cast+MatMul", q.OnnxOp);
    }

    [Fact]
    public void ArtifactWritersRunInTheStagingFolderAndAPreviousOutputIsReplaced()
    {
        string output = Path.Combine(TestPaths.NewTempDir("convert"), "out");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "stale.txt"), "old");
        File.WriteAllText(Path.Combine(output, OnnxConverter.ManifestFileName), """{"files":["stale.txt"]}"""); // a previous conversion's folder
        var writer = new NoteWriter();

        var result = OnnxConverter.Convert(new ConvertOptions
        {
            GgufPath = TestPaths.Stories260K,
            OutputDirectory = output,
            ArtifactWriters = [writer],
        });

        Assert.NotNull(writer.SeenDirectory);
        Assert.NotEqual(output, writer.SeenDirectory);
        Assert.Equal("llama", File.ReadAllText(Path.Combine(output, "note.txt")));
        Assert.False(File.Exists(Path.Combine(output, "stale.txt")));
        Assert.Contains("note.txt", result.Files);
        Assert.Contains("note.txt", ReadJson(output, "conversion.json")["files"]!.AsArray().Select(f => f!.GetValue<string>()));
    }

    [Fact]
    public void AFailedConversionLeavesNothingBehind()
    {
        string parent = TestPaths.NewTempDir("convert");
        string gguf = Path.Combine(parent, "bad.gguf");
        var w = new GgufWriter();
        w.AddString(GgufKeys.Architecture, "gpt2");
        w.AddTensorF32(GgufTensorNames.TokenEmbedding, [4, 2], new float[8]);
        w.WriteTo(gguf);

        Assert.Throws<NotSupportedException>(() =>
            OnnxConverter.Convert(new ConvertOptions { GgufPath = gguf, OutputDirectory = Path.Combine(parent, "out") }));
        Assert.Empty(Directory.GetDirectories(parent));
    }

    private sealed class SyncProgress(List<ConversionProgress> sink) : IProgress<ConversionProgress>
    {
        public void Report(ConversionProgress value) => sink.Add(value);
    }

    private sealed class NoteWriter : IArtifactWriter
    {
        public string? SeenDirectory { get; private set; }

        public IReadOnlyList<string> Write(IGgufSource gguf, ModelConfig config, string stagingDirectory)
        {
            SeenDirectory = stagingDirectory;
            File.WriteAllText(Path.Combine(stagingDirectory, "note.txt"), config.Architecture);
            return ["note.txt"];
        }
    }
}
