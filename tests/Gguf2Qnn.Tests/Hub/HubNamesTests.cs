using Gguf2Qnn.Hub;
using Xunit;

namespace Gguf2Qnn.Tests.Hub;

public sealed class HubNamesTests
{
    [Theory]
    [InlineData("../x.gguf")]
    [InlineData("a/../../x.gguf")]
    [InlineData("/etc/x.gguf")]
    [InlineData("a\\x.gguf")]
    [InlineData("C:x.gguf")]
    [InlineData("C:/x.gguf")]
    [InlineData("a//x.gguf")]
    [InlineData("./x.gguf")]
    [InlineData("x\0.gguf")]
    [InlineData("")]
    public void UnsafeFileNames_AreRefused(string name) =>
        Assert.Throws<ArgumentException>(() => HubNames.ValidateRelativePath(name));

    [Theory]
    [InlineData("x.gguf")]
    [InlineData("Q4_K_M/x-00001-of-00002.gguf")]
    [InlineData("x..y.gguf")]
    public void SafeFileNames_Pass(string name) => HubNames.ValidateRelativePath(name);

    [Theory]
    [InlineData("..")]
    [InlineData("../etc")]
    [InlineData("owner/..")]
    [InlineData("owner/name/extra")]
    [InlineData("owner\\name")]
    [InlineData("C:/name")]
    [InlineData("/owner/name")]
    [InlineData("owner--x/name")]
    [InlineData("owner/-name")]
    public void BadRepoIds_AreRefused(string repo) =>
        Assert.Throws<ArgumentException>(() => HubNames.ValidateRepoId(repo));

    [Fact]
    public void RepoFolderName_IsHfCacheName() =>
        Assert.Equal("models--TheBloke--Llama-2-7B-GGUF", HubNames.RepoFolderName("TheBloke/Llama-2-7B-GGUF"));

    [Fact]
    public void ParseReference_SplitsAtFirstColon()
    {
        Assert.Equal(("a/b", "Q4_0"), HubNames.ParseReference("a/b:Q4_0"));
        Assert.Equal(("a/b", (string?)null), HubNames.ParseReference("a/b"));
        Assert.Throws<ArgumentException>(() => HubNames.ParseReference("a/b:../x.gguf"));
        Assert.Throws<ArgumentException>(() => HubNames.ParseReference("a/b:C:\\x.gguf"));
    }

    [Fact]
    public void NormalizeETag_StripsQuotesAndWeakPrefix()
    {
        Assert.Equal("abc", HubClient.NormalizeETag("W/\"abc\""));
        Assert.Equal("abc", HubClient.NormalizeETag("\"abc\""));
        Assert.Null(HubClient.NormalizeETag(null));
    }

    [Fact]
    public void Options_FromEnvironment()
    {
        var env = new Dictionary<string, string> { ["HF_ENDPOINT"] = "http://mirror.local/", ["HF_TOKEN"] = "t", ["HF_HOME"] = "/data/hf" };
        var o = HubOptions.FromEnvironment(k => env.GetValueOrDefault(k));
        Assert.Equal("http://mirror.local/", o.Endpoint);
        Assert.Equal("t", o.Token);
        Assert.Equal(Path.Combine("/data/hf", "hub"), o.CacheDirectory);
        env["HF_HUB_CACHE"] = "/cache/hub";
        Assert.Equal("/cache/hub", HubOptions.FromEnvironment(k => env.GetValueOrDefault(k)).CacheDirectory);
        var defaults = HubOptions.FromEnvironment(_ => null);
        Assert.Equal(HubOptions.DefaultEndpoint, defaults.Endpoint);
        Assert.Null(defaults.Token);
        Assert.EndsWith(Path.Combine(".cache", "huggingface", "hub"), defaults.CacheDirectory, StringComparison.Ordinal);
    }
}
