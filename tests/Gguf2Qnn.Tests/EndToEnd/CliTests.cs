using Gguf2Qnn.Cli;
using Xunit;
using static Gguf2Qnn.Tests.Cli.CliRun;

namespace Gguf2Qnn.Tests.EndToEnd;

[Trait("Category", "Cli")]
public sealed class CliTests
{
    [Fact]
    public void MissingFileIsAOneLineErrorWithExitCode2()
    {
        var (code, _, err) = Run("inspect", "/nonexistent/model.gguf");
        Assert.Equal(2, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("/nonexistent/model.gguf", err, StringComparison.Ordinal);
    }

    [Fact]
    public void NonGgufFileIsAOneLineErrorWithExitCode2()
    {
        var path = Path.Combine(TestPaths.NewTempDir("cli"), "notes.gguf");
        File.WriteAllText(path, "these are not the weights you are looking for");
        foreach (var cmd in new[] { "inspect", "convert", "run" })
        {
            var args = cmd == "convert" ? new[] { cmd, path, "-o", path + ".out" } : [cmd, path];
            var (code, _, err) = Run(args);
            Assert.Equal(2, code);
            Assert.Single(err.Trim().Split('\n'));
            Assert.Contains("magic", err, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void BadUsageIsExitCode2()
    {
        Assert.Equal(2, Run("inspect").Code);
        Assert.Equal(2, Run("frobnicate").Code);
    }

    [Fact]
    public void InspectJsonListsStories260KTensors()
    {
        var (code, stdout, err) = Run("inspect", TestPaths.Stories260K, "--json");
        Assert.True(code == 0, err);
        using var doc = System.Text.Json.JsonDocument.Parse(stdout);
        Assert.Equal(48, doc.RootElement.GetProperty("tensor_count").GetInt32());
        Assert.Equal("llama", doc.RootElement.GetProperty("metadata").GetProperty("general.architecture").GetString());
    }
}
