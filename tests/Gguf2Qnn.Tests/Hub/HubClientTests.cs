using System.Security.Cryptography;
using Gguf2Qnn.Hub;
using Xunit;

namespace Gguf2Qnn.Tests.Hub;

public sealed class HubClientTests : IDisposable
{
    private readonly FakeHub hub = new();
    private readonly string root = TestPaths.NewTempDir("hub");

    private string CacheDir => Path.Combine(root, "cache");

    private string RepoDir => Path.Combine(CacheDir, "models--owner--model");

    public void Dispose()
    {
        hub.Dispose();
        TestPaths.DeleteQuietly(root);
    }

    [Fact]
    public async Task Pull_DownloadsIntoHfCacheLayout()
    {
        var content = FakeHub.RandomBytes(300_000, 1);
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        hub.Add("README.md", "hello"u8.ToArray());
        hub.Add("model-Q4_0.gguf", content);
        using var client = NewClient();

        var result = await client.PullAsync("owner/model", selector: null);

        var f = Assert.Single(result.Files);
        Assert.Equal("model-Q4_0.gguf", f.Name);
        Assert.Equal(sha, f.Sha256);
        Assert.Equal(content.Length, f.Bytes);
        Assert.True(f.Downloaded);
        Assert.Equal(hub.Commit, result.Commit);
        var snapshot = Path.Combine(RepoDir, "snapshots", hub.Commit, "model-Q4_0.gguf");
        Assert.Equal(snapshot, f.Path);
        Assert.Equal(content, File.ReadAllBytes(snapshot));
        Assert.Equal(Path.Combine(RepoDir, "blobs", sha), f.BlobPath);
        Assert.Equal(Path.Combine("..", "..", "blobs", sha), new FileInfo(snapshot).LinkTarget);
        Assert.Equal(hub.Commit, File.ReadAllText(Path.Combine(RepoDir, "refs", "main")));
        Assert.Empty(Directory.GetFiles(Path.Combine(RepoDir, "blobs"), "*.incomplete"));

        // The resolve URL uses the pinned commit, and the second pull is served from the cache.
        Assert.Contains(hub.ResolveGets, r => r.Path == $"/owner/model/resolve/{hub.Commit}/model-Q4_0.gguf");
        int gets = hub.ResolveGets.Count();
        var again = await client.PullAsync("owner/model", "model-Q4_0.gguf");
        Assert.False(Assert.Single(again.Files).Downloaded);
        Assert.Equal(gets, hub.ResolveGets.Count());
    }

    [Fact]
    public async Task Pull_CutAtHalf_SecondPullResumesWithRange()
    {
        var content = FakeHub.RandomBytes(400_000, 2);
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        hub.Add("m.Q8_0.gguf", content).CutAfterBytes = content.Length / 2;
        using (var noRetry = NewClient(resumeAttempts: 0))
        {
            var e = await Assert.ThrowsAsync<HubRequestException>(() => noRetry.PullAsync("owner/model", "Q8_0"));
            Assert.Contains("run the same pull again to resume", e.Message, StringComparison.Ordinal);
        }

        var incomplete = Path.Combine(RepoDir, "blobs", sha + ".incomplete");
        Assert.Equal(content.Length / 2, new FileInfo(incomplete).Length);
        Assert.False(File.Exists(Path.Combine(RepoDir, "blobs", sha)));
        Assert.False(Directory.Exists(Path.Combine(RepoDir, "snapshots")));

        using var client = NewClient();
        var result = await client.PullAsync("owner/model", "Q8_0");

        var gets = hub.ResolveGets.ToArray();
        Assert.Equal(2, gets.Length);
        Assert.Null(gets[0].Header("Range"));
        Assert.Equal(content.Length / 2, gets[0].BodyBytes);
        Assert.Equal($"bytes={content.Length / 2}-", gets[1].Header("Range"));
        Assert.Equal(content.Length - (content.Length / 2), gets[1].BodyBytes);
        Assert.Equal(sha, Assert.Single(result.Files).Sha256);
        Assert.Equal(content, File.ReadAllBytes(result.Files[0].Path));
        Assert.False(File.Exists(incomplete));
    }

