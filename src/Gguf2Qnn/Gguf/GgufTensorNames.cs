namespace Gguf2Qnn.Gguf;

/// <summary>
/// GGUF tensor names (GGUF spec, "Standardized tensor names"; gguf-py <c>TENSOR_NAMES</c>): <c>token_embd.weight</c>,
/// <c>blk.{i}.attn_q.weight</c>, …
/// </summary>
public static class GgufTensorNames
{
    /// <summary><c>token_embd.weight</c>: ne = (hidden, vocab).</summary>
    public const string TokenEmbedding = "token_embd.weight";

    /// <summary><c>output_norm.weight</c>: ne = (hidden).</summary>
    public const string OutputNorm = "output_norm.weight";

    /// <summary><c>output.weight</c> (lm head): ne = (hidden, vocab); absent when tied to the embedding.</summary>
    public const string Output = "output.weight";

    /// <summary><c>rope_freqs.weight</c>: per-dimension-pair rope frequency factors, ne = (rope_dim / 2) (Llama 3.x).</summary>
    public const string RopeFrequencies = "rope_freqs.weight";

    /// <summary><c>blk.{i}.{suffix}</c>.</summary>
    public static string Block(int layer, string suffix) => $"blk.{layer}.{suffix}";

    /// <summary><c>blk.{i}.attn_norm.weight</c>.</summary>
    public static string AttnNorm(int i) => Block(i, "attn_norm.weight");

    /// <summary><c>blk.{i}.attn_q.weight</c>: ne = (hidden, heads·head_dim).</summary>
    public static string AttnQ(int i) => Block(i, "attn_q.weight");

    /// <summary><c>blk.{i}.attn_k.weight</c>: ne = (hidden, kv_heads·head_dim).</summary>
    public static string AttnK(int i) => Block(i, "attn_k.weight");

    /// <summary><c>blk.{i}.attn_v.weight</c>: ne = (hidden, kv_heads·head_dim).</summary>
    public static string AttnV(int i) => Block(i, "attn_v.weight");

    /// <summary><c>blk.{i}.attn_q.bias</c>.</summary>
    public static string AttnQBias(int i) => Block(i, "attn_q.bias");

    /// <summary><c>blk.{i}.attn_k.bias</c>.</summary>
    public static string AttnKBias(int i) => Block(i, "attn_k.bias");

    /// <summary><c>blk.{i}.attn_v.bias</c>.</summary>
    public static string AttnVBias(int i) => Block(i, "attn_v.bias");

    /// <summary><c>blk.{i}.attn_output.weight</c>: ne = (heads·head_dim, hidden).</summary>
    public static string AttnOutput(int i) => Block(i, "attn_output.weight");

    /// <summary><c>blk.{i}.attn_qkv.weight</c>: fused Q, K and V projection, ne = (embd, q_width + 2·kv_width), rows Q then K then V (phi3).</summary>
    public static string AttnQkv(int i) => Block(i, "attn_qkv.weight");

    /// <summary><c>blk.{i}.post_attention_norm.weight</c>: RMSNorm weight on the attention output (gemma2), ne = [embedding_length].</summary>
    public static string AttnPostNorm(int i) => Block(i, "post_attention_norm.weight");

    /// <summary><c>blk.{i}.post_ffw_norm.weight</c>: RMSNorm weight on the MLP output (gemma2), ne = [embedding_length].</summary>
    public static string FfnPostNorm(int i) => Block(i, "post_ffw_norm.weight");

    /// <summary><c>blk.{i}.attn_q_norm.weight</c>: per-head RMSNorm weight of the queries, ne = (head_dim) (qwen3, gemma3).</summary>
    public static string AttnQNorm(int i) => Block(i, "attn_q_norm.weight");

    /// <summary><c>blk.{i}.attn_k_norm.weight</c>: per-head RMSNorm weight of the keys, ne = (head_dim) (qwen3, gemma3).</summary>
    public static string AttnKNorm(int i) => Block(i, "attn_k_norm.weight");

    /// <summary><c>blk.{i}.ffn_norm.weight</c>.</summary>
    public static string FfnNorm(int i) => Block(i, "ffn_norm.weight");

    /// <summary><c>blk.{i}.ffn_gate.weight</c>: ne = (hidden, ffn).</summary>
    public static string FfnGate(int i) => Block(i, "ffn_gate.weight");

    /// <summary><c>blk.{i}.ffn_up.weight</c>: ne = (hidden, ffn).</summary>
    public static string FfnUp(int i) => Block(i, "ffn_up.weight");

    /// <summary><c>blk.{i}.ffn_down.weight</c>: ne = (ffn, hidden).</summary>
    public static string FfnDown(int i) => Block(i, "ffn_down.weight");
}
