using Gguf2Qnn.Gguf;
using Gguf2Qnn.Tokenization;
using Gguf2Qnn.Tokenization.ChatTemplates;
using Xunit;

namespace Gguf2Qnn.Tests.Tokenization.ChatTemplates;

[Trait("Category", "ChatTemplate")]
public sealed class ChatPromptTests
{
    [Fact]
    public void BosWrittenByTheTemplateIsNotDoubled()
    {
        // Llama-2 vocab: add_bos_token is true and BOS is "<s>" (id 1). A Llama-2-style template writes bos_token itself.
        using var file = GgufFile.Open(Path.Combine(TestPaths.Vocab, "ggml-vocab-llama-spm.gguf"));
        var tokenizer = GgufTokenizer.Create(file);
        var template = ChatTemplate.Parse("{{ bos_token }}{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}");
        string prompt = ChatPrompt.Render(template, tokenizer, [ChatMessage.User("hi")], addGenerationPrompt: true);
        Assert.Equal("<s>[INST] hi [/INST]", prompt);

        int[] ids = ChatPrompt.Encode(tokenizer, prompt);
        Assert.Equal([1, .. tokenizer.Encode("[INST] hi [/INST]", addBos: false, parseSpecial: true)], ids);
        Assert.Single(ids, 1);
    }

    [Fact]
    public void SpecialTokensInThePromptAreParsed()
    {
        using var file = GgufFile.Open(Path.Combine(TestPaths.Vocab, "ggml-vocab-phi-3.gguf"));
        var tokenizer = GgufTokenizer.Create(file);
        Assert.True(tokenizer.TryGetTokenId("<|user|>", out int user));
        int[] ids = ChatPrompt.Encode(tokenizer, "<|user|>\nHi<|end|>\n<|assistant|>\n");
        Assert.Contains(user, ids);
    }
}
