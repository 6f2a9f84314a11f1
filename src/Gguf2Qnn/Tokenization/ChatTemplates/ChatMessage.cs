namespace Gguf2Qnn.Tokenization.ChatTemplates;

/// <summary>
/// One turn of a conversation, as chat templates see it: a dict with <c>role</c> ("system", "user", "assistant",
/// "tool") and <c>content</c> (Hugging Face's message format).
/// </summary>
/// <param name="Role">The speaker.</param>
/// <param name="Content">The text.</param>
public sealed record ChatMessage(string Role, string Content)
{
    /// <summary>A "system" message.</summary>
    public static ChatMessage System(string content) => new("system", content);

    /// <summary>A "user" message.</summary>
    public static ChatMessage User(string content) => new("user", content);

    /// <summary>An "assistant" message.</summary>
    public static ChatMessage Assistant(string content) => new("assistant", content);
}
