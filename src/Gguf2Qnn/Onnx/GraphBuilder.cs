using System.Runtime.InteropServices;
using Google.Protobuf;
using Gguf2Qnn.Onnx.Proto;
using DataType = Gguf2Qnn.Onnx.Proto.TensorProto.Types.DataType;

namespace Gguf2Qnn.Onnx;

/// <summary>
/// Builds one ONNX <see cref="ModelProto"/> over the generated protobuf types: graph inputs and outputs with
/// symbolic or fixed dimensions, nodes with attributes, and initializers. Initializers of at least
/// <see cref="ExternalThresholdBytes"/> bytes are streamed to an <see cref="ExternalDataWriter"/>; smaller ones are
/// stored inline as raw_data. Opset imports are ai.onnx <see cref="OnnxDomains.OnnxOpset"/> and com.microsoft
/// <see cref="OnnxDomains.MicrosoftOpset"/>.
/// </summary>
public sealed class GraphBuilder
{
    /// <summary>Default size from which an initializer goes to the external-data file (4 KiB).</summary>
    public const int DefaultExternalThresholdBytes = 4096;

    private readonly ExternalDataWriter? _external;
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly HashSet<string> _nodeNames = new(StringComparer.Ordinal);

    /// <summary>Starts an empty graph.</summary>
    /// <param name="graphName">GraphProto.name.</param>
    /// <param name="external">Where large initializers go; null keeps every initializer inline (the model must then stay under 2 GiB).</param>
    /// <param name="externalThresholdBytes">Initializers of at least this many bytes go to <paramref name="external"/>.</param>
    public GraphBuilder(string graphName, ExternalDataWriter? external = null, int externalThresholdBytes = DefaultExternalThresholdBytes)
    {
        _external = external;
        ExternalThresholdBytes = externalThresholdBytes;
        Model = new ModelProto
        {
            IrVersion = OnnxDomains.IrVersion,
            ProducerName = "gguf2qnn",
            ProducerVersion = typeof(GraphBuilder).Assembly.GetName().Version?.ToString() ?? "0",
            Graph = new GraphProto { Name = graphName },
        };
        Model.OpsetImport.Add(new OperatorSetIdProto { Domain = OnnxDomains.Onnx, Version = OnnxDomains.OnnxOpset });
        Model.OpsetImport.Add(new OperatorSetIdProto { Domain = OnnxDomains.Microsoft, Version = OnnxDomains.MicrosoftOpset });
    }

    /// <summary>The model being built.</summary>
    public ModelProto Model { get; }

    /// <summary>The graph being built.</summary>
    public GraphProto Graph => Model.Graph;

    /// <summary>Initializers of at least this many bytes go to the external-data file.</summary>
    public int ExternalThresholdBytes { get; }

    /// <summary>Adds a graph input. Each dimension is a <see cref="long"/> (fixed) or a <see cref="string"/> (symbolic).</summary>
    public string AddInput(string name, DataType elementType, params object[] dims)
    {
        Graph.Input.Add(ValueInfo(name, elementType, dims));
        Claim(name);
        return name;
    }

    /// <summary>
    /// Adds a graph input that has a default value: an initializer of the same name listed among the graph inputs
    /// (onnx/IR.md, IR version ≥ 4: such an initializer is a default the caller may override; ONNX Runtime calls it an
    /// overridable initializer and does not constant-fold it). Dimensions are fixed.
    /// </summary>
    public string AddInputWithDefault<T>(string name, DataType elementType, IReadOnlyList<long> dims, ReadOnlySpan<T> values)
        where T : unmanaged
    {
        Graph.Input.Add(ValueInfo(name, elementType, dims.Select(d => (object)d).ToArray()));
        return AddInitializer(name, elementType, dims, values);
    }

    /// <summary>Adds a graph output (the value must be produced by a node). Dimensions as in <see cref="AddInput"/>.</summary>
    public void AddOutput(string name, DataType elementType, params object[] dims) =>
        Graph.Output.Add(ValueInfo(name, elementType, dims));

    /// <summary>
    /// Adds a node. <paramref name="outputs"/> null means one output named <c>{name}/output_0</c>.
    /// Use the empty string for an omitted optional input or output.
    /// </summary>
    /// <returns>The node's output names.</returns>
    /// <exception cref="InvalidOperationException">A node or output name is used twice.</exception>
    public IReadOnlyList<string> AddNode(
        string opType,
        string name,
        IReadOnlyList<string> inputs,
        IReadOnlyList<string>? outputs = null,
        string domain = OnnxDomains.Onnx,
        params AttributeProto[] attributes)
    {
        outputs ??= [OnnxNames.Output(name)];
        var node = new NodeProto { OpType = opType, Name = name, Domain = domain };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        if (!_nodeNames.Add(name))
        {
            throw new InvalidOperationException($"Node name '{name}' is used twice.");
        }

        foreach (string output in outputs)
        {
            if (output.Length > 0)
            {
                Claim(output);
            }
        }

        Graph.Node.Add(node);
        return outputs;
    }

    /// <summary>Adds a node with a single output and returns that output's name.</summary>
    public string Add(string opType, string name, IReadOnlyList<string> inputs, string domain = OnnxDomains.Onnx, params AttributeProto[] attributes) =>
        AddNode(opType, name, inputs, null, domain, attributes)[0];

