using Gguf2Qnn.Architectures;
using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Conversion;

/// <summary>The graph flavour to build (DESIGN.md §2 Targets/).</summary>
public enum ConversionTarget
{
    /// <summary>ONNX Runtime CPU execution provider: dynamic shapes, com.microsoft GroupQueryAttention and MatMulNBits.</summary>
    Cpu,

    /// <summary>
    /// Qualcomm's LLM layout for the QNN execution provider's HTP backend: static-shape prompt processor (AR-N) and
    /// token generator (AR-1) graphs per part, fixed context, KV cache as inputs/outputs (see <c>Targets/QnnTarget</c>).
    /// </summary>
    Qnn,
}

/// <summary>How linear weights are stored (<c>convert --weights</c>).</summary>
public enum WeightFormat
{
    /// <summary>
    /// Quantized weights stay quantized in MatMulNBits: Q4_0 (4-bit), Q8_0 (8-bit), Q3_K (4-bit, block 16) exactly;
    /// Q4_1, Q2_K, Q4_K with their ggml min as a separate per-block offset term (error at most half an ulp of a weight,
    /// recorded per tensor in conversion.json). Q5_0, Q6_K (exact) and Q5_1, Q5_K (offset term) go to 8-bit MatMulNBits
    /// only with <see cref="ConvertOptions.AccuracyLevel"/> 4 (ORT's CPU EP has no fast 8-bit kernel otherwise) and are
    /// float32 (ggml's exact values) by default; every other type → float32. The qnn target keeps only Q4_0 quantized.
    /// </summary>
    Keep,

    /// <summary>Every linear weight as float16 (a Cast to float32 feeds MatMul); lossy for float32 sources.</summary>
    F16,

    /// <summary>Every linear weight dequantized to float32 (exact with respect to ggml's dequantization).</summary>
    F32,
}

/// <summary>Activation (and graph I/O) type of the qnn target's graphs (<c>convert --activations</c>).</summary>
public enum QnnActivations
{
    /// <summary>float32 graphs; the QNN EP runs them in fp16 on HTP with <c>enable_htp_fp16_precision=1</c>.</summary>
    Float32,

    /// <summary>float16 graph inputs, outputs, KV cache, weights other than MatMulNBits blocks, and every intermediate
    /// tensor (<c>--activations fp16</c>).</summary>
    Float16,

    /// <summary>float32 graph I/O and KV cache; the activation inputs and outputs of every MatMul and MatMulNBits pass
    /// through an ai.onnx QuantizeLinear → DequantizeLinear pair (uint16, per-tensor asymmetric scale and zero point)
    /// whose ranges are calibrated by running the float graphs on ONNX Runtime's CPU EP over a calibration text
    /// (<c>--activations uint16 [--calibration FILE]</c>).</summary>
    Uint16,
}

/// <summary>
/// Adds files to the artifact folder while it is still the temporary staging folder, before it is renamed into
/// place (the tokenizer export plugs in here).
/// </summary>
public interface IArtifactWriter
{
    /// <summary>Writes this writer's files into <paramref name="stagingDirectory"/>.</summary>
    /// <param name="gguf">The open source file.</param>
    /// <param name="config">Its configuration.</param>
    /// <param name="stagingDirectory">The folder that becomes the output folder on success.</param>
    /// <returns>The file names written (relative to the folder), recorded in conversion.json.</returns>
    IReadOnlyList<string> Write(IGgufSource gguf, ModelConfig config, string stagingDirectory);
}

/// <summary>Settings of one conversion, validated by <see cref="Validate"/>.</summary>
public sealed record ConvertOptions
{
    /// <summary>The source .gguf file.</summary>
    public required string GgufPath { get; init; }

    /// <summary>The artifact folder to create (replaced if it exists).</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>The graph flavour. Default <see cref="ConversionTarget.Cpu"/>.</summary>
    public ConversionTarget Target { get; init; } = ConversionTarget.Cpu;

    /// <summary>How linear weights are stored. Default <see cref="WeightFormat.Keep"/>.</summary>
    public WeightFormat Weights { get; init; } = WeightFormat.Keep;

    /// <summary>Positions the graph supports (rows of the rotary cache); null: the GGUF's context_length.</summary>
    public int? ContextLength { get; init; }

    /// <summary>
    /// MatMulNBits <c>accuracy_level</c>: 0 unset (float A), 1 fp32, 2 fp16, 3 bf16, 4 int8 (A quantized per block to
    /// int8, close to llama.cpp's own Q8_0 activation quantization for Q4_0/Q8_0 weights). Default 4: on the
    /// 1.5B-shaped workload it decodes 2–3× faster than 0 and still meets the verify thresholds (docs/BENCHMARKS.md).
    /// </summary>
    public int AccuracyLevel { get; init; } = 4;

