using System.Collections.Concurrent;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Tokenization;

namespace Gguf2Qnn.Tests.Tokenization;

/// <summary>Tokenizers read from the shared GGUF files, built once per test run (a large vocabulary takes about a second).</summary>
internal static class TestTokenizers
{
    private static readonly ConcurrentDictionary<string, Lazy<GgufTokenizer>> Cache = new(StringComparer.Ordinal);

    /// <summary>The tokenizer of <c>ggml-vocab-{name}.gguf</c>.</summary>
    public static GgufTokenizer ForVocab(string name) => ForPath(VocabVectors.GgufPath(name));

    /// <summary>The tokenizer of the GGUF file at <paramref name="path"/>.</summary>
    public static GgufTokenizer ForPath(string path) => Cache.GetOrAdd(path, p => new Lazy<GgufTokenizer>(() =>
    {
        using var file = GgufFile.Open(p);
        return GgufTokenizer.Create(file);
    })).Value;
}
