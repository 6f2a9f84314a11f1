using Gguf2Qnn.Onnx;
using Gguf2Qnn.Qnn;
using Xunit;
using DataType = Gguf2Qnn.Onnx.Proto.TensorProto.Types.DataType;

namespace Gguf2Qnn.Tests.Qnn;

/// <summary>The HTP support table and checker on hand-built graphs (expected verdicts from the QNN EP's operator list).</summary>
public sealed class HtpCoverageTests
{
    [Fact]
    public void TheTableNamesItsEpVersionAndSources()
    {
        var table = HtpSupportTable.Default;
        Assert.Contains("onnxruntime-qnn", table.File.EpVersion, StringComparison.Ordinal);
        Assert.Contains(table.File.Sources, s => s.Contains("QNN-ExecutionProvider.md", StringComparison.Ordinal));
        Assert.NotNull(table.Find("", "Softmax"));
        Assert.NotNull(table.Find("com.microsoft", "MatMulNBits"));
        Assert.Null(table.Find("com.microsoft", "GroupQueryAttention"));
        Assert.Null(table.Find("com.microsoft", "SkipSimplifiedLayerNormalization"));
        Assert.Equal(2_000_000_000, table.File.MaxContextWeightBytes);
    }

    [Fact]
    public void GroupQueryAttentionIsFlagged()
    {
        var g = new GraphBuilder("gqa");
        g.AddInput("q", DataType.Float, 1L, 1L, 64L);
        g.AddInput("k", DataType.Float, 1L, 1L, 32L);
        g.AddInput("v", DataType.Float, 1L, 1L, 32L);
        g.AddInput("past_k", DataType.Float, 1L, 2L, 7L, 16L);
        g.AddInput("past_v", DataType.Float, 1L, 2L, 7L, 16L);
        g.AddInput("seqlens_k", DataType.Int32, 1L);
        g.AddInput("total", DataType.Int32, 1L);
        g.AddNode("GroupQueryAttention", "attn", ["q", "k", "v", "past_k", "past_v", "seqlens_k", "total"], ["y", "pk", "pv"], OnnxDomains.Microsoft,
            Attr.Int("num_heads", 4), Attr.Int("kv_num_heads", 2));
        g.AddNode("Relu", "relu", ["y"], ["out"]);
        g.AddOutput("out", DataType.Float, 1L, 1L, 64L);

        var report = HtpCoverage.CheckModel(g.Model);
        Assert.False(report.FullyCovered);
        var bad = Assert.Single(report.Offending);
        Assert.Equal("attn", bad.Node);
        Assert.Equal("com.microsoft:GroupQueryAttention", bad.Op);
        Assert.Equal(1, report.CoveredNodes);
        Assert.Equal(0.5, report.Coverage);
    }

    [Fact]
    public void Int64GatherAndBoolGatherAreFlaggedInt32GatherIsNot()
    {
        var g = new GraphBuilder("gather");
        g.AddInitializer<float>("table", DataType.Float, [4, 2], new float[8]);
        g.AddInitializer<bool>("flags", DataType.Bool, [4], new bool[4]);
        g.AddInput("ids64", DataType.Int64, 1L, 3L);
        g.AddInput("ids32", DataType.Int32, 1L, 3L);
        g.Add("Gather", "gather_int64", ["table", "ids64"]);
        g.Add("Gather", "gather_int32", ["table", "ids32"]);
        g.Add("Gather", "gather_bool", ["flags", "ids32"]);
        g.AddOutput("gather_int32/output_0", DataType.Float, 1L, 3L, 2L);

        var report = HtpCoverage.CheckModel(g.Model);
        Assert.Equal(["gather_bool", "gather_int64"], report.Offending.Select(o => o.Node).Order(StringComparer.Ordinal));
        Assert.Contains("int64", report.Offending.Single(o => o.Node == "gather_int64").Reason, StringComparison.Ordinal);
        Assert.Contains("bool", report.Offending.Single(o => o.Node == "gather_bool").Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void DynamicShapesAndNonConstantReshapeShapesAreFlagged()
    {
        var g = new GraphBuilder("dyn");
        g.AddInput("x", DataType.Float, "batch", 4L);
        g.AddInput("shape", DataType.Int64, 2L);
        g.Add("Reshape", "reshape", ["x", "shape"]);
        g.AddOutput("reshape/output_0", DataType.Float, 2L, 2L);
        var report = HtpCoverage.CheckModel(g.Model);
        Assert.Contains(report.DynamicShapes, d => d.EndsWith(": x", StringComparison.Ordinal));
        Assert.Contains("constant initializer", Assert.Single(report.Offending).Reason, StringComparison.Ordinal);
    }
}
