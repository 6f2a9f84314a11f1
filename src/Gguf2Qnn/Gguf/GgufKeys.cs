namespace Gguf2Qnn.Gguf;

/// <summary>
/// GGUF metadata key names (GGUF spec, "Standardized key-value pairs"; gguf-py <c>constants.py</c> <c>Keys</c>).
/// Architecture-specific keys are templates filled with <c>general.architecture</c>, e.g.
/// <c>HeadCountKv("qwen2")</c> = <c>qwen2.attention.head_count_kv</c>.
/// </summary>
public static class GgufKeys
{
    /// <summary><c>general.architecture</c> (string).</summary>
    public const string Architecture = "general.architecture";

    /// <summary><c>general.alignment</c> (uint32, a power of two; default 32).</summary>
    public const string Alignment = "general.alignment";

    /// <summary><c>general.name</c> (string).</summary>
    public const string Name = "general.name";

    /// <summary><c>general.file_type</c> (uint32, llama_ftype).</summary>
    public const string FileType = "general.file_type";

    /// <summary><c>general.quantization_version</c> (uint32).</summary>
    public const string QuantizationVersion = "general.quantization_version";

    /// <summary><c>tokenizer.ggml.model</c>: llama (SentencePiece), gpt2 (byte-level BPE), bert (WordPiece) …</summary>
    public const string TokenizerModel = "tokenizer.ggml.model";

    /// <summary><c>tokenizer.ggml.pre</c>: the pre-tokenizer family (qwen2, llama-bpe, …).</summary>
    public const string TokenizerPre = "tokenizer.ggml.pre";

    /// <summary><c>tokenizer.ggml.tokens</c> (string[]).</summary>
    public const string Tokens = "tokenizer.ggml.tokens";

    /// <summary><c>tokenizer.ggml.scores</c> (float32[]).</summary>
    public const string Scores = "tokenizer.ggml.scores";

    /// <summary><c>tokenizer.ggml.token_type</c> (int32[]: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte).</summary>
    public const string TokenType = "tokenizer.ggml.token_type";

    /// <summary><c>tokenizer.ggml.merges</c> (string[], "a b").</summary>
    public const string Merges = "tokenizer.ggml.merges";

    /// <summary><c>tokenizer.ggml.bos_token_id</c>.</summary>
    public const string BosTokenId = "tokenizer.ggml.bos_token_id";

    /// <summary><c>tokenizer.ggml.eos_token_id</c>.</summary>
    public const string EosTokenId = "tokenizer.ggml.eos_token_id";

    /// <summary><c>tokenizer.ggml.eot_token_id</c>.</summary>
    public const string EotTokenId = "tokenizer.ggml.eot_token_id";

    /// <summary><c>tokenizer.ggml.eom_token_id</c>.</summary>
    public const string EomTokenId = "tokenizer.ggml.eom_token_id";

    /// <summary><c>tokenizer.ggml.unknown_token_id</c>.</summary>
    public const string UnknownTokenId = "tokenizer.ggml.unknown_token_id";

    /// <summary><c>tokenizer.ggml.seperator_token_id</c> (sic, as in the spec).</summary>
    public const string SeparatorTokenId = "tokenizer.ggml.seperator_token_id";

    /// <summary><c>tokenizer.ggml.padding_token_id</c>.</summary>
    public const string PaddingTokenId = "tokenizer.ggml.padding_token_id";

    /// <summary><c>tokenizer.ggml.add_bos_token</c> (bool).</summary>
    public const string AddBosToken = "tokenizer.ggml.add_bos_token";

    /// <summary><c>tokenizer.ggml.add_eos_token</c> (bool).</summary>
    public const string AddEosToken = "tokenizer.ggml.add_eos_token";

    /// <summary><c>tokenizer.ggml.add_space_prefix</c> (bool).</summary>
    public const string AddSpacePrefix = "tokenizer.ggml.add_space_prefix";

    /// <summary><c>tokenizer.chat_template</c> (Jinja string).</summary>
    public const string ChatTemplate = "tokenizer.chat_template";

    /// <summary><c>{arch}.vocab_size</c>.</summary>
    public static string VocabSize(string arch) => arch + ".vocab_size";

    /// <summary><c>{arch}.context_length</c>.</summary>
    public static string ContextLength(string arch) => arch + ".context_length";

    /// <summary><c>{arch}.embedding_length</c> (hidden size).</summary>
    public static string EmbeddingLength(string arch) => arch + ".embedding_length";

    /// <summary><c>{arch}.block_count</c> (layers).</summary>
    public static string BlockCount(string arch) => arch + ".block_count";

    /// <summary><c>{arch}.feed_forward_length</c>.</summary>
    public static string FeedForwardLength(string arch) => arch + ".feed_forward_length";

    /// <summary><c>{arch}.attention.head_count</c>.</summary>
    public static string HeadCount(string arch) => arch + ".attention.head_count";

    /// <summary><c>{arch}.attention.head_count_kv</c>.</summary>
    public static string HeadCountKv(string arch) => arch + ".attention.head_count_kv";

    /// <summary><c>{arch}.attention.key_length</c>.</summary>
    public static string KeyLength(string arch) => arch + ".attention.key_length";

    /// <summary><c>{arch}.attention.value_length</c>.</summary>
    public static string ValueLength(string arch) => arch + ".attention.value_length";

    /// <summary><c>{arch}.attention.layer_norm_rms_epsilon</c>.</summary>
    public static string RmsEpsilon(string arch) => arch + ".attention.layer_norm_rms_epsilon";

    /// <summary><c>{arch}.rope.dimension_count</c>.</summary>
    public static string RopeDimensionCount(string arch) => arch + ".rope.dimension_count";

    /// <summary><c>{arch}.rope.freq_base</c>.</summary>
    public static string RopeFreqBase(string arch) => arch + ".rope.freq_base";

    /// <summary><c>{arch}.rope.scaling.type</c>: none, linear, yarn, longrope.</summary>
    public static string RopeScalingType(string arch) => arch + ".rope.scaling.type";

    /// <summary><c>{arch}.rope.scaling.factor</c>.</summary>
    public static string RopeScalingFactor(string arch) => arch + ".rope.scaling.factor";
}
