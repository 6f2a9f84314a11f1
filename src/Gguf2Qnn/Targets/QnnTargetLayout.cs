using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Gguf2Qnn.Architectures;
using Gguf2Qnn.Conversion;
using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Targets;

/// <summary>Names used by the QNN-target graphs (Qualcomm's LLM layout; KV names as ONNX Runtime GenAI's).</summary>
public static class QnnNames
{
    /// <summary>Graph input of the first part: int32 [1, S] token ids.</summary>
    public const string InputIds = "input_ids";

    /// <summary>Graph input: float32 [1, 1, S, rope_dim / 2], cos of each query position's rotary angles.</summary>
    public const string PositionCos = "position_ids_cos";

    /// <summary>Graph input: float32 [1, 1, S, rope_dim / 2], sin of each query position's rotary angles.</summary>
    public const string PositionSin = "position_ids_sin";

    /// <summary>Graph input: float32 [1, 1, S, context] additive mask: 0 where a query may see a key slot,
    /// <see cref="QnnModelLayout.MaskValue"/> elsewhere. Slots 0..context−S−1 are the past cache, the last S the new keys.</summary>
    public const string AttentionMask = "attention_mask";

    /// <summary>Last part's output: float32 [1, S, vocab].</summary>
    public const string Logits = "logits";

    /// <summary>The residual stream entering decoder layer <paramref name="layer"/>: float32 [1, S, hidden]
    /// (output of one part, input of the next).</summary>
    public static string HiddenStates(int layer) => string.Create(CultureInfo.InvariantCulture, $"hidden_states.{layer}");

    /// <summary>The graph file of part <paramref name="part"/> for sequence length <paramref name="s"/> (AR-S).</summary>
    public static string GraphFile(int part, int s) => string.Create(CultureInfo.InvariantCulture, $"part{part}_ar{s}.onnx");

    /// <summary>The external-data file shared by both graphs of part <paramref name="part"/>.</summary>
    public static string DataFile(int part) => string.Create(CultureInfo.InvariantCulture, $"part{part}.onnx.data");
}

/// <summary>One part of a QNN-target model: a contiguous run of decoder layers, plus the embedding (first part)
/// and the final norm and lm head (last part).</summary>
/// <param name="Index">Part number, from 0.</param>
/// <param name="FirstLayer">First decoder layer (inclusive).</param>
/// <param name="EndLayer">Last decoder layer + 1.</param>
/// <param name="HasEmbedding">Holds token_embd (the Gather of input_ids).</param>
/// <param name="HasHead">Holds output_norm and the lm head (emits logits).</param>
/// <param name="WeightBytes">Bytes of its weights (the external-data file plus inline initializers).</param>
/// <param name="Graphs">Graph file per sequence length: key "ar{S}".</param>
/// <param name="DataFile">External-data file shared by its graphs.</param>
public sealed record QnnPart(
    int Index, int FirstLayer, int EndLayer, bool HasEmbedding, bool HasHead, long WeightBytes,
    IReadOnlyDictionary<string, string> Graphs, string DataFile);

/// <summary>
/// <c>qnn_model.json</c>: what a QNN-target artifact folder holds and how to drive it (read by
/// <c>Runtime/QnnStaticCausalLm</c>, <c>check-qnn</c> and <c>compile</c>).
/// </summary>
public sealed record QnnModelLayout
{
    /// <summary>The file name inside the artifact folder.</summary>
    public const string FileName = "qnn_model.json";

    /// <summary>The rotary table file: float32 cos [context, rope_dim/2] followed by sin [context, rope_dim/2], little-endian.</summary>
    public const string RotaryFileName = "rotary_cos_sin.bin";

    /// <summary>The additive value that closes a mask slot: −65504, float16's lowest finite value, so the mask is
    /// exact in fp16 as well as float32.</summary>
    public const float MaskValue = -65504f;

    /// <summary>Format tag.</summary>
    public string Format { get; init; } = "gguf2qnn-qnn-layout/1";

    /// <summary>Positions the graphs hold: past cache slots + new tokens = context.</summary>
    public required int ContextLength { get; init; }

    /// <summary>Prompt-processor tokens per step (AR-N).</summary>
    public required int PrefillLength { get; init; }

