namespace Gguf2Qnn.Tests;

/// <summary>Locates the repository root and the shared test data (../shared beside the clone).</summary>
internal static class TestPaths
{
    private static readonly Lazy<string> Root = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Gguf2Qnn.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Gguf2Qnn.sln not found above " + AppContext.BaseDirectory);
    });

    /// <summary>The repository root (the folder holding Gguf2Qnn.sln).</summary>
    public static string RepoRoot => Root.Value;

    /// <summary>../shared beside the repository.</summary>
    public static string Shared => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    /// <summary>../shared/models.</summary>
    public static string Models => Path.Combine(Shared, "models");

    /// <summary>../shared/models/stories260K.gguf (trained 260K llama, 48 F32 tensors).</summary>
    public static string Stories260K => Path.Combine(Models, "stories260K.gguf");

    /// <summary>../shared/models/llama-2-tiny-random.gguf (F16, full Llama-2 vocab).</summary>
    public static string LlamaTinyRandom => Path.Combine(Models, "llama-2-tiny-random.gguf");

    /// <summary>../shared/models/vocab.</summary>
    public static string Vocab => Path.Combine(Models, "vocab");

    /// <summary>A fresh temporary folder, deleted by the caller (or left for the OS).</summary>
    public static string NewTempDir(string prefix)
    {
        var path = Path.Combine(Path.GetTempPath(), "gguf2qnn-tests", prefix + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Deletes a test folder and everything in it; a folder still in use (IOException) is left for the OS.</summary>
    public static void DeleteQuietly(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
