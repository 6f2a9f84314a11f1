using System.Text.Json;
using System.Text.Json.Nodes;
using Gguf2Qnn.Architectures;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Onnx;

namespace Gguf2Qnn.Targets;

/// <summary>
/// Writes <c>genai_config.json</c> in ONNX Runtime GenAI's format (its config.h: <c>model</c> with token ids,
/// context_length, vocab_size, type and <c>decoder</c>; <c>search</c> with the default generation settings).
/// </summary>
public static class GenAiConfig
{
    /// <summary>The file name ONNX Runtime GenAI looks for.</summary>
    public const string FileName = "genai_config.json";

    /// <summary>
    /// Builds the JSON. Token ids come from <c>tokenizer.ggml.*</c>: eos_token_id is the EOS id followed by the EOT
    /// and EOM ids when present (an array when there is more than one); pad_token_id is the padding id, else the
    /// first EOS id (0 without one); bos_token_id is omitted when the file has none. An id outside the vocabulary
    /// (GGUF files store "none" as uint32 0xFFFFFFFF) counts as absent: GenAI reads these fields as int32 and rejects
    /// the whole config otherwise.
    /// </summary>
    /// <param name="gguf">The source file (token ids).</param>
    /// <param name="config">The model's configuration.</param>
    /// <param name="modelFileName">model.decoder.filename.</param>
    /// <param name="contextLength">model.context_length and search.max_length.</param>
    /// <param name="pastPresentShareBuffer">search.past_present_share_buffer: true only for a graph whose every KV cache
    /// goes through GroupQueryAttention, which accepts one buffer as both past and present (GenAI then allocates the
    /// cache once, for max_length positions, instead of growing it every step); a Concat cache needs false.</param>
    public static JsonObject Build(IGgufSource gguf, ModelConfig config, string modelFileName, int contextLength, bool pastPresentShareBuffer = false)
    {
        ArgumentNullException.ThrowIfNull(gguf);
        ArgumentNullException.ThrowIfNull(config);
        var family = ArchitectureFamily.ForArchitecture(config.Architecture);

        var eos = new List<long>();
        foreach (string key in new[] { GgufKeys.EosTokenId, GgufKeys.EotTokenId, GgufKeys.EomTokenId })
        {
            if (TryGetTokenId(gguf, config, key, out long id) && !eos.Contains(id))
            {
                eos.Add(id);
            }
        }

        var model = new JsonObject();
        if (TryGetTokenId(gguf, config, GgufKeys.BosTokenId, out long bos))
        {
            model["bos_token_id"] = bos;
        }

        model["context_length"] = contextLength;
        model["decoder"] = new JsonObject
        {
            ["session_options"] = new JsonObject { ["log_id"] = "onnxruntime-genai", ["provider_options"] = new JsonArray() },
            ["filename"] = modelFileName,
            ["head_size"] = config.HeadDim,
            ["hidden_size"] = config.EmbeddingLength,
            ["inputs"] = new JsonObject
            {
                ["input_ids"] = OnnxNames.InputIds,
                ["attention_mask"] = OnnxNames.AttentionMask,
                ["past_key_names"] = OnnxNames.PastKeyPattern,
                ["past_value_names"] = OnnxNames.PastValuePattern,
            },
            ["outputs"] = new JsonObject
            {
                ["logits"] = OnnxNames.Logits,
                ["present_key_names"] = OnnxNames.PresentKeyPattern,
                ["present_value_names"] = OnnxNames.PresentValuePattern,
            },
            ["num_attention_heads"] = config.HeadCount,
            ["num_hidden_layers"] = config.BlockCount,
            ["num_key_value_heads"] = config.HeadCountKv,
        };
        model["eos_token_id"] = eos.Count switch
        {
            0 => null,
            1 => eos[0],
            _ => new JsonArray(eos.Select(e => (JsonNode)e).ToArray()),
        };
        model["pad_token_id"] = TryGetTokenId(gguf, config, GgufKeys.PaddingTokenId, out long pad) ? pad : (eos.Count > 0 ? eos[0] : 0);
        model["type"] = family.GenAiModelType;
        model["vocab_size"] = config.VocabSize;

        return new JsonObject
        {
            ["model"] = model,
            ["search"] = new JsonObject
            {
                ["diversity_penalty"] = 0.0,
                ["do_sample"] = false,
                ["early_stopping"] = true,
                ["length_penalty"] = 1.0,
                ["max_length"] = contextLength,
                ["min_length"] = 0,
                ["no_repeat_ngram_size"] = 0,
                ["num_beams"] = 1,
                ["num_return_sequences"] = 1,
                ["past_present_share_buffer"] = pastPresentShareBuffer,
                ["repetition_penalty"] = 1.0,
                ["temperature"] = 1.0,
                ["top_k"] = 1,
                ["top_p"] = 1.0,
            },
        };
    }

    // A token id key whose value is inside [0, vocab_size).
    private static bool TryGetTokenId(IGgufSource gguf, ModelConfig config, string key, out long id) =>
        gguf.TryGetInt64(key, out id) && id >= 0 && id < config.VocabSize;

    /// <summary>Writes the JSON (indented, UTF-8) to <paramref name="directory"/>/genai_config.json.</summary>
    public static string Write(string directory, JsonObject config)
    {
        string path = Path.Combine(directory, FileName);
        File.WriteAllText(path, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return path;
    }
}
