using System.Text.Json;
using System.Text.Json.Nodes;
using Gguf2Qnn.Cli;
using Gguf2Qnn.Conversion;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Reference;
using Gguf2Qnn.Runtime;
using Gguf2Qnn.Targets;
using Gguf2Qnn.Tests.EndToEnd;
using Gguf2Qnn.Tokenization;
using Gguf2Qnn.Tokenization.ChatTemplates;
using Microsoft.ML.OnnxRuntimeGenAI;
using Xunit;
using Xunit.Abstractions;

namespace Gguf2Qnn.Tests.Runtime;

/// <summary>
/// ONNX Runtime GenAI 0.18.0 on the cpu-target folders <c>convert</c> writes: it loads them, its greedy tokens are
/// llama.cpp's (through LLamaSharp, the independent source) and our engine's, and its tokenizer (onnxruntime-extensions
/// on the exported tokenizer.json / tokenizer_config.json) and chat-template engine give what llama.cpp and our
/// GGUF tokenizer and template interpreter give.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class GenAiGeneratorTests(ConvertedModelsFixture models, ITestOutputHelper output) : IClassFixture<ConvertedModelsFixture>
{
    private const string QwenPrompt = " once upon a time there was a little dog and a happy cat. The sun";

    [Theory]
    [InlineData("stories", "Once upon a time")]
    [InlineData("qwen2-q4_0", QwenPrompt)]
    [InlineData("qwen2-q4_0-tied", QwenPrompt)]
    public void Greedy32TokensAreLlamaCppsAndOurEngines(string name, string prompt)
    {
        var (gguf, onnx) = models.Get(name);
        using var reference = LlamaCppModel.Load(gguf, new LlamaCppOptions { F32KvCache = true });
        var promptIds = reference.Tokenize(prompt, addSpecial: true, parseSpecial: false);
        var expected = reference.GenerateGreedy(promptIds, 32, stopAtEndOfGeneration: false);

        using var genAi = GenAiGenerator.Open(onnx);
        Assert.Equal(promptIds, genAi.Encode(prompt));
        var tokens = genAi.Generate(promptIds, new GenerationOptions { MaxNewTokens = 32, Greedy = true }).ToArray();
        output.WriteLine("llama.cpp: " + string.Join(",", expected));
        output.WriteLine("genai:     " + string.Join(",", tokens));
        Assert.DoesNotContain(expected, genAi.EosTokenIds.Contains); // GenAI would stop there; the comparison needs 32
        Assert.Equal(expected, tokens);

        // `gguf2qnn run` with each engine: the same prompt ids, tokens and text.
        var ours = RunJson(onnx, prompt, "ort");
        var viaGenAi = RunJson(onnx, prompt, "genai");
        Assert.Equal(promptIds, ours.Prompt);
        Assert.Equal(expected, ours.Tokens);
        Assert.Equal(ours.Prompt, viaGenAi.Prompt);
        Assert.Equal(ours.Tokens, viaGenAi.Tokens);
        output.WriteLine("ort text:   " + ours.Text);
        output.WriteLine("genai text: " + viaGenAi.Text);
        if (!ours.Text.Contains('\uFFFD', StringComparison.Ordinal))
        {
            // Byte tokens that do not form UTF-8 (the random qwen2 weights pick some) decode differently: ours prints
            // U+FFFD, GenAI's TokenizerStream drops them; valid text must be the same.
            Assert.Equal(ours.Text, viaGenAi.Text);
        }
    }

    [Fact]
    public void SamplingFollowsTheOptionsAndTheSeed()
    {
        var (_, onnx) = models.Get("stories");
        using var genAi = GenAiGenerator.Open(onnx);
        var prompt = genAi.Encode("Once upon a time");
        int[] Sample(int seed, int topK) => genAi.Generate(prompt, new GenerationOptions { MaxNewTokens = 24, Temperature = 1.5f, TopK = topK, TopP = 0.9f, Seed = seed }).ToArray();

        var first = Sample(7, 40);
        Assert.Equal(first, Sample(7, 40)); // GenAI's generator is seeded by random_seed
        Assert.NotEmpty(first);
        Assert.All(first, t => Assert.InRange(t, 0, genAi.VocabSize - 1));
        Assert.DoesNotContain(first, genAi.EosTokenIds.Contains);
        Assert.NotEmpty(Sample(7, 0)); // top-k 0 (all tokens) maps to GenAI's top_k = vocab_size
        Assert.Empty(genAi.Generate(prompt, new GenerationOptions { MaxNewTokens = 0 }));
        Assert.Throws<ArgumentException>(() => genAi.Generate([genAi.VocabSize], new GenerationOptions()));
        Assert.Throws<ArgumentException>(() => genAi.Generate([], new GenerationOptions()));
    }

    [Fact]
    public void ConcatCacheGraphRunsWithoutSharedBuffers()
    {
        // The explicit-attention graph (MatMul/Softmax, Concat KV cache) of models whose head size GroupQueryAttention
        // rejects: genai_config.json must say past_present_share_buffer false, and GenAI must still give llama.cpp's tokens.
        var onnx = Path.Combine(TestPaths.NewTempDir("genai-concat"), "onnx");
        try
        {
            OnnxConverter.Convert(new ConvertOptions { GgufPath = TestPaths.Stories260K, OutputDirectory = onnx, ForceExplicitAttention = true });
            using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(onnx, GenAiConfig.FileName))))
            {
                Assert.False(config.RootElement.GetProperty("search").GetProperty("past_present_share_buffer").GetBoolean());
            }

            using var reference = LlamaCppModel.Load(TestPaths.Stories260K, new LlamaCppOptions { F32KvCache = true });
            var promptIds = reference.Tokenize("Once upon a time", addSpecial: true, parseSpecial: false);
            var expected = reference.GenerateGreedy(promptIds, 32, stopAtEndOfGeneration: false);
            using var genAi = GenAiGenerator.Open(onnx);
            Assert.Equal(expected, genAi.Generate(promptIds, new GenerationOptions { MaxNewTokens = 32, Greedy = true }).ToArray());
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(onnx)!, recursive: true);
        }
    }

    [Fact]
    public void ConfigSharesBuffersForGroupQueryAttentionAndDropsAbsentPadId()
    {
        // stories260K stores tokenizer.ggml.padding_token_id as 0xFFFFFFFF ("none"); GenAI reads the ids as int32.
        var (gguf, onnx) = models.Get("stories");
        using var file = GgufFile.Open(gguf);
        Assert.True(file.TryGetInt64(GgufKeys.PaddingTokenId, out long pad) && pad == uint.MaxValue);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(onnx, GenAiConfig.FileName)));
        Assert.True(config.RootElement.GetProperty("search").GetProperty("past_present_share_buffer").GetBoolean());
        Assert.Equal(2, config.RootElement.GetProperty("model").GetProperty("pad_token_id").GetInt32()); // the EOS id
    }

    [Theory]
    [InlineData("stories", "Hello world")]
    [InlineData("stories", " leading space and  two spaces")]
    [InlineData("stories", "Lily's dog ran, jumped; then: 123 times!\nNew line.")]
    [InlineData("qwen2-q4_0", "Hello world")]
    [InlineData("qwen2-q4_0", " once upon a time   there was a cat.\n\nThe end!")]
    [InlineData("qwen2-q4_0", "<|im_start|>user\nhi there<|im_end|>\n<|im_start|>assistant\n")]
    public void TokenizerGivesLlamaCppsAndOurIds(string name, string text)
    {
        var (gguf, onnx) = models.Get(name);
        using var reference = LlamaCppModel.Load(gguf);
        var expected = reference.Tokenize(text, addSpecial: true, parseSpecial: true);
        using var file = GgufFile.Open(gguf);
        var ourTokenizer = GgufTokenizer.Create(file);
        Assert.Equal(expected, ourTokenizer.Encode(text, ourTokenizer.AddBosToken, parseSpecial: true));

        using var genAi = GenAiGenerator.Open(onnx);
        var ids = genAi.Encode(text);
        output.WriteLine($"{name}: {string.Join(",", ids)}");
        Assert.Equal(expected, ids);
    }

    [Fact]
    public void ChatTemplateRendersAsOurs()
    {
        var (gguf, onnx) = models.Get("qwen2-q4_0");
        using var file = GgufFile.Open(gguf);
        var tokenizer = GgufTokenizer.Create(file);
        var template = ChatTemplate.FromGguf(file)!;
        ChatMessage[] messages = [ChatMessage.System("You are brief."), ChatMessage.User("Hi there"), ChatMessage.Assistant("Hello!"), ChatMessage.User("Tell me a \"story\".\nShort.")];

        using var genAi = GenAiGenerator.Open(onnx);
        foreach (bool addGenerationPrompt in new[] { true, false })
        {
            var expected = ChatPrompt.Render(template, tokenizer, messages, addGenerationPrompt);
            Assert.Equal(expected, genAi.ApplyChatTemplate(messages, addGenerationPrompt));
        }

        var rendered = ChatPrompt.Render(template, tokenizer, messages, addGenerationPrompt: true);
        Assert.Equal(ChatPrompt.Encode(tokenizer, rendered), genAi.EncodeChat(rendered));
    }

    [Fact]
    public void QnnTargetFolderIsRefusedWithTheReason()
    {
        var root = TestPaths.NewTempDir("genai-qnn");
        try
        {
            var dir = Path.Combine(root, "qnn");
            OnnxConverter.Convert(new ConvertOptions
            {
                GgufPath = TestPaths.Stories260K, OutputDirectory = dir, Target = ConversionTarget.Qnn, ContextLength = 64, PrefillLength = 8,
            });

            // The reason given is GenAI's own: its decoder-pipeline config asks for the QNN provider this build lacks,
            // and with the provider options removed (CPU) its windowed pipeline rejects the float attention mask.
            using (var config = new Config(dir))
            {
                config.ClearProviders();
                var genAiError = Assert.Throws<OnnxRuntimeGenAIException>(() => new Model(config).Dispose());
                Assert.Contains("QNN execution provider is not supported", genAiError.Message, StringComparison.Ordinal);
            }

            var cpuDir = Path.Combine(root, "qnn-on-cpu");
            CopyWithoutQnnProviders(dir, cpuDir);
            using (var cpuModel = new Model(cpuDir))
            using (var search = new GeneratorParams(cpuModel))
            {
                var genAiError = Assert.Throws<OnnxRuntimeGenAIException>(() => new Generator(cpuModel, search).Dispose());
                Assert.Contains("attention_mask", genAiError.Message, StringComparison.Ordinal);
            }

            var ex = Assert.Throws<NotSupportedException>(() => GenAiGenerator.Open(dir));
            Assert.Contains("qnn-target", ex.Message, StringComparison.Ordinal);
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int code = GgufCli.Run(["run", dir, "--engine", "genai", "-n", "4"], stdout, stderr);
            Assert.Equal(GgufCli.WorkFailed, code);
            Assert.Contains("QNN execution provider", stderr.ToString(), StringComparison.Ordinal);
            Assert.Contains("--engine ort", stderr.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    // A copy of a qnn-target folder whose pipeline stages have no provider options (GenAI's CPU default).
    private static void CopyWithoutQnnProviders(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }

        string configPath = Path.Combine(to, GenAiConfig.FileName);
        var root = JsonNode.Parse(File.ReadAllText(configPath))!;
        foreach (var stage in root["model"]!["decoder"]!["pipeline"]!.AsArray().SelectMany(s => s!.AsObject()))
        {
            stage.Value!["session_options"]!["provider_options"] = new JsonArray();
        }

        File.WriteAllText(configPath, root.ToJsonString());
    }

    private static (int[] Prompt, int[] Tokens, string Text) RunJson(string onnx, string prompt, string engine)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = GgufCli.Run(["run", onnx, "--prompt", prompt, "-n", "32", "--greedy", "--json", "--engine", engine], stdout, stderr);
        Assert.True(code == 0, stderr.ToString());
        using var json = JsonDocument.Parse(stdout.ToString());
        int[] Ints(string key) => json.RootElement.GetProperty(key).EnumerateArray().Select(e => e.GetInt32()).ToArray();
        return (Ints("prompt_tokens"), Ints("tokens"), json.RootElement.GetProperty("text").GetString()!);
    }

    [Fact]
    public void ADisposedGeneratorThrowsInsteadOfCallingIntoFreedNativeObjects()
    {
        // Before the guard, Generate after Dispose crashed the test host (GenAI's freed native model).
        var (_, onnx) = models.Get("stories");
        var genAi = GenAiGenerator.Open(onnx);
        var options = new GenerationOptions { MaxNewTokens = 4 };
        using (var running = genAi.Generate([1], options).GetEnumerator())
        {
            Assert.True(running.MoveNext());
            genAi.Dispose();
            Assert.Throws<ObjectDisposedException>(() => running.MoveNext());
        }

        genAi.Dispose(); // idempotent
        Assert.Throws<ObjectDisposedException>(() => genAi.Generate([1], options));
        Assert.Throws<ObjectDisposedException>(() => genAi.Encode("Once"));
        Assert.Throws<ObjectDisposedException>(() => genAi.Decode([1]));
    }
}
