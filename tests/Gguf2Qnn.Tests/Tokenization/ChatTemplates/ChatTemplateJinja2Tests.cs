using System.Text.Json;
using Gguf2Qnn.Tokenization.ChatTemplates;
using Xunit;

namespace Gguf2Qnn.Tests.Tokenization.ChatTemplates;

/// <summary>
/// Feature coverage against the reference implementation: Data/jinja2-cases.json holds small templates and the
/// text Jinja2 3.1.6 renders for them, configured as Hugging Face's apply_chat_template configures it
/// (Data/make_jinja2_cases.py regenerates the file).
/// </summary>
[Trait("Category", "ChatTemplate")]
public sealed class ChatTemplateJinja2Tests
{
    private static readonly ChatMessage[] Messages =
    [
        ChatMessage.System("Be brief."),
        ChatMessage.User("Hi there, 🦙!"),
        ChatMessage.Assistant("Hello."),
    ];

    public static TheoryData<int, string, string> Cases()
    {
        var data = new TheoryData<int, string, string>();
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "tests", "Gguf2Qnn.Tests", "Tokenization", "ChatTemplates", "Data", "jinja2-cases.json")));
        int i = 0;
        foreach (var pair in doc.RootElement.EnumerateArray())
        {
            data.Add(i++, pair[0].GetString()!, pair[1].GetString()!);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RendersAsJinja2Does(int index, string template, string expected)
    {
        _ = index;
        var options = new ChatTemplateOptions { AddGenerationPrompt = true, BosToken = "<s>", EosToken = "</s>" };
        Assert.Equal(expected, ChatTemplate.Parse(template).Render(Messages, options));
    }
}
