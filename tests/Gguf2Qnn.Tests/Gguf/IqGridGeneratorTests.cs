using Gguf2Qnn.Gguf;
using Gguf2Qnn.Reference;
using Xunit;

namespace Gguf2Qnn.Tests.Gguf;

/// <summary>
/// The committed <c>IqGrids.g.cs</c> is exactly what <see cref="IqGridGenerator"/> reads out of ggml's to_float; with
/// <c>GGUF2QNN_WRITE_IQ_GRIDS=1</c> the test rewrites the file instead of failing.
/// </summary>
[Trait("Category", "Gguf")]
public sealed class IqGridGeneratorTests
{
    [Fact]
    public void CommittedTablesAreWhatGgmlToFloatProduces()
    {
        var t = IqGridGenerator.FromGgml();
        if (Environment.GetEnvironmentVariable("GGUF2QNN_WRITE_IQ_GRIDS") == "1")
        {
            var provenance = $"libggml-base {LlamaCppBackend.GgmlVersion} (llama.cpp {LlamaCppBackend.Commit}) of LLamaSharp.Backend.Cpu 0.30.0";
            File.WriteAllText(Path.Combine(TestPaths.RepoRoot, IqGridGenerator.RelativePath), IqGridGenerator.ToCSharp(t, provenance));
            return;
        }

        Assert.Equal(t.Iq2xxs, IqGrids.Iq2xxs.ToArray());
        Assert.Equal(t.Iq2xs, IqGrids.Iq2xs.ToArray());
        Assert.Equal(t.Iq2s, IqGrids.Iq2s.ToArray());
        Assert.Equal(t.Iq3xxs, IqGrids.Iq3xxs.ToArray());
        Assert.Equal(t.Iq3s, IqGrids.Iq3s.ToArray());
        Assert.Equal(t.Iq1s, IqGrids.Iq1s.ToArray());
        Assert.Equal(t.Signs, IqGrids.Signs.ToArray());
        Assert.Equal(t.Iq4nl, IqGrids.Iq4nl.ToArray());
        Assert.Equal(t.Mxfp4, IqGrids.Mxfp4.ToArray());
    }

    [Fact]
    public void SignTableIsTheEvenParityCompletionOfTheSevenBitIndex()
    {
        // Hand rule (ggml-common.h ksigns_iq2xs): bit 7 makes the number of set bits even.
        for (var i = 0; i < 128; i++)
        {
            var expected = i | ((System.Numerics.BitOperations.PopCount((uint)i) & 1) << 7);
            Assert.Equal(expected, IqGrids.Signs[i]);
        }
    }
}
