using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Tokenization.ChatTemplates;

/// <summary>
/// A parsed chat template (the Jinja text in <c>tokenizer.chat_template</c>), rendered by a sandboxed interpreter
/// with the semantics of Hugging Face's <c>apply_chat_template</c> environment: <c>trim_blocks</c>,
/// <c>lstrip_blocks</c>, loop controls, <c>raise_exception</c>, <c>strftime_now</c> and a <c>tojson</c> that is
/// <c>json.dumps(ensure_ascii=False)</c>. The template is treated as untrusted: it sees only data (strings,
/// numbers, lists, dicts, namespaces), never .NET objects, files or processes, and every render is bounded by
/// <see cref="TemplateLimits"/>. Thread-safe: a parsed template can be rendered concurrently.
/// </summary>
public sealed class ChatTemplate
{
    private readonly IReadOnlyList<Node> _nodes;
    private readonly TemplateLimits _limits;

    private ChatTemplate(string source, IReadOnlyList<Node> nodes, TemplateLimits limits)
    {
        Source = source;
        _nodes = nodes;
        _limits = limits;
    }

    /// <summary>The template text.</summary>
    public string Source { get; }

    /// <summary>Parses <paramref name="source"/>.</summary>
    /// <param name="source">Jinja template text.</param>
    /// <param name="limits">Bounds for parsing and for renders that set none (default <see cref="TemplateLimits.Default"/>).</param>
    /// <exception cref="TemplateException">A syntax error or an unsupported construct (kind Syntax, Security or LimitExceeded).</exception>
    public static ChatTemplate Parse(string source, TemplateLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        limits ??= TemplateLimits.Default;
        limits.Validate();
        return new ChatTemplate(source, TemplateParser.Parse(source, limits), limits);
    }

    /// <summary>The template in <c>tokenizer.chat_template</c> of <paramref name="file"/>, or null when the key is absent.</summary>
    /// <exception cref="TemplateException">The template does not parse.</exception>
    public static ChatTemplate? FromGguf(IGgufSource file, TemplateLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        return file.TryGetString(GgufKeys.ChatTemplate, out var source) ? Parse(source, limits) : null;
    }

    /// <summary>
    /// Renders the conversation: <c>messages</c> (dicts with role and content), <c>add_generation_prompt</c>,
    /// <c>bos_token</c>, <c>eos_token</c>, <c>tools = none</c>, <c>documents = none</c> and
    /// <see cref="ChatTemplateOptions.Variables"/>.
    /// </summary>
    /// <returns>The prompt text, to be tokenized with special tokens parsed.</returns>
    /// <exception cref="TemplateException">A runtime error, <c>raise_exception</c>, or a bound hit.</exception>
    public string Render(IReadOnlyList<ChatMessage> messages, ChatTemplateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        options ??= new ChatTemplateOptions();
        var variables = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["messages"] = TemplateValues.FromDotNet(messages),
            ["add_generation_prompt"] = options.AddGenerationPrompt,
            ["bos_token"] = options.BosToken,
            ["eos_token"] = options.EosToken,
            ["tools"] = null,
            ["documents"] = null,
        };
        if (options.Variables is not null)
        {
            foreach (var (name, value) in options.Variables)
            {
                variables[name] = TemplateValues.FromDotNet(value);
            }
        }

        var limits = options.Limits ?? _limits;
        limits.Validate();
        return new TemplateInterpreter(limits, options.Now ?? DateTimeOffset.Now).Render(_nodes, variables);
    }

    /// <summary>Renders with exactly <paramref name="variables"/> (same value types as <see cref="ChatTemplateOptions.Variables"/>).</summary>
    /// <exception cref="TemplateException">A runtime error, <c>raise_exception</c>, or a bound hit.</exception>
    /// <exception cref="ArgumentException">A variable of an unsupported type.</exception>
    public string Render(IReadOnlyDictionary<string, object?> variables, TemplateLimits? limits = null, DateTimeOffset? now = null)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var converted = variables.ToDictionary(p => p.Key, p => TemplateValues.FromDotNet(p.Value), StringComparer.Ordinal);
        limits ??= _limits;
        limits.Validate();
        return new TemplateInterpreter(limits, now ?? DateTimeOffset.Now).Render(_nodes, converted);
    }
}
