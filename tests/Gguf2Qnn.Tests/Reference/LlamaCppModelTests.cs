using Gguf2Qnn.Reference;
using Xunit;
using Xunit.Abstractions;

namespace Gguf2Qnn.Tests.Reference;

[Collection(LlamaCppCollection.Name)]
[Trait("Category", "Reference")]
public sealed class LlamaCppModelTests(StoriesModelFixture fixture, ITestOutputHelper output)
{
    private const string Prompt = "Once upon a time";

    private LlamaCppModel Model => fixture.Model;

    [Fact]
    public void Stories260K_HasVocab512_BosAndEos()
    {
        Assert.Equal(512, Model.VocabSize);
        Assert.Equal(1, Model.BosToken);
        Assert.Contains(2, Model.EndOfGenerationTokens);
        Assert.DoesNotContain(1, Model.EndOfGenerationTokens);
        output.WriteLine($"llama.cpp {LlamaCppBackend.Commit}, ggml {LlamaCppBackend.GgmlVersion}, variant {LlamaCppBackend.Variant}, from {LlamaCppBackend.LibraryDirectory}");
        output.WriteLine($"n_ctx {Model.ContextSize}, n_batch {Model.BatchSize}, EOG {{{string.Join(", ", Model.EndOfGenerationTokens)}}}");
    }

    [Fact]
    public void Tokenize_WithSpecial_StartsWithBos()
    {
        var withBos = Model.Tokenize(Prompt, addSpecial: true, parseSpecial: false);
        var without = Model.Tokenize(Prompt, addSpecial: false, parseSpecial: false);

        Assert.Equal(1, withBos[0]);
        Assert.Equal(without, withBos[1..]);
        Assert.NotEqual(1, without[0]);
    }

    [Fact]
    public void Detokenize_RoundTripsText_AndPiecesConcatenate()
    {
        var ids = Model.Tokenize(Prompt, addSpecial: false, parseSpecial: false);

        Assert.Equal(Prompt, Model.Detokenize(ids));
        // SPM pieces carry the word-initial space (▁) that llama_detokenize strips from the first token.
        Assert.Equal(" " + Prompt, string.Concat(ids.Select(Model.TokenToPiece)));
        Assert.Equal("<s>", Model.TokenToPiece(1));
    }

    [Fact]
    public void EvaluateLogits_ReturnsFiniteRowOfVocabSizePerPosition()
    {
        var ids = Model.Tokenize(Prompt, addSpecial: true, parseSpecial: false);

        var logits = Model.EvaluateLogits(ids);

        Assert.Equal(ids.Length, logits.Length);
        Assert.All(logits, row =>
        {
            Assert.Equal(512, row.Length);
            Assert.All(row, v => Assert.True(float.IsFinite(v)));
        });
        // Different contexts give different predictions.
        Assert.NotEqual(logits[0], logits[^1]);
    }

    [Fact]
    public void EvaluateLogits_InSmallBatches_MatchesOneBatch()
    {
        var ids = Model.Tokenize("Once upon a time, there was a little girl named Lily. She loved to play outside.", true, false);
        Assert.True(ids.Length > 14);

        using var small = LlamaCppModel.Load(TestPaths.Stories260K, new LlamaCppOptions { Threads = 2, BatchSize = 7 });
        Assert.Equal(7, small.BatchSize);
        var chunked = small.EvaluateLogits(ids);
        var whole = Model.EvaluateLogits(ids);

        var maxDiff = 0.0;
        for (var p = 0; p < ids.Length; p++)
        {
            Assert.Equal(ArgMax(whole[p]), ArgMax(chunked[p]));
            for (var v = 0; v < whole[p].Length; v++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(whole[p][v] - chunked[p][v]));
            }
        }

