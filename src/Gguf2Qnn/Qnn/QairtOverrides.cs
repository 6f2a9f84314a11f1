using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gguf2Qnn.Onnx.Proto;

namespace Gguf2Qnn.Qnn;

/// <summary>The 4-bit block encoding of one MatMulNBits weight (a Q4_0 tensor kept as ggml blocks).</summary>
/// <param name="Name">The MatMulNBits B initializer (uint8 [N, K/32, 16]).</param>
/// <param name="Node">The MatMulNBits node.</param>
/// <param name="N">Output channels (rows of the GGUF tensor).</param>
/// <param name="K">Input channels (ne[0] of the GGUF tensor).</param>
/// <param name="Scales">The per-block scales d as stored (float32 of ggml's fp16 d), [N · K/32], row-major.</param>
/// <param name="PerBlockMaxAbsError">Largest |w − w'| when the weights are re-quantized with the symmetric PER_BLOCK
/// encoding written (scale |d|, offset −8): non-zero only for blocks with d &lt; 0 holding nibble 0.</param>
/// <param name="LpbqMaxAbsError">Largest |w − w'| under the LPBQ re-expression (8-bit integer block scales under one
/// float scale per output channel, offset −8), sign loss included.</param>
/// <param name="LpbqScaleMaxAbsError">The part of the LPBQ loss due to its integer block scales alone: the same
/// re-quantization applied to |d|·(q − 8), i.e. with the sign loss of the symmetric form taken out.</param>
public sealed record QairtBlockEncoding(string Name, string Node, int N, int K, float[] Scales, double PerBlockMaxAbsError, double LpbqMaxAbsError, double LpbqScaleMaxAbsError);

/// <summary>
/// Writes the <c>qairt-converter --quantization_overrides</c> file of a graph: one PER_BLOCK parameter encoding per
/// 4-bit MatMulNBits weight, carrying the GGUF's Q4_0 block scales, so the SDK keeps those 4-bit weights instead of
/// computing its own encodings; and a sidecar report of what each representable form loses.
/// </summary>
/// <remarks>
/// <para>Format: the AIMET/QAIRT encoding file, version 1.0.0 — consumed by qairt-converter's
/// <c>--quantization_overrides</c> as described in the QAIRT Quantization Specification, document version v0.1
/// (Alpha), QAIRT SDK 2.36 / AIMET 2.3 (docs.qualcomm.com 80-63442-10, topic "applyencodings", section "Quantization
/// inputs"); field table from AIMET's encoding specification, "Version 1.0.0": top level <c>version</c>,
/// <c>activation_encodings</c> and <c>param_encodings</c> (lists); an entry has <c>name</c>, <c>enc_type</c>
/// (PER_TENSOR, PER_CHANNEL, PER_BLOCK, LPBQ), <c>dtype</c> (INT), <c>bw</c>, <c>is_sym</c>, <c>scale</c> and
/// <c>offset</c> (flattened, N · K/block_size for PER_BLOCK, channel axis = output channels, block axis = input
/// channels), <c>block_size</c>; LPBQ adds <c>compressed_bw</c> and <c>per_block_int_scale</c>. Dequantization
/// follows QNN's convention (QAIRT 2.39 API docs, Qnn_BwScaleOffset_t): float = (q + offset) · scale, scale positive.</para>
/// <para>Q4_0 stores w = d · (nibble − 8) with an fp16 d of either sign (ggml's quantizer takes d = max / −8, max the
/// signed value of largest magnitude, so every block holds nibble 0 and d &lt; 0 whenever that value is positive).
/// QNN scales are positive, so the entry carries scale |d| and offset −8 (bw 4, symmetric): exact for d ≥ 0 blocks,
/// while a d &lt; 0 block's largest weight 8·|d| re-quantizes to 7·|d| (error |d|); that loss is measured per tensor.
/// An exact form needs per-block offsets (−7 where d &lt; 0, nibble 15 − q), which is asymmetric and which LPBQ cannot
/// carry (its Qnn_BlockwiseExpansion_t has one scale/offset per channel). LPBQ (Qnn_BlockwiseExpansion_t, QAIRT 2.39
/// QnnTypes.h: per-channel scaleOffsets, integer block scales blocksScale8 of blockScaleBitwidth bits) re-expresses
/// the float block scales as i_b · s_c with s_c = max_b |d_b| / 255 and i_b = round(|d_b| / s_c); its error is
/// measured the same way, element by element.</para>
/// </remarks>
public static class QairtOverrides
{
    /// <summary>The encoding file version written.</summary>
    public const string EncodingVersion = "1.0.0";

    /// <summary>Q4_0 block size (weights per scale along K).</summary>
    public const int BlockSize = 32;

    /// <summary>Integer block-scale width used for the LPBQ re-expression (QNN's 8-bit block-scale storage).</summary>
    public const int LpbqBlockScaleBits = 8;

    /// <summary>The overrides file of a graph: <c>qnn/&lt;graph&gt;.overrides.json</c>.</summary>
    public static string FileName(string graph) => Path.GetFileNameWithoutExtension(graph) + ".overrides.json";

