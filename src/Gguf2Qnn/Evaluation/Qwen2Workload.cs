using System.Buffers.Binary;
using Gguf2Qnn.Demo;
using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Evaluation;

/// <summary>
/// Shape of the performance workload (<c>gguf2qnn make-workload</c>). The defaults are Qwen2-1.5B's: 28 layers,
/// hidden 1536, 12 heads, 2 KV heads (head size 128), ffn 8960, vocab 151936, q/k/v biases and a separate
/// <c>output.weight</c>; every 2-D weight Q4_0 (about 1.0 GB in all).
/// </summary>
public sealed record Qwen2WorkloadSpec
{
    /// <summary>Transformer blocks.</summary>
    public int BlockCount { get; init; } = 28;

    /// <summary>Hidden size.</summary>
    public int HiddenSize { get; init; } = 1536;

    /// <summary>Query heads.</summary>
    public int HeadCount { get; init; } = 12;

    /// <summary>KV heads.</summary>
    public int HeadCountKv { get; init; } = 2;

    /// <summary>Feed-forward width.</summary>
    public int FeedForwardLength { get; init; } = 8960;

    /// <summary>Vocabulary size (the byte-level demo vocabulary padded with filler tokens).</summary>
    public int VocabSize { get; init; } = 151936;

    /// <summary><c>qwen2.context_length</c>.</summary>
    public int ContextLength { get; init; } = 32768;

    /// <summary>Seed of the weights.</summary>
    public ulong Seed { get; init; } = 1234;

    /// <summary>Checks that every inner dimension is a multiple of the Q4_0 block (32).</summary>
    /// <exception cref="ArgumentException">A dimension is not.</exception>
    public void Validate()
    {
        if (HiddenSize % 32 != 0 || FeedForwardLength % 32 != 0 || HiddenSize % HeadCount != 0 || HeadCount % HeadCountKv != 0 || BlockCount < 1)
        {
            throw new ArgumentException("Hidden size and ffn width must be multiples of 32, hidden a multiple of the head count, heads a multiple of the KV heads.");
        }

        int needed = SyntheticModel.BuildVocab().Tokens.Length;
        if (VocabSize < needed)
        {
            throw new ArgumentException($"The vocabulary needs at least {needed} tokens.");
        }
    }
}

/// <summary>
/// Writes the performance workload GGUF tensor by tensor (<see cref="GgufWriter.AddTensorStreamed"/>): seeded random
/// Q4_0 blocks (scale = the fp16 of 1/(4.32·√fan-in), nibbles in 1..15, distributed symmetrically around 8, so the values are symmetric around 0)
/// generated in 1 MiB chunks, so memory stays small whatever the size. Norms are 1 and biases small (F32). The
/// tokenizer is <see cref="SyntheticModel"/>'s byte-level BPE vocabulary padded with normal filler tokens
/// (<c>[fill N]</c>) up to <see cref="Qwen2WorkloadSpec.VocabSize"/>. The weights are noise: for speed and memory
/// measurements only.
/// </summary>
public static class Qwen2Workload
{
    private const int ChunkBlocks = 1 << 16; // 65,536 blocks = 1.1 MiB of Q4_0

