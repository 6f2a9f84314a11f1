using Gguf2Qnn.Architectures;
using Gguf2Qnn.Conversion;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Tokenization;

namespace Gguf2Qnn.Artifacts;

/// <summary>
/// <c>tokenizer.json</c> and <c>tokenizer_config.json</c> in an artifact folder: the GGUF's own tokenizer in Hugging
/// Face form (<see cref="HuggingFaceExport"/>), with <c>chat_template</c> from <c>tokenizer.chat_template</c> and
/// <c>model_max_length</c> from <c>{arch}.context_length</c>, so that tools reading Hugging Face folders (ONNX
/// Runtime GenAI, transformers, Genie) tokenize as llama.cpp does.
/// </summary>
public sealed class HuggingFaceTokenizerArtifact : IArtifactWriter
{
    /// <summary>The shared instance.</summary>
    public static HuggingFaceTokenizerArtifact Instance { get; } = new();

    /// <summary>Writes both files into <paramref name="directory"/> from <paramref name="source"/>.</summary>
    /// <param name="source">The open GGUF file.</param>
    /// <param name="directory">The target folder.</param>
    /// <param name="modelMaxLength">The context length written as <c>model_max_length</c>; null leaves it out.</param>
    /// <returns>The file names written.</returns>
    /// <exception cref="NotSupportedException">The GGUF's tokenizer model or pre-tokenizer is not supported.</exception>
    /// <exception cref="GgufFormatException">A <c>tokenizer.ggml.*</c> key is missing or has the wrong type.</exception>
    public static IReadOnlyList<string> Write(IGgufSource source, string directory, int? modelMaxLength)
    {
        ArgumentNullException.ThrowIfNull(source);
        var tokenizer = GgufTokenizer.Create(source);
        var options = new HuggingFaceTokenizerConfigOptions
        {
            ChatTemplate = source.TryGetString(GgufKeys.ChatTemplate, out string template) ? template : null,
            ModelMaxLength = modelMaxLength,
        };
        return HuggingFaceExport.Write(tokenizer, directory, options);
    }

    /// <inheritdoc />
    IReadOnlyList<string> IArtifactWriter.Write(IGgufSource gguf, ModelConfig config, string stagingDirectory) =>
        Write(gguf, stagingDirectory, config.ContextLength);
}