    /// <summary>The sidecar report of a graph: <c>qnn/&lt;graph&gt;.overrides.report.json</c>.</summary>
    public static string ReportName(string graph) => Path.GetFileNameWithoutExtension(graph) + ".overrides.report.json";

    /// <summary>
    /// Reads the 4-bit, block-32 MatMulNBits weights of an ONNX graph (B uint8 [N, K/32, 16]: weight 2j in the low
    /// nibble of byte j; scales float32 or float16 [N, K/32]; no zero_points, i.e. ggml's zero point 8).
    /// </summary>
    /// <exception cref="InvalidDataException">An initializer is missing or its data cannot be read.</exception>
    public static IReadOnlyList<QairtBlockEncoding> Read(string graphPath)
    {
        ModelProto model;
        using (var stream = File.OpenRead(graphPath))
        {
            model = ModelProto.Parser.ParseFrom(stream);
        }

        string dir = Path.GetDirectoryName(Path.GetFullPath(graphPath))!;
        var initializers = model.Graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var result = new List<QairtBlockEncoding>();
        foreach (var node in model.Graph.Node)
        {
            if (node.OpType != "MatMulNBits" || node.Input.Count < 3 || (node.Input.Count > 3 && node.Input[3].Length > 0))
            {
                continue;
            }

            long bits = node.Attribute.FirstOrDefault(a => a.Name == "bits")?.I ?? 4;
            long block = node.Attribute.FirstOrDefault(a => a.Name == "block_size")?.I ?? 0;
            if (bits != 4 || block != BlockSize)
            {
                continue;
            }

            int k = checked((int)node.Attribute.Single(a => a.Name == "K").I);
            int n = checked((int)node.Attribute.Single(a => a.Name == "N").I);
            var b = Data(Initializer(initializers, node.Input[1]), dir);
            var scales = Scales(Initializer(initializers, node.Input[2]), dir);
            int blocks = k / BlockSize;
            if (b.Length != (long)n * blocks * (BlockSize / 2) || scales.Length != (long)n * blocks)
            {
                throw new InvalidDataException($"{graphPath}: MatMulNBits '{node.Name}' has B of {b.Length} bytes and {scales.Length} scales for N={n}, K={k}.");
            }

            var (perBlock, lpbq, lpbqScale) = Errors(b, scales, n, blocks);
            result.Add(new QairtBlockEncoding(node.Input[1], node.Name, n, k, scales, perBlock, lpbq, lpbqScale));
        }

        return result;
    }

    /// <summary>The version 1.0.0 encoding file for the weights (activation_encodings empty: activations stay fp16).</summary>
    public static JsonObject Build(IReadOnlyList<QairtBlockEncoding> weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var param = new JsonArray();
        foreach (var w in weights)
        {
            var scale = new JsonArray();
            var offset = new JsonArray();
            foreach (float d in w.Scales)
            {
                scale.Add(Math.Abs(d));
                offset.Add(-8);
            }

            param.Add(new JsonObject
            {
                ["name"] = w.Name,
                ["enc_type"] = "PER_BLOCK",
                ["dtype"] = "INT",
                ["bw"] = 4,
                ["is_sym"] = true,
                ["block_size"] = BlockSize,
                ["scale"] = scale,
                ["offset"] = offset,
            });
        }

        return new JsonObject { ["version"] = EncodingVersion, ["activation_encodings"] = new JsonArray(), ["param_encodings"] = param };
    }

    /// <summary>The per-tensor report: exactness and largest absolute weight error of the written PER_BLOCK form and of LPBQ.</summary>
    public static JsonObject Report(IReadOnlyList<QairtBlockEncoding> weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        return new JsonObject
        {
            ["encoding_version"] = EncodingVersion,
            ["written_form"] = "PER_BLOCK bw=4 block_size=32 scale=|d| offset=-8 (float32 scale per block)",
            ["lpbq_form"] = string.Create(CultureInfo.InvariantCulture, $"LPBQ bw=4 per-channel float scale s_c = max|d|/{(1 << LpbqBlockScaleBits) - 1}, {LpbqBlockScaleBits}-bit integer block scales round(|d|/s_c)"),
            ["tensors"] = new JsonArray(weights.Select(w => (JsonNode)new JsonObject
            {
                ["name"] = w.Name,
                ["node"] = w.Node,
                ["n"] = w.N,
                ["k"] = w.K,
                ["per_block_exact"] = w.PerBlockMaxAbsError == 0,
                ["per_block_max_abs_error"] = w.PerBlockMaxAbsError,
                ["lpbq_exact"] = w.LpbqMaxAbsError == 0,
                ["lpbq_max_abs_error"] = w.LpbqMaxAbsError,
                ["lpbq_block_scale_max_abs_error"] = w.LpbqScaleMaxAbsError,
            }).ToArray()),
        };
    }