    /// <summary>
    /// Round each projection's input the way llama.cpp's CPU backend does for that weight's type (F16 → float16,
    /// Q4_0/Q8_0 family → Q8_0 blocks, K-quants → Q8_K blocks) so the logits follow llama.cpp's instead of the exact
    /// float result; for verification against llama.cpp. Default false (activations stay float32).
    /// </summary>
    public bool EmulateLlamaCppActivations { get; init; }

    /// <summary>QNN target: tokens per prompt-processor step (AR-N). Default 128.</summary>
    public int PrefillLength { get; init; } = 128;

    /// <summary>QNN target: number of parts, or null to pick the smallest count that keeps each part's weights under
    /// <see cref="MaxPartWeightBytes"/>.</summary>
    public int? PartCount { get; init; }

    /// <summary>QNN target: largest weight bytes per part (the HTP limit, 2 GB by default).</summary>
    public long MaxPartWeightBytes { get; init; } = 2_000_000_000;

    /// <summary>QNN target: accept an HTP op coverage under 100% (the uncovered nodes would run on the CPU EP).</summary>
    public bool AllowCpuFallback { get; init; }

    /// <summary>QNN target: activation and graph I/O type. Default <see cref="QnnActivations.Float32"/>.</summary>
    public QnnActivations Activations { get; init; } = QnnActivations.Float32;

    /// <summary>QNN target with <see cref="QnnActivations.Uint16"/>: a UTF-8 text file to calibrate the activation ranges
    /// on, or null for the text that ships with the project (<c>Targets/QnnCalibration.txt</c>).</summary>
    public string? CalibrationPath { get; init; }

    /// <summary>QNN target: the Snapdragon SoC name recorded for compile (8gen3, 8elite, xelite...), or null.</summary>
    public string? Soc { get; init; }

    /// <summary>Tests: build the explicit attention subgraph even where GroupQueryAttention would do.</summary>
    internal bool ForceExplicitAttention { get; init; }

    /// <summary>
    /// Extra files written into the staging folder before it is renamed into place. The default writes
    /// <c>tokenizer.gguf</c> (<see cref="Artifacts.TokenizerArtifact"/>), which <c>gguf2qnn run</c> needs, and
    /// <c>tokenizer.json</c> + <c>tokenizer_config.json</c> (<see cref="Artifacts.HuggingFaceTokenizerArtifact"/>).
    /// </summary>
    public IReadOnlyList<IArtifactWriter> ArtifactWriters { get; init; } =
        [Artifacts.TokenizerArtifact.Instance, Artifacts.HuggingFaceTokenizerArtifact.Instance];

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentException">An empty path.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A context length below 1, an accuracy level outside 0..4, or (qnn
    /// target) a prefill length outside [1, context) or a part count below 1.</exception>
    /// <exception cref="FileNotFoundException">The GGUF file does not exist.</exception>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(GgufPath);
        ArgumentException.ThrowIfNullOrWhiteSpace(OutputDirectory);
        if (!File.Exists(GgufPath))
        {
            throw new FileNotFoundException("The GGUF file does not exist.", GgufPath);
        }

        if (ContextLength is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(ContextLength), ContextLength, "The context length must be at least 1.");
        }

        if (Target == ConversionTarget.Qnn && (PrefillLength < 1 || (ContextLength is { } c && PrefillLength >= c)))
        {
            throw new ArgumentOutOfRangeException(nameof(PrefillLength), PrefillLength, "The prefill length must be at least 1 and below the context length.");
        }

        if (PartCount is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(PartCount), PartCount, "The part count must be at least 1.");
        }

        if (AccuracyLevel is < 0 or > 4)
        {
            throw new ArgumentOutOfRangeException(nameof(AccuracyLevel), AccuracyLevel, "MatMulNBits accuracy_level is 0..4.");
        }
    }
}

/// <summary>Progress of a conversion: <paramref name="Completed"/> of <paramref name="Total"/> tensors, the current one named.</summary>
public sealed record ConversionProgress(string Stage, int Completed, int Total, string? Tensor);

/// <summary>What a conversion wrote.</summary>
/// <param name="OutputDirectory">The artifact folder.</param>
/// <param name="ModelPath">model.onnx.</param>
/// <param name="Config">The source configuration.</param>
/// <param name="Files">Every file in the folder (names relative to it).</param>
/// <param name="Tensors">How each GGUF tensor was mapped (also in conversion.json).</param>
public sealed record ConversionResult(
    string OutputDirectory,
    string ModelPath,
    ModelConfig Config,
    IReadOnlyList<string> Files,
    IReadOnlyList<TensorMapping> Tensors);
