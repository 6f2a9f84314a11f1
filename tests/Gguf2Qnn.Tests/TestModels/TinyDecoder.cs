using System.Text;
using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Tests.TestModels;

/// <summary>
/// Writes tiny random-weight decoder GGUFs that llama.cpp loads: 2 layers, hidden 64, 4 heads of 16, 2 KV heads,
/// ffn 128, and a byte-level BPE vocabulary (<c>gpt2</c> model, 256 byte tokens + 4 merges + 3 specials = 263 tokens)
/// so that llama.cpp's tokenizer set-up succeeds. <c>qwen2</c>: Q/K/V biases, tied embeddings (no output.weight),
/// rope base 1e6. <c>llama</c>: no biases, an output.weight, rope base 10000. Dimensions are multiples of 32 so the
/// 2-D weights can be stored as Q4_0 or Q8_0.
/// </summary>
internal static class TinyDecoder
{
    public const int Layers = 2;
    public const int Hidden = 64;
    public const int Heads = 4;
    public const int KvHeads = 2;
    public const int HeadDim = Hidden / Heads;
    public const int Ffn = 128;
    public const float Epsilon = 1e-6f;
    public const float Qwen2RopeBase = 1000000f;
    public const int ContextLength = 256;

    private static readonly string[] Merges = ["Ġ t", "h e", "Ġt he", "i n"];
    private static readonly string[] Specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

    public static string[] Vocabulary()
    {
        var tokens = new List<string>(ByteTokens());
        tokens.AddRange(Merges.Select(m => m.Replace(" ", string.Empty, StringComparison.Ordinal)));
        tokens.AddRange(Specials);
        return tokens.ToArray();
    }

    public static int VocabSize => Vocabulary().Length;

