using System.Globalization;
using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Hub;

/// <summary>
/// Picks the .gguf file(s) to pull from a repository's file list, from the part after <c>REPO:</c>:
/// <list type="bullet">
/// <item>a name ending in <c>.gguf</c>: that file (its full path in the repository, or else a unique base name);</item>
/// <item>anything else is a quant tag (<c>Q4_0</c>, <c>q4_k_m</c>): the model whose name, less <c>.gguf</c> and any split
/// suffix, ends in the tag after <c>-</c>, <c>.</c>, <c>_</c> or <c>/</c>, or which lies in a folder named so — case-insensitive;</item>
/// <item>nothing: the repository's only .gguf model.</item>
/// </list>
/// A split model (<c>PREFIX-00001-of-0000N.gguf</c> …) counts as one model: picking any of its parts, or a tag that matches
/// it, returns all N parts in order. No match, or more than one model, throws <see cref="HubSelectionException"/> listing
/// the candidates.
/// </summary>
public static class HubFileSelector
{
    private const string GgufExtension = ".gguf";

    /// <summary>Picks the file(s) named by <paramref name="selector"/> among <paramref name="repoFiles"/> (paths in the repository).</summary>
    /// <returns>The picked paths: one file, or every part of a split set in part order.</returns>
    /// <exception cref="HubSelectionException">No match, several models match, or a split set has parts missing from the listing.</exception>
    public static IReadOnlyList<string> Select(IReadOnlyCollection<string> repoFiles, string? selector)
    {
        ArgumentNullException.ThrowIfNull(repoFiles);
        var models = GroupModels(repoFiles);
        var candidates = models.Select(m => m.Display).ToArray();
        if (string.IsNullOrEmpty(selector))
        {
            return models.Count switch
            {
                0 => throw new HubSelectionException("The repository has no .gguf file.", candidates),
                1 => models[0].Complete(),
                _ => throw new HubSelectionException($"The repository has {models.Count} .gguf models; pick one with REPO:FILE or REPO:QUANT:", candidates),
            };
        }

        if (selector.EndsWith(GgufExtension, StringComparison.OrdinalIgnoreCase))
        {
            var exact = models.Where(m => m.Files.Contains(selector, StringComparer.Ordinal)).ToList();
            if (exact.Count == 0)
            {
                exact = models.Where(m => m.Files.Any(f => BaseName(f) == selector)).ToList();
            }

            return exact.Count switch
            {
                1 => exact[0].Complete(),
                0 => throw new HubSelectionException($"No file '{selector}' in the repository; its .gguf models:", candidates),
                _ => throw new HubSelectionException($"'{selector}' names files in several folders; give the full path:", exact.Select(m => m.Display).ToArray()),
            };
        }

        var tagged = models.Where(m => m.HasQuantTag(selector)).ToList();
        return tagged.Count switch
        {
            1 => tagged[0].Complete(),
            0 => throw new HubSelectionException($"No .gguf model in the repository matches the quant tag '{selector}'; its .gguf models:", candidates),
            _ => throw new HubSelectionException($"The quant tag '{selector}' matches {tagged.Count} models; pick one with REPO:FILE:", tagged.Select(m => m.Display).ToArray()),
        };
    }

    /// <summary>Groups the .gguf files into models: each unsplit file alone, each split set (same prefix and part count) together.</summary>
    private static List<Model> GroupModels(IEnumerable<string> files)
    {
        var models = new List<Model>();
        var sets = new Dictionary<(string Prefix, int Count), Model>();
        foreach (var f in files.Where(f => f.EndsWith(GgufExtension, StringComparison.OrdinalIgnoreCase)))
        {
            if (GgufModel.TryParseSplitPath(f, out var prefix, out _, out var count))
            {
                if (!sets.TryGetValue((prefix, count), out var set))
                {
                    set = new Model(prefix, count);
                    sets.Add((prefix, count), set);
                    models.Add(set);
                }

                set.Files.Add(f);
            }
            else
            {
                var single = new Model(f[..^GgufExtension.Length], 0);
                single.Files.Add(f);
                models.Add(single);
            }
        }

        return models;
    }

    private static string BaseName(string path) => path[(path.LastIndexOf('/') + 1)..];

    /// <summary>One model: an unsplit file (<see cref="SplitCount"/> 0) or a split set.</summary>
    private sealed class Model(string stem, int splitCount)
    {
        public List<string> Files { get; } = [];

        public int SplitCount { get; } = splitCount;

        public string Display => SplitCount == 0 ? Files[0]
            : string.Create(CultureInfo.InvariantCulture, $"{GgufModel.SplitPath(stem, 0, SplitCount)} ({SplitCount} parts)");

        public bool HasQuantTag(string tag)
        {
            if (stem.Length > tag.Length && stem.EndsWith(tag, StringComparison.OrdinalIgnoreCase) && stem[^(tag.Length + 1)] is '-' or '.' or '_' or '/')
            {
                return true;
            }

            var folders = stem.Split('/')[..^1];
            return folders.Any(d => string.Equals(d, tag, StringComparison.OrdinalIgnoreCase));
        }

        /// <summary>The files in part order; all parts of a split set must be listed.</summary>
        public IReadOnlyList<string> Complete()
        {
            if (SplitCount == 0)
            {
                return Files;
            }

            var parts = Enumerable.Range(0, SplitCount).Select(i => GgufModel.SplitPath(stem, i, SplitCount)).ToArray();
            var missing = parts.Where(p => !Files.Contains(p, StringComparer.Ordinal)).ToArray();
            if (missing.Length > 0)
            {
                throw new HubSelectionException($"The split model {Display} is incomplete in the repository listing; missing:", missing);
            }

            return parts;
        }
    }
}
