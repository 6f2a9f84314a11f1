using System.Diagnostics.CodeAnalysis;

namespace Gguf2Qnn.Tokenization;

/// <summary>One method per tokenizer failure, so that throw sites stay small and messages are built in one place.</summary>
internal static class TokenizerThrowHelper
{
    [DoesNotReturn]
    public static void ThrowUnsupportedModel(string model) => throw new NotSupportedException(
        $"tokenizer.ggml.model '{model}' is not supported (supported: 'llama' = SentencePiece, 'gpt2' = byte-level BPE, 'bert' = WordPiece).");

    [DoesNotReturn]
    public static void ThrowUnsupportedPre(string pre) => throw new NotSupportedException(
        $"tokenizer.ggml.pre '{pre}' is not supported for the 'gpt2' tokenizer model.");

    [DoesNotReturn]
    public static void ThrowInvalidVocab(string message) => throw new ArgumentException("Invalid tokenizer vocabulary: " + message, "vocab");

    [DoesNotReturn]
    public static void ThrowNoBosToken() => throw new InvalidOperationException(
        "A BOS token was requested, but the vocabulary has none (tokenizer.ggml.bos_token_id).");

    [DoesNotReturn]
    public static void ThrowTokenIdOutOfRange(int id, int vocabSize) => throw new ArgumentOutOfRangeException(
        nameof(id), id, $"Token id {id} is outside the vocabulary [0, {vocabSize}).");

    [DoesNotReturn]
    public static void ThrowNoByteToken(byte value) => throw new InvalidOperationException(
        $"The vocabulary has neither a byte token <0x{value:X2}> nor an unknown token to stand for byte 0x{value:X2}.");
}
