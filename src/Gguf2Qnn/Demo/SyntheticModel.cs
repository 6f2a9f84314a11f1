using System.Text;
using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Demo;

/// <summary>
/// Shape and seed of a synthetic qwen2-architecture model (<see cref="SyntheticModel"/>). Dimensions must be multiples of
/// 32 (the Q4_0 block) where they are the inner dimension of a weight: <see cref="HiddenSize"/>, <see cref="FeedForwardLength"/>
/// and <see cref="HeadCount"/>·<see cref="HeadDim"/>.
/// </summary>
public sealed record SyntheticModelSpec
{
    /// <summary>Transformer blocks.</summary>
    public int BlockCount { get; init; } = 2;

    /// <summary>Hidden size (embedding_length).</summary>
    public int HiddenSize { get; init; } = 64;

    /// <summary>Query heads.</summary>
    public int HeadCount { get; init; } = 4;

    /// <summary>Key/value heads (GQA when below <see cref="HeadCount"/>).</summary>
    public int HeadCountKv { get; init; } = 2;

    /// <summary>Feed-forward width.</summary>
    public int FeedForwardLength { get; init; } = 128;

    /// <summary>Context length written to <c>qwen2.context_length</c>.</summary>
    public int ContextLength { get; init; } = 512;

    /// <summary>When true there is no <c>output.weight</c>: the lm head reuses <c>token_embd.weight</c>.</summary>
    public bool TiedEmbeddings { get; init; }

    /// <summary>F32 or Q4_0: the type of every 2-D weight (norms and biases stay F32).</summary>
    public GgmlType WeightType { get; init; } = GgmlType.F32;

    /// <summary>
    /// Weight of a planted "next token" rule in <c>output.weight</c> (untied models only): row <c>perm[t]</c> gets
    /// this multiple of token <c>t</c>'s embedding, for a seeded permutation <c>perm</c>. 0 leaves the head purely
    /// random. A positive value gives the arg-max a margin well above the rounding of 4-bit weights and 8-bit
    /// activations, as a trained model's confident predictions have, so that two correct implementations agree.
    /// </summary>
    public float PlantedNextTokenWeight { get; init; }

    /// <summary>Seed of the deterministic generator (SplitMix64) that draws every weight.</summary>
    public ulong Seed { get; init; } = 42;

    /// <summary>Head dimension: HiddenSize / HeadCount.</summary>
    public int HeadDim => HiddenSize / HeadCount;
}

/// <summary>
/// Writes small qwen2 GGUF files with seeded random weights and a small byte-level BPE vocabulary (256 byte tokens,
/// merges for a few common English words, and the Qwen special tokens), through <see cref="GgufWriter"/>. Used by the
/// CLI's embedded demo and by the tests. The weights are random, so the text such a model generates is gibberish.
/// </summary>
public static class SyntheticModel
{
    /// <summary>The end-of-text token: Qwen's <c>&lt;|endoftext|&gt;</c>, used as BOS and padding.</summary>
    public const string EndOfText = "<|endoftext|>";

    private static readonly string[] Words =
    [
        " the", " and", " once", " upon", " a", " time", " there", " was", " little", " girl", " boy", " dog", " cat",
        " she", " he", " said", " to", " in", " it", " of", " happy", " play", " with", " friend", " day", " Once", " The",
        " sun", " tree", " big", " red", " ball", " went", " saw", " had", " is", " you", " I", " model", " hello", " world",
    ];

    private static readonly string[] Specials = [EndOfText, "<|im_start|>", "<|im_end|>"];

    /// <summary>Writes the model described by <paramref name="spec"/> to <paramref name="path"/>.</summary>
    public static void Write(string path, SyntheticModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.WeightType is not (GgmlType.F32 or GgmlType.Q4_0))
        {
            throw new ArgumentException("WeightType must be F32 or Q4_0.", nameof(spec));
        }

