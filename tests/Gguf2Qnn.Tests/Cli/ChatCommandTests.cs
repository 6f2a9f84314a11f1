using System.Text.Json;
using Gguf2Qnn.Artifacts;
using Gguf2Qnn.Cli;
using Gguf2Qnn.Conversion;
using Gguf2Qnn.Demo;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Runtime;
using Gguf2Qnn.Tokenization;
using Xunit;

namespace Gguf2Qnn.Tests.Cli;

/// <summary>A demo-style synthetic qwen2 model (SyntheticModel writes a ChatML template), written and converted once.</summary>
public sealed class SyntheticChatModelFixture : IDisposable
{
    public SyntheticChatModelFixture()
    {
        var root = TestPaths.NewTempDir("chat");
        Gguf = Path.Combine(root, "chat-qwen2.gguf");
        SyntheticModel.Write(Gguf, new SyntheticModelSpec { BlockCount = 2, HiddenSize = 64, HeadCount = 4, HeadCountKv = 2, FeedForwardLength = 128, WeightType = GgmlType.Q4_0, Seed = 7 });
        Artifacts = Path.Combine(root, "onnx");
        OnnxConverter.Convert(new ConvertOptions { GgufPath = Gguf, OutputDirectory = Artifacts });
    }

    public string Gguf { get; }

    public string Artifacts { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path.GetDirectoryName(Gguf)!, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>
/// <c>gguf2qnn chat</c> and <c>run --chat</c>. The expected prompts are ChatML written by hand (the synthetic model's
/// template); the expected replies come from running the converted model directly on those hand-built prompts.
/// </summary>
[Trait("Category", "Cli")]
public sealed class ChatCommandTests(SyntheticChatModelFixture model) : IClassFixture<SyntheticChatModelFixture>
{
    private const int MaxNewTokens = 6;

    [Fact]
    public void MultiTurnChatRendersTheWholeConversationAndStreamsReplies()
    {
        var (code, stdout, stderr) = Run("hello\n\nhow are you\n/exit\nnot read\n", "chat", model.Artifacts, "--show-prompt", "-n", MaxNewTokens.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(code == 0, stderr);

        string prompt1 = "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n";
        string reply1 = Reply(prompt1);
        string prompt2 = prompt1 + reply1 + "<|im_end|>\n<|im_start|>user\nhow are you<|im_end|>\n<|im_start|>assistant\n";
        string reply2 = Reply(prompt2);

        Assert.Contains("--- prompt ---\n" + prompt1 + "--- end of prompt ---", stderr, StringComparison.Ordinal);
        Assert.Contains("--- prompt ---\n" + prompt2 + "--- end of prompt ---", stderr, StringComparison.Ordinal);
        Assert.Equal(reply1 + "\n" + reply2 + "\n", stdout);
    }

    [Fact]
    public void SystemMessageResetAndEndOfInput()
    {
        var (code, stdout, stderr) = Run("first\n/reset\nsecond\n", "chat", model.Artifacts, "--system", "Be terse.", "--show-prompt", "-n", "3");
        Assert.True(code == 0, stderr);
        string prompt = "<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nsecond<|im_end|>\n<|im_start|>assistant\n";
        Assert.Contains("--- prompt ---\n" + prompt + "--- end of prompt ---", stderr, StringComparison.Ordinal);
        Assert.Contains("(conversation cleared)", stderr, StringComparison.Ordinal);
        Assert.Equal(2, stdout.Split('\n').Length - 1);
    }

    [Fact]
    public void RunChatWrapsThePromptInTheTemplate()
    {
        var (code, stdout, stderr) = Run(string.Empty, "run", model.Artifacts, "--chat", "--prompt", "hello", "-n", MaxNewTokens.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        string prompt = "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n";
        var tokenizer = Tokenizer();
        Assert.Equal(tokenizer.Encode(prompt, addBos: false, parseSpecial: true), doc.RootElement.GetProperty("prompt_tokens").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(Reply(prompt), doc.RootElement.GetProperty("text").GetString());

        (code, stdout, stderr) = Run(string.Empty, "run", model.Artifacts, "--chat", "--system", "S", "--prompt", "hello", "-n", MaxNewTokens.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(code == 0, stderr);
        Assert.Equal(Reply("<|im_start|>system\nS<|im_end|>\n" + prompt) + "\n", stdout);
    }

    [Fact]
    public void ModelWithoutTemplateIsAClearErrorBeforeAnyConversion()
    {
        foreach (var args in new[] { new[] { "chat", TestPaths.Stories260K }, ["run", TestPaths.Stories260K, "--chat", "--prompt", "hi"] })
        {
            var (code, _, stderr) = Run("hello\n", args);
            Assert.Equal(2, code);
            Assert.Contains("no chat template", stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("Converting", stderr, StringComparison.Ordinal);
        }
    }

    private GgufTokenizer Tokenizer()
    {
        using var file = GgufFile.Open(Path.Combine(model.Artifacts, TokenizerArtifact.FileName));
        return GgufTokenizer.Create(file);
    }

    /// <summary>The greedy reply to a hand-built prompt, generated by the converted model directly.</summary>
    private string Reply(string prompt, int maxNewTokens = MaxNewTokens)
    {
        var tokenizer = Tokenizer();
        using var lm = OnnxCausalLm.Open(model.Artifacts);
        var ids = tokenizer.Encode(prompt, addBos: tokenizer.AddBosToken, parseSpecial: true);
        var options = new GenerationOptions { MaxNewTokens = maxNewTokens, Greedy = true, StopTokens = tokenizer.EndOfGenerationTokens };
        return tokenizer.Decode(lm.Generate(ids, options).ToList());
    }

    private static (int Code, string Out, string Err) Run(string stdin, params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = GgufCli.Run(args, o, e, new StringReader(stdin));
        return (code, o.ToString(), e.ToString());
    }
}
