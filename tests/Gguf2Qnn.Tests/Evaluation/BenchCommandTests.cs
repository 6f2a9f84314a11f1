using System.Text.Json;
using Gguf2Qnn.Cli;
using Gguf2Qnn.Evaluation;
using Gguf2Qnn.Tests.EndToEnd;
using Xunit;

namespace Gguf2Qnn.Tests.Evaluation;

/// <summary><c>gguf2qnn bench</c>: the JSON contract of DESIGN.md §3 and sane (positive) figures; speed is never asserted.</summary>
[Trait("Category", "Evaluation")]
public sealed class BenchCommandTests(ConvertedModelsFixture models) : IClassFixture<ConvertedModelsFixture>
{
    [Fact]
    public void JsonHasTheContractFieldsForBothSidesAndTheRatios()
    {
        var (gguf, onnx) = models.Get("stories");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = GgufCli.Run(["bench", onnx, "--gguf", gguf, "-p", "16", "-n", "8", "-t", "1", "-r", "2", "--vs", "llamacpp", "--json"], stdout, stderr);
        Assert.True(code == 0, stderr.ToString());
        using var doc = JsonDocument.Parse(stdout.ToString());
        var root = doc.RootElement;
        foreach (var side in new[] { root, root.GetProperty("reference") })
        {
            foreach (var key in new[] { "pp_tps", "tg_tps", "ttft_ms" })
            {
                Assert.True(side.GetProperty(key).GetDouble() > 0, key);
            }

            // Ours is the process's peak; the reference's is what llama.cpp added to it (high-water mark after minus
            // resident before), which other tests running in the same process can make zero.
            Assert.True(side.GetProperty("peak_rss_mb").GetDouble() >= 0, "peak_rss_mb");

            var spread = side.GetProperty("spread").GetProperty("tg_tps");
            Assert.True(spread[0].GetDouble() <= side.GetProperty("tg_tps").GetDouble());
            Assert.True(spread[1].GetDouble() >= side.GetProperty("tg_tps").GetDouble());
        }

        foreach (var key in new[] { "pp", "tg", "ttft" })
        {
            Assert.True(root.GetProperty("ratios").GetProperty(key).GetDouble() > 0, key);
        }

        Assert.True(root.GetProperty("peak_rss_mb").GetDouble() > 0, "peak_rss_mb");
        Assert.Equal(16, root.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(2, root.GetProperty("repetitions").GetInt32());
    }

    [Fact]
    public void VsLlamaCppWithoutAGgufIsBadUsage()
    {
        var (_, onnx) = models.Get("stories");
        Assert.Equal(2, GgufCli.Run(["bench", onnx, "--vs", "llamacpp", "-p", "4", "-n", "2"], new StringWriter(), new StringWriter()));
        Assert.Equal(2, GgufCli.Run(["bench", onnx, "-p", "0"], new StringWriter(), new StringWriter()));
    }

    [Fact]
    public void SpreadTakesTheMedianAndRange()
    {
        Assert.Equal(new Spread(2, 1, 9), Spread.Of([9, 1, 2]));
        Assert.Equal(new Spread(2.5, 1, 9), Spread.Of([9, 1, 2, 3]));
        Assert.Throws<ArgumentException>(() => Spread.Of([]));
    }
}
