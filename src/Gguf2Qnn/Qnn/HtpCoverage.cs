using System.Globalization;
using System.Text.Json.Nodes;
using Gguf2Qnn.Onnx.Proto;
using Gguf2Qnn.Targets;
using DataType = Gguf2Qnn.Onnx.Proto.TensorProto.Types.DataType;

namespace Gguf2Qnn.Qnn;

/// <summary>A node the HTP backend cannot take, and why.</summary>
/// <param name="Graph">Graph file name.</param>
/// <param name="Node">Node name.</param>
/// <param name="Op">domain:op (ai.onnx for the default domain).</param>
/// <param name="Reason">What is unsupported.</param>
public sealed record HtpOffendingNode(string Graph, string Node, string Op, string Reason);

/// <summary>Per-operator counts.</summary>
/// <param name="Op">domain:op.</param>
/// <param name="Nodes">Nodes of this op.</param>
/// <param name="Covered">Of them, the ones the HTP takes.</param>
public sealed record HtpOpCount(string Op, int Nodes, int Covered);

/// <summary>The result of <see cref="HtpCoverage.Check(string, HtpSupportTable?)"/>.</summary>
public sealed record HtpCoverageReport
{
    /// <summary>Graph files checked.</summary>
    public required IReadOnlyList<string> Graphs { get; init; }

    /// <summary>The support table's EP version line.</summary>
    public required string TableVersion { get; init; }

    /// <summary>Per-operator counts, sorted by op.</summary>
    public required IReadOnlyList<HtpOpCount> Ops { get; init; }

    /// <summary>Unsupported nodes.</summary>
    public required IReadOnlyList<HtpOffendingNode> Offending { get; init; }

    /// <summary>Graph inputs or outputs without fixed dimensions.</summary>
    public required IReadOnlyList<string> DynamicShapes { get; init; }

    /// <summary>Parts whose weights exceed the per-context limit.</summary>
    public required IReadOnlyList<string> OversizedParts { get; init; }

    /// <summary>Part weight bytes (from qnn_model.json), by part index.</summary>
    public required IReadOnlyList<long> PartWeightBytes { get; init; }

    /// <summary>All nodes.</summary>
    public int TotalNodes => Ops.Sum(o => o.Nodes);

    /// <summary>Nodes the HTP takes.</summary>
    public int CoveredNodes => Ops.Sum(o => o.Covered);

    /// <summary>Covered / total (1 for an empty set).</summary>
    public double Coverage => TotalNodes == 0 ? 1 : CoveredNodes / (double)TotalNodes;

    /// <summary>Every node covered, every shape static, every part under the limit.</summary>
    public bool FullyCovered => Offending.Count == 0 && DynamicShapes.Count == 0 && OversizedParts.Count == 0;

    /// <summary>The report as JSON (conversion.json's <c>op_coverage</c>, <c>check-qnn --json</c>).</summary>
    public JsonObject ToJson() => new()
    {
        ["table"] = TableVersion,
        ["graphs"] = new JsonArray(Graphs.Select(g => (JsonNode)g).ToArray()),
        ["nodes"] = TotalNodes,
        ["covered_nodes"] = CoveredNodes,
        ["coverage"] = Coverage,
        ["fully_covered"] = FullyCovered,
        ["per_op"] = new JsonObject(Ops.Select(o => new KeyValuePair<string, JsonNode?>(o.Op, new JsonObject { ["nodes"] = o.Nodes, ["covered"] = o.Covered }))),
        ["offending_nodes"] = new JsonArray(Offending.Select(o => (JsonNode)new JsonObject { ["graph"] = o.Graph, ["node"] = o.Node, ["op"] = o.Op, ["reason"] = o.Reason }).ToArray()),
        ["dynamic_shapes"] = new JsonArray(DynamicShapes.Select(d => (JsonNode)d).ToArray()),
        ["part_weight_bytes"] = new JsonArray(PartWeightBytes.Select(b => (JsonNode)b).ToArray()),
        ["oversized_parts"] = new JsonArray(OversizedParts.Select(d => (JsonNode)d).ToArray()),
    };

    /// <summary>Human-readable lines: coverage per op, then the offending nodes.</summary>
    public void Print(TextWriter w)
    {
        ArgumentNullException.ThrowIfNull(w);
        w.WriteLine($"HTP op coverage: {CoveredNodes}/{TotalNodes} nodes ({Coverage:P2}) in {Graphs.Count} graph(s); table: {TableVersion}");
        foreach (var o in Ops)
        {
            w.WriteLine($"  {o.Op,-48} {o.Covered,6}/{o.Nodes,-6} {(o.Nodes == 0 ? 1 : o.Covered / (double)o.Nodes),8:P1}");
        }

        for (int i = 0; i < PartWeightBytes.Count; i++)
        {
            w.WriteLine($"  part {i}: {PartWeightBytes[i]:N0} weight bytes");
        }

        foreach (var o in Offending)
        {
            w.WriteLine($"  NOT ON HTP: {o.Graph}: {o.Node} ({o.Op}): {o.Reason}");
        }

        foreach (var d in DynamicShapes)
        {
            w.WriteLine($"  DYNAMIC SHAPE: {d}");
        }

        foreach (var p in OversizedParts)
        {
            w.WriteLine($"  TOO BIG: {p}");
        }
    }
}

