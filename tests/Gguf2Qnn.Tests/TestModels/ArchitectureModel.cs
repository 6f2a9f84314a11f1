using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Tests.TestModels;

/// <summary>Shape and features of a tiny random-weight decoder of one GGUF architecture (<see cref="ArchitectureModel"/>).</summary>
internal sealed record ArchitectureModelSpec
{
    public required string Arch { get; init; }

    public int Layers { get; init; } = 2;

    public int Hidden { get; init; } = 256;

    public int Heads { get; init; } = 4;

    public int KvHeads { get; init; } = 2;

    /// <summary>Head size; written as <c>{arch}.attention.key_length</c>/<c>value_length</c> when it differs from Hidden / Heads.</summary>
    public int HeadDim { get; init; } = 64;

    public int Ffn { get; init; } = 512;

    public float RopeBase { get; init; } = 10000f;

    /// <summary>blk.{i}.attn_{q,k,v}.bias (qwen2).</summary>
    public bool QkvBias { get; init; }

    /// <summary>blk.{i}.attn_{q,k}_norm.weight (qwen3).</summary>
    public bool QkNorm { get; init; }

    /// <summary>No output.weight: the head reuses token_embd.weight.</summary>
    public bool Tied { get; init; }

    /// <summary>rope_freqs.weight (Llama 3.x frequency factors), HeadDim / 2 values, or null.</summary>
    public float[]? RopeFreqs { get; init; }

    /// <summary>Weight of a planted next-token rule in output.weight (untied only), as in SyntheticModel: a margin for quantized comparisons.</summary>
    public float Planted { get; init; } = 0.2f;

    public int Seed { get; init; } = 3;

    /// <summary>One blk.{i}.attn_qkv.weight instead of attn_q/k/v (phi3).</summary>
    public bool FusedQkv { get; init; }

    /// <summary>ffn_up.weight of 2·Ffn outputs (gate half first) and no ffn_gate.weight (phi3).</summary>
    public bool FusedGateUp { get; init; }

    /// <summary>{arch}.rope.dimension_count when below HeadDim (partial rotary), or 0 to leave it out.</summary>
    public int RopeDims { get; init; }

    /// <summary>Extra float32 metadata ({arch}.* keys written as given), e.g. granite's scales.</summary>
    public IReadOnlyDictionary<string, float>? ExtraFloats { get; init; }

    /// <summary>Extra uint32 metadata ({arch}.* keys written as given), e.g. gemma2's sliding window.</summary>
    public IReadOnlyDictionary<string, uint>? ExtraUInt32s { get; init; }

    /// <summary>blk.{i}.post_attention_norm.weight and post_ffw_norm.weight (gemma2).</summary>
    public bool PostNorms { get; init; }

    /// <summary>Copy the SentencePiece (<c>llama</c>) vocabulary of this GGUF instead of the byte-level BPE one (Phi-3 ships SPM).</summary>
    public string? SpmVocabularyFrom { get; init; }
}

/// <summary>
/// Writes tiny F32 decoder GGUFs of several architectures with the project's <see cref="GgufWriter"/>, every tensor
/// llama.cpp's loader requires for the architecture, and <see cref="TinyDecoder"/>'s byte-level BPE vocabulary.
/// Dimensions are multiples of 256 by default so that llama.cpp's K-quant mixes apply to every matrix.
/// </summary>
internal static class ArchitectureModel
{
    public static void Write(string path, ArchitectureModelSpec s)
    {
        string arch = s.Arch;
        var w = new GgufWriter();
        w.AddString(GgufKeys.Architecture, arch);
        // Not "tiny-phi3-…": llama.cpp adjusts the attributes of Phi-3's own special tokens when general.name contains "phi3".
        w.AddString(GgufKeys.Name, "gguf2qnn tiny test model");
        w.AddUInt32(GgufKeys.BlockCount(arch), (uint)s.Layers);
        w.AddUInt32(GgufKeys.ContextLength(arch), 1024);
        w.AddUInt32(GgufKeys.EmbeddingLength(arch), (uint)s.Hidden);
        w.AddUInt32(GgufKeys.FeedForwardLength(arch), (uint)s.Ffn);
        w.AddUInt32(GgufKeys.HeadCount(arch), (uint)s.Heads);
        w.AddUInt32(GgufKeys.HeadCountKv(arch), (uint)s.KvHeads);
        if (s.HeadDim != s.Hidden / s.Heads)
        {
            w.AddUInt32(GgufKeys.KeyLength(arch), (uint)s.HeadDim);
            w.AddUInt32(GgufKeys.ValueLength(arch), (uint)s.HeadDim);
        }

        w.AddFloat32(GgufKeys.RopeFreqBase(arch), s.RopeBase);
        if (s.RopeDims > 0)
        {
            w.AddUInt32(GgufKeys.RopeDimensionCount(arch), (uint)s.RopeDims);
        }
        w.AddFloat32(GgufKeys.RmsEpsilon(arch), 1e-6f);
        foreach (var (key, value) in s.ExtraFloats ?? new Dictionary<string, float>())
        {
            w.AddFloat32(key, value);
        }

        foreach (var (key, value) in s.ExtraUInt32s ?? new Dictionary<string, uint>())
        {
            w.AddUInt32(key, value);
        }

        string[] vocab;
        if (s.SpmVocabularyFrom is { } source)
        {
            using var src = GgufFile.Open(source);
            vocab = src.GetStringArray(GgufKeys.Tokens);
            w.AddString(GgufKeys.TokenizerModel, src.GetString(GgufKeys.TokenizerModel));
            w.AddStringArray(GgufKeys.Tokens, vocab);
            w.AddFloat32Array(GgufKeys.Scores, src.GetFloatArray(GgufKeys.Scores));
            w.AddInt32Array(GgufKeys.TokenType, src.GetInt32Array(GgufKeys.TokenType));
            w.AddUInt32(GgufKeys.BosTokenId, (uint)src.GetInt64(GgufKeys.BosTokenId));
            w.AddUInt32(GgufKeys.EosTokenId, (uint)src.GetInt64(GgufKeys.EosTokenId));
        }
        else
        {
            vocab = TinyDecoder.Vocabulary();
            int eos = Array.IndexOf(vocab, "<|endoftext|>");
            w.AddString(GgufKeys.TokenizerModel, "gpt2");
            w.AddString(GgufKeys.TokenizerPre, "qwen2");
            w.AddStringArray(GgufKeys.Tokens, vocab);
            w.AddInt32Array(GgufKeys.TokenType, vocab.Select((t, i) => i >= vocab.Length - 3 ? 3 : 1).ToArray());
            w.AddStringArray(GgufKeys.Merges, ["Ġ t", "h e", "Ġt he", "i n"]);
            w.AddUInt32(GgufKeys.EosTokenId, (uint)eos);
            w.AddUInt32(GgufKeys.PaddingTokenId, (uint)eos);
            w.AddUInt32(GgufKeys.BosTokenId, (uint)eos);
            w.AddBool(GgufKeys.AddBosToken, false);
        }

        var rng = new Random(s.Seed);
        float[] Normal(int n, double std, double mean = 0)
        {
            var r = new float[n];
            for (int i = 0; i < n; i++)
            {
                double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
                r[i] = (float)(mean + (std * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2)));
            }

            return r;
        }