    /// <summary>
    /// Writes the model; 2-D weights (token_embd included) use <paramref name="matrixType"/> (F32, F16, Q4_0, Q8_0).
    /// With <paramref name="asF32Twin"/>, the 2-D weights are quantized to that type and then stored dequantized as
    /// F32: the float twin of the quantized model (same weight values, float arithmetic in llama.cpp).
    /// </summary>
    public static void Write(string path, GgmlType matrixType = GgmlType.F32, int seed = 1234, bool asF32Twin = false, string arch = "qwen2")
    {
        bool qwen2 = arch == "qwen2";
        var w = new GgufWriter();
        w.AddString(GgufKeys.Architecture, arch);
        w.AddString(GgufKeys.Name, "tiny-" + arch + "-test");
        w.AddUInt32(GgufKeys.BlockCount(arch), Layers);
        w.AddUInt32(GgufKeys.ContextLength(arch), ContextLength);
        w.AddUInt32(GgufKeys.EmbeddingLength(arch), Hidden);
        w.AddUInt32(GgufKeys.FeedForwardLength(arch), Ffn);
        w.AddUInt32(GgufKeys.HeadCount(arch), Heads);
        w.AddUInt32(GgufKeys.HeadCountKv(arch), KvHeads);
        w.AddFloat32(GgufKeys.RopeFreqBase(arch), qwen2 ? Qwen2RopeBase : 10000f);
        w.AddFloat32(GgufKeys.RmsEpsilon(arch), Epsilon);

        var vocab = Vocabulary();
        int eos = Array.IndexOf(vocab, "<|endoftext|>");
        w.AddString(GgufKeys.TokenizerModel, "gpt2");
        w.AddString(GgufKeys.TokenizerPre, "qwen2");
        w.AddStringArray(GgufKeys.Tokens, vocab);
        w.AddInt32Array(GgufKeys.TokenType, vocab.Select((t, i) => i >= vocab.Length - Specials.Length ? 3 : 1).ToArray());
        w.AddStringArray(GgufKeys.Merges, Merges);
        w.AddUInt32(GgufKeys.EosTokenId, (uint)eos);
        w.AddUInt32(GgufKeys.PaddingTokenId, (uint)eos);
        w.AddUInt32(GgufKeys.BosTokenId, (uint)eos);
        w.AddBool(GgufKeys.AddBosToken, false);

        var rng = new Random(seed);
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

        void Matrix(string name, int inputs, int outputs, double std)
        {
            var values = Normal(inputs * outputs, std);
            long[] dims = [inputs, outputs];
            if (asF32Twin && matrixType != GgmlType.F32)
            {
                byte[] q = matrixType switch
                {
                    GgmlType.Q4_0 => Quantizer.QuantizeQ4_0(values),
                    GgmlType.Q8_0 => Quantizer.QuantizeQ8_0(values),
                    GgmlType.F16 => System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.Select(v => (Half)v).ToArray().AsSpan()).ToArray(),
                    _ => throw new ArgumentOutOfRangeException(nameof(matrixType)),
                };
                Dequantizer.Dequantize(matrixType, q, values);
                w.AddTensorF32(name, dims, values);
                return;
            }

            switch (matrixType)
            {
                case GgmlType.F32:
                    w.AddTensorF32(name, dims, values);
                    break;
                case GgmlType.F16:
                    w.AddTensor(name, GgmlType.F16, dims, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.Select(v => (Half)v).ToArray().AsSpan()));
                    break;
                case GgmlType.Q4_0:
                    w.AddTensor(name, GgmlType.Q4_0, dims, Quantizer.QuantizeQ4_0(values));
                    break;
                case GgmlType.Q8_0:
                    w.AddTensor(name, GgmlType.Q8_0, dims, Quantizer.QuantizeQ8_0(values));
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(matrixType));
            }
        }

        Matrix(GgufTensorNames.TokenEmbedding, Hidden, vocab.Length, 0.5);
        w.AddTensorF32(GgufTensorNames.OutputNorm, [Hidden], Normal(Hidden, 0.1, 1.0));
        if (!qwen2)
        {
            Matrix(GgufTensorNames.Output, Hidden, vocab.Length, 1.0 / Math.Sqrt(Hidden));
        }

        for (int i = 0; i < Layers; i++)
        {
            w.AddTensorF32(GgufTensorNames.AttnNorm(i), [Hidden], Normal(Hidden, 0.1, 1.0));
            Matrix(GgufTensorNames.AttnQ(i), Hidden, Heads * HeadDim, 1.0 / Math.Sqrt(Hidden));
            Matrix(GgufTensorNames.AttnK(i), Hidden, KvHeads * HeadDim, 1.0 / Math.Sqrt(Hidden));
            Matrix(GgufTensorNames.AttnV(i), Hidden, KvHeads * HeadDim, 1.0 / Math.Sqrt(Hidden));
            if (qwen2)
            {
                w.AddTensorF32(GgufTensorNames.AttnQBias(i), [Heads * HeadDim], Normal(Heads * HeadDim, 0.2));
                w.AddTensorF32(GgufTensorNames.AttnKBias(i), [KvHeads * HeadDim], Normal(KvHeads * HeadDim, 0.2));
                w.AddTensorF32(GgufTensorNames.AttnVBias(i), [KvHeads * HeadDim], Normal(KvHeads * HeadDim, 0.2));
            }

            Matrix(GgufTensorNames.AttnOutput(i), Heads * HeadDim, Hidden, 1.0 / Math.Sqrt(Hidden));
            w.AddTensorF32(GgufTensorNames.FfnNorm(i), [Hidden], Normal(Hidden, 0.1, 1.0));
            Matrix(GgufTensorNames.FfnGate(i), Hidden, Ffn, 1.0 / Math.Sqrt(Hidden));
            Matrix(GgufTensorNames.FfnUp(i), Hidden, Ffn, 1.0 / Math.Sqrt(Hidden));
            Matrix(GgufTensorNames.FfnDown(i), Ffn, Hidden, 1.0 / Math.Sqrt(Ffn));
        }

        w.WriteTo(path);
    }

    // GPT-2's byte-to-unicode table: printable Latin-1 bytes map to themselves, the rest to U+0100 onwards, in byte order.
    private static IEnumerable<string> ByteTokens()
    {
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            yield return new string((char)(printable ? b : next++), 1);
        }
    }
}
