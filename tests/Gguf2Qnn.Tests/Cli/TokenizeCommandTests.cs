using System.Text.Json;
using Gguf2Qnn.Artifacts;
using Gguf2Qnn.Cli;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Reference;
using Gguf2Qnn.Tests.Reference;
using Xunit;

namespace Gguf2Qnn.Tests.Cli;

/// <summary><c>gguf2qnn tokenize</c> / <c>detokenize</c> on stories260K, compared with llama.cpp's own tokenizer.</summary>
[Collection(LlamaCppCollection.Name)]
[Trait("Category", "Cli")]
public sealed class TokenizeCommandTests(StoriesModelFixture fixture)
{
    private static readonly string[] Texts =
    [
        "Once upon a time, there was a little girl named Lily.",
        " leading space and  double  spaces\n\nnew lines",
        "<s>special</s> tokens <unk> as text",
        "digits 12345, emoji 🦙 and accents: café",
        "",
    ];

    private LlamaCppModel Model => fixture.Model;

    [Fact]
    public void TokenizeMatchesLlamaCpp()
    {
        foreach (var text in Texts)
        {
            Assert.Equal(Model.Tokenize(text, addSpecial: true, parseSpecial: false), Ids(Run("tokenize", TestPaths.Stories260K, text)));
            Assert.Equal(Model.Tokenize(text, addSpecial: false, parseSpecial: false), Ids(Run("tokenize", TestPaths.Stories260K, text, "--no-bos")));
            Assert.Equal(Model.Tokenize(text, addSpecial: true, parseSpecial: true), Ids(Run("tokenize", TestPaths.Stories260K, text, "--special")));
            Assert.Equal(Model.Tokenize(text, addSpecial: false, parseSpecial: true), Ids(Run("tokenize", TestPaths.Stories260K, text, "--special", "--no-bos")));
        }
    }

    [Fact]
    public void TokenizeWordPieceAddsClsAndSepLikeLlamaCpp()
    {
        // bert vocabulary: llama_tokenize(add_special) gives [CLS] … [SEP]; --no-bos leaves both out.
        string path = Gguf2Qnn.Tests.Tokenization.VocabVectors.GgufPath("bert-bge");
        using var reference = new Gguf2Qnn.Tests.Tokenization.LlamaCppVocab(path);
        const string text = "Hello world, Äpfel!";
        Assert.Equal(reference.Tokenize(text, addSpecial: true, parseSpecial: false), Ids(Run("tokenize", path, text)));
        Assert.Equal(reference.Tokenize(text, addSpecial: false, parseSpecial: false), Ids(Run("tokenize", path, text, "--no-bos")));
    }

    [Fact]
    public void ConvertOfABertVocabSaysTheArchitectureIsNotSupported()
    {
        string dir = TestPaths.NewTempDir("bert-convert");
        try
        {
            var (code, _, err) = RunCode("convert", Gguf2Qnn.Tests.Tokenization.VocabVectors.GgufPath("bert-bge"), "-o", dir);
            Assert.Equal(2, code);
            Assert.Contains("'bert' is not supported", err, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void TokenizeJsonIsAnArray()
    {
        const string text = "Once upon a time";
        var stdout = Run("tokenize", TestPaths.Stories260K, text, "--json");
        var ids = JsonSerializer.Deserialize<int[]>(stdout);
        Assert.Equal(Model.Tokenize(text, addSpecial: true, parseSpecial: false), ids);
        Assert.StartsWith("[", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void DetokenizeMatchesLlamaCpp()
    {
        foreach (var text in Texts.Where(t => t.Length > 0))
        {
            var ids = Model.Tokenize(text, addSpecial: true, parseSpecial: true);
            var comma = string.Join(",", ids);
            var spaced = string.Join(" ", ids);
            Assert.Equal(Model.Detokenize(ids) + "\n", Run("detokenize", TestPaths.Stories260K, comma));
            Assert.Equal(Model.Detokenize(ids) + "\n", Run(["detokenize", TestPaths.Stories260K, .. ids.Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))]));
            Assert.Equal(Model.Detokenize(ids, unparseSpecial: true) + "\n", Run("detokenize", TestPaths.Stories260K, spaced, "--special"));
            using var json = JsonDocument.Parse(Run("detokenize", TestPaths.Stories260K, comma, "--json"));
            Assert.Equal(Model.Detokenize(ids), json.RootElement.GetProperty("text").GetString());
            Assert.Equal(ids, json.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        }
    }

    [Fact]
    public void ArtifactFolderUsesItsTokenizerGguf()
    {
        var dir = TestPaths.NewTempDir("tokcli");
        using (var file = GgufFile.Open(TestPaths.Stories260K))
        {
            TokenizerArtifact.Write(file, dir);
        }

        const string text = "The cat sat.";
        Assert.Equal(Model.Tokenize(text, addSpecial: true, parseSpecial: false), Ids(Run("tokenize", dir, text)));
        Assert.Equal("The cat sat.\n", Run("detokenize", dir, string.Join(",", Model.Tokenize(text, addSpecial: false, parseSpecial: false))));
    }

    [Fact]
    public void BadInputIsExitCode2()
    {
        Assert.Equal(2, RunCode("detokenize", TestPaths.Stories260K, "1,x,3").Code);
        Assert.Equal(2, RunCode("detokenize", TestPaths.Stories260K, "99999").Code);
        Assert.Equal(2, RunCode("tokenize", "/nonexistent.gguf", "text").Code);
        var (code, _, err) = RunCode("tokenize", TestPaths.NewTempDir("empty-artifacts"), "text");
        Assert.Equal(2, code);
        Assert.Contains("tokenizer.gguf", err, StringComparison.Ordinal);
    }

    private static int[] Ids(string stdout) =>
        stdout.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    private static string Run(params string[] args)
    {
        var (code, stdout, err) = RunCode(args);
        Assert.True(code == 0, err);
        return stdout;
    }

    private static (int Code, string Out, string Err) RunCode(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = GgufCli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }
}