    /// <summary>Writes the workload to <paramref name="path"/>; returns the file size in bytes.</summary>
    public static long Write(string path, Qwen2WorkloadSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        var (baseTokens, baseTypes, merges) = SyntheticModel.BuildVocab();
        var tokens = new string[spec.VocabSize];
        var types = new int[spec.VocabSize];
        int n = 0;
        for (; n < baseTokens.Length; n++)
        {
            tokens[n] = baseTokens[n];
            types[n] = baseTypes[n];
        }

        for (int fill = 0; n < spec.VocabSize; n++, fill++)
        {
            tokens[n] = $"[fill{fill}]";
            types[n] = 1;
        }

        const string arch = "qwen2";
        var w = new GgufWriter();
        w.AddString(GgufKeys.Architecture, arch);
        w.AddString(GgufKeys.Name, $"gguf2qnn Qwen2-1.5B-shaped workload (seed {spec.Seed}, random Q4_0)");
        w.AddUInt32(GgufKeys.FileType, 2u); // LLAMA_FTYPE_MOSTLY_Q4_0
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
        int eot = Array.IndexOf(tokens, SyntheticModel.EndOfText);
        w.AddUInt32(GgufKeys.BosTokenId, (uint)eot);
        w.AddUInt32(GgufKeys.EosTokenId, (uint)Array.IndexOf(tokens, "<|im_end|>"));
        w.AddUInt32(GgufKeys.PaddingTokenId, (uint)eot);
        w.AddBool(GgufKeys.AddBosToken, false);

        int h = spec.HiddenSize, kv = spec.HeadCountKv * (spec.HiddenSize / spec.HeadCount), ff = spec.FeedForwardLength, vocab = spec.VocabSize;
        ulong stream = spec.Seed * 1000;
        void Q4(string name, int cols, int rows) => w.AddTensorStreamed(name, GgmlType.Q4_0, [cols, rows], s => WriteQ4_0(s, (long)cols * rows / 32, 1 / (4.32f * MathF.Sqrt(cols)), stream++));
        void F32(string name, int length, float center, float spread) => w.AddTensorStreamed(name, GgmlType.F32, [length], s => WriteF32(s, length, center, spread, stream++));

        Q4(GgufTensorNames.TokenEmbedding, h, vocab);
        for (int i = 0; i < spec.BlockCount; i++)
        {
            F32(GgufTensorNames.AttnNorm(i), h, 1f, 0.05f);
            Q4(GgufTensorNames.AttnQ(i), h, h);
            Q4(GgufTensorNames.AttnK(i), h, kv);
            Q4(GgufTensorNames.AttnV(i), h, kv);
            F32(GgufTensorNames.AttnQBias(i), h, 0f, 0.05f);
            F32(GgufTensorNames.AttnKBias(i), kv, 0f, 0.05f);
            F32(GgufTensorNames.AttnVBias(i), kv, 0f, 0.05f);
            Q4(GgufTensorNames.AttnOutput(i), h, h);
            F32(GgufTensorNames.FfnNorm(i), h, 1f, 0.05f);
            Q4(GgufTensorNames.FfnGate(i), h, ff);
            Q4(GgufTensorNames.FfnUp(i), h, ff);
            Q4(GgufTensorNames.FfnDown(i), ff, h);
        }

        F32(GgufTensorNames.OutputNorm, h, 1f, 0.05f);
        Q4(GgufTensorNames.Output, h, vocab);
        w.WriteTo(path);
        return new FileInfo(path).Length;
    }

    private static void WriteQ4_0(Stream s, long blocks, float scale, ulong seed)
    {
        // Each random byte becomes two nibbles through a 256-entry table: a random nibble r gives 1 + r for r < 15
        // and 8 for r = 15, so value − 8 lies in −7..7 with a distribution symmetric around 0.
        Span<byte> table = stackalloc byte[256];
        for (int b = 0; b < 256; b++)
        {
            table[b] = (byte)(Nibble(b & 15) | (Nibble(b >> 4) << 4));
        }

        ushort d = BitConverter.HalfToUInt16Bits((Half)scale);
        var rng = new SplitMix64(seed);
        var buffer = new byte[ChunkBlocks * 18];
        for (long done = 0; done < blocks;)
        {
            int count = (int)Math.Min(ChunkBlocks, blocks - done);
            for (int k = 0; k < count; k++)
            {
                var block = buffer.AsSpan(k * 18, 18);
                BinaryPrimitives.WriteUInt16LittleEndian(block, d);
                BinaryPrimitives.WriteUInt64LittleEndian(block[2..], rng.Next());
                BinaryPrimitives.WriteUInt64LittleEndian(block[10..], rng.Next());
                for (int j = 2; j < 18; j++)
                {
                    block[j] = table[block[j]];
                }
            }

            s.Write(buffer, 0, count * 18);
            done += count;
        }
    }

    private static int Nibble(int r) => r == 15 ? 8 : 1 + r;

    private static void WriteF32(Stream s, int length, float center, float spread, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var bytes = new byte[length * 4];
        for (int i = 0; i < length; i++)
        {
            float u = rng.NextSymmetric();
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), center + (u * spread));
        }

        s.Write(bytes);
    }
}