        output.WriteLine($"{ids.Length} positions, batch 7 vs batch 512: max |Δlogit| = {maxDiff:g3}");
        Assert.True(maxDiff < 1e-3, $"max |Δlogit| {maxDiff}");
    }

    [Fact]
    public void GenerateGreedy_FirstToken_IsArgMaxOfLastPosition()
    {
        var ids = Model.Tokenize(Prompt, addSpecial: true, parseSpecial: false);

        var last = Model.EvaluateLogits(ids)[^1];
        var generated = Model.GenerateGreedy(ids, 1);

        Assert.Single(generated);
        Assert.Equal(ArgMax(last), generated[0]);
    }

    [Fact]
    public void GenerateGreedy_IsDeterministic_AndMatchesTeacherForcedLogits()
    {
        var ids = Model.Tokenize(Prompt, addSpecial: true, parseSpecial: false);

        var first = Model.GenerateGreedy(ids, 40);
        var second = Model.GenerateGreedy(ids, 40);

        Assert.Equal(first, second);
        Assert.InRange(first.Length, 1, 40);
        output.WriteLine($"greedy: [{string.Join(", ", first)}] \"{Model.Detokenize(first)}\"");

        // Feeding prompt + generated back in one pass must reproduce each greedy choice.
        var logits = Model.EvaluateLogits([.. ids, .. first[..^1]]);
        for (var i = 0; i < first.Length; i++)
        {
            Assert.Equal(first[i], ArgMax(logits[ids.Length - 1 + i]));
        }
    }

    [Fact]
    public void GenerateGreedy_StopsAfterEndOfGeneration_OrAtMax()
    {
        var ids = Model.Tokenize(Prompt, addSpecial: true, parseSpecial: false);

        var all = Model.GenerateGreedy(ids, 200, stopAtEndOfGeneration: false);
        var stopped = Model.GenerateGreedy(ids, 200);

        Assert.Equal(200, all.Length);
        var eog = Array.FindIndex(all, Model.EndOfGenerationTokens.Contains);
        if (eog >= 0)
        {
            Assert.Equal(all[..(eog + 1)], stopped);
        }
        else
        {
            Assert.Equal(all, stopped);
        }

        output.WriteLine($"first end-of-generation at {eog}");
    }

    [Fact]
    public void InvalidInput_IsRejectedBeforeLlamaCpp()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Model.EvaluateLogits([1, 512]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Model.EvaluateLogits([-1]));
        Assert.Throws<ArgumentException>(() => Model.GenerateGreedy([], 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => Model.GenerateGreedy([1], Model.ContextSize + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Model.EvaluateLogits(new int[Model.ContextSize + 1]));
        Assert.Empty(Model.EvaluateLogits([]));
    }

    [Fact]
    public void Load_MissingFile_Throws()
    {
        Assert.Throws<FileNotFoundException>(() => LlamaCppModel.Load(Path.Combine(TestPaths.Models, "absent.gguf")));
    }

    [Fact]
    public void Load_NotAGguf_ThrowsLlamaCppException()
    {
        var dir = TestPaths.NewTempDir("llamacpp-bad");
        var path = Path.Combine(dir, "bad.gguf");
        File.WriteAllBytes(path, "GGUF\u0003\0\0\0garbage"u8.ToArray());
        try
        {
            var e = Assert.Throws<LlamaCppException>(() => LlamaCppModel.Load(path));
            output.WriteLine(e.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Bench_MeasuresPositiveFiniteSpeeds()
    {
        var timings = Model.Bench(promptTokens: 64, genTokens: 16);

        Assert.Equal(64, timings.PromptTokens);
        Assert.Equal(16, timings.GeneratedTokens);
        Assert.True(timings.PrefillSeconds > 0 && timings.DecodeSeconds > 0);
        Assert.True(double.IsFinite(timings.PrefillTokensPerSecond) && timings.PrefillTokensPerSecond > 0);
        Assert.True(double.IsFinite(timings.DecodeTokensPerSecond) && timings.DecodeTokensPerSecond > 0);
        output.WriteLine($"pp64 {timings.PrefillTokensPerSecond:F0} tok/s, tg16 {timings.DecodeTokensPerSecond:F0} tok/s, TTFT {timings.TimeToFirstTokenMilliseconds:F2} ms");
        Assert.Throws<ArgumentOutOfRangeException>(() => Model.Bench(Model.BatchSize + 1, 1));
    }

    private static int ArgMax(float[] values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }

        return best;
    }
}
