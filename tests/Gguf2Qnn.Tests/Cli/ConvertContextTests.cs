using System.Text.Json;
using Gguf2Qnn.Cli;
using Xunit;
using static Gguf2Qnn.Tests.Cli.CliRun;

namespace Gguf2Qnn.Tests.Cli;

/// <summary>
/// <c>convert --context N</c> reaches the cpu target too (genai_config.json's model.context_length), and a context
/// longer than the GGUF's <c>llama.context_length</c> (stories260K's metadata holds 2048) draws one warning line.
/// </summary>
[Trait("Category", "Cli")]
public sealed class ConvertContextTests
{
    [Fact]
    public void CpuTargetTakesTheContextAndALongerOneThanTrainedIsWarnedAbout()
    {
        var dir = TestPaths.NewTempDir("convert-context");
        var (code, _, err) = Run("convert", TestPaths.Stories260K, "-o", Path.Combine(dir, "short"), "--context", "64", "--json");
        Assert.True(code == GgufCli.Success, err);
        Assert.DoesNotContain("warning", err, StringComparison.Ordinal);
        using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "short", "genai_config.json"))))
        {
            Assert.Equal(64, config.RootElement.GetProperty("model").GetProperty("context_length").GetInt32());
        }

        (code, _, err) = Run("convert", TestPaths.Stories260K, "-o", Path.Combine(dir, "long"), "--context", "4096", "--json");
        Assert.True(code == GgufCli.Success, err);
        Assert.Equal("warning: --context 4096 is more than the model's context_length 2048; positions past 2048 were not trained.", err.Trim());
    }
}
