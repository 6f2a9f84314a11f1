using System.Text.Json;
using Gguf2Qnn.Cli;
using Gguf2Qnn.Tests.EndToEnd;
using Xunit;

namespace Gguf2Qnn.Tests.Cli;

/// <summary>
/// Redirected output (the tests' StringWriters): <c>--json</c> stdout is exactly one JSON document, and neither stream
/// carries progress-bar control characters (ANSI escapes, carriage returns). stories260K keeps each run short.
/// </summary>
[Trait("Category", "Cli")]
public sealed class CliOutputTests(ConvertedModelsFixture models) : IClassFixture<ConvertedModelsFixture>
{
    private const string Prompt = " once upon a time there was a little dog and a happy cat.";

    [Fact]
    public void ConvertJsonIsOneDocumentAndProgressIsOneLinePerStage()
    {
        var dir = Path.Combine(TestPaths.NewTempDir("cli-out"), "onnx");
        var (code, stdout, stderr) = Run("convert", TestPaths.Stories260K, "-o", dir, "--json");
        Assert.True(code == 0, stderr);
        Assert.Equal(dir, OneJsonDocument(stdout).GetProperty("output").GetString());
        Assert.DoesNotContain("convert: weights", stderr, StringComparison.Ordinal);

        // Without --json the redirected stderr gets one plain line per converter stage, and stdout nothing.
        (code, stdout, stderr) = Run("convert", TestPaths.Stories260K, "-o", dir);
        Assert.True(code == 0, stderr);
        Assert.Equal(string.Empty, stdout);
        NoControlCharacters(stderr);
        var lines = stderr.Split('\n', StringSplitOptions.TrimEntries);
        Assert.Equal(1, lines.Count(l => l == "convert: weights"));
        Assert.Equal(1, lines.Count(l => l == "convert: manifest"));
    }

    [Fact]
    public void VerifyJsonIsOneDocument()
    {
        var (gguf, onnx) = models.Get("stories");
        var (code, stdout, stderr) = Run("verify", gguf, "--onnx", onnx, "--prompt", Prompt, "--json");
        Assert.True(code == 0, stderr);
        Assert.True(OneJsonDocument(stdout).GetProperty("positions").GetInt32() > 0);
        Assert.Contains("window 1/1", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void BenchJsonIsOneDocument()
    {
        var (_, onnx) = models.Get("stories");
        var (code, stdout, stderr) = Run("bench", onnx, "-p", "8", "-n", "4", "-t", "1", "-r", "1", "--json");
        Assert.True(code == 0, stderr);
        Assert.True(OneJsonDocument(stdout).GetProperty("tg_tps").GetDouble() > 0);
    }

    [Fact]
    public void VerboseDescribesTheSessionOnStderrAndLeavesStdoutAlone()
    {
        var (_, onnx) = models.Get("stories");
        var (code, plain, plainErr) = Run("run", onnx, "-n", "2", "--greedy");
        Assert.True(code == 0, plainErr);
        var (verboseCode, verbose, verboseErr) = Run("run", onnx, "--verbose", "-n", "2", "--greedy");
        Assert.True(verboseCode == 0, verboseErr);
        Assert.Equal(plain, verbose);
        Assert.DoesNotContain("CPUExecutionProvider", plainErr, StringComparison.Ordinal);
        Assert.Contains("execution providers (priority order): CPUExecutionProvider", verboseErr, StringComparison.Ordinal);
        Assert.Contains("intra-op threads: 0", verboseErr, StringComparison.Ordinal);
        Assert.Contains("inter-op threads: 0", verboseErr, StringComparison.Ordinal);
        Assert.Contains("graph optimization level: ORT_ENABLE_ALL", verboseErr, StringComparison.Ordinal);
        Assert.Contains("session created for " + Path.Combine(onnx, "model.onnx"), verboseErr, StringComparison.Ordinal);
    }

    private static JsonElement OneJsonDocument(string stdout)
    {
        NoControlCharacters(stdout);
        Assert.Single(stdout.TrimEnd('\n').Split('\n'));
        using var doc = JsonDocument.Parse(stdout); // throws on anything after the first document
        return doc.RootElement.Clone();
    }

    private static void NoControlCharacters(string text)
    {
        Assert.DoesNotContain('\u001b', text);
        Assert.DoesNotContain('\r', text);
    }

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = GgufCli.Run(args, o, e);
        NoControlCharacters(e.ToString());
        return (code, o.ToString(), e.ToString());
    }
}