        var (tokens, types, merges) = BuildVocab();
        const string arch = "qwen2";
        var w = new GgufWriter();
        w.AddString(GgufKeys.Architecture, arch);
        w.AddString(GgufKeys.Name, $"gguf2qnn synthetic qwen2 (seed {spec.Seed})");
        w.AddUInt32(GgufKeys.FileType, spec.WeightType == GgmlType.Q4_0 ? 2u : 0u);
        w.AddUInt32(GgufKeys.QuantizationVersion, 2);
        w.AddUInt32(GgufKeys.ContextLength(arch), (uint)spec.ContextLength);
        w.AddUInt32(GgufKeys.EmbeddingLength(arch), (uint)spec.HiddenSize);
        w.AddUInt32(GgufKeys.BlockCount(arch), (uint)spec.BlockCount);
        w.AddUInt32(GgufKeys.FeedForwardLength(arch), (uint)spec.FeedForwardLength);
        w.AddUInt32(GgufKeys.HeadCount(arch), (uint)spec.HeadCount);
        w.AddUInt32(GgufKeys.HeadCountKv(arch), (uint)spec.HeadCountKv);
        w.AddFloat32(GgufKeys.RopeFreqBase(arch), 1_000_000f);
        w.AddFloat32(GgufKeys.RmsEpsilon(arch), 1e-6f);
        w.AddString(GgufKeys.TokenizerModel, "gpt2");
        w.AddString(GgufKeys.TokenizerPre, "qwen2");
        w.AddStringArray(GgufKeys.Tokens, tokens);
        w.AddInt32Array(GgufKeys.TokenType, types);
        w.AddStringArray(GgufKeys.Merges, merges);
        var eot = Array.IndexOf(tokens, EndOfText);
        w.AddUInt32(GgufKeys.BosTokenId, (uint)eot);
        w.AddUInt32(GgufKeys.EosTokenId, (uint)Array.IndexOf(tokens, "<|im_end|>"));
        w.AddUInt32(GgufKeys.PaddingTokenId, (uint)eot);
        w.AddBool(GgufKeys.AddBosToken, false);
        w.AddString(GgufKeys.ChatTemplate,
            "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}");

        var rng = new SplitMix64(spec.Seed);
        int h = spec.HiddenSize, kv = spec.HeadCountKv * spec.HeadDim, ff = spec.FeedForwardLength, vocab = tokens.Length;
        var embedding = AddMatrix(w, spec, rng, GgufTensorNames.TokenEmbedding, h, vocab, 1.0f);
        for (var i = 0; i < spec.BlockCount; i++)
        {
            AddVector(w, rng, GgufTensorNames.AttnNorm(i), h, 1.0f, 0.1f);
            AddMatrix(w, spec, rng, GgufTensorNames.AttnQ(i), h, h, 1 / MathF.Sqrt(h));
            AddMatrix(w, spec, rng, GgufTensorNames.AttnK(i), h, kv, 1 / MathF.Sqrt(h));
            AddMatrix(w, spec, rng, GgufTensorNames.AttnV(i), h, kv, 1 / MathF.Sqrt(h));
            AddVector(w, rng, GgufTensorNames.AttnQBias(i), h, 0f, 0.1f);
            AddVector(w, rng, GgufTensorNames.AttnKBias(i), kv, 0f, 0.1f);
            AddVector(w, rng, GgufTensorNames.AttnVBias(i), kv, 0f, 0.1f);
            AddMatrix(w, spec, rng, GgufTensorNames.AttnOutput(i), h, h, 1 / MathF.Sqrt(h));
            AddVector(w, rng, GgufTensorNames.FfnNorm(i), h, 1.0f, 0.1f);
            AddMatrix(w, spec, rng, GgufTensorNames.FfnGate(i), h, ff, 1 / MathF.Sqrt(h));
            AddMatrix(w, spec, rng, GgufTensorNames.FfnUp(i), h, ff, 1 / MathF.Sqrt(h));
            AddMatrix(w, spec, rng, GgufTensorNames.FfnDown(i), ff, h, 1 / MathF.Sqrt(ff));
        }

