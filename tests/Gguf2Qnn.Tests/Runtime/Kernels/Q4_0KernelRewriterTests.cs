using Gguf2Qnn.Onnx.Proto;
using Gguf2Qnn.Runtime.Kernels;
using Google.Protobuf;
using Xunit;

namespace Gguf2Qnn.Tests.Runtime.Kernels;

public sealed class Q4_0KernelRewriterTests
{
    private static TensorProto Initializer(string name, TensorProto.Types.DataType type, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)type };
        t.Dims.AddRange(dims);
        return t;
    }

    private static TensorProto Int64s(string name, params long[] values)
    {
        var t = Initializer(name, TensorProto.Types.DataType.Int64, values.Length);
        t.Int64Data.AddRange(values);
        return t;
    }

    private static NodeProto Node(string op, string domain, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = op, Domain = domain, Name = outputs[0] + "_node" };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attributes);
        return n;
    }

    private static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static NodeProto MatMulNBits(string x, string w, string y, long k, long n, long bits = 4, long block = 32) =>
        Node("MatMulNBits", "com.microsoft", [x, w + "_B", w + "_scales"], [y],
            Int("K", k), Int("N", n), Int("bits", bits), Int("block_size", block), Int("accuracy_level", 4));

    private static IEnumerable<TensorProto> Weight(string w, long n, long k) =>
    [
        Initializer(w + "_B", TensorProto.Types.DataType.Uint8, n, k / 32, 16),
        Initializer(w + "_scales", TensorProto.Types.DataType.Float, n * (k / 32)),
    ];

    /// <summary>The cpu target's layer shape: q/k/v projection + bias Add + Split; gate/up + Split + silu + Mul; down.</summary>
    private static ModelProto Layer()
    {
        var g = new GraphProto { Name = "layer" };
        g.Input.Add(new ValueInfoProto { Name = "x" });
        g.Output.Add(new ValueInfoProto { Name = "out" });
        g.Output.Add(new ValueInfoProto { Name = "v" });
        g.Initializer.AddRange(Weight("qkv", 96, 64));
        g.Initializer.AddRange(Weight("gate_up", 256, 64));
        g.Initializer.AddRange(Weight("down", 64, 128));
        g.Initializer.Add(Initializer("qkv_bias", TensorProto.Types.DataType.Float, 96));
        g.Initializer.Add(Int64s("qkv_sizes", 64, 16, 16));
        g.Initializer.Add(Int64s("gate_up_sizes", 128, 128));
        g.Node.Add(MatMulNBits("x", "qkv", "qkv_mm", 64, 96));
        g.Node.Add(Node("Add", "", ["qkv_mm", "qkv_bias"], ["qkv_y"]));
        g.Node.Add(Node("Split", "", ["qkv_y", "qkv_sizes"], ["q", "k", "v"], Int("axis", -1)));
        g.Node.Add(Node("Add", "", ["q", "k"], ["qk"])); // stands in for attention
        g.Node.Add(MatMulNBits("qk", "gate_up", "gu", 64, 256));
        g.Node.Add(Node("Split", "", ["gu", "gate_up_sizes"], ["gate", "up"], Int("axis", -1)));
        g.Node.Add(Node("Sigmoid", "", ["gate"], ["sig"]));
        g.Node.Add(Node("Mul", "", ["gate", "sig"], ["silu"]));
        g.Node.Add(Node("Mul", "", ["silu", "up"], ["gated"]));
        g.Node.Add(MatMulNBits("gated", "down", "out", 128, 64));
        var model = new ModelProto { Graph = g, IrVersion = 10 };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 21 });
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        return model;
    }

    [Fact]
    public void RewritesQ4_0MatMulNBitsAndFusesWhatFollows()
    {
        var model = Layer();
        var result = Q4_0KernelRewriter.Rewrite(model);
        Assert.Equal(new Q4_0Rewrite(3, 1, 1, 1), result);
        var nodes = model.Graph.Node;
        Assert.Equal(["MatMulQ4_0", "Add", "MatMulQ4_0", "MatMulQ4_0"], nodes.Select(n => n.OpType));
        Assert.Contains(model.OpsetImport, o => o.Domain == "com.gguf2qnn" && o.Version == 1);

        var qkv = nodes[0];
        Assert.Equal("com.gguf2qnn", qkv.Domain);
        Assert.Equal(["x", "qkv_B", "qkv_scales", "qkv_bias"], qkv.Input);
        Assert.Equal(["q", "k", "v"], qkv.Output);
        Assert.Equal([64L, 16, 16], qkv.Attribute.Single(a => a.Name == "split").Ints);
        Assert.Equal(["K", "N", "split"], qkv.Attribute.Select(a => a.Name));

        var gateUp = nodes[2];
        Assert.Equal(["gated"], gateUp.Output);
        Assert.Equal(1, gateUp.Attribute.Single(a => a.Name == "swiglu").I);
        Assert.Equal("gated", nodes[3].Input[0]);
        Assert.Equal([64L], nodes[3].Attribute.Single(a => a.Name == "split").Ints);
    }

    [Fact]
    public void LeavesOtherWeightsAndSharedValuesAlone()
    {
        var model = Layer();
        var g = model.Graph;
        g.Node[0].Attribute.Single(a => a.Name == "bits").I = 8;           // Q8_0: ONNX Runtime's kernel
        g.Node[^1].Attribute.Single(a => a.Name == "accuracy_level").I = 0; // float activations asked for: ONNX Runtime's
        g.Node.Add(Node("Identity", "", ["gate"], ["gate_copy"]));          // gate used once more: no SwiGLU fusion
        g.Output.Add(new ValueInfoProto { Name = "gate_copy" });
        var result = Q4_0KernelRewriter.Rewrite(model);
        Assert.Equal(new Q4_0Rewrite(1, 0, 1, 0), result);
        Assert.Equal("MatMulNBits", g.Node[^2].OpType); // down, before the Identity added above
        Assert.Equal("MatMulNBits", g.Node[0].OpType);
        Assert.Contains(g.Node, n => n.OpType == "Split" && n.Output[0] == "q"); // after a MatMulNBits: kept

        // The gate/up Split still becomes the node's two outputs; the silu and Mul stay with ONNX Runtime.
        Assert.Contains(g.Node, n => n.OpType == "MatMulQ4_0" && n.Output.SequenceEqual(["gate", "up"]));
        Assert.DoesNotContain(g.Node, n => n.OpType == "Split" && n.Output[0] == "gate");
        Assert.Contains(g.Node, n => n.OpType == "Sigmoid");
    }

    [Theory]
    [InlineData("qkv_mm")] // the MatMulNBits output: its bias Add must stay
    [InlineData("gate")]   // a Split output: the SwiGLU (which would remove it) must stay
    [InlineData("silu")]
    public void ValuesASubgraphReadsAreKept(string value)
    {
        // An If whose branch reads a value of the outer graph (ONNX IR: subgraphs see the enclosing scope's names).
        var model = Layer();
        var g = model.Graph;
        g.Input.Add(new ValueInfoProto { Name = "cond" });
        var then = new GraphProto { Name = "then" };
        then.Node.Add(Node("Identity", "", [value], ["then_out"]));
        then.Output.Add(new ValueInfoProto { Name = "then_out" });
        var otherwise = new GraphProto { Name = "else" };
        otherwise.Node.Add(Node("Identity", "", ["x"], ["else_out"]));
        otherwise.Output.Add(new ValueInfoProto { Name = "else_out" });
        g.Node.Add(Node("If", "", ["cond"], ["if_out"],
            new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = then },
            new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = otherwise }));
        g.Output.Add(new ValueInfoProto { Name = "if_out" });

        var result = Q4_0KernelRewriter.Rewrite(model);
        Assert.Equal(3, result.Nodes);
        Assert.Contains(g.Node, n => n.OpType != "If" && n.Output.Contains(value));
    }

    [Fact]
    public void WeightsAGraphInputCanReplaceAreLeftToOnnxRuntime()
    {
        // An initializer that is also a graph input is only a default (ONNX IR ≥ 4): the custom op needs constants.
        var model = Layer();
        model.Graph.Input.Add(new ValueInfoProto { Name = "qkv_scales" });
        var result = Q4_0KernelRewriter.Rewrite(model);
        Assert.Equal(2, result.Nodes);
        Assert.Equal("MatMulNBits", model.Graph.Node[0].OpType);
    }

    [Fact]
    public void AModelWithoutQ4_0IsUnchanged()
    {
        var model = Layer();
        foreach (var n in model.Graph.Node.Where(n => n.OpType == "MatMulNBits")) n.Attribute.Single(a => a.Name == "block_size").I = 64;
        var before = model.ToByteArray();
        Assert.Equal(default, Q4_0KernelRewriter.Rewrite(model));
        Assert.Equal(before, model.ToByteArray());
    }
}