    /// <summary>Reads a graph's weights and writes its overrides file and report into <paramref name="outputDirectory"/>.</summary>
    /// <returns>The overrides file's path and the weights.</returns>
    public static (string Path, IReadOnlyList<QairtBlockEncoding> Weights) Write(string graphPath, string outputDirectory)
    {
        var weights = Read(graphPath);
        Directory.CreateDirectory(outputDirectory);
        string path = Path.Combine(outputDirectory, FileName(graphPath));
        File.WriteAllText(path, Build(weights).ToJsonString(Indented));
        File.WriteAllText(Path.Combine(outputDirectory, ReportName(graphPath)), Report(weights).ToJsonString(Indented));
        return (path, weights);
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    // Element by element: w = d·(q − 8); a form with positive effective block scale e re-quantizes it to
    // clamp(round(w / e) + 8, 0, 15) and dequantizes e·(q' − 8).
    internal static (double PerBlock, double Lpbq, double LpbqScale) Errors(ReadOnlySpan<byte> b, ReadOnlySpan<float> scales, int n, int blocks)
    {
        double perBlock = 0;
        double lpbq = 0;
        double lpbqScale = 0;
        int levels = (1 << LpbqBlockScaleBits) - 1;
        Span<int> q = stackalloc int[BlockSize];
        for (int row = 0; row < n; row++)
        {
            var rowScales = scales.Slice(row * blocks, blocks);
            double max = 0;
            foreach (float d in rowScales)
            {
                max = Math.Max(max, Math.Abs((double)d));
            }

            double channelScale = max / levels;
            for (int blk = 0; blk < blocks; blk++)
            {
                double d = rowScales[blk];
                var bytes = b.Slice((row * blocks + blk) * (BlockSize / 2), BlockSize / 2);
                for (int j = 0; j < bytes.Length; j++)
                {
                    q[2 * j] = bytes[j] & 0x0F;
                    q[(2 * j) + 1] = bytes[j] >> 4;
                }

                double effective = channelScale == 0 ? 0 : Math.Round(Math.Abs(d) / channelScale, MidpointRounding.AwayFromZero) * channelScale;
                perBlock = Math.Max(perBlock, BlockError(q, d, Math.Abs(d)));
                lpbq = Math.Max(lpbq, BlockError(q, d, effective));
                lpbqScale = Math.Max(lpbqScale, BlockError(q, Math.Abs(d), effective));
            }
        }

        return (perBlock, lpbq, lpbqScale);
    }

    private static double BlockError(ReadOnlySpan<int> q, double d, double e)
    {
        double worst = 0;
        foreach (int nibble in q)
        {
            double w = d * (nibble - 8);
            double r = e == 0 ? 0 : e * (Math.Clamp(Math.Round(w / e, MidpointRounding.ToEven) + 8, 0, 15) - 8);
            worst = Math.Max(worst, Math.Abs(w - r));
        }

        return worst;
    }

    private static TensorProto Initializer(Dictionary<string, TensorProto> initializers, string name) =>
        initializers.TryGetValue(name, out var t) ? t : throw new InvalidDataException($"Initializer '{name}' is not in the graph.");

    private static float[] Scales(TensorProto t, string dir)
    {
        if (t.DataType == (int)TensorProto.Types.DataType.Float && t.FloatData.Count > 0)
        {
            return [.. t.FloatData];
        }

        var raw = Data(t, dir);
        if (t.DataType == (int)TensorProto.Types.DataType.Float)
        {
            return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw).ToArray();
        }

        if (t.DataType == (int)TensorProto.Types.DataType.Float16)
        {
            var half = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(raw);
            var result = new float[half.Length];
            for (int i = 0; i < half.Length; i++)
            {
                result[i] = (float)half[i];
            }

            return result;
        }

        throw new InvalidDataException($"Initializer '{t.Name}' has data type {t.DataType}; MatMulNBits scales are float32 or float16.");
    }

    private static byte[] Data(TensorProto t, string dir)
    {
        if (t.DataLocation == TensorProto.Types.DataLocation.External)
        {
            var entries = t.ExternalData.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
            string file = Path.Combine(dir, entries["location"]);
            long offset = entries.TryGetValue("offset", out var o) ? long.Parse(o, CultureInfo.InvariantCulture) : 0;
            long length = entries.TryGetValue("length", out var l) ? long.Parse(l, CultureInfo.InvariantCulture) : new FileInfo(file).Length - offset;
            var buffer = new byte[length];
            using var stream = File.OpenRead(file);
            stream.Seek(offset, SeekOrigin.Begin);
            stream.ReadExactly(buffer);
            return buffer;
        }

        if (t.RawData.Length > 0)
        {
            return t.RawData.ToByteArray();
        }

        if (t.Int32Data.Count > 0 && t.DataType == (int)TensorProto.Types.DataType.Float16)
        {
            var bytes = new byte[t.Int32Data.Count * 2];
            for (int i = 0; i < t.Int32Data.Count; i++)
            {
                BitConverter.TryWriteBytes(bytes.AsSpan(2 * i), (ushort)t.Int32Data[i]);
            }

            return bytes;
        }

        throw new InvalidDataException($"Initializer '{t.Name}' has no raw or external data.");
    }
}
