using System.Text.Json;
using Gguf2Qnn.Cli;
using Gguf2Qnn.Gguf;
using Xunit;
using static Gguf2Qnn.Tests.Cli.CliRun;

namespace Gguf2Qnn.Tests.EndToEnd;

[Trait("Category", "Cli")]
public sealed class InspectCommandTests
{
    [Fact]
    public void JsonCarriesHyperParametersTokenizerTotalsAndNoAnomaliesForStories260K()
    {
        // Expected values: ../shared/models/SOURCES.md (dim 64, 5 layers, 8/4 heads, ffn 172, SPM vocab 512, 48 F32 tensors).
        var (code, stdout, err) = Run("inspect", TestPaths.Stories260K, "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        var hp = root.GetProperty("hyper_parameters");
        Assert.Equal("llama", hp.GetProperty("architecture").GetString());
        Assert.Equal(5, hp.GetProperty("block_count").GetInt32());
        Assert.Equal(64, hp.GetProperty("embedding_length").GetInt32());
        Assert.Equal(4, hp.GetProperty("head_count_kv").GetInt32());
        Assert.Equal(172, hp.GetProperty("feed_forward_length").GetInt32());
        var tok = root.GetProperty("tokenizer");
        Assert.Equal("llama", tok.GetProperty("model").GetString());
        Assert.Equal(512, tok.GetProperty("vocab_size").GetInt32());
        Assert.Equal(1, tok.GetProperty("bos_token_id").GetInt64());
        var types = root.GetProperty("types").EnumerateArray().ToArray();
        Assert.Single(types);
        Assert.Equal("F32", types[0].GetProperty("type").GetString());
        Assert.Equal(48, types[0].GetProperty("tensors").GetInt32());
        Assert.Equal(4.0, root.GetProperty("bytes_per_parameter").GetDouble());
        Assert.Empty(root.GetProperty("anomalies").EnumerateArray());
    }

    [Fact]
    public void RedirectedTextKeepsEveryMetadataRowOnOneLine()
    {
        // The tests' StringWriter is redirected output: no 80-column wrapping (which split layer_norm_rms_e/psilon).
        var (code, stdout, err) = Run("inspect", TestPaths.Stories260K);
        Assert.True(code == 0, err);
        var lines = stdout.Split('\n');
        using var file = GgufFile.Open(TestPaths.Stories260K);
        foreach (var key in file.Metadata.Keys)
        {
            Assert.Contains(lines, l => l.StartsWith("│ " + key + " ", StringComparison.Ordinal));
        }

        // stories260K's padding_token_id is 0xFFFFFFFF, outside its 512 tokens: shown as absent, like eot.
        var tokenizer = Assert.Single(lines, l => l.StartsWith("Tokenizer:", StringComparison.Ordinal));
        Assert.Contains(", pad -,", tokenizer, StringComparison.Ordinal);
        Assert.Contains("5 layers,", stdout, StringComparison.Ordinal);

        var one = Path.Combine(TestPaths.NewTempDir("inspect-one-layer"), "one.gguf");
        Demo.SyntheticModel.Write(one, new Demo.SyntheticModelSpec { BlockCount = 1, HiddenSize = 64, HeadCount = 4, HeadCountKv = 2, FeedForwardLength = 128, WeightType = GgmlType.F32, Seed = 3 });
        (code, stdout, err) = Run("inspect", one);
        Assert.True(code == 0, err);
        Assert.Contains("qwen2, 1 layer,", stdout, StringComparison.Ordinal);

        (code, stdout, _) = Run("inspect", TestPaths.Stories260K, "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("tokenizer").GetProperty("padding_token_id").ValueKind);
    }

    [Fact]
    public void AnomaliesNameUnreadKeysUnusedTensorsAndMissingRequiredKeys()
    {
        var w = new GgufWriter();
        w.AddString(GgufKeys.Architecture, "llama");
        w.AddUInt32("llama.embedding_length", 32);
        w.AddUInt32("llama.mystery_setting", 7);
        w.AddTensorF32("token_embd.weight", [32, 4], new float[128]);
        w.AddTensorF32("vision.patch_embd.weight", [32], new float[32]);
        var path = Path.Combine(TestPaths.NewTempDir("inspect"), "odd.gguf");
        w.WriteTo(path);

        var (code, stdout, err) = Run("inspect", path, "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(stdout);
        var anomalies = doc.RootElement.GetProperty("anomalies").EnumerateArray().Select(a => a.GetString()!).ToArray();
        Assert.Contains(anomalies, a => a.Contains("llama.mystery_setting", StringComparison.Ordinal));
        Assert.Contains(anomalies, a => a.Contains("vision.patch_embd.weight", StringComparison.Ordinal));
        Assert.Contains(anomalies, a => a.StartsWith("not convertible", StringComparison.Ordinal) && a.Contains("llama.block_count", StringComparison.Ordinal));
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("hyper_parameters").ValueKind);
    }

    [Fact]
    public void TensorJsonGivesAllValuesWithShapeOutermostFirst()
    {
        var w = new GgufWriter();
        w.AddString(GgufKeys.Architecture, "llama");
        w.AddTensor("q.weight", GgmlType.Q8_0, [32, 2], Quantizer.QuantizeQ8_0(Enumerable.Range(0, 64).Select(i => (i - 32) / 32f).ToArray()));
        var path = Path.Combine(TestPaths.NewTempDir("inspect"), "q.gguf");
        w.WriteTo(path);

        var (code, stdout, err) = Run("inspect", path, "--tensor", "q.weight", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal([2, 32], doc.RootElement.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        var values = doc.RootElement.GetProperty("values").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        Assert.Equal(64, values.Length);
        using var f = GgufFile.Open(path);
        Assert.Equal(f.DequantizeTensor(f.GetTensor("q.weight")), values);
        Assert.Equal(2, Run("inspect", path, "--tensor", "missing.weight").Code);
    }

    [Fact]
    public void MalformedFileExits2WithTheTypedErrorsMessage()
    {
        var path = Path.Combine(TestPaths.NewTempDir("inspect"), "bad.gguf");
        File.WriteAllBytes(path, [.. "GGUF"u8, 3, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]);
        var (code, _, err) = Run("inspect", path);
        Assert.Equal(2, code);
        Assert.Contains("byte", err, StringComparison.Ordinal);
    }
}
