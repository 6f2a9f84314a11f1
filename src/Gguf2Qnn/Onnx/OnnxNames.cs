using System.Globalization;

namespace Gguf2Qnn.Onnx;

/// <summary>
/// The one place that spells node, value and initializer names, so a graph reads the same everywhere:
/// nodes are paths such as <c>layers.3/attn/q_proj</c>; a node's outputs are <c>{node}/output_{k}</c>;
/// an initializer owned by a node is <c>{node}/{role}</c> (for example <c>layers.3/attn/q_proj/weight</c>).
/// Graph inputs and outputs use the ONNX Runtime GenAI names (<see cref="PastKey"/>, <see cref="PresentKey"/>, ...).
/// </summary>
public static class OnnxNames
{
    /// <summary>Graph input: token ids, int64 [batch_size, sequence_length].</summary>
    public const string InputIds = "input_ids";

    /// <summary>Graph input: 1 for real tokens, int64 [batch_size, total_sequence_length].</summary>
    public const string AttentionMask = "attention_mask";

    /// <summary>Graph output: float32 [batch_size, sequence_length, vocab_size] (the cpu target: the last
    /// <see cref="NumLogitsToKeep"/> positions when that input is fed and not 0).</summary>
    public const string Logits = "logits";

    /// <summary>
    /// Optional graph input (a default of 0 is stored in the model): int64 [1], how many of the last positions get
    /// logits; 0 means all of them (the ONNX Runtime GenAI contract), 1 only the last (what a prefill for generation
    /// needs). The name follows Hugging Face transformers' <c>num_logits_to_keep</c>.
    /// </summary>
    public const string NumLogitsToKeep = "num_logits_to_keep";

    /// <summary>ONNX Runtime GenAI's printf pattern for past keys (genai_config.json past_key_names).</summary>
    public const string PastKeyPattern = "past_key_values.%d.key";

    /// <summary>ONNX Runtime GenAI's printf pattern for past values.</summary>
    public const string PastValuePattern = "past_key_values.%d.value";

    /// <summary>ONNX Runtime GenAI's printf pattern for present keys.</summary>
    public const string PresentKeyPattern = "present.%d.key";

    /// <summary>ONNX Runtime GenAI's printf pattern for present values.</summary>
    public const string PresentValuePattern = "present.%d.value";

    /// <summary><c>past_key_values.{layer}.key</c>.</summary>
    public static string PastKey(int layer) => Format(PastKeyPattern, layer);

    /// <summary><c>past_key_values.{layer}.value</c>.</summary>
    public static string PastValue(int layer) => Format(PastValuePattern, layer);

    /// <summary><c>present.{layer}.key</c>.</summary>
    public static string PresentKey(int layer) => Format(PresentKeyPattern, layer);

    /// <summary><c>present.{layer}.value</c>.</summary>
    public static string PresentValue(int layer) => Format(PresentValuePattern, layer);

    /// <summary>A node path inside decoder layer <paramref name="layer"/>: <c>layers.{layer}/{path}</c>.</summary>
    public static string Layer(int layer, string path) =>
        string.Create(CultureInfo.InvariantCulture, $"layers.{layer}/{path}");

    /// <summary>The name of output <paramref name="index"/> of node <paramref name="node"/>.</summary>
    public static string Output(string node, int index = 0) =>
        string.Create(CultureInfo.InvariantCulture, $"{node}/output_{index}");

    /// <summary>The name of an initializer owned by <paramref name="node"/> (role: weight, bias, scales...).</summary>
    public static string Initializer(string node, string role) => node + "/" + role;

    private static string Format(string pattern, int layer) =>
        pattern.Replace("%d", layer.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
}