    /// <summary>Decoder layers.</summary>
    public required int LayerCount { get; init; }

    /// <summary>Hidden size.</summary>
    public required int HiddenSize { get; init; }

    /// <summary>KV heads.</summary>
    public required int KvHeadCount { get; init; }

    /// <summary>Attention heads.</summary>
    public required int HeadCount { get; init; }

    /// <summary>Head size.</summary>
    public required int HeadSize { get; init; }

    /// <summary>Rotary dimensions (columns of the cos/sin inputs = this / 2).</summary>
    public required int RopeDimensionCount { get; init; }

    /// <summary>Vocabulary size.</summary>
    public required int VocabSize { get; init; }

    /// <summary><see cref="Activations"/> value of float32 graphs (the HTP runs them in fp16 with enable_htp_fp16_precision=1).</summary>
    public const string Float32 = "float32";

    /// <summary><see cref="Activations"/> value of float16 graphs (every float input, output, KV cache entry and intermediate tensor).</summary>
    public const string Float16 = "float16";

    /// <summary><see cref="Activations"/> value of float32-I/O graphs whose MatMul/MatMulNBits activations pass through
    /// calibrated uint16 QuantizeLinear → DequantizeLinear pairs (graph I/O and KV cache float32).</summary>
    public const string Uint16Qdq = "uint16-qdq";

    /// <summary>Activation and graph I/O element type: <see cref="Float32"/>, <see cref="Float16"/> or <see cref="Uint16Qdq"/>.</summary>
    public string Activations { get; init; } = Float32;

    /// <summary>The parts, in execution order.</summary>
    public required IReadOnlyList<QnnPart> Parts { get; init; }

    /// <summary>Sequence lengths with a graph per part: [PrefillLength, 1].</summary>
    [JsonIgnore]
    public IReadOnlyList<int> SequenceLengths => [PrefillLength, 1];

    /// <summary>Graph key for a sequence length: "ar{S}".</summary>
    public static string GraphKey(int s) => string.Create(CultureInfo.InvariantCulture, $"ar{s}");

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    /// <summary>Writes the layout to <paramref name="directory"/>/qnn_model.json.</summary>
    public void Write(string directory) => File.WriteAllText(Path.Combine(directory, FileName), JsonSerializer.Serialize(this, Json));

    /// <summary>Reads the layout of an artifact folder.</summary>
    /// <exception cref="FileNotFoundException">The folder has no qnn_model.json (not a QNN-target folder).</exception>
    /// <exception cref="InvalidDataException">The file does not parse.</exception>
    public static QnnModelLayout Read(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"'{directory}' is not a QNN-target artifact folder (no {FileName}){(File.Exists(Path.Combine(directory, "genai_config.json")) ? "; it was converted with --target cpu: convert the GGUF with --target qnn for the NPU" : string.Empty)}.", path);
        }

        try
        {
            return JsonSerializer.Deserialize<QnnModelLayout>(File.ReadAllText(path), Json)
                ?? throw new InvalidDataException($"{path} is empty.");
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path}: {ex.Message}", ex);
        }
    }
}

/// <summary>Splits the decoder into parts whose weights stay under a byte limit (the HTP's 2 GB per context).</summary>
public static class QnnPartPlanner
{
    /// <summary>A planned part: layers [First, End), with the embedding / head flags and its estimated weight bytes.</summary>
    public sealed record Plan(int First, int End, bool HasEmbedding, bool HasHead, long EstimatedBytes);

