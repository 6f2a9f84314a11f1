using System.Text.Json.Nodes;
using Gguf2Qnn.Artifacts;
using Gguf2Qnn.Conversion;

namespace Gguf2Qnn.Cli;

/// <summary>
/// What the commands read from an artifact folder's <c>conversion.json</c> (written by <see cref="OnnxConverter"/>):
/// the source GGUF (<c>source.path</c>, <c>source.bytes</c>, <c>source.sha256</c>, the first part of a split set) and
/// the <c>target</c>; and the check that a folder is an artifact folder at all.
/// </summary>
internal static class ArtifactFolder
{
    /// <summary>The source GGUF a folder was converted from, as recorded.</summary>
    /// <param name="Path">Full path at conversion time (it may have moved since).</param>
    /// <param name="Bytes">Its size in bytes.</param>
    /// <param name="Sha256">Its SHA-256 as lowercase hex.</param>
    internal sealed record Source(string Path, long Bytes, string Sha256);

    /// <summary>The recorded source, or null when the folder has no readable conversion.json with a source.</summary>
    internal static Source? ReadSource(string dir) =>
        ReadManifest(dir)?["source"] is JsonObject s && Value<string>(s["path"]) is { } path && Value<long>(s["bytes"]) is long bytes && Value<string>(s["sha256"]) is { Length: 64 } sha
            ? new Source(path, bytes, sha)
            : null;

    /// <summary>conversion.json's <c>target</c> (<c>cpu</c>, <c>qnn</c>), or null when absent.</summary>
    internal static string? ReadTarget(string dir) => Value<string>(ReadManifest(dir)?["target"]);

    /// <summary>
    /// Fails (exit code 2) when <paramref name="dir"/> records a source other than <paramref name="gguf"/>: a
    /// different size, or the same size and a different SHA-256 (hashed only when the path differs from the recorded
    /// one). A folder without conversion.json is not checked.
    /// </summary>
    /// <exception cref="CliException">The folder was converted from another file.</exception>
    internal static void RequireSource(string dir, string gguf)
    {
        if (ReadSource(dir) is not { } source)
        {
            return;
        }

        var info = new FileInfo(gguf);
        bool samePath = string.Equals(Path.GetFullPath(gguf), source.Path, OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);
        bool same = info.Length == source.Bytes && (samePath || string.Equals(OnnxConverter.HashFile(gguf), source.Sha256, StringComparison.OrdinalIgnoreCase));
        if (!same)
        {
            throw new CliException($"'{dir}' was converted from {source.Path} ({source.Bytes:N0} bytes, sha256 {source.Sha256[..12]}…), not from {gguf}; pass the GGUF it was converted from.", GgufCli.BadInput);
        }
    }

    /// <summary>Fails (exit code 2) when <paramref name="dir"/> is not an artifact folder written by <c>gguf2qnn convert</c>.</summary>
    /// <exception cref="CliException">Neither genai_config.json nor tokenizer.gguf is there.</exception>
    internal static void Require(string dir)
    {
        if (!File.Exists(Path.Combine(dir, "genai_config.json")) || !File.Exists(Path.Combine(dir, TokenizerArtifact.FileName)))
        {
            throw new CliException($"'{dir}' is not an artifact folder written by gguf2qnn convert (no genai_config.json/{TokenizerArtifact.FileName})", GgufCli.BadInput);
        }
    }

    private static JsonObject? ReadManifest(string dir)
    {
        var path = Path.Combine(dir, OnnxConverter.ManifestFileName);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    // The node's value as T when it is a JSON value of that type, else null (default).
    private static T? Value<T>(JsonNode? node) => node is JsonValue v && v.TryGetValue(out T? x) ? x : default;
}
