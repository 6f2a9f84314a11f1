using System.Text.Json;
using Gguf2Qnn.Cli;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Reference;
using Gguf2Qnn.Runtime;
using Xunit;
using Xunit.Abstractions;

namespace Gguf2Qnn.Tests.EndToEnd;

/// <summary>
/// The walking skeleton's acceptance: converted models give llama.cpp's logits and tokens. Every expected value is
/// computed here by llama.cpp (through LLamaSharp) on the same GGUF.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class LlamaCppAgreementTests(ConvertedModelsFixture models, ITestOutputHelper output) : IClassFixture<ConvertedModelsFixture>
{
    private const string StoryText = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends.";

    [Fact]
    public void RunJsonOnStories260KGivesLlamaCppsGreedy40Tokens()
    {
        using var reference = LlamaCppModel.Load(TestPaths.Stories260K);
        var promptIds = reference.Tokenize("Once upon a time", addSpecial: true, parseSpecial: false);
        var expected = reference.GenerateGreedy(promptIds, 40);

        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = GgufCli.Run(["run", TestPaths.Stories260K, "--prompt", "Once upon a time", "-n", "40", "--greedy", "--json"], stdout, stderr);
        Assert.True(code == 0, stderr.ToString());
        using var json = JsonDocument.Parse(stdout.ToString());
        var prompt = json.RootElement.GetProperty("prompt_tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var tokens = json.RootElement.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        output.WriteLine("llama.cpp: " + string.Join(",", expected));
        output.WriteLine("gguf2qnn:  " + string.Join(",", tokens));
        output.WriteLine("text: " + json.RootElement.GetProperty("text").GetString());
        Assert.Equal(promptIds, prompt);
        Assert.Equal(40, expected.Length);
        Assert.Equal(expected, tokens);
    }

    [Theory]
    [InlineData("stories", 1e-3)]
    [InlineData("tiny-random", double.PositiveInfinity)]
    [InlineData("qwen2-f32", 1e-3)]
    public void EveryPromptPositionHasLlamaCppsArgMax(string name, double maxAbsDiffBound)
    {
        var (gguf, onnx) = models.Get(name);
        using var reference = LlamaCppModel.Load(gguf, new LlamaCppOptions { F32KvCache = true });
        var ids = reference.Tokenize(StoryText, addSpecial: true, parseSpecial: false);
        var expected = reference.EvaluateLogits(ids);
        using var lm = OnnxCausalLm.Open(onnx);
        var actual = lm.EvaluateLogits(ids);

        var (agree, maxDiff) = Compare(expected, actual);
        output.WriteLine($"{name}: {ids.Length} positions, top-1 agreement {agree}/{ids.Length}, max |logit diff| {maxDiff:E3}");
        Assert.Equal(ids.Length, agree);
        Assert.True(maxDiff < maxAbsDiffBound, $"max |logit diff| {maxDiff} ≥ {maxAbsDiffBound}");
    }

    [Theory]
    [InlineData("qwen2-q4_0-tied")]
    [InlineData("qwen2-q4_0")]
    public void LlamaCppQuantizedQwen2GivesTheSameGreedyTokensAndTop1(string name)
    {
        var (gguf, onnx) = models.Get(name);
        using (var file = GgufFile.Open(gguf))
        {
            Assert.Equal(GgmlType.Q4_0, file.GetTensor(GgufTensorNames.AttnQ(0)).Type);
            Assert.Equal(name.EndsWith("tied", StringComparison.Ordinal), file.FindTensor(GgufTensorNames.Output) is null);
        }

        using var reference = LlamaCppModel.Load(gguf, new LlamaCppOptions { F32KvCache = true });
        const string prompt = " once upon a time there was a little dog and a happy cat. The sun";
        var ids = reference.Tokenize(prompt, addSpecial: true, parseSpecial: false);
        using (var vocab = GgufFile.Open(gguf))
        {
            var ours = Gguf2Qnn.Tokenization.GgufTokenizer.Create(vocab);
            Assert.Equal(ids, ours.Encode(prompt, ours.AddBosToken));
        }

        var expected = reference.EvaluateLogits(ids);
        using var lm = OnnxCausalLm.Open(onnx);
        var actual = lm.EvaluateLogits(ids);
        var (agree, maxDiff) = Compare(expected, actual);
        output.WriteLine($"{name}: {ids.Length} prompt positions, top-1 agreement {agree}/{ids.Length}, max |logit diff| {maxDiff:E3}");
        Assert.Equal(ids.Length, agree);

        var expectedTokens = reference.GenerateGreedy(ids, 32, stopAtEndOfGeneration: false);
        var tokens = lm.Generate(ids, new GenerationOptions { MaxNewTokens = 32, Greedy = true }).ToArray();
        output.WriteLine("llama.cpp: " + string.Join(",", expectedTokens));
        output.WriteLine("gguf2qnn:  " + string.Join(",", tokens));
        Assert.Equal(expectedTokens, tokens);
    }

    private static (int Agree, double MaxDiff) Compare(float[][] expected, float[][] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        var agree = 0;
        double maxDiff = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Length, actual[i].Length);
            if (Sampler.ArgMax(expected[i]) == Sampler.ArgMax(actual[i]))
            {
                agree++;
            }

            for (var v = 0; v < expected[i].Length; v++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(expected[i][v] - actual[i][v]));
            }
        }

        return (agree, maxDiff);
    }
}
