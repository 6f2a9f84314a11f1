using System.Text.Json;
using Gguf2Qnn.Tokenization;
using Xunit;

namespace Gguf2Qnn.Tests.Tokenization;

/// <summary>
/// A Qwen2/Qwen3 vocabulary built in memory from ../shared/models/vocab/qwen3-hf/tokenizer.json (SOURCES.md §5), the
/// way llama.cpp's convert_hf_to_gguf.py lays it out for <c>tokenizer.ggml.model = gpt2</c>, <c>pre = qwen2</c>:
/// tokens by id, model vocabulary as normal tokens, added tokens as control tokens when marked special (or spelled
/// <c>&lt;|…|&gt;</c>) and as user-defined tokens otherwise, merges as "left right". Loaded once for the test
/// collection <see cref="QwenTokenizerCollection"/> (the JSON is 11 MB).
/// </summary>
public sealed class QwenTokenizerFixture
{
    public QwenTokenizerFixture()
    {
        using var stream = File.OpenRead(Path.Combine(TestPaths.Vocab, "qwen3-hf", "tokenizer.json"));
        using var json = JsonDocument.Parse(stream);
        var model = json.RootElement.GetProperty("model");

        var byId = new SortedDictionary<int, (string Text, GgufTokenType Type)>();
        foreach (var entry in model.GetProperty("vocab").EnumerateObject())
        {
            byId[entry.Value.GetInt32()] = (entry.Name, GgufTokenType.Normal);
        }

        foreach (var added in json.RootElement.GetProperty("added_tokens").EnumerateArray())
        {
            string content = added.GetProperty("content").GetString()!;
            bool special = added.GetProperty("special").GetBoolean() || (content.StartsWith("<|", StringComparison.Ordinal) && content.EndsWith("|>", StringComparison.Ordinal));
            byId[added.GetProperty("id").GetInt32()] = (content, special ? GgufTokenType.Control : GgufTokenType.UserDefined);
        }

        int count = byId.Keys.Max() + 1;
        var tokens = new string[count];
        var types = new GgufTokenType[count];
        for (int id = 0; id < count; id++)
        {
            // convert_hf_to_gguf.py fills holes with "[PAD<id>]" user-defined tokens.
            (tokens[id], types[id]) = byId.TryGetValue(id, out var t) ? t : ($"[PAD{id}]", GgufTokenType.UserDefined);
        }

        var merges = model.GetProperty("merges").EnumerateArray()
            .Select(m => m.ValueKind == JsonValueKind.Array ? m[0].GetString() + " " + m[1].GetString() : m.GetString()!)
            .ToArray();

        Vocab = new TokenizerVocab
        {
            Model = "gpt2",
            Pre = "qwen2",
            Tokens = tokens,
            TokenTypes = types,
            Merges = merges,
            EosTokenId = tokens.AsSpan().IndexOf("<|endoftext|>"),
            PaddingTokenId = tokens.AsSpan().IndexOf("<|endoftext|>"),
            AddBosToken = false,
        };
        Tokenizer = GgufTokenizer.Create(Vocab);
    }

    public TokenizerVocab Vocab { get; }

    public GgufTokenizer Tokenizer { get; }
}

/// <summary>The test classes that share one <see cref="QwenTokenizerFixture"/>.</summary>
[CollectionDefinition(Name)]
public sealed class QwenTokenizerCollection : ICollectionFixture<QwenTokenizerFixture>
{
    public const string Name = "Qwen tokenizer";
}
