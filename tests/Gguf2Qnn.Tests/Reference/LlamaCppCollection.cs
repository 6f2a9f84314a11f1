using Gguf2Qnn.Reference;
using Xunit;

namespace Gguf2Qnn.Tests.Reference;

/// <summary>
/// The llama.cpp tests share one loaded stories260K and run one at a time: llama.cpp's logger (and so
/// <see cref="LlamaCppLog"/>'s failure capture) is process-wide.
/// </summary>
[CollectionDefinition(Name)]
public sealed class LlamaCppCollection : ICollectionFixture<StoriesModelFixture>
{
    /// <summary>The collection name.</summary>
    public const string Name = "llama.cpp";
}

/// <summary>stories260K.gguf (F32, vocab 512, ffn 172) loaded once into llama.cpp with the default options.</summary>
public sealed class StoriesModelFixture : IDisposable
{
    /// <summary>The loaded model.</summary>
    public LlamaCppModel Model { get; } = LlamaCppModel.Load(TestPaths.Stories260K, new LlamaCppOptions { Threads = 2 });

    /// <inheritdoc />
    public void Dispose() => Model.Dispose();
}
