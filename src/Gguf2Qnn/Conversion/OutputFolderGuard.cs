namespace Gguf2Qnn.Conversion;

/// <summary>
/// The output folder of a conversion cannot be used: it holds files that are not a previous conversion output (and
/// replacing was not forced), it is a file, or it holds the source GGUF. Nothing was written or deleted.
/// </summary>
public sealed class OutputFolderException(string message, string path) : IOException(message)
{
    /// <summary>The output folder (full path).</summary>
    public string Path { get; } = path;
}

/// <summary>
/// Decides whether a conversion may replace its output folder: a missing or empty folder, or a previous conversion
/// output that holds nothing but the files its <c>conversion.json</c> lists, may be replaced; any other folder only
/// with force. Never replaced, even with force: a folder that holds the source GGUF, a file in place of the folder, a
/// file-system root, the user's home folder or the current folder (or a folder above either), and a folder with a
/// <c>.git</c> entry.
/// </summary>
internal static class OutputFolderGuard
{
    /// <summary>Throws when <paramref name="output"/> may not be replaced by a conversion of <paramref name="gguf"/>.</summary>
    /// <param name="gguf">The source GGUF.</param>
    /// <param name="output">The output folder (relative to the process's current folder).</param>
    /// <param name="force">Replace a folder that is not a conversion output.</param>
    /// <param name="currentDirectory">The current folder to protect; null: the process's (tests pass their own).</param>
    /// <exception cref="OutputFolderException">See the class summary.</exception>
    public static void Check(string gguf, string output, bool force, string? currentDirectory = null)
    {
        string dir = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(output));
        string source = System.IO.Path.GetFullPath(gguf);
        if (File.Exists(dir))
        {
            throw new OutputFolderException($"'{output}' exists and is a file, not a folder; choose an empty or new folder.", dir);
        }

        if (IsSameOrInside(source, dir))
        {
            throw new OutputFolderException($"'{output}' holds the source GGUF '{gguf}', which converting into it would delete; choose an empty or new folder.", dir);
        }

        if (!Directory.Exists(dir))
        {
            return;
        }

        // Also when empty: replacing the current folder leaves the shell in a deleted folder, where the output is not.
        if (IsProtected(dir, currentDirectory ?? Directory.GetCurrentDirectory()) is { } why)
        {
            throw new OutputFolderException($"'{output}' is {why}; converting into it would delete it. Choose an empty or new folder.", dir);
        }

        if (!Directory.EnumerateFileSystemEntries(dir).Any())
        {
            return;
        }

        if (force)
        {
            return;
        }

        var foreign = ForeignEntries(dir);
        if (foreign.Count > 0)
        {
            string what = File.Exists(System.IO.Path.Combine(dir, OnnxConverter.ManifestFileName))
                ? $"an earlier conversion output with other files in it ({string.Join(", ", foreign.Take(3))}{(foreign.Count > 3 ? ", …" : string.Empty)})"
                : "a folder that holds files that are not a conversion output";
            throw new OutputFolderException($"'{output}' is {what}; choose an empty or new folder (or --force to replace it, deleting everything in it).", dir);
        }
    }

    // Why a non-empty folder must never be replaced, or null.
    private static string? IsProtected(string dir, string currentDirectory)
    {
        if (System.IO.Path.GetPathRoot(dir) is { } root && string.Equals(System.IO.Path.TrimEndingDirectorySeparator(root), dir, Comparison))
        {
            return "a file-system root";
        }

        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (!string.IsNullOrEmpty(home) && (IsSameOrInside(System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(home)), dir)))
        {
            return "your home folder or a folder above it";
        }

        if (IsSameOrInside(System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(currentDirectory)), dir))
        {
            return "the current folder or a folder above it";
        }

        return Directory.Exists(System.IO.Path.Combine(dir, ".git")) || File.Exists(System.IO.Path.Combine(dir, ".git"))
            ? "a git working tree (it has .git)"
            : null;
    }

    // The entries of `dir` that its conversion.json does not list (everything, when there is no readable manifest).
    private static List<string> ForeignEntries(string dir)
    {
        var listed = new HashSet<string>(StringComparer.Ordinal) { OnnxConverter.ManifestFileName };
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(System.IO.Path.Combine(dir, OnnxConverter.ManifestFileName)));
            foreach (var f in doc.RootElement.GetProperty("files").EnumerateArray())
            {
                if (f.GetString() is { } name)
                {
                    listed.Add(name);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
        {
            listed.Clear();
        }

        return Directory.EnumerateFileSystemEntries(dir)
            .Select(e => System.IO.Path.GetFileName(e))
            .Where(name => !listed.Contains(name) || Directory.Exists(System.IO.Path.Combine(dir, name)))
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    private static StringComparison Comparison =>
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    // True when `path` is `dir` or lies below it (paths compared as the file system does: case-insensitively on
    // Windows and macOS).
    private static bool IsSameOrInside(string path, string dir)
    {
        string prefix = dir + System.IO.Path.DirectorySeparatorChar;
        return path.StartsWith(prefix, Comparison) || string.Equals(path, dir, Comparison);
    }
}
