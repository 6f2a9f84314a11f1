using Xunit;
using static Gguf2Qnn.Tests.Cli.CliRun;

namespace Gguf2Qnn.Tests.Cli;

/// <summary>A .gguf given to run is converted into the cache once per file version and build; a newer version of the
/// same file replaces the older folder instead of adding to it.</summary>
[Trait("Category", "Cli")]
public sealed class ConversionCacheTests
{
    [Fact]
    public void AChangedGgufReplacesItsOlderCachedConversion()
    {
        var gguf = Path.Combine(TestPaths.NewTempDir("cache-prune"), "story.gguf");
        File.Copy(TestPaths.Stories260K, gguf);
        var (code, first, err) = Run("run", gguf, "-n", "1", "--greedy");
        Assert.True(code == 0, err);
        var older = CachedFolder(err);
        Assert.True(Directory.Exists(older));

        var (again, _, againErr) = Run("run", gguf, "-n", "1", "--greedy");
        Assert.True(again == 0, againErr);
        Assert.DoesNotContain("Converting", againErr, StringComparison.Ordinal); // reused

        File.SetLastWriteTimeUtc(gguf, File.GetLastWriteTimeUtc(gguf).AddMinutes(1)); // a new version of the file
        var (newer, second, newerErr) = Run("run", gguf, "-n", "1", "--greedy");
        Assert.True(newer == 0, newerErr);
        var current = CachedFolder(newerErr);
        Assert.NotEqual(older, current);
        Assert.True(Directory.Exists(current));
        Assert.False(Directory.Exists(older), newerErr);
        Assert.Contains($"Removed the older conversion of {gguf}: {older}", newerErr, StringComparison.Ordinal);
        Assert.Equal(first, second);
        Directory.Delete(current, recursive: true);
    }

    private static string CachedFolder(string stderr)
    {
        const string Marker = " into ";
        var line = stderr.Split('\n').Single(l => l.StartsWith("Converting ", StringComparison.Ordinal));
        return line[(line.IndexOf(Marker, StringComparison.Ordinal) + Marker.Length)..line.IndexOf(" (once;", StringComparison.Ordinal)];
    }
}