    /// <summary>Adds an initializer from bytes (raw little-endian, row-major).</summary>
    /// <exception cref="ArgumentException">The byte count does not match the type and shape.</exception>
    public string AddInitializer(string name, DataType dataType, IReadOnlyList<long> dims, ReadOnlySpan<byte> data)
    {
        long expected = OnnxTensorTypes.ByteSize(dataType, dims);
        if (data.Length != expected)
        {
            throw new ArgumentException($"Initializer '{name}' has {data.Length} bytes; its type and shape need {expected}.", nameof(data));
        }

        var sink = BeginInitializer(name, dataType, dims);
        sink.WriteBytes(data);
        EndInitializer(sink);
        return name;
    }

    /// <summary>Adds an initializer from values of an unmanaged type (float, int, long, byte, Half...).</summary>
    public string AddInitializer<T>(string name, DataType dataType, IReadOnlyList<long> dims, ReadOnlySpan<T> values)
        where T : unmanaged
    {
        TensorSink.EnsureLittleEndian();
        return AddInitializer(name, dataType, dims, MemoryMarshal.AsBytes(values));
    }

    /// <summary>Delegate that streams an initializer's bytes into a sink.</summary>
    public delegate void TensorFill(TensorSink sink);

    /// <summary>
    /// Adds an initializer whose bytes are produced by <paramref name="fill"/> (streamed straight to the external
    /// file when large, so a producer can emit a big tensor in slices).
    /// </summary>
    /// <exception cref="InvalidOperationException">The bytes written do not match the type and shape.</exception>
    public string AddInitializer(string name, DataType dataType, IReadOnlyList<long> dims, TensorFill fill)
    {
        var sink = BeginInitializer(name, dataType, dims);
        fill(sink);
        EndInitializer(sink);
        return name;
    }

    private PendingSink BeginInitializer(string name, DataType dataType, IReadOnlyList<long> dims)
    {
        Claim(name);
        long size = OnnxTensorTypes.ByteSize(dataType, dims);
        bool external = _external is not null && size >= ExternalThresholdBytes;
        var inner = external ? _external!.BeginTensor(name, dataType, dims) : new MemoryTensorSink(size);
        return new PendingSink(inner, name, dataType, dims, size, external);
    }

    private void EndInitializer(PendingSink sink)
    {
        TensorProto tensor;
        if (sink.IsExternal)
        {
            tensor = _external!.EndTensor();
        }
        else
        {
            if (sink.Written != sink.Size)
            {
                throw new InvalidOperationException($"Initializer '{sink.Name}' received {sink.Written} bytes; its type and shape need {sink.Size}.");
            }

            tensor = new TensorProto
            {
                Name = sink.Name,
                DataType = (int)sink.DataType,
                RawData = ByteString.CopyFrom(((MemoryTensorSink)sink.Inner).Bytes),
            };
            tensor.Dims.AddRange(sink.Dims);
        }

        Graph.Initializer.Add(tensor);
    }

    private sealed class PendingSink(TensorSink inner, string name, DataType dataType, IReadOnlyList<long> dims, long size, bool isExternal) : TensorSink
    {
        public TensorSink Inner => inner;

        public string Name => name;

        public DataType DataType => dataType;

        public IReadOnlyList<long> Dims => dims;

        public long Size => size;

        public bool IsExternal => isExternal;

        public override void WriteBytes(ReadOnlySpan<byte> bytes)
        {
            inner.WriteBytes(bytes);
            Written += bytes.Length;
        }

        public override Span<byte> GetSpan(int minimumBytes) => inner.GetSpan(minimumBytes);

        public override void Advance(int count)
        {
            inner.Advance(count);
            Written += count;
        }
    }

    /// <summary>Adds a small int64 constant initializer of the given shape.</summary>
    public string AddInt64(string name, IReadOnlyList<long> dims, params long[] values) =>
        AddInitializer<long>(name, DataType.Int64, dims, values);

    /// <summary>Writes the model to <paramref name="path"/> (protobuf binary).</summary>
    public void Save(string path)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        Model.WriteTo(stream);
        stream.Flush(flushToDisk: true);
    }

    private void Claim(string valueName)
    {
        if (!_names.Add(valueName))
        {
            throw new InvalidOperationException($"Value name '{valueName}' is defined twice.");
        }
    }

    private static ValueInfoProto ValueInfo(string name, DataType elementType, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (object d in dims)
        {
            shape.Dim.Add(d switch
            {
                string s => new TensorShapeProto.Types.Dimension { DimParam = s },
                long l => new TensorShapeProto.Types.Dimension { DimValue = l },
                int i => new TensorShapeProto.Types.Dimension { DimValue = i },
                _ => throw new ArgumentException($"Dimension '{d}' of '{name}' is neither a number nor a symbol.", nameof(dims)),
            });
        }

        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)elementType, Shape = shape } },
        };
    }
}

/// <summary>Builds <see cref="AttributeProto"/> values (onnx/onnx.proto AttributeProto).</summary>
public static class Attr
{
    /// <summary>An INT attribute.</summary>
    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    /// <summary>A FLOAT attribute.</summary>
    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>A STRING attribute (UTF-8).</summary>
    public static AttributeProto String(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    /// <summary>An INTS attribute.</summary>
    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }
}
