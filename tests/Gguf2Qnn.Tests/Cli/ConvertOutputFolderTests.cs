using Gguf2Qnn.Cli;
using Xunit;

namespace Gguf2Qnn.Tests.Cli;

/// <summary>
/// <c>convert -o DIR</c> replaces DIR only when it is empty or a previous conversion output (or with --force), and
/// never when DIR holds the source GGUF: a refused folder is left exactly as it was (exit code 2).
/// </summary>
[Trait("Category", "Cli")]
public sealed class ConvertOutputFolderTests
{
    [Fact]
    public void FolderWithOtherFilesIsRefusedAndLeftAlone()
    {
        var dir = TestPaths.NewTempDir("convert-foreign");
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "mine");
        Directory.CreateDirectory(Path.Combine(dir, "sub"));

        var (code, _, err) = Run("convert", TestPaths.Stories260K, "-o", dir);

        Assert.Equal(GgufCli.BadInput, code);
        Assert.Contains("exists and holds files that are not a conversion output; choose an empty or new folder (or --force to replace it)", err, StringComparison.Ordinal);
        Assert.Equal(["notes.txt", "sub"], Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(dir, "notes.txt")));
        Assert.Empty(Directory.GetDirectories(Path.GetDirectoryName(dir)!, "." + Path.GetFileName(dir) + ".tmp-*"));
    }

    [Fact]
    public void ForceReplacesAFolderWithOtherFiles()
    {
        var dir = TestPaths.NewTempDir("convert-force");
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "mine");

        var (code, _, err) = Run("convert", TestPaths.Stories260K, "-o", dir, "--force");

        Assert.True(code == GgufCli.Success, err);
        Assert.False(File.Exists(Path.Combine(dir, "notes.txt")));
        Assert.True(File.Exists(Path.Combine(dir, "conversion.json")));
    }

    [Fact]
    public void EmptyFolderAndPreviousOutputAreReplaced()
    {
        var dir = TestPaths.NewTempDir("convert-again"); // exists, empty
        var (code, _, err) = Run("convert", TestPaths.Stories260K, "-o", dir);
        Assert.True(code == GgufCli.Success, err);
        File.WriteAllText(Path.Combine(dir, "stale.txt"), "from an older conversion");

        (code, _, err) = Run("convert", TestPaths.Stories260K, "-o", dir);

        Assert.True(code == GgufCli.Success, err);
        Assert.True(File.Exists(Path.Combine(dir, "model.onnx")));
        Assert.False(File.Exists(Path.Combine(dir, "stale.txt")));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FolderHoldingTheSourceIsRefusedEvenWithForce(bool force)
    {
        // The README walk's `convert models/x.gguf -o models`, also when models/ was a conversion output before.
        var dir = TestPaths.NewTempDir("convert-source-inside");
        var gguf = Path.Combine(dir, "x.gguf");
        File.Copy(TestPaths.Stories260K, gguf);
        File.WriteAllText(Path.Combine(dir, "conversion.json"), "{}");
        var before = File.ReadAllBytes(gguf);

        var (code, _, err) = force ? Run("convert", gguf, "-o", dir, "--force") : Run("convert", gguf, "-o", dir);

        Assert.Equal(GgufCli.BadInput, code);
        Assert.Contains("holds the source GGUF", err, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(gguf));
        Assert.Equal(["conversion.json", "x.gguf"], Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void SourceInASubfolderOfTheOutputIsRefused()
    {
        var dir = TestPaths.NewTempDir("convert-source-below");
        Directory.CreateDirectory(Path.Combine(dir, "models"));
        var gguf = Path.Combine(dir, "models", "x.gguf");
        File.Copy(TestPaths.Stories260K, gguf);

        var (code, _, _) = Run("convert", gguf, "-o", dir + Path.DirectorySeparatorChar, "--force");

        Assert.Equal(GgufCli.BadInput, code);
        Assert.True(File.Exists(gguf));
    }

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = GgufCli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }
}
