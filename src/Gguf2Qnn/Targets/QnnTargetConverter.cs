using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Gguf2Qnn.Architectures;
using Gguf2Qnn.Conversion;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Onnx;
using Gguf2Qnn.Qnn;

namespace Gguf2Qnn.Targets;

/// <summary>
/// Writes a QNN-target artifact folder: per part <c>part{k}_ar{N}.onnx</c> and <c>part{k}_ar1.onnx</c> sharing
/// <c>part{k}.onnx.data</c>, <c>rotary_cos_sin.bin</c>, <c>qnn_model.json</c>, a decoder-pipeline
/// <c>genai_config.json</c>, the artifact writers' files (tokenizer.gguf) and <c>conversion.json</c>; then checks HTP
/// op coverage (<see cref="HtpCoverage"/>) and fails unless it is 100% or <see cref="ConvertOptions.AllowCpuFallback"/>.
/// </summary>
internal static class QnnTargetConverter
{
    public static ConversionResult ConvertInto(IGgufSource gguf, ConvertOptions options, string staging, string output, IProgress<ConversionProgress>? progress)
    {
        var total = Stopwatch.StartNew();
        var config = ModelConfig.FromGguf(gguf);
        if (!config.IsPlainDecoder)
        {
            throw new NotSupportedException($"{gguf.Path}: the qnn target builds llama/qwen2-style layers only; '{config.Architecture}' needs the cpu target for now.");
        }

        int context = options.ContextLength ?? config.ContextLength;
        int n = options.PrefillLength;
        if (n >= context)
        {
            throw new ArgumentException($"--prefill {n} must be below the context length {context}.", nameof(options));
        }

        bool fp16 = options.Activations == QnnActivations.Float16;
        bool qdq = options.Activations == QnnActivations.Uint16;
        if (options.CalibrationPath is not null && !qdq)
        {
            throw new ArgumentException("--calibration applies to --activations uint16 only.", nameof(options));
        }

        string? calibrationText = qdq ? (options.CalibrationPath is null ? QnnQdq.DefaultCalibrationText() : File.ReadAllText(options.CalibrationPath)) : null;
        var act = fp16 ? Onnx.Proto.TensorProto.Types.DataType.Float16 : Onnx.Proto.TensorProto.Types.DataType.Float;
        var plans = QnnPartPlanner.Split(gguf, config, options.Weights, options.PartCount, options.MaxPartWeightBytes, fp16);
        var parts = new List<QnnPart>();
        var mappings = new List<TensorMapping>();
        var files = new List<string>();
        int done = 0, tensorCount = gguf.Tensors.Count;
        for (int k = 0; k < plans.Count; k++)
        {
            var plan = plans[k];
            string dataFile = QnnNames.DataFile(k);
            long inlineBytes = 0;
            using (var data = new ExternalDataWriter(staging, dataFile))
            {
                var prompt = new GraphBuilder(string.Create(CultureInfo.InvariantCulture, $"{config.Architecture}-part{k}-ar{n}"), data);
                var writer = new WeightWriter(gguf, prompt, options.Weights)
                {
                    PackQ8_0 = false,
                    Float16Activations = fp16,
                    TensorWritten = m => progress?.Report(new ConversionProgress("weights", Math.Min(++done, tensorCount), tensorCount, m.Name)),
                };
                var shared = new QnnSharedWeights(writer);
                QnnTarget.BuildPart(gguf, config, plan, n, context, shared, prompt, act);
                data.Flush();
                var token = new GraphBuilder(string.Create(CultureInfo.InvariantCulture, $"{config.Architecture}-part{k}-ar1"));
                QnnTarget.BuildPart(gguf, config, plan, 1, context, shared, token, act);
                foreach (var g in new[] { prompt, token })
                {
                    g.Model.MetadataProps.Add(new Onnx.Proto.StringStringEntryProto { Key = "source", Value = Path.GetFileName(gguf.Path) });
                }

                prompt.Save(Path.Combine(staging, QnnNames.GraphFile(k, n)));
                token.Save(Path.Combine(staging, QnnNames.GraphFile(k, 1)));
                var weightNames = writer.Mappings.SelectMany(m => m.Initializers).ToHashSet(StringComparer.Ordinal);
                inlineBytes = prompt.Graph.Initializer.Where(t => weightNames.Contains(t.Name) && t.DataLocation != Onnx.Proto.TensorProto.Types.DataLocation.External).Sum(t => (long)t.RawData.Length);
                mappings.AddRange(writer.Mappings);
            }

            long bytes = new FileInfo(Path.Combine(staging, dataFile)).Length + inlineBytes;
            if (bytes > options.MaxPartWeightBytes)
            {
                throw new NotSupportedException($"Part {k} holds {bytes:N0} weight bytes, over the {options.MaxPartWeightBytes:N0}-byte limit (estimate was {plan.EstimatedBytes:N0}).");
            }

            parts.Add(new QnnPart(k, plan.First, plan.End, plan.HasEmbedding, plan.HasHead, bytes,
                new Dictionary<string, string> { [QnnModelLayout.GraphKey(n)] = QnnNames.GraphFile(k, n), [QnnModelLayout.GraphKey(1)] = QnnNames.GraphFile(k, 1) },
                dataFile));
            files.AddRange([QnnNames.GraphFile(k, n), QnnNames.GraphFile(k, 1), dataFile]);
        }

        double graphsMs = total.Elapsed.TotalMilliseconds;
        var layout = new QnnModelLayout
        {
            ContextLength = context,
            PrefillLength = n,
            LayerCount = config.BlockCount,
            HiddenSize = config.EmbeddingLength,
            KvHeadCount = config.HeadCountKv,
            HeadCount = config.HeadCount,
            HeadSize = config.HeadDim,
            RopeDimensionCount = config.RopeDimensionCount,
            VocabSize = config.VocabSize,
            Activations = fp16 ? QnnModelLayout.Float16 : QnnModelLayout.Float32,
            Parts = parts,
        };
        layout.Write(staging);
        WriteRotary(staging, config, context);
        JsonObject? qdqRecord = null;
        if (qdq)
        {
            // Calibrate on the float32 graphs just written, then rewrite both graphs of every part with QDQ pairs.
            var ranges = QnnQdq.Calibrate(staging, layout, gguf, calibrationText!, out int calibrationTokens);
            int pairs = 0;
            foreach (var part in parts)
            {
                foreach (string file in part.Graphs.Values)
                {
                    string path = Path.Combine(staging, file);
                    var model = Onnx.Proto.ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
                    pairs += QnnQdq.Rewrite(model.Graph, ranges);
                    File.WriteAllBytes(path, Google.Protobuf.MessageExtensions.ToByteArray(model));
                }
            }

            layout = layout with { Activations = QnnModelLayout.Uint16Qdq };
            layout.Write(staging);
            qdqRecord = new JsonObject
            {
                ["calibration"] = options.CalibrationPath is null ? "built-in (" + QnnQdq.DefaultCalibrationResource + ")" : Path.GetFileName(options.CalibrationPath),
                ["calibration_tokens"] = calibrationTokens,
                ["qdq_pairs"] = pairs,
                ["encoding"] = "ai.onnx QuantizeLinear/DequantizeLinear opset 21, uint16, per-tensor asymmetric: [min, max, scale, zero_point]",
                ["ranges"] = QnnQdq.ToJson(ranges),
            };
        }

        GenAiConfig.Write(staging, QnnGenAiPipeline.Build(gguf, config, layout, compiled: null));
        files.AddRange([QnnModelLayout.FileName, QnnModelLayout.RotaryFileName, GenAiConfig.FileName]);
        foreach (var writer in options.ArtifactWriters)
        {
            files.AddRange(writer.Write(gguf, config, staging));
        }

        var coverage = HtpCoverage.Check(staging);
        double checkMs = total.Elapsed.TotalMilliseconds - graphsMs;
        if (!coverage.FullyCovered && !options.AllowCpuFallback)
        {
            throw new HtpCoverageException(coverage);
        }

        files.Add(OnnxConverter.ManifestFileName);
        var extra = new JsonObject
        {
            ["qnn"] = new JsonObject
            {
                ["soc"] = options.Soc,
                ["prefill_length"] = n,
                ["activations"] = layout.Activations,
                ["uint16_qdq"] = qdqRecord,
                ["allow_cpu_fallback"] = options.AllowCpuFallback,
                ["max_part_weight_bytes"] = options.MaxPartWeightBytes,
                ["parts"] = new JsonArray(parts.Select(p => (JsonNode)new JsonObject
                {
                    ["index"] = p.Index,
                    ["layers"] = new JsonArray(p.FirstLayer, p.EndLayer - 1),
                    ["embedding"] = p.HasEmbedding,
                    ["head"] = p.HasHead,
                    ["weight_bytes"] = p.WeightBytes,
                    ["graphs"] = new JsonArray(p.Graphs.Values.Select(v => (JsonNode)v).ToArray()),
                }).ToArray()),
                ["op_coverage"] = coverage.ToJson(),
                ["weight_form"] = WeightFormSummary(mappings),
                ["timings_ms"] = new JsonObject { ["graphs_and_weights"] = Math.Round(graphsMs, 1), ["coverage_check"] = Math.Round(checkMs, 1) },
            },
        };
        OnnxConverter.WriteManifest(Path.Combine(staging, OnnxConverter.ManifestFileName), gguf, config, options, context, files, mappings, extra);
        return new ConversionResult(output, Path.Combine(output, QnnNames.GraphFile(0, n)), config, files, mappings);
    }