    [Fact]
    public async Task Pull_CutOnce_ResumesWithinOnePull()
    {
        var content = FakeHub.RandomBytes(250_000, 3);
        hub.Add("a-Q4_0.gguf", content).CutAfterBytes = 100_000;
        using var client = NewClient(resumeAttempts: 1);

        var result = await client.PullAsync("owner/model", null);

        Assert.Equal(content, File.ReadAllBytes(result.Files[0].Path));
        var gets = hub.ResolveGets.ToArray();
        Assert.Equal(2, gets.Length);
        Assert.Equal("bytes=100000-", gets[1].Header("Range"));
        Assert.Equal(150_000, gets[1].BodyBytes);
    }

    [Fact]
    public async Task Pull_CutsThatEachMakeProgressDoNotUseUpTheRetries()
    {
        // One retry allowed; three connections each cut after 100,000 more bytes: every resume made progress, so the
        // pull goes on (a retry budget is for connections that fail without moving forward).
        var content = FakeHub.RandomBytes(350_000, 7);
        var file = hub.Add("b-Q4_0.gguf", content);
        file.CutAfterBytes = 100_000;
        file.LaterCuts.Enqueue(100_000);
        file.LaterCuts.Enqueue(100_000);
        using var client = NewClient(resumeAttempts: 1);

        var result = await client.PullAsync("owner/model", null);

        Assert.Equal(content, File.ReadAllBytes(result.Files[0].Path));
        Assert.Equal(["bytes=100000-", "bytes=200000-", "bytes=300000-"], hub.ResolveGets.Skip(1).Select(g => g.Header("Range")));
    }

    [Fact]
    public async Task Pull_ServerIgnoresRange_RestartsFromZero()
    {
        var content = FakeHub.RandomBytes(200_000, 4);
        hub.Add("x-Q4_0.gguf", content).CutAfterBytes = 50_000;
        hub.IgnoreRange = true;
        using (var noRetry = NewClient(resumeAttempts: 0))
        {
            await Assert.ThrowsAsync<HubRequestException>(() => noRetry.PullAsync("owner/model", null));
        }

        using var client = NewClient();
        var result = await client.PullAsync("owner/model", null);

        Assert.Equal(content, File.ReadAllBytes(result.Files[0].Path));
        var last = hub.ResolveGets.Last();
        Assert.Equal("bytes=50000-", last.Header("Range"));
        Assert.Equal(content.Length, last.BodyBytes);
    }

