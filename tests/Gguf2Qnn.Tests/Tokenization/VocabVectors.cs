namespace Gguf2Qnn.Tests.Tokenization;

/// <summary>
/// llama.cpp's tokenizer test vectors (<c>models/ggml-vocab-*.gguf.inp/.out</c>, read as <c>tests/test-tokenizer-0.cpp</c>
/// reads them): the .inp cases are separated by <c>"\n__ggml_vocab_test__\n"</c> (the file ends with one), and each
/// .out line holds the expected ids of one case, tokenized without BOS and without parsing special tokens.
/// </summary>
internal static class VocabVectors
{
    private const string Separator = "\n__ggml_vocab_test__\n";

    public static string GgufPath(string name) => Path.Combine(TestPaths.Vocab, $"ggml-vocab-{name}.gguf");

    public static IReadOnlyList<(string Text, int[] Expected)> Load(string name)
    {
        string inp = File.ReadAllText(GgufPath(name) + ".inp");
        string[] outLines = File.ReadAllLines(GgufPath(name) + ".out");
        var texts = inp.Split(Separator);
        if (texts.Length != outLines.Length + 1 || texts[^1].Length != 0)
        {
            throw new InvalidDataException($"{name}: {texts.Length - 1} cases in .inp, {outLines.Length} lines in .out.");
        }

        return outLines
            .Select((line, i) => (texts[i], line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray()))
            .ToList();
    }

    /// <summary>Encodes every case; returns the number that match and a description of the first mismatch.</summary>
    public static (int Passed, int Total, string? FirstMismatch) Check(
        Gguf2Qnn.Tokenization.GgufTokenizer tokenizer, IReadOnlyList<(string Text, int[] Expected)> cases)
    {
        int passed = 0;
        string? first = null;
        foreach (var (text, expected) in cases)
        {
            int[] actual = tokenizer.Encode(text, addBos: false, parseSpecial: false);
            if (actual.AsSpan().SequenceEqual(expected))
            {
                passed++;
            }
            else
            {
                first ??= $"case \"{Escape(text)}\"\n  expected [{string.Join(' ', expected)}]\n  actual   [{string.Join(' ', actual)}]";
            }
        }

        return (passed, cases.Count, first);
    }

    private static string Escape(string s) => s.Replace("\\", "\\\\").Replace("\n", "\\n").Replace("\t", "\\t").Replace("\r", "\\r");
}
