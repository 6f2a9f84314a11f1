namespace Gguf2Qnn.Reference;

/// <summary>
/// llama.cpp (through LLamaSharp) reported a failure: a model that does not load, a <c>llama_decode</c> that
/// returns an error, a quantization that llama.cpp refuses. The message carries llama.cpp's own error text
/// (captured from its log) where it gave one.
/// </summary>
public sealed class LlamaCppException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    public LlamaCppException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the exception that caused it.</summary>
    public LlamaCppException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with a message and the llama.cpp log lines recorded while the call ran.</summary>
    /// <param name="message">What failed.</param>
    /// <param name="nativeLog">llama.cpp's warning and error lines recorded during the call (may be empty).</param>
    public LlamaCppException(string message, string nativeLog)
        : base(Compose(message, nativeLog))
    {
        NativeLog = nativeLog;
    }

    /// <summary>Creates the exception with a message, the recorded llama.cpp log lines and the exception that caused it.</summary>
    /// <param name="message">What failed.</param>
    /// <param name="nativeLog">llama.cpp's warning and error lines recorded during the call (may be empty).</param>
    /// <param name="innerException">The LLamaSharp exception.</param>
    public LlamaCppException(string message, string nativeLog, Exception innerException)
        : base(Compose(message, nativeLog), innerException)
    {
        NativeLog = nativeLog;
    }

    /// <summary>llama.cpp's warning and error lines recorded while the failing call ran; empty when none.</summary>
    public string NativeLog { get; } = string.Empty;

    private static string Compose(string message, string nativeLog) =>
        string.IsNullOrWhiteSpace(nativeLog) ? message : message + " llama.cpp said: " + nativeLog;
}
