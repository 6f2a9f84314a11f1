using System.Text.Json;
using Gguf2Qnn.Cli;
using Gguf2Qnn.Demo;
using Xunit;
using static Gguf2Qnn.Tests.Cli.CliRun;

namespace Gguf2Qnn.Tests.Cli;

/// <summary>The demo model README points newcomers at passes verify against llama.cpp with the Q4_0 thresholds
/// (its random head once left near-ties that decided top-1 either way: 98.75%).</summary>
[Trait("Category", "Cli")]
public sealed class DemoModelTests
{
    [Fact]
    public void DemoModelPassesVerifyAgainstLlamaCpp()
    {
        var dir = TestPaths.NewTempDir("demo-verify");
        var gguf = Path.Combine(dir, "demo.gguf");
        SyntheticModel.Write(gguf, DemoGguf.Spec);
        var onnx = Path.Combine(dir, "demo-cpu");
        var (convertCode, _, convertErr) = Run("convert", gguf, "-o", onnx);
        Assert.True(convertCode == 0, convertErr);

        var (code, stdout, stderr) = Run("verify", gguf, "--onnx", onnx, "--json");
        Assert.True(code == GgufCli.Success, stderr + stdout);
        using var doc = JsonDocument.Parse(stdout);
        Assert.True(doc.RootElement.GetProperty("top1_agreement").GetDouble() >= 0.99, stdout);
        Assert.True(doc.RootElement.GetProperty("kl_mean").GetDouble() <= 5e-3, stdout);
    }
}
