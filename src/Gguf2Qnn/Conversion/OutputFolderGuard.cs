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
/// output (it has <c>conversion.json</c>), may be replaced; any other folder only with force. A folder that holds the
/// source GGUF (or a file in place of the folder) is never replaced.
/// </summary>
internal static class OutputFolderGuard
{
    /// <summary>Throws when <paramref name="output"/> may not be replaced by a conversion of <paramref name="gguf"/>.</summary>
    /// <exception cref="OutputFolderException">See the class summary.</exception>
    public static void Check(string gguf, string output, bool force)
    {
        string dir = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(output));
        string source = System.IO.Path.GetFullPath(gguf);
        if (File.Exists(dir))
        {
            throw new OutputFolderException($"'{output}' exists and is a file, not a folder; choose an empty or new folder.", dir);
        }

        if (IsInside(source, dir))
        {
            throw new OutputFolderException($"'{output}' holds the source GGUF '{gguf}', which converting into it would delete; choose an empty or new folder.", dir);
        }

        if (force || !Directory.Exists(dir) || !Directory.EnumerateFileSystemEntries(dir).Any())
        {
            return;
        }

        if (!File.Exists(System.IO.Path.Combine(dir, OnnxConverter.ManifestFileName)))
        {
            throw new OutputFolderException($"'{output}' exists and holds files that are not a conversion output; choose an empty or new folder (or --force to replace it).", dir);
        }
    }

    // True when `file` lies in `dir` or below it (paths compared as the file system does: case-insensitively on
    // Windows and macOS).
    private static bool IsInside(string file, string dir)
    {
        var comparison = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        string prefix = dir + System.IO.Path.DirectorySeparatorChar;
        return file.StartsWith(prefix, comparison) || string.Equals(file, dir, comparison);
    }
}
