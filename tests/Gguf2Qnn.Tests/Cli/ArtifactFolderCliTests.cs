using Gguf2Qnn.Cli;
using Gguf2Qnn.Tests.EndToEnd;
using Xunit;
using static Gguf2Qnn.Tests.Cli.CliRun;

namespace Gguf2Qnn.Tests.Cli;

/// <summary>
/// Commands that take an artifact folder: the folder must be one (run), must come from the GGUF given with it (bench
/// --gguf, verify --onnx; conversion.json's source), and bench finds that GGUF itself when --gguf is absent.
/// </summary>
[Trait("Category", "Cli")]
public sealed class ArtifactFolderCliTests(ConvertedModelsFixture models) : IClassFixture<ConvertedModelsFixture>
{
    [Fact]
    public void BenchRefusesAGgufTheFolderWasNotConvertedFrom()
    {
        var (_, onnx) = models.Get("stories");
        var (code, _, err) = Run("bench", onnx, "--gguf", TestPaths.LlamaTinyRandom, "--vs", "llamacpp", "-p", "4", "-n", "2", "-t", "1", "-r", "1");
        Assert.Equal(GgufCli.BadInput, code);
        Assert.Contains("was converted from " + TestPaths.Stories260K, err, StringComparison.Ordinal);
        Assert.Contains("not from " + TestPaths.LlamaTinyRandom, err, StringComparison.Ordinal);
    }

    [Fact]
    public void BenchAcceptsACopyOfTheSourceElsewhere()
    {
        var (_, onnx) = models.Get("stories");
        var copy = Path.Combine(TestPaths.NewTempDir("bench-copy"), "copy.gguf");
        File.Copy(TestPaths.Stories260K, copy);
        var (code, _, err) = Run("bench", onnx, "--gguf", copy, "-p", "4", "-n", "2", "-t", "1", "-r", "1", "--json");
        Assert.True(code == 0, err);
    }

    [Fact]
    public void BenchWithoutGgufUsesTheRecordedSource()
    {
        var (_, onnx) = models.Get("stories");
        var (code, stdout, err) = Run("bench", onnx, "--vs", "llamacpp", "-p", "4", "-n", "2", "-t", "1", "-r", "1");
        Assert.True(code == 0, err);
        Assert.Contains("was converted from: " + TestPaths.Stories260K, err, StringComparison.Ordinal);
        Assert.Contains("llama.cpp", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void VerifyRefusesAFolderFromAnotherGguf()
    {
        var (_, onnx) = models.Get("stories");
        var (code, _, err) = Run("verify", TestPaths.LlamaTinyRandom, "--onnx", onnx, "--prompt", "one two three");
        Assert.Equal(GgufCli.BadInput, code);
        Assert.Contains("was converted from " + TestPaths.Stories260K, err, StringComparison.Ordinal);
    }

    [Fact]
    public void VerifyWithAFolderAsModelSaysToUseOnnx()
    {
        var (_, onnx) = models.Get("stories");
        var (code, _, err) = Run("verify", onnx);
        Assert.Equal(GgufCli.BadInput, code);
        Assert.Equal("gguf2qnn: verify needs the .gguf as MODEL; pass the converted folder with --onnx", err.TrimEnd());
    }

    [Theory]
    [InlineData("run")]
    [InlineData("chat")]
    [InlineData("bench")]
    public void AFolderThatIsNotAnArtifactFolderIsNamedSo(string command)
    {
        var docs = TestPaths.NewTempDir("docs");
        File.WriteAllText(Path.Combine(docs, "README.md"), "# docs");
        var (code, _, err) = Run(command, docs);
        Assert.Equal(GgufCli.BadInput, code);
        Assert.Equal($"gguf2qnn: '{docs}' is not an artifact folder written by gguf2qnn convert (no genai_config.json/tokenizer.gguf)", err.TrimEnd());
    }

    [Fact]
    public void CheckQnnOnACpuFolderSaysSoFirst()
    {
        var (_, onnx) = models.Get("stories");
        var (code, _, err) = Run("check-qnn", onnx);
        Assert.Equal(GgufCli.WorkFailed, code);
        Assert.StartsWith("this folder was converted with --target cpu; convert with --target qnn for the NPU" + Environment.NewLine, err, StringComparison.Ordinal);
    }

    [Fact]
    public void CompileOnACpuFolderSaysToConvertWithTargetQnn()
    {
        var (_, onnx) = models.Get("stories");
        var (code, _, err) = Run("compile", onnx, "--soc", "8elite");
        Assert.NotEqual(GgufCli.Success, code);
        Assert.Contains("is not a QNN-target artifact folder (no qnn_model.json); it was converted with --target cpu: convert the GGUF with --target qnn", err, StringComparison.Ordinal);
    }
}
