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
        Assert.Equal("onnxruntime", root.GetProperty("kernels").GetString()); // stories260K is F32: no Q4_0 weight for gguf2qnn's kernels
    }

    [Fact]
    public void ProfileSaysWhereOnnxRuntimeWroteTheTrace()
    {
        var (_, onnx) = models.Get("stories");
        var prefix = Path.Combine(TestPaths.NewTempDir("bench-profile"), "trace");
        var stderr = new StringWriter();
        var code = GgufCli.Run(["bench", onnx, "-p", "4", "-n", "2", "-t", "1", "-r", "1", "--profile", prefix], new StringWriter(), stderr);
        Assert.True(code == 0, stderr.ToString());
        var line = stderr.ToString().Split('\n').Single(l => l.StartsWith("bench: ONNX Runtime's profile: ", StringComparison.Ordinal));
        var path = line["bench: ONNX Runtime's profile: ".Length..].Trim();
        Assert.StartsWith(prefix, path, StringComparison.Ordinal);
        using var trace = JsonDocument.Parse(File.ReadAllText(path)); // Chrome trace: an array of events
        Assert.True(trace.RootElement.GetArrayLength() > 0);
    }

    [Fact]
    public void QnnTargetFolderIsRefusedWithWhatToDoInstead()
    {
        var dir = Path.Combine(TestPaths.NewTempDir("bench-qnn"), "qnn");
        Assert.Equal(0, GgufCli.Run(["convert", TestPaths.Stories260K, "-o", dir, "--target", "qnn", "--context", "64", "--prefill", "8"], new StringWriter(), new StringWriter()));
        var stderr = new StringWriter();
        Assert.Equal(GgufCli.BadInput, GgufCli.Run(["bench", dir, "-p", "4", "-n", "2", "-r", "1"], new StringWriter(), stderr));
        Assert.Contains("is a qnn-target folder", stderr.ToString(), StringComparison.Ordinal);
        Assert.Contains("--target cpu", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void VsLlamaCppWithoutAGgufIsBadUsage()
    {
        var onnx = ConvertedModelsFixture.CopyWithoutManifest(models.Get("stories").Onnx); // no recorded source to fall back on
        Assert.Equal(2, GgufCli.Run(["bench", onnx, "--vs", "llamacpp", "-p", "4", "-n", "2"], new StringWriter(), new StringWriter()));
        Assert.Equal(2, GgufCli.Run(["bench", onnx, "-p", "0"], new StringWriter(), new StringWriter()));
    }

    [Fact]
    public void TableSaysTheRatioDirectionAndKeepsColumnsAlignedForWideNumbers()
    {
        var ours = new BenchResult(new Spread(123456.78, 100000.5, 234567.25), new Spread(9.5, 9, 10), new Spread(50, 40, 60), 321, 100);
        var reference = new BenchResult(new Spread(61728.39, 60000, 70000), new Spread(19, 18, 20), new Spread(100, 90, 110), 12, 5);

        var lines = BenchCommand.ToTable(new BenchSettings(128, 64, 4, 3), ours, reference, gguf2qnnKernelNodes: 0).Split(Environment.NewLine);
        Assert.Equal("prefill 128, decode 64, 4 thread(s), 3 repetition(s), ours on ONNX Runtime's kernels: median [min – max]", lines[0]);
        Assert.Contains("ours on gguf2qnn's Q4_0 kernels (9 nodes):", BenchCommand.ToTable(new BenchSettings(128, 64, 4, 3), ours, reference, gguf2qnnKernelNodes: 9), StringComparison.Ordinal);

        Assert.Contains("ratio: ours ÷ llama.cpp (first token: llama.cpp ÷ ours); > 1 = gguf2qnn faster", lines[1], StringComparison.Ordinal);
        var rows = lines.Skip(1).ToArray();
        int oursColumn = rows[0].IndexOf("gguf2qnn", StringComparison.Ordinal);
        int refColumn = rows[0].IndexOf("llama.cpp", StringComparison.Ordinal);
        Assert.Contains(rows, r => r.StartsWith("prefill tok/s", StringComparison.Ordinal) && r.IndexOf("123456.78 [100000.50 – 234567.25]", StringComparison.Ordinal) == oursColumn && r.IndexOf("61728.39", StringComparison.Ordinal) == refColumn && r.EndsWith("2.00×", StringComparison.Ordinal));
        Assert.Contains(rows, r => r.StartsWith("decode tok/s", StringComparison.Ordinal) && r.IndexOf("9.50", StringComparison.Ordinal) == oursColumn && r.IndexOf("19.00", StringComparison.Ordinal) == refColumn && r.EndsWith("0.50×", StringComparison.Ordinal));
        Assert.Contains(rows, r => r.StartsWith("first token ms", StringComparison.Ordinal) && r.IndexOf("100.00", StringComparison.Ordinal) == refColumn && r.EndsWith("2.00×", StringComparison.Ordinal));
        Assert.Contains(rows, r => r.StartsWith("peak RSS MiB", StringComparison.Ordinal) && r.IndexOf("321", StringComparison.Ordinal) == oursColumn && r.IndexOf("+12", StringComparison.Ordinal) == refColumn);
    }

    [Fact]
    public void MoreThreadsThanProcessorsWarnsOnce()
    {
        var (_, onnx) = models.Get("stories");
        var stderr = new StringWriter();
        int threads = Environment.ProcessorCount + 1;
        var code = GgufCli.Run(["bench", onnx, "-p", "4", "-n", "2", "-t", threads.ToString(System.Globalization.CultureInfo.InvariantCulture), "-r", "1"], new StringWriter(), stderr);
        Assert.True(code == 0, stderr.ToString());
        Assert.Single(stderr.ToString().Split(Environment.NewLine), l => l.Contains("warning", StringComparison.Ordinal) && l.Contains($"-t {threads}", StringComparison.Ordinal));
    }

    [Fact]
    public void SpreadTakesTheMedianAndRange()
    {
        Assert.Equal(new Spread(2, 1, 9), Spread.Of([9, 1, 2]));
        Assert.Equal(new Spread(2.5, 1, 9), Spread.Of([9, 1, 2, 3]));
        Assert.Throws<ArgumentException>(() => Spread.Of([]));
    }
}
