using Gguf2Qnn.Gguf;
using Gguf2Qnn.Reference;
using Gguf2Qnn.Tokenization;
using Xunit;

namespace Gguf2Qnn.Tests.Tokenization;

[Trait("Category", "Tokenization")]
public sealed class Llama2VocabTests
{
    [Fact]
    public void LlamaEmojiCppWithBosIsLlamaCppsIds()
    {
        // Issue 4's vector for the Llama-2 SentencePiece vocab (byte fallback for 🦙 = F0 9F A6 99 → <0xF0>… = 243, 162, 169, 156);
        // llama.cpp itself (LLamaSharp) is asked too, on the same file.
        int[] expected = [1, 910, 338, 29871, 243, 162, 169, 156, 29889, 8223];
        using var file = GgufFile.Open(TestPaths.LlamaTinyRandom);
        var ours = GgufTokenizer.Create(file).Encode("This is 🦙.cpp", addBos: true);
        Assert.Equal(expected, ours);

        using var reference = LlamaCppModel.Load(TestPaths.LlamaTinyRandom);
        Assert.Equal(expected, reference.Tokenize("This is 🦙.cpp", addSpecial: true, parseSpecial: false));
    }
}