/// <summary>Thrown by <c>convert --target qnn</c> when coverage is under 100% without --allow-cpu-fallback.</summary>
public sealed class HtpCoverageException(HtpCoverageReport report)
    : InvalidOperationException($"HTP op coverage is {report.CoveredNodes}/{report.TotalNodes} ({report.Coverage:P2}); {report.Offending.Count} node(s) not on HTP (first: {report.Offending.FirstOrDefault()?.Node} {report.Offending.FirstOrDefault()?.Reason}), {report.DynamicShapes.Count} dynamic shape(s), {report.OversizedParts.Count} oversized part(s). Use --allow-cpu-fallback to accept CPU fallback.")
{
    /// <summary>The failing report.</summary>
    public HtpCoverageReport Report { get; } = report;
}

/// <summary>
/// Checks graphs against the QNN EP's HTP support table: each node's op (domain and type), its attributes where the
/// table restricts them, the element type of every input and output (int64, float64 and other non-HTP types are
/// offending except in an op's constant parameter inputs), Gather's data and index types, fixed graph I/O shapes and
/// part sizes. Node output types are propagated from graph inputs, initializers and per-op rules.
/// </summary>
public static class HtpCoverage
{
    /// <summary>Checks a folder: the graphs named by qnn_model.json, or every *.onnx file when there is none.</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">A graph file does not parse or no graph is found.</exception>
    public static HtpCoverageReport Check(string directory, HtpSupportTable? table = null)
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"'{directory}' does not exist.");
        }

        table ??= HtpSupportTable.Default;
        IReadOnlyList<string> graphs;
        var partBytes = new List<long>();
        var oversized = new List<string>();
        if (File.Exists(Path.Combine(directory, QnnModelLayout.FileName)))
        {
            var layout = QnnModelLayout.Read(directory);
            graphs = layout.Parts.SelectMany(p => p.Graphs.Values).ToList();
            foreach (var p in layout.Parts)
            {
                partBytes.Add(p.WeightBytes);
                if (p.WeightBytes > table.File.MaxContextWeightBytes)
                {
                    oversized.Add(string.Create(CultureInfo.InvariantCulture, $"part {p.Index}: {p.WeightBytes:N0} bytes > {table.File.MaxContextWeightBytes:N0}"));
                }
            }
        }
        else
        {
            graphs = Directory.GetFiles(directory, "*.onnx").Select(Path.GetFileName).Where(f => !f!.EndsWith("_ctx.onnx", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList()!;
        }

        if (graphs.Count == 0)
        {
            throw new InvalidDataException($"'{directory}' holds no ONNX graph to check.");
        }

        var acc = new Accumulator();
        foreach (string file in graphs)
        {
            ModelProto model;
            try
            {
                using var stream = File.OpenRead(Path.Combine(directory, file));
                model = ModelProto.Parser.ParseFrom(stream);
            }
            catch (Google.Protobuf.InvalidProtocolBufferException ex)
            {
                throw new InvalidDataException($"{file} is not an ONNX model: {ex.Message}", ex);
            }

            CheckGraph(file, model.Graph, table, acc);
        }

        return acc.Report(graphs, table, partBytes, oversized);
    }

    /// <summary>Checks one in-memory model (tests, single graphs).</summary>
    public static HtpCoverageReport CheckModel(ModelProto model, string name = "model.onnx", HtpSupportTable? table = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        table ??= HtpSupportTable.Default;
        var acc = new Accumulator();
        CheckGraph(name, model.Graph, table, acc);
        return acc.Report([name], table, [], []);
    }

    private sealed class Accumulator
    {
        public Dictionary<string, (int Nodes, int Covered)> Ops { get; } = new(StringComparer.Ordinal);

        public List<HtpOffendingNode> Offending { get; } = [];

        public List<string> Dynamic { get; } = [];

        public HtpCoverageReport Report(IReadOnlyList<string> graphs, HtpSupportTable table, List<long> partBytes, List<string> oversized) => new()
        {
            Graphs = graphs,
            TableVersion = table.File.EpVersion,
            Ops = Ops.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => new HtpOpCount(o.Key, o.Value.Nodes, o.Value.Covered)).ToList(),
            Offending = Offending,
            DynamicShapes = Dynamic,
            OversizedParts = oversized,
            PartWeightBytes = partBytes,
        };
    }

    private static void CheckGraph(string file, GraphProto graph, HtpSupportTable table, Accumulator acc)
    {
        var types = new Dictionary<string, DataType>(StringComparer.Ordinal);
        var initializers = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in graph.Initializer)
        {
            types[t.Name] = (DataType)t.DataType;
            initializers.Add(t.Name);
        }

        foreach (var v in graph.Input.Concat(graph.ValueInfo).Concat(graph.Output))
        {
            if (v.Type?.TensorType is { } tt && !types.ContainsKey(v.Name))
            {
                types[v.Name] = (DataType)tt.ElemType;
            }
        }

        foreach (var v in graph.Input.Where(i => !initializers.Contains(i.Name)).Concat(graph.Output))
        {
            var dims = v.Type?.TensorType?.Shape?.Dim;
            if (dims is null || dims.Any(d => d.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue))
            {
                acc.Dynamic.Add($"{file}: {v.Name}");
            }
        }

        foreach (var node in graph.Node)
        {
            string domain = node.Domain is "" or "ai.onnx" ? "" : node.Domain;
            string opName = (domain.Length == 0 ? "ai.onnx" : domain) + ":" + node.OpType;
            PropagateTypes(node, types);
            string? reason = Reason(node, domain, table, types, initializers);
            var (n, c) = acc.Ops.GetValueOrDefault(opName);
            acc.Ops[opName] = (n + 1, c + (reason is null ? 1 : 0));
            if (reason is not null)
            {
                acc.Offending.Add(new HtpOffendingNode(file, node.Name, opName, reason));
            }
        }
    }

    private static string? Reason(NodeProto node, string domain, HtpSupportTable table, Dictionary<string, DataType> types, HashSet<string> initializers)
    {
        var entry = table.Find(domain, node.OpType);
        if (entry is null)
        {
            return "operator not in the QNN EP's HTP support table";
        }

        if (entry.Attributes is not null)
        {
            foreach (var (name, allowed) in entry.Attributes)
            {
                var a = node.Attribute.FirstOrDefault(x => x.Name == name);
                if (a is not null && !allowed.Contains(a.I))
                {
                    return $"attribute {name}={a.I} (HTP takes {string.Join("/", allowed)})";
                }
            }
        }

        for (int i = 0; i < node.Input.Count; i++)
        {
            string input = node.Input[i];
            if (input.Length == 0)
            {
                continue;
            }

            bool isStatic = entry.StaticInputs.Contains(i) || entry.StaticInputsInt64Ok.Contains(i);
            if (entry.StaticInputs.Contains(i) && !initializers.Contains(input))
            {
                return $"input {i} ('{input}') must be a constant initializer";
            }

            if (!types.TryGetValue(input, out var type))
            {
                return $"input {i} ('{input}') has an unknown element type";
            }

            if (isStatic && initializers.Contains(input))
            {
                continue;
            }

            string typeName = TypeName(type);
            var allowed = entry.InputTypes is not null && entry.InputTypes.TryGetValue(i.ToString(CultureInfo.InvariantCulture), out var list) ? list : null;
            if (allowed is not null ? !allowed.Contains(typeName) : !table.TensorTypes.Contains(typeName))
            {
                return $"input {i} ('{input}') is {typeName}, not an HTP type for {node.OpType}";
            }
        }

        foreach (string output in node.Output)
        {
            if (output.Length > 0 && types.TryGetValue(output, out var type) && !table.TensorTypes.Contains(TypeName(type)))
            {
                return $"output '{output}' is {TypeName(type)}, not an HTP type";
            }
        }

        return null;
    }

    private static void PropagateTypes(NodeProto node, Dictionary<string, DataType> types)
    {
        DataType? first = node.Input.Count > 0 && types.TryGetValue(node.Input[0], out var t0) ? t0 : null;
        DataType? type = node.OpType switch
        {
            "Cast" => (DataType)(node.Attribute.FirstOrDefault(a => a.Name == "to")?.I ?? 0),
            "Equal" or "Less" or "LessOrEqual" or "Greater" or "GreaterOrEqual" or "And" or "Or" or "Not" or "Xor" or "IsNaN" or "IsInf" => DataType.Bool,
            "Shape" or "Size" or "ArgMax" or "ArgMin" or "NonZero" => DataType.Int64,
            "Where" => node.Input.Count > 1 && types.TryGetValue(node.Input[1], out var t1) ? t1 : null,
            _ => first,
        };
        if (type is null)
        {
            return;
        }

        for (int i = 0; i < node.Output.Count; i++)
        {
            if (node.Output[i].Length > 0 && !types.ContainsKey(node.Output[i]))
            {
                // GroupQueryAttention's and similar ops' extra outputs share the first input's type here; good enough for
                // a support check (the op itself is what gets flagged).
                types[node.Output[i]] = node.OpType == "TopK" && i == 1 ? DataType.Int64 : type.Value;
            }
        }
    }

    private static string TypeName(DataType t) => t switch
    {
        DataType.Float => "float32",
        DataType.Float16 => "float16",
        DataType.Bfloat16 => "bfloat16",
        DataType.Double => "float64",
        DataType.Int8 => "int8",
        DataType.Int16 => "int16",
        DataType.Int32 => "int32",
        DataType.Int64 => "int64",
        DataType.Uint8 => "uint8",
        DataType.Uint16 => "uint16",
        DataType.Uint32 => "uint32",
        DataType.Uint64 => "uint64",
        DataType.Bool => "bool",
        DataType.Int4 => "int4",
        DataType.Uint4 => "uint4",
        _ => t.ToString().ToLowerInvariant(),
    };
}
