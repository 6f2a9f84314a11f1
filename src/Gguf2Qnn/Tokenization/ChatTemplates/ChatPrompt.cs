namespace Gguf2Qnn.Tokenization.ChatTemplates;

/// <summary>
/// A conversation rendered with the model's chat template and tokenized for generation, as llama.cpp's chat path
/// does it: <c>bos_token</c> / <c>eos_token</c> are the vocabulary's BOS and EOS texts; when the tokenizer adds BOS
/// itself (<c>tokenizer.ggml.add_bos_token</c>) a BOS text at the start of the rendered prompt is dropped so it is
/// not doubled (likewise a trailing EOS text with <c>add_eos_token</c>); the text is then tokenized with special
/// tokens parsed.
/// </summary>
public static class ChatPrompt
{
    /// <summary>Renders <paramref name="messages"/> with BOS/EOS texts taken from <paramref name="tokenizer"/>.</summary>
    /// <exception cref="TemplateException">The template fails (a runtime error, <c>raise_exception</c>, a bound hit).</exception>
    public static string Render(ChatTemplate template, GgufTokenizer tokenizer, IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        ArgumentNullException.ThrowIfNull(template);
        return template.Render(messages, ChatTemplateOptions.ForTokenizer(tokenizer, addGenerationPrompt));
    }

    /// <summary>Token ids of a rendered prompt (special tokens parsed, BOS/EOS added as the GGUF asks and not doubled).</summary>
    public static int[] Encode(GgufTokenizer tokenizer, string prompt)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(prompt);
        if (tokenizer.AddBosToken && tokenizer.BosTokenId is int bos && tokenizer.GetTokenText(bos) is { Length: > 0 } bosText
            && prompt.StartsWith(bosText, StringComparison.Ordinal))
        {
            prompt = prompt[bosText.Length..];
        }

        bool addEos = tokenizer.AddEosToken && tokenizer.EosTokenId is not null;
        if (addEos && tokenizer.GetTokenText(tokenizer.EosTokenId!.Value) is { Length: > 0 } eosText && prompt.EndsWith(eosText, StringComparison.Ordinal))
        {
            prompt = prompt[..^eosText.Length];
        }

        var ids = tokenizer.Encode(prompt, tokenizer.AddBosToken, parseSpecial: true);
        return addEos ? [.. ids, tokenizer.EosTokenId!.Value] : ids;
    }
}
