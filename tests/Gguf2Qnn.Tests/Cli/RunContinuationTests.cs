using System.Text.Json;
using Gguf2Qnn.Cli;
using Gguf2Qnn.Reference;
using Gguf2Qnn.Tests.EndToEnd;
using Xunit;
using static Gguf2Qnn.Tests.Cli.CliRun;

namespace Gguf2Qnn.Tests.Cli;

/// <summary>
/// <c>run</c> prints the prompt and then the generated text as its continuation: the ids of prompt + generated, as
/// llama.cpp's <c>llama_detokenize</c> renders them, with no space lost at the seam (SentencePiece drops the leading
/// space of a sequence's first piece only).
/// </summary>
[Trait("Category", "Cli")]
public sealed class RunContinuationTests(ConvertedModelsFixture models) : IClassFixture<ConvertedModelsFixture>
{
    [Theory]
    [InlineData("The cat")]
    [InlineData("Once upon a time")]
    public void GeneratedTextContinuesThePromptAsLlamaCppDetokenizesIt(string prompt)
    {
        var (gguf, onnx) = models.Get("stories");
        var (code, json, err) = Run("run", onnx, "--prompt", prompt, "-n", "4", "--greedy", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(json);
        int[] promptIds = doc.RootElement.GetProperty("prompt_tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        int[] generated = doc.RootElement.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();

        using var llama = LlamaCppModel.Load(gguf, new LlamaCppOptions { Threads = 1, ContextSize = 64 });
        string all = llama.Detokenize([.. promptIds, .. generated]);
        string promptOnly = llama.Detokenize(promptIds);

        // llama.cpp keeps the space SentencePiece put before the prompt's first word (BOS is the sequence's first
        // token, so nothing is stripped): " The cat". run prints the prompt as typed, then the rest of the sequence.
        Assert.Equal(" " + prompt, promptOnly);
        Assert.StartsWith(promptOnly, all, StringComparison.Ordinal);
        string continuation = all[promptOnly.Length..];
        Assert.Equal(continuation, doc.RootElement.GetProperty("text").GetString());

        (code, string stdout, err) = Run("run", onnx, "--prompt", prompt, "-n", "4", "--greedy");
        Assert.True(code == 0, err);
        Assert.Equal(prompt + continuation + "\n", stdout.ReplaceLineEndings("\n"));
    }
}
