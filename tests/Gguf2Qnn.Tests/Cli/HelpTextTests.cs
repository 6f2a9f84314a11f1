using Gguf2Qnn.Cli;
using Xunit;
using static Gguf2Qnn.Tests.Cli.CliRun;

namespace Gguf2Qnn.Tests.Cli;

/// <summary>Help texts that say what the code does: convert --weights keep lists README's repacked types; run --ep says
/// which providers work in this build, and a missing one exits 1 with "not in this build" (DESIGN.md §3's contract keeps
/// the names).</summary>
[Trait("Category", "Cli")]
public sealed class HelpTextTests
{
    [Fact]
    public void ConvertHelpListsEveryRepackedType()
    {
        var (code, help, _) = Run("convert", "--help");
        Assert.Equal(0, code);
        var weights = help.Split('\n').Single(l => l.TrimStart().StartsWith("--weights", StringComparison.Ordinal));
        foreach (var type in new[] { "Q4_0", "Q8_0", "Q3_K", "Q4_1", "Q2_K", "Q4_K", "Q5_0", "Q5_1", "Q5_K", "Q6_K" })
        {
            Assert.Contains(type, weights, StringComparison.Ordinal);
        }

        Assert.Contains("--force", help, StringComparison.Ordinal);
    }

    [Fact]
    public void BadOptionValuesGiveTheSentenceWithoutDotNetsParameterSuffix()
    {
        var (code, _, err) = Run("convert", TestPaths.Stories260K, "-o", Path.Combine(TestPaths.NewTempDir("bad-level"), "out"), "--accuracy-level", "9");
        Assert.Equal(GgufCli.BadInput, code);
        Assert.Equal("gguf2qnn: MatMulNBits accuracy_level is 0..4.", err.Trim());
    }

    [Theory]
    [InlineData("cuda")]
    [InlineData("dml")]
    [InlineData("qnn")]
    public void RunHelpSaysWhichProvidersThisBuildHas(string ep)
    {
        var (_, help, _) = Run("run", "--help");
        var line = help.Split('\n').Single(l => l.TrimStart().StartsWith("--ep", StringComparison.Ordinal));
        Assert.Contains("not in this build: exit 1", line, StringComparison.Ordinal);

        var (code, _, err) = Run("run", TestPaths.Stories260K, "--ep", ep, "-n", "1");
        Assert.Equal(GgufCli.WorkFailed, code);
        Assert.StartsWith($"gguf2qnn: --ep {ep}: not in this build", err, StringComparison.Ordinal);
    }

    [Fact]
    public void KernelsTakesReadmesLowerCaseValuesAndListsThemOnABadOne()
    {
        var (_, help, _) = Run("run", "--help");
        var line = help.Split('\n').Single(l => l.TrimStart().StartsWith("--kernels", StringComparison.Ordinal));
        Assert.Contains("<auto|gguf2qnn|onnxruntime>", line, StringComparison.Ordinal);
        Assert.Contains("[default: auto]", line, StringComparison.Ordinal);

        var (code, _, err) = Run("run", TestPaths.Stories260K, "--kernels", "mlas", "-n", "1");
        Assert.Equal(GgufCli.BadInput, code);
        Assert.DoesNotContain("Gguf2Qnn.Runtime", err, StringComparison.Ordinal);
        foreach (var value in new[] { "'auto'", "'onnxruntime'", "'gguf2qnn'" })
        {
            Assert.Contains(value, err, StringComparison.Ordinal);
        }

        var (asked, _, askedErr) = Run("run", TestPaths.Stories260K, "--kernels", "onnxruntime", "--verbose", "-n", "1");
        Assert.True(asked == 0, askedErr);
        Assert.Contains("kernels: ONNX Runtime's (as asked)", askedErr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("convert", "--kernels", "gguf2qnn")]
    [InlineData("convert", "--verbose")]
    [InlineData("inspect", "--kernels", "onnxruntime")]
    [InlineData("tokenize", "--verbose")]
    public void CommandsThatOpenNoModelRefuseKernelsAndVerboseInsteadOfIgnoringThem(string command, params string[] option)
    {
        string[] args = command == "tokenize" ? [command, TestPaths.Stories260K, "Once", .. option] : [command, TestPaths.Stories260K, .. option];
        var (code, _, err) = Run(args);
        Assert.Equal(GgufCli.BadInput, code);
        Assert.Contains($"Unrecognized command or argument '{option[0]}'", err, StringComparison.Ordinal);

        var (_, help, _) = Run(command, "--help");
        Assert.DoesNotContain("--kernels", help, StringComparison.Ordinal);
        Assert.DoesNotContain("--verbose", help, StringComparison.Ordinal);
    }

    [Fact]
    public void KernelsAndVerboseBeforeACommandThatOpensNoModelAreRefusedToo()
    {
        var (code, stdout, err) = Run("--verbose", "inspect", TestPaths.Stories260K);
        Assert.Equal(GgufCli.BadInput, code);
        Assert.Equal(string.Empty, stdout);
        Assert.StartsWith("gguf2qnn: --verbose applies to the commands that open a model", err, StringComparison.Ordinal);

        var (kernelsCode, _, kernelsErr) = Run("--kernels", "onnxruntime", "tokenize", TestPaths.Stories260K, "Once");
        Assert.Equal(GgufCli.BadInput, kernelsCode);
        Assert.Contains("not to tokenize", kernelsErr, StringComparison.Ordinal);

        var (runCode, _, runErr) = Run("--verbose", "run", TestPaths.Stories260K, "-n", "1");
        Assert.True(runCode == 0, runErr);
        Assert.Contains("session created", runErr, StringComparison.Ordinal);
    }
}