    [Fact]
    public async Task Pull_HashMismatch_LeavesNothingUnderTheFinalName()
    {
        var content = FakeHub.RandomBytes(120_000, 5);
        var file = hub.Add("bad-Q4_0.gguf", content);
        file.Oid = Convert.ToHexStringLower(SHA256.HashData(FakeHub.RandomBytes(120_000, 6)));
        var output = Path.Combine(root, "out");
        using var client = NewClient();

        var e = await Assert.ThrowsAsync<HubIntegrityException>(() => client.PullAsync("owner/model", "bad-Q4_0.gguf", outputDirectory: output));

        Assert.Contains(file.Oid, e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(RepoDir, "blobs", file.Oid)));
        Assert.False(File.Exists(Path.Combine(RepoDir, "blobs", file.Oid + ".incomplete")));
        Assert.False(Directory.Exists(Path.Combine(RepoDir, "snapshots")));
        Assert.False(File.Exists(Path.Combine(output, "bad-Q4_0.gguf")));
    }

    [Fact]
    public async Task Pull_SplitSetByQuantTag_FetchesAllPartsIntoOutput()
    {
        hub.TreePageSize = 2;
        hub.Add("m-Q8_0.gguf", FakeHub.RandomBytes(1000, 7));
        var parts = Enumerable.Range(1, 3).Select(i => hub.Add($"Q4_K_M/m-Q4_K_M-{i:D5}-of-00003.gguf", FakeHub.RandomBytes(10_000 + i, 10 + i))).ToArray();
        hub.Add("z.txt", [1, 2, 3]);
        var output = Path.Combine(root, "out");
        using var client = NewClient();

        var result = await client.PullAsync("owner/model", "q4_k_m", outputDirectory: output);

        Assert.Equal(parts.Select(p => p.Path), result.Files.Select(f => f.Name));
        for (int i = 0; i < 3; i++)
        {
            var expected = Path.Combine(output, "Q4_K_M", $"m-Q4_K_M-{i + 1:D5}-of-00003.gguf");
            Assert.Equal(expected, result.Files[i].Path);
            Assert.Equal(parts[i].Content, File.ReadAllBytes(expected));
            Assert.Equal(parts[i].Oid, result.Files[i].Sha256);
        }

        // The tree came in pages of 2 (Link: rel="next").
        Assert.Equal(3, hub.Requests.Count(r => r.Path.Contains("/tree/", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Pull_PickingOneSplitPart_FetchesTheSet()
    {
        hub.Add("m-00002-of-00002.gguf", FakeHub.RandomBytes(500, 1));
        hub.Add("m-00001-of-00002.gguf", FakeHub.RandomBytes(600, 2));
        using var client = NewClient();

        var result = await client.PullAsync("owner/model", "m-00002-of-00002.gguf");

        Assert.Equal(["m-00001-of-00002.gguf", "m-00002-of-00002.gguf"], result.Files.Select(f => f.Name));
    }

    [Fact]
    public async Task Pull_WithoutTree_UsesHeadLinkedEtag()
    {
        hub.TreeMissing = true;
        var content = FakeHub.RandomBytes(5000, 8);
        hub.Add("only.gguf", content);
        using var client = NewClient();

        var result = await client.PullAsync("owner/model", null);

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), result.Files[0].Sha256);
        Assert.Contains(hub.Requests, r => r.Method == "HEAD");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Pull_NonLfsFile_CheckedByGitBlobId(bool treeMissing)
    {
        hub.TreeMissing = treeMissing;
        var content = FakeHub.RandomBytes(3000, 30);
        var file = hub.Add("small.gguf", content);
        file.Lfs = false;
        using var client = NewClient();

        var result = await client.PullAsync("owner/model", null);

        var f = Assert.Single(result.Files);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), f.Sha256);
        Assert.Equal(Path.Combine(RepoDir, "blobs", file.GitBlobId), f.BlobPath);
        Assert.Equal(content, File.ReadAllBytes(f.Path));
    }

    [Fact]
    public async Task Pull_SendsTokenAsBearer_OnlyToTheEndpoint()
    {
        using var cdn = new FakeHub();
        hub.Cdn = cdn;
        hub.RequiredToken = "hf_secret";
        var content = FakeHub.RandomBytes(70_000, 9);
        hub.Add("t-Q4_0.gguf", content);
        using var client = NewClient(token: "hf_secret");

        var result = await client.PullAsync("owner/model", null);

        Assert.Equal(content, File.ReadAllBytes(result.Files[0].Path));
        Assert.NotEmpty(hub.Requests);
        Assert.All(hub.Requests, r => Assert.Equal("Bearer hf_secret", r.Header("Authorization")));
        var cdnGet = Assert.Single(cdn.Requests);
        Assert.Null(cdnGet.Header("Authorization"));
    }

    [Fact]
    public async Task Pull_WithoutToken_PrivateRepoIsNotFoundOrDenied()
    {
        hub.RequiredToken = "hf_secret";
        hub.Add("t-Q4_0.gguf", [1]);
        using var client = NewClient();

        var e = await Assert.ThrowsAsync<HubRequestException>(() => client.PullAsync("owner/model", null));

        Assert.True(e.IsNotFoundOrDenied);
        Assert.Contains("HF_TOKEN", e.Message, StringComparison.Ordinal);
        Assert.Contains("Invalid credentials", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pull_ListedNameWithDotDot_IsRefused()
    {
        hub.Add("../escape.gguf", [1, 2, 3]);
        using var client = NewClient();

        var e = await Assert.ThrowsAsync<ArgumentException>(() => client.PullAsync("owner/model", null));

        Assert.Contains("'..'", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(root, "escape.gguf")));
        Assert.DoesNotContain(hub.Requests, r => r.Path.Contains("/resolve/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Pull_UnknownRevision_Is404()
    {
        hub.Add("a.gguf", [1]);
        using var client = NewClient();

        var e = await Assert.ThrowsAsync<HubRequestException>(() => client.PullAsync("owner/model", null, revision: "nope"));

        Assert.True(e.IsNotFoundOrDenied);
    }

    private HubClient NewClient(int resumeAttempts = 3, string? token = null) =>
        new(new HubOptions { Endpoint = hub.Endpoint + "/", CacheDirectory = CacheDir, ResumeAttempts = resumeAttempts, RetryDelay = TimeSpan.Zero, Token = token, Timeout = TimeSpan.FromSeconds(20) });
}
