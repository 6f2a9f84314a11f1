using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gguf2Qnn.Architectures;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Onnx;
using Gguf2Qnn.Targets;

namespace Gguf2Qnn.Conversion;

/// <summary>
/// Converts a GGUF model into an artifact folder: <c>model.onnx</c>, <c>model.onnx.data</c> (external weights),
/// <c>genai_config.json</c>, <c>conversion.json</c>, plus whatever <see cref="ConvertOptions.ArtifactWriters"/> add.
/// Everything is written to a temporary sibling folder that is renamed into place only when all writes succeeded.
/// </summary>
public static class OnnxConverter
{
    /// <summary>The model file name inside the artifact folder.</summary>
    public const string ModelFileName = "model.onnx";

    /// <summary>The conversion record's file name.</summary>
    public const string ManifestFileName = "conversion.json";

    /// <summary>Runs one conversion.</summary>
    /// <exception cref="ArgumentException">Bad options (see <see cref="ConvertOptions.Validate"/>).</exception>
    /// <exception cref="FileNotFoundException">The GGUF file is missing.</exception>
    /// <exception cref="GgufFormatException">The GGUF file is corrupt or lacks a required key or tensor.</exception>
    /// <exception cref="NotSupportedException">The architecture, a feature, or a tensor type is not supported.</exception>
    /// <exception cref="IOException">The output folder could not be written or moved into place.</exception>
    public static ConversionResult Convert(ConvertOptions options, IProgress<ConversionProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        // Without the trailing separator (`-o out/`) the parent would be out itself and the staging folder inside it.
        string output = Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.OutputDirectory));
        string parent = Path.GetDirectoryName(output) ?? throw new ArgumentException("The output folder needs a parent folder.", nameof(options));
        Directory.CreateDirectory(parent);
        string staging = Path.Combine(parent, "." + Path.GetFileName(output) + ".tmp-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(staging);
        try
        {
            ConversionResult result;
            using (var gguf = GgufModel.Open(options.GgufPath))
            {
                result = options.Target == ConversionTarget.Qnn
                    ? QnnTargetConverter.ConvertInto(gguf, options, staging, output, progress)
                    : ConvertInto(gguf, options, staging, output, progress);
            }

            MoveIntoPlace(staging, output);
            return result;
        }
        catch
        {
            TryDelete(staging);
            throw;
        }
    }

    private static ConversionResult ConvertInto(IGgufSource gguf, ConvertOptions options, string staging, string output, IProgress<ConversionProgress>? progress)
    {
        var config = ModelConfig.FromGguf(gguf);
        int context = options.ContextLength ?? config.ContextLength;

        // The source hash for conversion.json reads the whole file once more, and the tokenizer files only need the
        // metadata: both run on other threads while this one re-packs the weights.
        var sourceHash = Task.Run(() => HashSource(gguf));
        var artifacts = Task.Run(() =>
        {
            GenAiConfig.Write(staging, GenAiConfig.Build(gguf, config, ModelFileName, context, CpuTarget.SharesKvBuffers(config, options)));
            var written = new List<string>();
            foreach (var writer in options.ArtifactWriters)
            {
                written.AddRange(writer.Write(gguf, config, staging));
            }

            return written;
        });
        int total = gguf.Tensors.Count;
        int done = 0;
        progress?.Report(new ConversionProgress("weights", 0, total, null));

        List<TensorMapping> mappings;
        try
        {
            using var data = new ExternalDataWriter(staging, ExternalDataWriter.DefaultFileName, ExternalDataWriter.DefaultAlignment, DataWriteMode);
            var graph = new GraphBuilder(config.Architecture + "-decoder", data);
            var weights = new WeightWriter(gguf, graph, options.Weights)
            {
                PackAffine = true,
                PackAffine8Bit = options.AccuracyLevel == 4,
                TensorWritten = m => progress?.Report(new ConversionProgress("weights", Math.Min(++done, total), total, m.Name)),
            };
            switch (options.Target)
            {
                case ConversionTarget.Cpu:
                    CpuTarget.Build(gguf, config, graph, weights, options, context);
                    break;
                default:
                    throw new NotSupportedException($"Target {options.Target} is not supported yet.");
            }

            data.Flush();
            graph.Model.MetadataProps.Add(new Onnx.Proto.StringStringEntryProto { Key = "source", Value = Path.GetFileName(gguf.Path) });
            graph.Save(Path.Combine(staging, ModelFileName));
            mappings = weights.Mappings;
        }
        finally
        {
            // The other threads read the map and write into staging: wait for them before either goes away.
            WaitQuietly(sourceHash, artifacts);
        }

        progress?.Report(new ConversionProgress("config", total, total, null));
        var files = new List<string> { ModelFileName, ExternalDataWriter.DefaultFileName, GenAiConfig.FileName };
        files.AddRange(artifacts.GetAwaiter().GetResult());

        files.Add(ManifestFileName);
        progress?.Report(new ConversionProgress("manifest", total, total, null));
        WriteManifest(Path.Combine(staging, ManifestFileName), gguf, config, options, context, files, mappings, sourceSha256: sourceHash.GetAwaiter().GetResult());
        return new ConversionResult(output, Path.Combine(output, ModelFileName), config, files, mappings);
    }

    /// <summary>How the cpu target writes model.onnx.data (GGUF2QNN_DATA_WRITE=buffered|direct; direct by default).</summary>
    internal static ExternalDataWriteMode DataWriteMode { get; } =
        string.Equals(Environment.GetEnvironmentVariable("GGUF2QNN_DATA_WRITE"), "buffered", StringComparison.OrdinalIgnoreCase)
            ? ExternalDataWriteMode.Buffered
            : ExternalDataWriteMode.Direct;

    private static void WaitQuietly(params Task[] tasks)
    {
        try
        {
            Task.WaitAll(tasks);
        }
        catch (AggregateException)
        {
            // Observed where the results are read.
        }
    }

    /// <summary>Writes conversion.json; <paramref name="extra"/>'s properties (target-specific records) are added at the top level.</summary>
    internal static void WriteManifest(string path, IGgufSource gguf, ModelConfig config, ConvertOptions options, int context, List<string> files, List<TensorMapping> mappings, JsonObject? extra = null, IReadOnlyList<string>? sourceSha256 = null)
    {
        var sha256 = sourceSha256 ?? HashSource(gguf);
        var parts = Parts(gguf);

        var tensors = new JsonArray();
        foreach (var m in mappings)
        {
            tensors.Add(new JsonObject
            {
                ["name"] = m.Name,
                ["ggml_type"] = m.GgmlType,
                ["shape"] = new JsonArray(m.Shape.Select(d => (JsonNode)d).ToArray()),
                ["onnx_op"] = m.OnnxOp,
                ["initializers"] = new JsonArray(m.Initializers.Select(i => (JsonNode)i).ToArray()),
                ["encoding"] = m.Encoding,
                ["exact"] = m.Exact,
                ["max_abs_error"] = m.MaxAbsError,
            });
        }

        var root = new JsonObject
        {
            ["format"] = "gguf2qnn-conversion/1",
            ["source"] = new JsonObject
            {
                ["path"] = Path.GetFullPath(parts[0].Path),
                ["bytes"] = parts[0].Length,
                ["sha256"] = sha256[0],
                ["gguf_version"] = parts[0].Version,
            },
            ["target"] = options.Target.ToString().ToLowerInvariant(),
            ["weights"] = options.Weights.ToString().ToLowerInvariant(),
            ["matmulnbits_accuracy_level"] = options.AccuracyLevel,
            ["llamacpp_activation_rounding"] = options.EmulateLlamaCppActivations,
            ["architecture"] = config.Architecture,
            ["context_length"] = context,
            ["hyper_parameters"] = new JsonObject
            {
                ["block_count"] = config.BlockCount,
                ["embedding_length"] = config.EmbeddingLength,
                ["feed_forward_length"] = config.FeedForwardLength,
                ["head_count"] = config.HeadCount,
                ["head_count_kv"] = config.HeadCountKv,
                ["head_dim"] = config.HeadDim,
                ["context_length"] = config.ContextLength,
                ["rms_epsilon"] = config.RmsEpsilon,
                ["rope_freq_base"] = config.RopeFreqBase,
                ["rope_dimension_count"] = config.RopeDimensionCount,
                ["rope_freq_scale"] = config.RopeFreqScale,
                ["rope_frequency_factors"] = config.RopeFrequencyFactors is not null,
                ["rope_style"] = config.RopeStyle.ToString().ToLowerInvariant(),
                ["qkv_bias"] = config.HasQkvBias,
                ["tied_embeddings"] = config.TiedEmbeddings,
                ["vocab_size"] = config.VocabSize,
            },
            ["files"] = new JsonArray(files.Select(f => (JsonNode)f).ToArray()),
            ["tensors"] = tensors,
        };
        if (parts.Count > 1)
        {
            // A split model (gguf-split): "source" is its first part; every part is listed here in order.
            ((JsonObject)root["source"]!)["split_parts"] = new JsonArray(parts.Select((p, i) => (JsonNode)new JsonObject
            {
                ["path"] = Path.GetFullPath(p.Path),
                ["bytes"] = p.Length,
                ["sha256"] = sha256[i],
            }).ToArray());
        }

        if (extra is not null)
        {
            foreach (var (key, value) in extra.ToArray())
            {
                extra.Remove(key);
                root[key] = value;
            }
        }

        File.WriteAllText(path, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    // The files a source is made of: a split model's parts in order, or the one file.
    private static IReadOnlyList<GgufFile> Parts(IGgufSource gguf) => gguf switch
    {
        GgufModel model => model.Parts,
        GgufFile file => [file],
        _ => throw new NotSupportedException($"Unknown GGUF source type {gguf.GetType().Name}."),
    };

    // SHA-256 of each file of the source (lowercase hex), in part order.
    internal static IReadOnlyList<string> HashSource(IGgufSource gguf) => Parts(gguf).Select(p => p.ComputeSha256()).ToArray();

    /// <summary>SHA-256 of a whole file as lowercase hex (the form conversion.json records for its source).</summary>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static string HashFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        return System.Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    // Replaces `output` with `staging`: an existing folder is moved aside first and deleted after the swap.
    private static void MoveIntoPlace(string staging, string output)
    {
        if (File.Exists(output))
        {
            throw new IOException($"'{output}' exists and is a file, not a folder.");
        }

        string? backup = null;
        if (Directory.Exists(output))
        {
            backup = staging + ".old";
            Directory.Move(output, backup);
        }

        try
        {
            Directory.Move(staging, output);
        }
        catch
        {
            if (backup is not null)
            {
                Directory.Move(backup, output);
            }

            throw;
        }

        if (backup is not null)
        {
            TryDelete(backup);
        }
    }

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (IOException)
        {
            // Best effort: a leftover temporary folder is harmless.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