        void Matrix(string name, int inputs, int outputs, double std) => w.AddTensorF32(name, [inputs, outputs], Normal(inputs * outputs, std));

        int h = s.Hidden, q = s.Heads * s.HeadDim, kv = s.KvHeads * s.HeadDim;
        var embedding = Normal(h * vocab.Length, 1.0);
        w.AddTensorF32(GgufTensorNames.TokenEmbedding, [h, vocab.Length], embedding);
        w.AddTensorF32(GgufTensorNames.OutputNorm, [h], Normal(h, 0.1, 1.0));
        if (!s.Tied)
        {
            // Random head plus `Planted` times the embedding of a permuted token: a clear arg-max, as trained models have.
            var head = Normal(h * vocab.Length, 1.0 / Math.Sqrt(h));
            var perm = Enumerable.Range(0, vocab.Length).OrderBy(_ => rng.Next()).ToArray();
            for (int t = 0; t < vocab.Length; t++)
            {
                for (int j = 0; j < h; j++)
                {
                    head[(perm[t] * h) + j] += s.Planted * embedding[(t * h) + j];
                }
            }

            w.AddTensorF32(GgufTensorNames.Output, [h, vocab.Length], head);
        }

        if (s.RopeFreqs is not null)
        {
            w.AddTensorF32(GgufTensorNames.RopeFrequencies, [s.RopeFreqs.Length], s.RopeFreqs);
        }

        for (int i = 0; i < s.Layers; i++)
        {
            w.AddTensorF32(GgufTensorNames.AttnNorm(i), [h], Normal(h, 0.1, 1.0));
            if (s.FusedQkv)
            {
                Matrix(GgufTensorNames.AttnQkv(i), h, q + (2 * kv), 1.0 / Math.Sqrt(h));
            }
            else
            {
                Matrix(GgufTensorNames.AttnQ(i), h, q, 1.0 / Math.Sqrt(h));
                Matrix(GgufTensorNames.AttnK(i), h, kv, 1.0 / Math.Sqrt(h));
                Matrix(GgufTensorNames.AttnV(i), h, kv, 1.0 / Math.Sqrt(h));
            }

            if (s.QkvBias)
            {
                w.AddTensorF32(GgufTensorNames.AttnQBias(i), [q], Normal(q, 0.2));
                w.AddTensorF32(GgufTensorNames.AttnKBias(i), [kv], Normal(kv, 0.2));
                w.AddTensorF32(GgufTensorNames.AttnVBias(i), [kv], Normal(kv, 0.2));
            }

            if (s.QkNorm)
            {
                w.AddTensorF32(GgufTensorNames.AttnQNorm(i), [s.HeadDim], Normal(s.HeadDim, 0.2, 1.0));
                w.AddTensorF32(GgufTensorNames.AttnKNorm(i), [s.HeadDim], Normal(s.HeadDim, 0.2, 1.0));
            }

            Matrix(GgufTensorNames.AttnOutput(i), q, h, 1.0 / Math.Sqrt(q));
            if (s.PostNorms)
            {
                w.AddTensorF32(GgufTensorNames.AttnPostNorm(i), [h], Normal(h, 0.1, 1.0));
                w.AddTensorF32(GgufTensorNames.FfnPostNorm(i), [h], Normal(h, 0.1, 1.0));
            }

            w.AddTensorF32(GgufTensorNames.FfnNorm(i), [h], Normal(h, 0.1, 1.0));
            if (s.FusedGateUp)
            {
                Matrix(GgufTensorNames.FfnUp(i), h, 2 * s.Ffn, 1.0 / Math.Sqrt(h));
            }
            else
            {
                Matrix(GgufTensorNames.FfnGate(i), h, s.Ffn, 1.0 / Math.Sqrt(h));
                Matrix(GgufTensorNames.FfnUp(i), h, s.Ffn, 1.0 / Math.Sqrt(h));
            }

            Matrix(GgufTensorNames.FfnDown(i), s.Ffn, h, 1.0 / Math.Sqrt(s.Ffn));
        }

        w.WriteTo(path);
    }
}
