using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Cli;

/// <summary>
/// Finds the model <c>convert</c> and <c>run</c> use when none is named: the .gguf files directly in a
/// <c>models</c> folder (not its subfolders). A split set <c>PREFIX-0000K-of-0000N.gguf</c> counts as one model,
/// named by its first part (<see cref="GgufModel.SplitPath"/> with index 0), which opens the whole set.
/// </summary>
internal static class ModelDiscovery
{
    /// <summary>The folder, under the working directory, searched for models.</summary>
    public const string FolderName = "models";

    /// <summary>
    /// The models in <paramref name="modelsFolder"/>, sorted by file name (ordinal): full paths of single-file
    /// models and of the first part of each split set. Empty when the folder does not exist or holds no .gguf.
    /// </summary>
    public static IReadOnlyList<string> Candidates(string modelsFolder)
    {
        ArgumentNullException.ThrowIfNull(modelsFolder);
        if (!Directory.Exists(modelsFolder))
        {
            return [];
        }

        var models = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(modelsFolder))
        {
            var name = Path.GetFileName(file);
            if (!name.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) || name.StartsWith('.'))
            {
                continue;
            }

            // A part of a split set stands for the set: every part maps to the name of part 1, so the set is one entry.
            models.Add(Path.GetFullPath(GgufModel.TryParseSplitPath(file, out var prefix, out _, out var count)
                ? GgufModel.SplitPath(prefix, 0, count)
                : file));
        }

        return [.. models];
    }

    /// <summary>
    /// The model to use when none is named: the single candidate in <paramref name="modelsFolder"/>, or null when
    /// there is none (the caller falls back to the demo model). Several candidates are listed on
    /// <see cref="CliIO.Err"/> and fail with exit code 2.
    /// </summary>
    /// <exception cref="CliException">Several models (exit code <see cref="GgufCli.BadInput"/>).</exception>
    public static string? Resolve(CliIO io, string modelsFolder)
    {
        ArgumentNullException.ThrowIfNull(io);
        var found = Candidates(modelsFolder);
        switch (found.Count)
        {
            case 0:
                return null;
            case 1:
                io.Err.WriteLine($"Model: {found[0]} (the only one in {modelsFolder}).");
                return found[0];
            default:
                io.Err.WriteLine($"{found.Count} models in {modelsFolder}:");
                foreach (var m in found)
                {
                    io.Err.WriteLine("  " + Path.GetFileName(m));
                }

                throw new CliException($"{found.Count} models in {modelsFolder}; name the one to use.", GgufCli.BadInput);
        }
    }

    /// <summary>The file name without <c>.gguf</c> and without a split suffix (<c>-00001-of-00003</c>).</summary>
    public static string Stem(string ggufPath)
    {
        ArgumentNullException.ThrowIfNull(ggufPath);
        var path = GgufModel.TryParseSplitPath(ggufPath, out var prefix, out _, out _) ? prefix : ggufPath;
        var name = Path.GetFileName(path);
        return name.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) ? name[..^".gguf".Length] : name;
    }
}