    // Which GGUF tensors kept their exact values in the graphs and which were rounded (float16), with the worst error
    // of each; the per-tensor detail is in conversion.json's "tensors".
    private static JsonObject WeightFormSummary(IReadOnlyList<TensorMapping> mappings) => new()
    {
        ["exact_tensors"] = mappings.Count(m => m.Exact),
        ["lossy_tensors"] = mappings.Count(m => !m.Exact),
        ["max_abs_error"] = mappings.Count == 0 ? 0 : mappings.Max(m => m.MaxAbsError),
        ["lossy"] = new JsonArray(mappings.Where(m => !m.Exact).OrderByDescending(m => m.MaxAbsError).Select(m => (JsonNode)new JsonObject
        {
            ["name"] = m.Name,
            ["ggml_type"] = m.GgmlType,
            ["encoding"] = m.Encoding,
            ["max_abs_error"] = m.MaxAbsError,
        }).ToArray()),
    };

    private static void WriteRotary(string staging, ModelConfig config, int context)
    {
        var (cos, sin) = RotaryCache.Compute(config, context);
        using var stream = new FileStream(Path.Combine(staging, QnnModelLayout.RotaryFileName), FileMode.Create, FileAccess.Write);
        stream.Write(MemoryMarshal.AsBytes(cos.AsSpan()));
        stream.Write(MemoryMarshal.AsBytes(sin.AsSpan()));
    }
}

