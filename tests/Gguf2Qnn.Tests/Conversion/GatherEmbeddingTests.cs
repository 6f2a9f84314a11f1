using Gguf2Qnn.Conversion;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Onnx;
using Gguf2Qnn.Reference;
using Gguf2Qnn.Targets;
using Microsoft.ML.OnnxRuntime;
using Xunit;
using DataType = Gguf2Qnn.Onnx.Proto.TensorProto.Types.DataType;

namespace Gguf2Qnn.Tests.Conversion;

[Trait("Category", "Conversion")]
public class GatherEmbeddingTests
{
    // A Q4_0/Q8_0 token_embd kept block-quantized and looked up by com.microsoft GatherBlockQuantized gives exactly
    // ggml's own dequantized rows (ggml's to_float through GgmlNative), including repeated and first/last ids.
    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q8_0)]
    public void QuantizedTableGathersGgmlRowsBitForBit(GgmlType type)
    {
        const int hidden = 96, vocab = 37;
        var rng = new Random(11);
        var values = new float[hidden * vocab];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)((rng.NextDouble() - 0.5) * 3.0);
        }

        byte[] q = type == GgmlType.Q4_0 ? Quantizer.QuantizeQ4_0(values) : Quantizer.QuantizeQ8_0(values);
        string dir = TestPaths.NewTempDir("gather-embedding");
        string ggufPath = Path.Combine(dir, "embed.gguf");
        var w = new GgufWriter();
        w.AddString(GgufKeys.Architecture, "llama");
        w.AddTensor(GgufTensorNames.TokenEmbedding, type, [hidden, vocab], q);
        w.WriteTo(ggufPath);

        string modelPath = Path.Combine(dir, "embed.onnx");
        using (var gguf = GgufFile.Open(ggufPath))
        {
            var g = new GraphBuilder("embedding");
            g.AddInput("ids", DataType.Int64, 1L, "n");
            var weights = new WeightWriter(gguf, g, WeightFormat.Keep);
            var e = weights.GatherEmbedding(gguf.GetTensor(GgufTensorNames.TokenEmbedding), "embed_tokens", hidden, vocab);
            Assert.Equal(type == GgmlType.Q4_0 ? 4 : 8, e.Bits);
            Assert.Equal("GatherBlockQuantized", Assert.Single(weights.Mappings).OnnxOp);
            string output = CpuTarget.AddEmbeddingLookup(g, e, "ids");
            g.Graph.Output.Add(new Gguf2Qnn.Onnx.Proto.ValueInfoProto { Name = output });
            g.Save(modelPath);
        }

        long[] ids = [0, 5, 36, 5, 17, 0, 29];
        using var session = new InferenceSession(modelPath);
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [1, ids.Length]);
        using var results = session.Run(new RunOptions(), ["ids"], [idsValue], [session.OutputNames[0]]);
        var actual = results[0].GetTensorDataAsSpan<float>();
        Assert.Equal(ids.Length * hidden, actual.Length);

        int rowBytes = hidden / 32 * (type == GgmlType.Q4_0 ? 18 : 34);
        var expected = new float[hidden];
        for (int t = 0; t < ids.Length; t++)
        {
            GgmlNative.DequantizeRow((int)type, q.AsSpan((int)ids[t] * rowBytes, rowBytes), expected);
            for (int j = 0; j < hidden; j++)
            {
                Assert.Equal(BitConverter.SingleToInt32Bits(expected[j]), BitConverter.SingleToInt32Bits(actual[(t * hidden) + j]));
            }
        }
    }

    [Fact]
    public void OtherFormatsKeepTheFloatTable()
    {
        const int hidden = 32, vocab = 4;
        var values = Enumerable.Range(0, hidden * vocab).Select(i => i * 0.25f).ToArray();
        string dir = TestPaths.NewTempDir("gather-embedding");
        string ggufPath = Path.Combine(dir, "embed.gguf");
        var w = new GgufWriter();
        w.AddString(GgufKeys.Architecture, "llama");
        w.AddTensor(GgufTensorNames.TokenEmbedding, GgmlType.Q4_0, [hidden, vocab], Quantizer.QuantizeQ4_0(values));
        w.WriteTo(ggufPath);
        using var gguf = GgufFile.Open(ggufPath);
        var weights = new WeightWriter(gguf, new GraphBuilder("embedding"), WeightFormat.F32);
        var e = weights.GatherEmbedding(gguf.GetTensor(GgufTensorNames.TokenEmbedding), "embed_tokens", hidden, vocab);
        Assert.Null(e.Scales);
        Assert.Equal("Gather", Assert.Single(weights.Mappings).OnnxOp);
    }
}
