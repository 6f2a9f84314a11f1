using Gguf2Qnn.Architectures;
using Gguf2Qnn.Conversion;
using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Artifacts;

/// <summary>
/// <c>tokenizer.gguf</c> in an artifact folder: a vocab-only GGUF (no tensors) holding the source file's
/// <c>general.architecture</c>, <c>general.name</c> and every <c>tokenizer.*</c> key unchanged, so that
/// <c>gguf2qnn run</c> tokenizes exactly as the source GGUF does without the weights file.
/// </summary>
public sealed class TokenizerArtifact : IArtifactWriter
{
    /// <summary>The shared instance.</summary>
    public static TokenizerArtifact Instance { get; } = new();

    /// <summary>File name inside the artifact folder.</summary>
    public const string FileName = "tokenizer.gguf";

    /// <summary>Writes <see cref="FileName"/> into <paramref name="directory"/> from <paramref name="source"/>.</summary>
    public static void Write(IGgufSource source, string directory)
    {
        ArgumentNullException.ThrowIfNull(source);
        var w = new GgufWriter();
        foreach (var (key, value) in source.Metadata)
        {
            if (key is GgufKeys.Architecture or GgufKeys.Name || key.StartsWith("tokenizer.", StringComparison.Ordinal))
            {
                w.AddValue(key, value);
            }
        }

        w.WriteTo(Path.Combine(directory, FileName));
    }

    /// <inheritdoc />
    IReadOnlyList<string> IArtifactWriter.Write(IGgufSource gguf, ModelConfig config, string stagingDirectory)
    {
        Write(gguf, stagingDirectory);
        return [FileName];
    }
}
