using System.Security.Cryptography;
using System.Text.Json;
using Gguf2Qnn.Cli;
using Xunit;

namespace Gguf2Qnn.Tests.Hub;

public sealed class PullCommandTests : IDisposable
{
    private readonly FakeHub hub = new();
    private readonly string root = TestPaths.NewTempDir("pull-cli");

    public void Dispose()
    {
        hub.Dispose();
        TestPaths.DeleteQuietly(root);
    }

    [Fact]
    public void Json_ListsTheFileInTheOutputFolder()
    {
        var content = FakeHub.RandomBytes(64_000, 21);
        hub.Add("tiny-Q4_0.gguf", content);
        hub.Add("tiny-Q8_0.gguf", FakeHub.RandomBytes(10, 22));
        var output = Path.Combine(root, "out");

        var (code, stdout, stderr) = Pull("owner/model:Q4_0", "-o", output, "--json");

        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal("owner/model", doc.RootElement.GetProperty("repo").GetString());
        var file = doc.RootElement.GetProperty("files").EnumerateArray().Single();
        Assert.Equal("tiny-Q4_0.gguf", file.GetProperty("name").GetString());
        Assert.Equal(Path.Combine(output, "tiny-Q4_0.gguf"), file.GetProperty("path").GetString());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), file.GetProperty("sha256").GetString());
        Assert.Equal(content.Length, file.GetProperty("bytes").GetInt64());
        Assert.Equal(content, File.ReadAllBytes(Path.Combine(output, "tiny-Q4_0.gguf")));
        Assert.Equal(string.Empty, stderr);
    }

    [Fact]
    public void Plain_PrintsTheSnapshotPath()
    {
        hub.Add("one.gguf", [1, 2, 3, 4]);

        var (code, stdout, stderr) = Pull("owner/model");

        Assert.Equal(0, code);
        Assert.Equal(Path.Combine(root, "cache", "models--owner--model", "snapshots", hub.Commit, "one.gguf"), stdout.Trim());

        // Redirected stderr: one plain line as the file starts, one when done; no bars, escapes or carriage returns.
        Assert.Equal(["pull: one.gguf", "pull: one.gguf: 4 bytes, sha256 9f64a747e1b97f131fabb6b447296c9b6f0201e79fb3c5356e6c77e89b6a806a"], stderr.TrimEnd().Split(Environment.NewLine));
        Assert.DoesNotContain('\u001b', stderr);
        Assert.DoesNotContain('\r', stderr);
    }

    [Fact]
    public void Ambiguous_Exit2WithCandidates()
    {
        hub.Add("a-Q4_0.gguf", [1]);
        hub.Add("b-Q8_0.gguf", [2]);

        var (code, _, stderr) = Pull("owner/model");

        Assert.Equal(GgufCli.BadInput, code);
        Assert.Contains("a-Q4_0.gguf", stderr, StringComparison.Ordinal);
        Assert.Contains("b-Q8_0.gguf", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("owner/model:../x.gguf")]
    [InlineData("../model:x.gguf")]
    [InlineData("owner/model:C:\\x.gguf")]
    public void UnsafeNames_Exit2(string reference)
    {
        hub.Add("x.gguf", [1]);

        var (code, _, stderr) = Pull(reference);

        Assert.Equal(GgufCli.BadInput, code);
        Assert.StartsWith("gguf2qnn: ", stderr, StringComparison.Ordinal);
        Assert.Empty(hub.Requests);
    }

    [Fact]
    public void HashMismatch_Exit1()
    {
        hub.Add("bad.gguf", FakeHub.RandomBytes(1000, 23)).Oid = new string('0', 64);
        var output = Path.Combine(root, "out");

        var (code, _, stderr) = Pull("owner/model", "-o", output);

        Assert.Equal(GgufCli.WorkFailed, code);
        Assert.Contains("does not match", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(output, "bad.gguf")));
    }

    [Fact]
    public void MissingRepo_Exit2() =>
        Assert.Equal(GgufCli.BadInput, Pull("other/repo").Code);

    [Fact]
    public void UnreachableHub_Exit1WithTheNextStep()
    {
        // A local port nothing listens on: the connection is refused, as offline.
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        string endpoint = $"http://127.0.0.1:{port}";
        var env = new Dictionary<string, string> { ["HF_ENDPOINT"] = endpoint, ["HF_HUB_CACHE"] = Path.Combine(root, "cache") };
        PullCommand.EnvironmentOverride.Value = k => env.GetValueOrDefault(k);
        try
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int code = GgufCli.Run(["pull", "owner/model", "--json"], stdout, stderr);

            Assert.Equal(GgufCli.WorkFailed, code);
            Assert.Equal(string.Empty, stdout.ToString());
            var line = Assert.Single(stderr.ToString().TrimEnd().Split(Environment.NewLine));
            Assert.StartsWith("gguf2qnn: ", line, StringComparison.Ordinal);
            Assert.EndsWith($"cannot reach the Hub at {endpoint} (check the network or HF_ENDPOINT); offline, copy a .gguf into ./models", line, StringComparison.Ordinal);
        }
        finally
        {
            PullCommand.EnvironmentOverride.Value = null;
        }
    }

    private (int Code, string Stdout, string Stderr) Pull(params string[] args)
    {
        var env = new Dictionary<string, string> { ["HF_ENDPOINT"] = hub.Endpoint, ["HF_HUB_CACHE"] = Path.Combine(root, "cache") };
        PullCommand.EnvironmentOverride.Value = k => env.GetValueOrDefault(k);
        try
        {
            using var stdout = new StringWriter();
            using var stderr = new StringWriter();
            int code = GgufCli.Run(["pull", .. args], stdout, stderr);
            return (code, stdout.ToString(), stderr.ToString());
        }
        finally
        {
            PullCommand.EnvironmentOverride.Value = null;
        }
    }
}