/// <summary>
/// The ONNX Runtime GenAI <c>decoder-pipeline</c> form of genai_config.json for a QNN-target folder: one pipeline
/// stage per part and sequence length, the AR-N stages with <c>run_on_token_gen: false</c> and the AR-1 stages with
/// <c>run_on_prompt: false</c>, each stage listing its inputs and outputs, the QNN provider options on the stages
/// meant for HTP, and <c>sliding_window</c> giving the prompt window (N) and the fixed cache.
/// </summary>
public static class QnnGenAiPipeline
{
    /// <summary>Builds the JSON; <paramref name="compiled"/> maps a graph file to its compiled <c>*_ctx.onnx</c> (null before compile).</summary>
    public static JsonObject Build(IGgufSource gguf, ModelConfig config, QnnModelLayout layout, IReadOnlyDictionary<string, string>? compiled)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var root = GenAiConfig.Build(gguf, config, QnnNames.GraphFile(0, layout.PrefillLength), layout.ContextLength);
        var model = root["model"]!.AsObject();
        model["type"] = "decoder-pipeline";
        var decoder = model["decoder"]!.AsObject();
        decoder.Remove("filename");
        decoder["inputs"] = new JsonObject
        {
            ["input_ids"] = QnnNames.InputIds,
            ["attention_mask"] = QnnNames.AttentionMask,
            ["past_key_names"] = OnnxNames.PastKeyPattern,
            ["past_value_names"] = OnnxNames.PastValuePattern,
        };
        decoder["sliding_window"] = new JsonObject
        {
            ["window_size"] = layout.PrefillLength,
            ["pad_value"] = 0,
            ["alignment"] = "left",
            ["slide_key_value_cache"] = false,
        };
        var stages = new JsonObject();
        foreach (var part in layout.Parts)
        {
            foreach (int s in layout.SequenceLengths)
            {
                string file = part.Graphs[QnnModelLayout.GraphKey(s)];
                var inputs = new JsonArray(part.HasEmbedding ? QnnNames.InputIds : QnnNames.HiddenStates(part.FirstLayer), QnnNames.PositionCos, QnnNames.PositionSin, QnnNames.AttentionMask);
                var outputs = new JsonArray(part.HasHead ? QnnNames.Logits : QnnNames.HiddenStates(part.EndLayer));
                for (int i = part.FirstLayer; i < part.EndLayer; i++)
                {
                    inputs.Add(OnnxNames.PastKey(i));
                    inputs.Add(OnnxNames.PastValue(i));
                    outputs.Add(OnnxNames.PresentKey(i));
                    outputs.Add(OnnxNames.PresentValue(i));
                }

                var stage = new JsonObject
                {
                    ["filename"] = compiled is not null && compiled.TryGetValue(file, out var ctx) ? ctx : file,
                    ["session_options"] = new JsonObject
                    {
                        ["log_id"] = "onnxruntime-genai",
                        ["provider_options"] = new JsonArray(new JsonObject { ["qnn"] = new JsonObject { ["backend_path"] = "QnnHtp.dll", ["htp_performance_mode"] = "burst", ["enable_htp_fp16_precision"] = "1" } }),
                    },
                    ["inputs"] = inputs,
                    ["outputs"] = outputs,
                };
                stage[s == 1 ? "run_on_prompt" : "run_on_token_gen"] = false;
                stages[string.Create(CultureInfo.InvariantCulture, $"part{part.Index}_ar{s}")] = stage;
            }
        }

        decoder["pipeline"] = new JsonArray(stages);
        return root;
    }
}
