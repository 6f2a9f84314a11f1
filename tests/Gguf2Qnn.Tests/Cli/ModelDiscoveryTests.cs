using System.Text.Json;
using Gguf2Qnn.Cli;
using Xunit;

namespace Gguf2Qnn.Tests.Cli;

/// <summary>
/// ./models discovery for <c>convert</c> and <c>run</c> without a MODEL: none → the demo model, one → it, several →
/// the list on stderr and exit code 2, a split set → one entry (its first part). Each test has its own working folder.
/// </summary>
[Trait("Category", "Cli")]
public sealed class ModelDiscoveryTests
{
    [Fact]
    public void NoFolderOrNoGgufGivesNoCandidate()
    {
        var dir = TestPaths.NewTempDir("discovery");
        var models = Path.Combine(dir, "models");
        Assert.Empty(ModelDiscovery.Candidates(models));

        Directory.CreateDirectory(Path.Combine(models, "nested"));
        File.WriteAllText(Path.Combine(models, "nested", "deep.gguf"), "not searched: only files directly in models/");
        File.WriteAllText(Path.Combine(models, "README.txt"), "x");
        File.WriteAllText(Path.Combine(models, "model.gguf.part"), "an unfinished download");
        Assert.Empty(ModelDiscovery.Candidates(models));
        Assert.Null(ModelDiscovery.Resolve(new CliIO(new StringWriter(), new StringWriter()), models));
    }

    [Fact]
    public void ASplitSetIsOneModelNamedByItsFirstPart()
    {
        var models = Path.Combine(TestPaths.NewTempDir("discovery"), "models");
        Directory.CreateDirectory(models);
        foreach (var part in new[] { "big-00002-of-00003.gguf", "big-00003-of-00003.gguf", "big-00001-of-00003.gguf" })
        {
            File.WriteAllText(Path.Combine(models, part), "x");
        }

        var err = new StringWriter();
        Assert.Equal([Path.Combine(models, "big-00001-of-00003.gguf")], ModelDiscovery.Candidates(models));
        Assert.Equal(Path.Combine(models, "big-00001-of-00003.gguf"), ModelDiscovery.Resolve(new CliIO(new StringWriter(), err), models));
        Assert.Contains("big-00001-of-00003.gguf", err.ToString(), StringComparison.Ordinal);
        Assert.Equal("big", ModelDiscovery.Stem(Path.Combine(models, "big-00002-of-00003.gguf")));

        File.WriteAllText(Path.Combine(models, "small.GGUF"), "x");
        Assert.Equal([Path.Combine(models, "big-00001-of-00003.gguf"), Path.Combine(models, "small.GGUF")], ModelDiscovery.Candidates(models));
        Assert.Equal("small", ModelDiscovery.Stem("small.GGUF"));
    }

    [Fact]
    public void SeveralModelsAreListedOnStderrWithExitCode2()
    {
        var dir = TestPaths.NewTempDir("discovery");
        var models = Path.Combine(dir, "models");
        Directory.CreateDirectory(models);
        File.WriteAllText(Path.Combine(models, "a.gguf"), "x");
        File.WriteAllText(Path.Combine(models, "b-00001-of-00002.gguf"), "x");
        File.WriteAllText(Path.Combine(models, "b-00002-of-00002.gguf"), "x");
        foreach (var command in new[] { "convert", "run" })
        {
            var (code, stdout, stderr) = Run(dir, command);
            Assert.Equal(GgufCli.BadInput, code);
            Assert.Equal(string.Empty, stdout);
            var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Assert.Equal(["a.gguf", "b-00001-of-00002.gguf"], lines.Where(l => l.EndsWith(".gguf", StringComparison.Ordinal)).ToArray());
            Assert.StartsWith("gguf2qnn: 2 models in", lines[^1], StringComparison.Ordinal);
        }

        Assert.False(Directory.Exists(Path.Combine(dir, "a-cpu")));
    }

    [Fact]
    public void OneModelIsUsedByConvertAndRun()
    {
        var dir = TestPaths.NewTempDir("discovery");
        var models = Path.Combine(dir, "models");
        Directory.CreateDirectory(models);
        File.Copy(TestPaths.Stories260K, Path.Combine(models, "stories260K.gguf"));

        var (code, stdout, stderr) = Run(dir, "convert", "--json");
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            Assert.Equal(Path.Combine(dir, "stories260K-cpu"), doc.RootElement.GetProperty("output").GetString());
            Assert.Equal("cpu", doc.RootElement.GetProperty("target").GetString());
            Assert.Contains(doc.RootElement.GetProperty("files").EnumerateArray(), f => f.GetProperty("name").GetString() == "model.onnx");
        }

        Assert.True(File.Exists(Path.Combine(dir, "stories260K-cpu", "genai_config.json")));

        // run with no MODEL generates from the same model as run with it named.
        (code, stdout, stderr) = Run(dir, "run", "-n", "4", "--json");
        Assert.True(code == 0, stderr);
        Assert.Contains(Path.Combine(models, "stories260K.gguf"), stderr, StringComparison.Ordinal);
        var (namedCode, named, namedErr) = Run(dir, "run", Path.Combine(dir, "stories260K-cpu"), "-n", "4", "--json");
        Assert.True(namedCode == 0, namedErr);
        Assert.Equal(named, stdout);
    }

    [Fact]
    public void NoModelConvertsTheDemoIntoADefaultFolder()
    {
        var dir = TestPaths.NewTempDir("discovery");
        var (code, stdout, stderr) = Run(dir, "convert", "--json");
        Assert.True(code == 0, stderr);
        Assert.Contains("Demo model", stderr, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(stdout);
        var output = doc.RootElement.GetProperty("output").GetString()!;
        Assert.Equal(dir, Path.GetDirectoryName(output));
        Assert.Contains(output, stderr, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(output, "model.onnx")));
    }

    [Theory]
    [InlineData("--chat")]
    [InlineData("--engine", "genai")]
    [InlineData("--engine", "genai", "--chat")]
    public void RunWithoutAModelUsesTheDemoForChatAndGenAiToo(params string[] options)
    {
        var dir = TestPaths.NewTempDir("discovery-demo");
        var (code, stdout, stderr) = Run(dir, ["run", .. options, "-n", "2", "--json"]);
        Assert.True(code == 0, stderr);
        Assert.Contains("Demo model", stderr, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(2, doc.RootElement.GetProperty("tokens").GetArrayLength());
    }

    private static (int Code, string Out, string Err) Run(string workingDirectory, params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = GgufCli.Run(args, new CliIO(o, e) { WorkingDirectory = workingDirectory });
        return (code, o.ToString(), e.ToString());
    }
}