    /// <summary>
    /// Plans <paramref name="partCount"/> parts (layers shared out evenly, the first part also holding the embedding and
    /// the last the head), or with null the smallest count whose parts all fit <paramref name="maxBytes"/>.
    /// </summary>
    /// <exception cref="NotSupportedException">No split fits (a single layer, or the embedding with one layer, is too big),
    /// or a requested count exceeds the layer count or leaves a part too big.</exception>
    /// <param name="gguf">The source file.</param>
    /// <param name="config">Its configuration.</param>
    /// <param name="format">The weight format asked for.</param>
    /// <param name="partCount">Parts wanted, or null for the fewest that fit.</param>
    /// <param name="maxBytes">Largest weight bytes per part.</param>
    /// <param name="float16">Float weights are stored as float16 (<c>--activations fp16</c>).</param>
    public static IReadOnlyList<Plan> Split(IGgufSource gguf, ModelConfig config, WeightFormat format, int? partCount, long maxBytes, bool float16 = false)
    {
        ArgumentNullException.ThrowIfNull(gguf);
        ArgumentNullException.ThrowIfNull(config);
        int floatBytes = float16 ? 2 : 4;
        long embedding = (long)config.VocabSize * config.EmbeddingLength * floatBytes;
        var head = gguf.FindTensor(GgufTensorNames.Output) ?? gguf.GetTensor(GgufTensorNames.TokenEmbedding);
        long headBytes = LinearBytes(head, format, float16) + (config.EmbeddingLength * (long)floatBytes);
        var layerBytes = new long[config.BlockCount];
        for (int i = 0; i < config.BlockCount; i++)
        {
            foreach (var t in gguf.Tensors)
            {
                if (t.Name.StartsWith(string.Create(CultureInfo.InvariantCulture, $"blk.{i}."), StringComparison.Ordinal))
                {
                    layerBytes[i] += t.Dimensions.Length >= 2 ? LinearBytes(t, format, float16) : t.ElementCount * floatBytes;
                }
            }
        }

        if (partCount is { } requested)
        {
            if (requested > config.BlockCount)
            {
                throw new NotSupportedException($"{requested} parts requested but the model has only {config.BlockCount} layers.");
            }

            var plan = Even(requested, layerBytes, embedding, headBytes);
            var tooBig = plan.FirstOrDefault(p => p.EstimatedBytes > maxBytes);
            return tooBig is null ? plan
                : throw new NotSupportedException($"With {requested} parts, layers {tooBig.First}..{tooBig.End - 1} hold about {tooBig.EstimatedBytes:N0} weight bytes, over the {maxBytes:N0}-byte limit; use --parts auto or more parts.");
        }

        for (int p = 1; p <= config.BlockCount; p++)
        {
            var plan = Even(p, layerBytes, embedding, headBytes);
            if (plan.All(x => x.EstimatedBytes <= maxBytes))
            {
                return plan;
            }
        }

        throw new NotSupportedException($"No split keeps every part under {maxBytes:N0} weight bytes (one layer plus the embedding or head is already larger).");
    }

    /// <summary>Bytes a linear weight takes in the form <see cref="WeightWriter"/> writes it for the qnn target
    /// (Q4_0 as MatMulNBits; Q8_0 dequantized, as the EP lowers MatMulNBits on HTP for 2/4 bits only).</summary>
    /// <param name="tensor">The GGUF tensor.</param>
    /// <param name="format">The weight format asked for.</param>
    /// <param name="float16">Float weights and MatMulNBits scales are stored as float16 (<c>--activations fp16</c>).</param>
    public static long LinearBytes(GgufTensorInfo tensor, WeightFormat format, bool float16 = false)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        long blocks = tensor.ElementCount / MatMulNBitsPacking.BlockSize;
        return (format, tensor.Type) switch
        {
            (WeightFormat.Keep, GgmlType.Q4_0) => blocks * (16 + (float16 ? 2 : 4)),
            (WeightFormat.F16, _) => tensor.ElementCount * 2,
            _ when float16 => tensor.ElementCount * 2,
            _ => tensor.ElementCount * 4,
        };
    }

    // p contiguous runs of layers with near-equal byte totals (greedy by the running average).
    private static List<Plan> Even(int p, long[] layerBytes, long embedding, long head)
    {
        var plans = new List<Plan>(p);
        int first = 0;
        int n = layerBytes.Length;
        for (int k = 0; k < p; k++)
        {
            int remainingParts = p - k;
            int end = k == p - 1 ? n : first + Math.Max(1, (int)Math.Round((n - first) / (double)remainingParts));
            end = Math.Min(end, n - (remainingParts - 1));
            long bytes = 0;
            for (int i = first; i < end; i++)
            {
                bytes += layerBytes[i];
            }

            bool hasEmbedding = k == 0, hasHead = k == p - 1;
            bytes += (hasEmbedding ? embedding : 0) + (hasHead ? head : 0);
            plans.Add(new Plan(first, end, hasEmbedding, hasHead, bytes));
            first = end;
        }

        return plans;
    }
}
