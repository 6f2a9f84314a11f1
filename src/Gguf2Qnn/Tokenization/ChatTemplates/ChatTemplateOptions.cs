namespace Gguf2Qnn.Tokenization.ChatTemplates;

/// <summary>
/// The variables a chat template is rendered with besides <c>messages</c>, named as Hugging Face's
/// <c>apply_chat_template</c> passes them.
/// </summary>
public sealed record ChatTemplateOptions
{
    /// <summary><c>add_generation_prompt</c>: end with the header that opens the assistant's turn.</summary>
    public bool AddGenerationPrompt { get; init; }

    /// <summary><c>bos_token</c>: the text of the BOS token ("" when the model has none).</summary>
    public string BosToken { get; init; } = string.Empty;

    /// <summary><c>eos_token</c>: the text of the EOS token ("" when the model has none).</summary>
    public string EosToken { get; init; } = string.Empty;

    /// <summary>
    /// Further variables (<c>tools</c>, <c>enable_thinking</c>, <c>documents</c>…): strings, booleans, integers,
    /// floating-point numbers, null, lists, string-keyed dictionaries, <see cref="ChatMessage"/> or
    /// System.Text.Json nodes. They override the defaults <c>tools = none</c> and <c>documents = none</c>.
    /// </summary>
    public IReadOnlyDictionary<string, object?>? Variables { get; init; }

    /// <summary>The time <c>strftime_now</c> reports (default: the current local time).</summary>
    public DateTimeOffset? Now { get; init; }

    /// <summary>Bounds for the render (default <see cref="TemplateLimits.Default"/>).</summary>
    public TemplateLimits? Limits { get; init; }

    /// <summary>
    /// BOS and EOS texts from <paramref name="tokenizer"/> (the vocabulary entries named by
    /// <c>tokenizer.ggml.bos_token_id</c> and <c>tokenizer.ggml.eos_token_id</c>), as llama.cpp passes them.
    /// </summary>
    public static ChatTemplateOptions ForTokenizer(GgufTokenizer tokenizer, bool addGenerationPrompt)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return new ChatTemplateOptions
        {
            AddGenerationPrompt = addGenerationPrompt,
            BosToken = tokenizer.BosTokenId is { } bos ? tokenizer.GetTokenText(bos) : string.Empty,
            EosToken = tokenizer.EosTokenId is { } eos ? tokenizer.GetTokenText(eos) : string.Empty,
        };
    }
}
