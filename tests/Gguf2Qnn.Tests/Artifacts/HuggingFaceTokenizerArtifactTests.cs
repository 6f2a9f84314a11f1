using System.Text.Json.Nodes;
using Gguf2Qnn.Artifacts;
using Gguf2Qnn.Conversion;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Tests.Tokenization;
using Gguf2Qnn.Tokenization;
using Xunit;

namespace Gguf2Qnn.Tests.Artifacts;

[Trait("Category", "Tokenization")]
public class HuggingFaceTokenizerArtifactTests
{
    [Fact]
    public void ConvertWritesTheHuggingFaceFilesByDefault()
    {
        var defaults = new ConvertOptions { GgufPath = "x.gguf", OutputDirectory = "out" }.ArtifactWriters;
        Assert.Contains(HuggingFaceTokenizerArtifact.Instance, defaults);
        Assert.Contains(TokenizerArtifact.Instance, defaults);
    }

    [Fact]
    public void Stories260KConfigCarriesTheGgufTokenizerSettings()
    {
        // stories260K (SOURCES.md): llama / SentencePiece, 512 tokens, <unk> 0, <s> 1, </s> 2, no chat template.
        string dir = TestPaths.NewTempDir("hf-stories");
        try
        {
            using var gguf = GgufFile.Open(TestPaths.Stories260K);
            var files = HuggingFaceTokenizerArtifact.Write(gguf, dir, modelMaxLength: 2048);
            Assert.Equal([HuggingFaceExport.TokenizerFileName, HuggingFaceExport.TokenizerConfigFileName], files);

            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, HuggingFaceExport.TokenizerConfigFileName)))!;
            Assert.True(config["add_bos_token"]!.GetValue<bool>());
            Assert.False(config["add_eos_token"]!.GetValue<bool>());
            Assert.Equal("<s>", config["bos_token"]!.GetValue<string>());
            Assert.Equal("</s>", config["eos_token"]!.GetValue<string>());
            Assert.Equal("<unk>", config["unk_token"]!.GetValue<string>());
            Assert.Null(config["pad_token"]);
            Assert.Null(config["chat_template"]);
            Assert.Equal(2048, config["model_max_length"]!.GetValue<int>());
            Assert.True(config["added_tokens_decoder"]!["1"]!["special"]!.GetValue<bool>());

            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, HuggingFaceExport.TokenizerFileName)))!;
            Assert.Equal("BPE", json["model"]!["type"]!.GetValue<string>());
            Assert.True(json["model"]!["byte_fallback"]!.GetValue<bool>());
            Assert.Equal(512, json["model"]!["vocab"]!.AsObject().Count);

            // Hugging Face tokenizers reads it and agrees with the GGUF tokenizer (BOS included: add_special_tokens).
            var ours = GgufTokenizer.Create(gguf);
            using var hf = new Tokenizers.DotNet.Tokenizer(Path.Combine(dir, HuggingFaceExport.TokenizerFileName));
            const string text = "Once upon a time, there was a little girl named Lily.";
            Assert.Equal(ours.Encode(text, addBos: true), hf.Encode(text).Select(id => (int)id));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void ChatTemplateAndSpecialTokensGoIntoTheConfig()
    {
        var vocab = TestTokenizers.ForVocab("gpt-2").Vocab;
        var tokenizer = GgufTokenizer.Create(vocab with { PaddingTokenId = vocab.EosTokenId });
        string dir = TestPaths.NewTempDir("hf-config");
        try
        {
            const string template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}";
            HuggingFaceExport.Write(tokenizer, dir, new HuggingFaceTokenizerConfigOptions { ChatTemplate = template, ModelMaxLength = 1024 });
            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, HuggingFaceExport.TokenizerConfigFileName)))!;
            Assert.Equal(template, config["chat_template"]!.GetValue<string>());
            Assert.Equal("<|endoftext|>", config["eos_token"]!.GetValue<string>());
            Assert.Equal("<|endoftext|>", config["pad_token"]!.GetValue<string>());
            Assert.False(config["add_bos_token"]!.GetValue<bool>());
            Assert.True(config["clean_up_tokenization_spaces"]!.GetValue<bool>()); // llama.cpp's clean_spaces for gpt-2

            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, HuggingFaceExport.TokenizerFileName)))!;
            var added = json["added_tokens"]!.AsArray().Single(t => t!["content"]!.GetValue<string>() == "<|endoftext|>")!;
            Assert.Equal(50256, added["id"]!.GetValue<int>());
            Assert.True(added["special"]!.GetValue<bool>());
            Assert.Equal("ByteLevel", json["decoder"]!["type"]!.GetValue<string>());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
