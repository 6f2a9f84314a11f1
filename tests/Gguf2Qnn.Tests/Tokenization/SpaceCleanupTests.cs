using System.Text;
using Gguf2Qnn.Tokenization;
using Xunit;

namespace Gguf2Qnn.Tests.Tokenization;

/// <summary>llama.cpp's clean_spaces passes (llama_detokenize), cases worked out by hand.</summary>
[Trait("Category", "Tokenization")]
public class SpaceCleanupTests
{
    [Theory]
    [InlineData("Hello , world !", "Hello, world!")]
    [InlineData("a . b ?", "a. b?")]
    [InlineData("it ' s", "it's")]      // " ' " loses both spaces
    [InlineData("I 'm here", "I'm here")]
    [InlineData("we 're, you 've", "we're, you've")]
    [InlineData("don 't, I 'd, they 'll", "don 't, I 'd, they 'll")] // llama.cpp leaves these
    [InlineData(" ,", ",")]
    [InlineData("", "")]
    public void CleansLikeLlamaCpp(string input, string expected)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(input);
        int n = SpaceCleanup.Apply(bytes);
        Assert.Equal(expected, Encoding.UTF8.GetString(bytes, 0, n));
    }

    [Fact]
    public void CleaningIsLocalAtCutSafePairs()
    {
        // The stream decoder relies on: if text[c-2], text[c-1] are inert, clean(text) = clean(text[..c]) + clean(text[c..]).
        var random = new Random(1234);
        byte[] alphabet = Encoding.ASCII.GetBytes(" '?!.,smrevtlda");
        for (int trial = 0; trial < 20000; trial++)
        {
            byte[] text = Enumerable.Range(0, random.Next(2, 14)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray();
            for (int cut = 2; cut <= text.Length; cut++)
            {
                if (!SpaceCleanup.IsCutSafe(text[cut - 2], text[cut - 1]))
                {
                    continue;
                }

                Assert.Equal(Clean(text), Clean(text[..cut]) + Clean(text[cut..]));
            }
        }

        static string Clean(byte[] t)
        {
            byte[] copy = (byte[])t.Clone();
            return Encoding.ASCII.GetString(copy, 0, SpaceCleanup.Apply(copy));
        }
    }
}
