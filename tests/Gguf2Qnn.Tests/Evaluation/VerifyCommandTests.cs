using System.Text.Json;
using Gguf2Qnn.Cli;
using Gguf2Qnn.Tests.EndToEnd;
using Xunit;
using Xunit.Abstractions;

namespace Gguf2Qnn.Tests.Evaluation;

/// <summary>
/// <c>gguf2qnn verify</c> against llama.cpp (the acceptance): the figures are computed by llama.cpp, through
/// LLamaSharp, on the same token ids in the same run.
/// </summary>
[Trait("Category", "Evaluation")]
public sealed class VerifyCommandTests(ConvertedModelsFixture models, ITestOutputHelper output) : IClassFixture<ConvertedModelsFixture>
{
    [Fact]
    public void Stories260KAgreesEverywhereOnTheBuiltInStories()
    {
        var (gguf, onnx) = models.Get("stories");
        var (code, json, err) = Verify(gguf, "--onnx", onnx, "--json");
        Assert.True(code == 0, err);
        Assert.True(json.GetProperty("positions").GetInt32() >= 500);
        Assert.Equal(1.0, json.GetProperty("top1_agreement").GetDouble());
        Assert.True(json.GetProperty("kl_mean").GetDouble() <= 1e-4);
        Assert.Equal(string.Empty, err); // --json: no stage lines
    }

    [Fact]
    public void LlamaCppQuantizedQwen2Q4_0MeetsTheQ4Bounds()
    {
        var (gguf, onnx) = models.Get("qwen2-q4_0");
        var (code, json, err) = Verify(gguf, "--onnx", onnx, "--json");
        Assert.True(code == 0, err);
        Assert.True(json.GetProperty("positions").GetInt32() >= 500);
        Assert.True(json.GetProperty("top1_agreement").GetDouble() >= 0.99);
        Assert.True(json.GetProperty("kl_mean").GetDouble() <= 5e-3);
    }

    [Fact]
    public void AnotherModelsArtifactsFailWithExitCode1()
    {
        var (gguf, _) = models.Get("qwen2-q4_0");
        var (_, recordedOnnx) = models.Get("qwen2-q4_0-tied");

        // conversion.json names the other GGUF: refused before any comparison (exit code 2).
        var refused = new StringWriter();
        Assert.Equal(2, GgufCli.Run(["verify", gguf, "--onnx", recordedOnnx, "--prompt", "once"], new StringWriter(), refused));
        Assert.Contains("was converted from", refused.ToString(), StringComparison.Ordinal);

        // Without the record, the comparison itself finds that the logits differ.
        var otherOnnx = ConvertedModelsFixture.CopyWithoutManifest(recordedOnnx);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = GgufCli.Run(["verify", gguf, "--onnx", otherOnnx, "--prompt", " once upon a time there was a little dog and a happy cat. The sun was big and red."], stdout, stderr);
        output.WriteLine(stdout.ToString());
        Assert.Equal(1, code);
        Assert.Contains("FAIL", stdout.ToString(), StringComparison.Ordinal);
        Assert.Contains("verification failed", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void PromptAndTextTogetherIsBadUsage()
    {
        var code = GgufCli.Run(["verify", TestPaths.Stories260K, "--prompt", "a", "--text", "b.txt"], new StringWriter(), new StringWriter());
        Assert.Equal(2, code);
    }

    [Fact]
    public void MissingTextFileIsBadInput()
    {
        var (_, onnx) = models.Get("stories");
        var code = GgufCli.Run(["verify", TestPaths.Stories260K, "--onnx", onnx, "--text", "/nonexistent/story.txt"], new StringWriter(), new StringWriter());
        Assert.Equal(2, code);
    }

    private (int Code, JsonElement Json, string Err) Verify(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = GgufCli.Run(["verify", .. args], stdout, stderr);
        output.WriteLine(stdout.ToString());
        output.WriteLine(stderr.ToString());
        using var doc = JsonDocument.Parse(stdout.ToString());
        return (code, doc.RootElement.Clone(), stderr.ToString());
    }
}
