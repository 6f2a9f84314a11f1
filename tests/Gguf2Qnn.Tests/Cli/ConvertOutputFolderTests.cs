using Gguf2Qnn.Cli;
using Xunit;
using static Gguf2Qnn.Tests.Cli.CliRun;

namespace Gguf2Qnn.Tests.Cli;

/// <summary>
/// <c>convert -o DIR</c> replaces DIR only when it is empty or a previous conversion output holding only the files its
/// conversion.json lists (or with --force), and never when DIR holds the source GGUF, is a git working tree, or is the
/// current folder or above it: a refused folder is left exactly as it was (exit code 2).
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
        Assert.Contains("is a folder that holds files that are not a conversion output; choose an empty or new folder (or --force to replace it", err, StringComparison.Ordinal);
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
        var stamp = File.GetLastWriteTimeUtc(Path.Combine(dir, "model.onnx"));
        Thread.Sleep(20);

        (code, _, err) = Run("convert", TestPaths.Stories260K, "-o", dir);

        Assert.True(code == GgufCli.Success, err);
        Assert.True(File.GetLastWriteTimeUtc(Path.Combine(dir, "model.onnx")) > stamp);
    }

    [Fact]
    public void PreviousOutputWithAFileOfTheUsersIsRefusedAndLeftAlone()
    {
        // The second README walk: notes added to an earlier output folder were deleted by the next conversion.
        var dir = TestPaths.NewTempDir("convert-again-notes");
        var (code, _, err) = Run("convert", TestPaths.Stories260K, "-o", dir);
        Assert.True(code == GgufCli.Success, err);
        File.WriteAllText(Path.Combine(dir, "README.txt"), "mine");
        Directory.CreateDirectory(Path.Combine(dir, "sub"));

        (code, _, err) = Run("convert", TestPaths.Stories260K, "-o", dir);

        Assert.Equal(GgufCli.BadInput, code);
        Assert.Contains("earlier conversion output with other files in it (README.txt, sub)", err, StringComparison.Ordinal);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(dir, "README.txt")));
        Assert.True(Directory.Exists(Path.Combine(dir, "sub")));
    }

    [Fact]
    public void AGitWorkingTreeIsRefusedEvenWithForce()
    {
        var dir = TestPaths.NewTempDir("convert-git");
        Directory.CreateDirectory(Path.Combine(dir, ".git"));
        File.WriteAllText(Path.Combine(dir, "a.cs"), "class A {}");

        var (code, _, err) = Run("convert", TestPaths.Stories260K, "-o", dir, "--force");

        Assert.Equal(GgufCli.BadInput, code);
        Assert.Contains("a git working tree", err, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(dir, "a.cs")));
    }

    [Fact]
    public void TheCurrentFolderAndTheFoldersAboveItAreRefusedEvenWithForce()
    {
        // Through CliIO's working directory would not do: the guard protects the process's real current folder.
        var cwd = Directory.GetCurrentDirectory();
        foreach (var dir in new[] { cwd, Path.GetDirectoryName(cwd)! })
        {
            var (code, _, err) = Run("convert", TestPaths.Stories260K, "-o", dir, "--force");
            Assert.Equal(GgufCli.BadInput, code);
            Assert.Contains("would delete it", err, StringComparison.Ordinal);
        }

        Assert.True(Directory.Exists(cwd));
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

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ATrailingSeparatorNamesTheSameFolder(bool exists)
    {
        // `-o out/` (what shell completion types): the output is out itself, not a staging folder inside it.
        var parent = TestPaths.NewTempDir("convert-trailing");
        var dir = Path.Combine(parent, "out");
        if (exists)
        {
            Directory.CreateDirectory(dir);
        }

        var (code, _, err) = Run("convert", TestPaths.Stories260K, "-o", dir + Path.DirectorySeparatorChar);

        Assert.True(code == GgufCli.Success, err);
        Assert.True(File.Exists(Path.Combine(dir, "conversion.json")));
        Assert.Equal(["out"], Directory.GetFileSystemEntries(parent).Select(Path.GetFileName));
        Assert.DoesNotContain(Directory.GetFileSystemEntries(dir), e => Path.GetFileName(e).StartsWith('.'));
    }

    [Fact]
    public void ForceOnASymlinkedOutputFolderNeverDeletesWhatTheLinkPointsTo()
    {
        var parent = TestPaths.NewTempDir("convert-symlink");
        var target = Path.Combine(parent, "real");
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "notes.txt"), "mine");
        var link = Path.Combine(parent, "out");
        Directory.CreateSymbolicLink(link, target);

        var (code, _, err) = Run("convert", TestPaths.Stories260K, "-o", link, "--force");

        Assert.Equal("mine", File.ReadAllText(Path.Combine(target, "notes.txt")));
        if (code == GgufCli.Success)
        {
            Assert.True(File.Exists(Path.Combine(link, "conversion.json")), err);
        }
    }

    [Fact]
    public void AnEmptyCurrentFolderIsRefusedToo()
    {
        // `convert x.gguf -o .` in an empty folder renamed the shell's folder away: the shell was left in a deleted folder.
        var cwd = TestPaths.NewTempDir("convert-empty-cwd");

        var e = Assert.Throws<Gguf2Qnn.Conversion.OutputFolderException>(() =>
            Gguf2Qnn.Conversion.OutputFolderGuard.Check(TestPaths.Stories260K, cwd + Path.DirectorySeparatorChar + ".", force: true, currentDirectory: cwd));

        Assert.Contains("the current folder", e.Message, StringComparison.Ordinal);
        Gguf2Qnn.Conversion.OutputFolderGuard.Check(TestPaths.Stories260K, Path.Combine(cwd, "new"), force: false, currentDirectory: cwd); // below it: fine
    }
}
