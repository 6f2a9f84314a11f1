using System.Text.Json;
using System.Text.Json.Nodes;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Tokenization;
using Gguf2Qnn.Tokenization.ChatTemplates;
using Xunit;

namespace Gguf2Qnn.Tests.Tokenization.ChatTemplates;

/// <summary>
/// Real chat templates rendered for small conversations. Expected texts are written by hand from each template's
/// logic (the comments walk through it), not taken from this engine's output.
/// </summary>
[Trait("Category", "ChatTemplate")]
public sealed class ChatTemplateTests
{
    private static readonly ChatMessage[] SystemUserAssistantUser =
    [
        ChatMessage.System("You are a helpful assistant."),
        ChatMessage.User("Hi!"),
        ChatMessage.Assistant("Hello! How can I help?"),
        ChatMessage.User("What is 2+2?"),
    ];

    private static ChatTemplate Qwen3()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Vocab, "qwen3-hf", "tokenizer_config.json")));
        return ChatTemplate.Parse(doc.RootElement.GetProperty("chat_template").GetString()!);
    }

    [Fact]
    public void Qwen3SystemUserAssistantUserWithGenerationPrompt()
    {
        // No tools: the system message opens the prompt. The reverse scan finds the last user query at index 3, so the
        // assistant turn (index 2) is written plainly. The loop skips the first (system) message, writes each turn as
        // <|im_start|>role\ncontent<|im_end|>\n, then add_generation_prompt opens the assistant turn; enable_thinking is
        // undefined, so no empty think block.
        string expected =
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
            "<|im_start|>user\nHi!<|im_end|>\n" +
            "<|im_start|>assistant\nHello! How can I help?<|im_end|>\n" +
            "<|im_start|>user\nWhat is 2+2?<|im_end|>\n" +
            "<|im_start|>assistant\n";
        Assert.Equal(expected, Qwen3().Render(SystemUserAssistantUser, new ChatTemplateOptions { AddGenerationPrompt = true }));
    }

    [Fact]
    public void Qwen3WithoutGenerationPrompt()
    {
        string expected =
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
            "<|im_start|>user\nHi!<|im_end|>\n" +
            "<|im_start|>assistant\nHello! How can I help?<|im_end|>\n" +
            "<|im_start|>user\nWhat is 2+2?<|im_end|>\n";
        Assert.Equal(expected, Qwen3().Render(SystemUserAssistantUser, new ChatTemplateOptions { AddGenerationPrompt = false }));
    }

    [Fact]
    public void Qwen3ReasoningIsKeptAfterTheLastQueryAndDroppedBeforeIt()
    {
        // Index 1 is before the last query (index 2): its content becomes the text after </think> with leading
        // newlines stripped. Index 3 is after it and last: reasoning (between <think> and </think>, newlines trimmed)
        // is re-wrapped as <think>\n…\n</think>\n\n.
        ChatMessage[] messages =
        [
            ChatMessage.User("a"),
            ChatMessage.Assistant("<think>\nfirst thought\n</think>\n\nb"),
            ChatMessage.User("c"),
            ChatMessage.Assistant("<think>second</think>\nd"),
        ];
        string expected =
            "<|im_start|>user\na<|im_end|>\n" +
            "<|im_start|>assistant\nb<|im_end|>\n" +
            "<|im_start|>user\nc<|im_end|>\n" +
            "<|im_start|>assistant\n<think>\nsecond\n</think>\n\nd<|im_end|>\n";
        Assert.Equal(expected, Qwen3().Render(messages));
    }

    [Fact]
    public void Qwen3EnableThinkingFalseAddsAnEmptyThinkBlock()
    {
        var options = new ChatTemplateOptions { AddGenerationPrompt = true, Variables = new Dictionary<string, object?> { ["enable_thinking"] = false } };
        Assert.Equal("<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n", Qwen3().Render([ChatMessage.User("q")], options));
    }

    [Fact]
    public void Qwen3ToolsToolCallsAndToolResponses()
    {
        // tools: each tool is written with tojson = json.dumps(ensure_ascii=False): ", " and ": " separators, key order kept.
        // The assistant's tool call (content empty, so no newline before it) has dict arguments, written with tojson.
        // Consecutive tool messages share one user turn.
        var tools = JsonNode.Parse("""[{"type":"function","function":{"name":"get_weather","description":"Weather for a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]""");
        var messages = JsonNode.Parse("""
            [{"role":"system","content":"S"},
             {"role":"user","content":"Weather in Paris?"},
             {"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"get_weather","arguments":{"city":"Paris"}}}]},
             {"role":"tool","content":"18°C"},
             {"role":"tool","content":"sunny"}]
            """);
        string toolJson = """{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}""";
        string expected =
            "<|im_start|>system\nS\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" +
            "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" + toolJson + "\n</tools>\n\n" +
            "For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n" +
            "<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" +
            "<|im_start|>user\nWeather in Paris?<|im_end|>\n" +
            "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n" +
            "<|im_start|>user\n<tool_response>\n18°C\n</tool_response>\n<tool_response>\nsunny\n</tool_response><|im_end|>\n" +
            "<|im_start|>assistant\n";
        var variables = new Dictionary<string, object?> { ["messages"] = messages, ["tools"] = tools, ["add_generation_prompt"] = true };
        Assert.Equal(expected, Qwen3().Render(variables));
    }

    [Fact]
    public void Phi3VocabGgufTemplate()
    {
        // The only vocab GGUF in ../shared/models/vocab with tokenizer.chat_template. It writes bos_token, then each
        // user turn as <|user|>\n…<|end|>\n<|assistant|>\n and each assistant turn as …<|end|>\n; system messages and
        // add_generation_prompt are ignored.
        using var file = GgufFile.Open(Path.Combine(TestPaths.Vocab, "ggml-vocab-phi-3.gguf"));
        var template = ChatTemplate.FromGguf(file);
        Assert.NotNull(template);
        var tokenizer = GgufTokenizer.Create(file);
        var options = ChatTemplateOptions.ForTokenizer(tokenizer, addGenerationPrompt: true);
        Assert.Equal("<s>", options.BosToken);
        Assert.Equal("<|endoftext|>", options.EosToken);
        string text = template.Render([ChatMessage.System("ignored"), ChatMessage.User("Hi"), ChatMessage.Assistant("Hello"), ChatMessage.User("Bye")], options);
        Assert.Equal("<s><|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n<|user|>\nBye<|end|>\n<|assistant|>\n", text);
    }

    [Fact]
    public void VocabGgufsWithoutTemplateGiveNull()
    {
        foreach (var name in new[] { "ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf" })
        {
            using var file = GgufFile.Open(Path.Combine(TestPaths.Vocab, name));
            Assert.Null(ChatTemplate.FromGguf(file));
        }
    }

    [Fact]
    public void Llama3StyleTemplate()
    {
        // A Llama-3-style template: bos once, header per turn, content trimmed (the filter binds tighter than +).
        const string template =
            "{{- bos_token }}\n" +
            "{%- for message in messages %}\n" +
            "    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}\n" +
            "{%- endfor %}\n" +
            "{%- if add_generation_prompt %}\n" +
            "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n" +
            "{%- endif %}\n";
        var options = new ChatTemplateOptions { AddGenerationPrompt = true, BosToken = "<|begin_of_text|>", EosToken = "<|eot_id|>" };
        string text = ChatTemplate.Parse(template).Render([ChatMessage.System(" sys "), ChatMessage.User("hi\n")], options);
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nsys<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            text);
    }

    [Fact]
    public void ChatMlTemplateWithTrimBlocksAndLstripBlocks()
    {
        // Written on several lines: trim_blocks drops the newline after each {% %} tag and lstrip_blocks the
        // indentation before it, so only the {{ }} output and the literal newlines inside strings remain.
        const string template = """
            {% for message in messages %}
                {{ '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
            {% endfor %}
            {% if add_generation_prompt %}
                {{ '<|im_start|>assistant\n' }}
            {% endif %}
            """;
        string text = ChatTemplate.Parse(template).Render([ChatMessage.User("hello")], new ChatTemplateOptions { AddGenerationPrompt = true });
        // Each {{ }} line keeps its indentation and its trailing newline (trim_blocks does not apply to {{ }}).
        Assert.Equal("    <|im_start|>user\nhello<|im_end|>\n\n    <|im_start|>assistant\n\n", text);
    }

    [Fact]
    public void MistralStyleTemplateAndRaiseException()
    {
        const string template =
            "{{ bos_token }}{% for message in messages %}" +
            "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
            "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}" +
            "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}";
        var t = ChatTemplate.Parse(template);
        var options = new ChatTemplateOptions { BosToken = "<s>", EosToken = "</s>" };
        Assert.Equal("<s>[INST] a [/INST]b</s>[INST] c [/INST]", t.Render([ChatMessage.User("a"), ChatMessage.Assistant("b"), ChatMessage.User("c")], options));

        var ex = Assert.Throws<TemplateException>(() => t.Render([ChatMessage.User("a"), ChatMessage.User("b")], options));
        Assert.Equal(TemplateErrorKind.Raised, ex.Kind);
        Assert.Contains("Conversation roles must alternate", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StrftimeNowUsesTheGivenClock()
    {
        var t = ChatTemplate.Parse("{{ strftime_now('%d %b %Y') }}");
        Assert.Equal("07 Mar 2025", t.Render([], new ChatTemplateOptions { Now = new DateTimeOffset(2025, 3, 7, 12, 0, 0, TimeSpan.Zero) }));
    }

    [Fact]
    public void SyntaxErrorsNameTheLine()
    {
        var ex = Assert.Throws<TemplateException>(() => ChatTemplate.Parse("line one\n{% if x %}\nno end"));
        Assert.Equal(TemplateErrorKind.Syntax, ex.Kind);
        Assert.Contains("endif", ex.Message, StringComparison.Ordinal);

        ex = Assert.Throws<TemplateException>(() => ChatTemplate.Parse("a\nb\n{{ x | nosuchfilter }}"));
        Assert.Equal(3, ex.Line);
        Assert.Contains("nosuchfilter", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UndefinedValuesBehaveAsInJinja()
    {
        var render = (string s) => ChatTemplate.Parse(s).Render([ChatMessage.User("u")]);
        Assert.Equal("|False|0|", render("{{ nope }}|{{ nope is defined }}|{{ nope | length }}|{% for x in nope %}x{% endfor %}"));
        var ex = Assert.Throws<TemplateException>(() => render("{{ nope.attr }}"));
        Assert.Contains("'nope' is undefined", ex.Message, StringComparison.Ordinal);
        Assert.Throws<TemplateException>(() => render("{{ messages[0].missing.deeper }}"));
        Assert.Throws<TemplateException>(() => render("{{ 'a' + none }}"));
    }
}
