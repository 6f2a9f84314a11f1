using System.Text.RegularExpressions;
using Gguf2Qnn.Architectures;
using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Inspection;

/// <summary>Totals of one ggml type in a file.</summary>
/// <param name="Type">The ggml type.</param>
/// <param name="Tensors">Tensors of that type.</param>
/// <param name="Parameters">Their elements.</param>
/// <param name="Bytes">Their data bytes.</param>
public sealed record TypeTotals(GgmlType Type, int Tensors, long Parameters, long Bytes);

/// <summary>The tokenizer as the GGUF declares it (<c>tokenizer.ggml.*</c>, <c>tokenizer.chat_template</c>). A special
/// token id outside [0, <paramref name="VocabSize"/>) (stories260K's padding id 0xFFFFFFFF, a "none" marker) is null,
/// as for an absent key.</summary>
public sealed record TokenizerSummary(
    string? Model, string? Pre, int VocabSize, long? BosTokenId, long? EosTokenId, long? EotTokenId, long? UnknownTokenId,
    long? PaddingTokenId, int MergeCount, bool HasChatTemplate);

/// <summary>
/// What <c>gguf2qnn inspect</c> reports about a GGUF beyond its raw metadata: totals per ggml type, bytes per
/// parameter, the hyper-parameters gguf2qnn reads (<see cref="ModelConfig"/>), the tokenizer, and anomalies: metadata
/// keys under the architecture's prefix that gguf2qnn does not read, tensors no supported architecture uses, and the
/// reason a model cannot be converted (a missing required key, an unsupported architecture or feature).
/// </summary>
public sealed record ModelInspection
{
    /// <summary>Architecture-prefixed keys gguf2qnn knows (the part after <c>{arch}.</c>).</summary>
    private static readonly HashSet<string> KnownArchKeys =
    [
        "context_length", "embedding_length", "block_count", "feed_forward_length", "vocab_size",
        "attention.head_count", "attention.head_count_kv", "attention.key_length", "attention.value_length",
        "attention.layer_norm_rms_epsilon", "rope.dimension_count", "rope.freq_base", "rope.scaling.type",
        "rope.scaling.factor", "rope.scaling.original_context_length", "rope.scaling.finetuned",
    ];

    /// <summary>Tensor names the supported architectures read: global ones and <c>blk.N.*</c> ones.</summary>
    private static readonly Regex KnownTensor = new(
        @"^(token_embd\.weight|output_norm\.weight|output\.weight|rope_freqs\.weight|blk\.\d+\.(attn_norm|attn_q|attn_k|attn_v|attn_qkv|attn_output|attn_q_norm|attn_k_norm|ffn_norm|ffn_gate|ffn_up|ffn_down|ffn_gate_up)\.(weight|bias))$",
        RegexOptions.CultureInvariant);

    /// <summary>Per-type totals, largest first.</summary>
    public required IReadOnlyList<TypeTotals> Types { get; init; }

    /// <summary>All tensor elements.</summary>
    public required long Parameters { get; init; }

    /// <summary>All tensor data bytes.</summary>
    public required long TensorBytes { get; init; }

    /// <summary>TensorBytes / Parameters (4.0 for F32, 0.5625 for Q4_0).</summary>
    public double BytesPerParameter => Parameters == 0 ? 0 : (double)TensorBytes / Parameters;

    /// <summary>The hyper-parameters, when gguf2qnn can read this model; null otherwise (see <see cref="Anomalies"/>).</summary>
    public ModelConfig? Config { get; init; }

    /// <summary>The declared tokenizer, or null when the file has no <c>tokenizer.ggml.model</c>.</summary>
    public TokenizerSummary? Tokenizer { get; init; }

    /// <summary>Human-readable anomalies, one per line.</summary>
    public required IReadOnlyList<string> Anomalies { get; init; }

    /// <summary>Builds the report.</summary>
    public static ModelInspection Create(IGgufSource gguf)
    {
        ArgumentNullException.ThrowIfNull(gguf);
        var anomalies = new List<string>();
        ModelConfig? config = null;
        if (gguf.Tensors.Count > 0)
        {
            try
            {
                config = ModelConfig.FromGguf(gguf);
            }
            catch (Exception ex) when (ex is NotSupportedException or GgufFormatException)
            {
                anomalies.Add("not convertible: " + ex.Message);
            }
        }

        var arch = gguf.Architecture;
        if (arch is null)
        {
            anomalies.Add($"missing required key '{GgufKeys.Architecture}'");
        }
        else
        {
            foreach (var key in gguf.Metadata.Keys.Where(k => k.StartsWith(arch + ".", StringComparison.Ordinal)))
            {
                if (!KnownArchKeys.Contains(key[(arch.Length + 1)..]))
                {
                    anomalies.Add($"key '{key}' is not read by gguf2qnn");
                }
            }
        }

        foreach (var t in gguf.Tensors.Where(t => !KnownTensor.IsMatch(t.Name)))
        {
            anomalies.Add($"tensor '{t.Name}' is not used by any supported architecture");
        }

        return new ModelInspection
        {
            Types = gguf.Tensors.GroupBy(t => t.Type)
                .Select(g => new TypeTotals(g.Key, g.Count(), g.Sum(t => t.ElementCount), g.Sum(t => t.ByteSize)))
                .OrderByDescending(t => t.Bytes).ToArray(),
            Parameters = gguf.Tensors.Sum(t => t.ElementCount),
            TensorBytes = gguf.Tensors.Sum(t => t.ByteSize),
            Config = config,
            Tokenizer = SummarizeTokenizer(gguf),
            Anomalies = anomalies,
        };
    }

    private static TokenizerSummary? SummarizeTokenizer(IGgufSource gguf)
    {
        if (!gguf.TryGetString(GgufKeys.TokenizerModel, out var model))
        {
            return null;
        }

        int vocabSize = gguf.TryGetValue(GgufKeys.Tokens, out var tokens) ? tokens.Count : 0;
        long? Id(string key) => gguf.TryGetInt64(key, out var v) && v >= 0 && v < vocabSize ? v : null;
        return new TokenizerSummary(
            model,
            gguf.TryGetString(GgufKeys.TokenizerPre, out var pre) ? pre : null,
            vocabSize,
            Id(GgufKeys.BosTokenId), Id(GgufKeys.EosTokenId), Id(GgufKeys.EotTokenId), Id(GgufKeys.UnknownTokenId), Id(GgufKeys.PaddingTokenId),
            gguf.TryGetValue(GgufKeys.Merges, out var merges) ? merges.Count : 0,
            gguf.TryGetValue(GgufKeys.ChatTemplate, out _));
    }
}