        AddVector(w, rng, GgufTensorNames.OutputNorm, h, 1.0f, 0.1f);
        if (!spec.TiedEmbeddings)
        {
            AddMatrix(w, spec, rng, GgufTensorNames.Output, h, vocab, 1 / MathF.Sqrt(h) * (spec.PlantedNextTokenWeight > 0 ? 1 : 4), Planted(embedding, h, vocab, spec.PlantedNextTokenWeight, rng));
        }

        w.WriteTo(path);
    }

    /// <summary>
    /// The vocabulary: the 256 byte-level BPE symbols (GPT-2's byte-to-unicode map), the merges that build
    /// <see cref="Words"/> left to right, and the special tokens (token type 3, control).
    /// </summary>
    public static (string[] Tokens, int[] Types, string[] Merges) BuildVocab()
    {
        var byteToChar = ByteLevel();
        var tokens = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var b = 0; b < 256; b++)
        {
            tokens.Add(byteToChar[b].ToString());
            seen.Add(tokens[^1]);
        }

        var merges = new List<string>();
        foreach (var word in Words)
        {
            var symbols = Encoding.UTF8.GetBytes(word).Select(b => byteToChar[b].ToString()).ToList();
            var current = symbols[0];
            for (var k = 1; k < symbols.Count; k++)
            {
                var merged = current + symbols[k];
                if (seen.Add(merged))
                {
                    merges.Add(current + " " + symbols[k]);
                    tokens.Add(merged);
                }

                current = merged;
            }
        }

        var types = Enumerable.Repeat(1, tokens.Count).ToList();
        foreach (var s in Specials)
        {
            tokens.Add(s);
            types.Add(3);
        }

        return (tokens.ToArray(), types.ToArray(), merges.ToArray());
    }

    /// <summary>GPT-2's byte-to-unicode map: printable bytes map to themselves, the rest to U+0100 onwards in order.</summary>
    public static char[] ByteLevel()
    {
        var map = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)next++;
        }

        return map;
    }

    /// <summary>Row perm[t] = weight · embedding row t, for a seeded permutation (Fisher–Yates); null when weight is 0.</summary>
    private static float[]? Planted(float[] embedding, int h, int vocab, float weight, SplitMix64 rng)
    {
        if (weight == 0)
        {
            return null;
        }

        var perm = Enumerable.Range(0, vocab).ToArray();
        for (var i = vocab - 1; i > 0; i--)
        {
            var j = (int)(rng.Next() % (ulong)(i + 1));
            (perm[i], perm[j]) = (perm[j], perm[i]);
        }

        var planted = new float[h * vocab];
        for (var t = 0; t < vocab; t++)
        {
            for (var k = 0; k < h; k++)
            {
                planted[(perm[t] * h) + k] = weight * embedding[(t * h) + k];
            }
        }

        return planted;
    }

    private static float[] AddMatrix(GgufWriter w, SyntheticModelSpec spec, SplitMix64 rng, string name, int cols, int rows, float scale, float[]? add = null)
    {
        var values = new float[cols * rows];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = (rng.NextSymmetric() * scale * 1.7320508f) + (add?[i] ?? 0); // uniform with standard deviation = scale
        }

        if (spec.WeightType == GgmlType.Q4_0)
        {
            w.AddTensor(name, GgmlType.Q4_0, [cols, rows], Quantizer.QuantizeQ4_0(values));
        }
        else
        {
            w.AddTensorF32(name, [cols, rows], values);
        }

        return values;
    }

    private static void AddVector(GgufWriter w, SplitMix64 rng, string name, int n, float center, float spread)
    {
        var values = new float[n];
        for (var i = 0; i < n; i++)
        {
            values[i] = center + (rng.NextSymmetric() * spread);
        }

        w.AddTensorF32(name, [n], values);
    }
}
