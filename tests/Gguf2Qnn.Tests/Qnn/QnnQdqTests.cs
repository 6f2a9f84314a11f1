using System.Text.Json;
using Gguf2Qnn.Cli;
using Gguf2Qnn.Conversion;
using Gguf2Qnn.Onnx.Proto;
using Gguf2Qnn.Qnn;
using Gguf2Qnn.Reference;
using Gguf2Qnn.Runtime;
using Gguf2Qnn.Targets;
using Xunit;
using Xunit.Abstractions;

namespace Gguf2Qnn.Tests.Qnn;

/// <summary>
/// <c>--activations uint16</c>: calibrated uint16 QDQ graphs run on ONNX Runtime's CPU EP (real QuantizeLinear /
/// DequantizeLinear kernels) against llama.cpp on the same GGUF.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class QnnQdqTests(QnnModelsFixture models, ITestOutputHelper output) : IClassFixture<QnnModelsFixture>
{
    [Theory]
    [InlineData("stories", "Once upon a time, there was a little girl named Lily. She loved")]
    [InlineData("qwen2-q4_0", " once upon a time there was a little dog and a happy cat. The sun")]
    public void Uint16GreedyTokensAndTop1AgainstLlamaCpp(string model, string prompt)
    {
        var (gguf, dir) = models.Get(model + "-uint16");
        using var reference = LlamaCppModel.Load(gguf, new LlamaCppOptions { F32KvCache = true, FlashAttention = false });
        var ids = reference.Tokenize(prompt, addSpecial: true, parseSpecial: false);
        var expectedTokens = reference.GenerateGreedy(ids, 32, stopAtEndOfGeneration: false);
        using var lm = QnnStaticCausalLm.Open(dir);
        var tokens = lm.Generate(ids, new GenerationOptions { MaxNewTokens = 32, Greedy = true }).ToArray();
        int same = expectedTokens.Zip(tokens).TakeWhile(p => p.First == p.Second).Count();
        output.WriteLine("llama.cpp: " + string.Join(",", expectedTokens));
        output.WriteLine("qdq/cpu:   " + string.Join(",", tokens));
        output.WriteLine($"{model} uint16: greedy tokens equal to llama.cpp's before the first difference: {same}/32");

        int[] all = [.. ids, .. expectedTokens];
        var expected = reference.EvaluateLogits(all);
        var actual = lm.EvaluateLogits(all, ids.Length);
        int agree = 0;
        for (int i = 0; i < all.Length; i++)
        {
            agree += Sampler.ArgMax(expected[i]) == Sampler.ArgMax(actual[i]) ? 1 : 0;
        }

        output.WriteLine($"{model} uint16: top-1 agreement {agree}/{all.Length}");

        // Measured: 32/32 greedy tokens equal and every position's top-1 equal, on both models.
        Assert.Equal(expectedTokens, tokens);
        Assert.Equal(all.Length, agree);
    }

    /// <summary>verify on the built-in stories text. Measured (ORT 1.31.1 CPU EP, x64): stories260K top-1 99.73%
    /// (1834/1839), mean KL 1.5e-4; Q4_0 qwen2 99.96% (2326/2327), mean KL 1.4e-4. Bounds just under those.</summary>
    [Theory]
    [InlineData("stories", 0.997)]
    [InlineData("qwen2-q4_0", 0.999)]
    public void Uint16VerifyTop1AndFullHtpCoverage(string model, double minTop1)
    {
        var (gguf, dir) = models.Get(model + "-uint16");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = GgufCli.Run(["verify", gguf, "--onnx", dir, "--json"], stdout, stderr);
        output.WriteLine(stdout.ToString());
        output.WriteLine(stderr.ToString());
        Assert.True(code == 0, stderr.ToString());
        using var json = JsonDocument.Parse(stdout.ToString());
        Assert.True(json.RootElement.GetProperty("positions").GetInt32() >= 500);
        Assert.True(json.RootElement.GetProperty("top1_agreement").GetDouble() >= minTop1);
        Assert.True(json.RootElement.GetProperty("kl_mean").GetDouble() <= 5e-4);

        var report = HtpCoverage.Check(dir);
        Assert.True(report.FullyCovered);
        Assert.Equal(1.0, report.Coverage);
        Assert.Contains(report.Ops, o => o.Op.EndsWith("QuantizeLinear", StringComparison.Ordinal));
    }

    [Fact]
    public void Uint16GraphsWrapEveryMatMulInQdqPairsWithFloatGraphIo()
    {
        var (_, dir) = models.Get("qwen2-q4_0-uint16");
        var layout = QnnModelLayout.Read(dir);
        Assert.Equal(QnnModelLayout.Uint16Qdq, layout.Activations);
        foreach (var part in layout.Parts)
        {
            foreach (var file in part.Graphs.Values)
            {
                var graph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dir, file))).Graph;
                var producer = graph.Node.SelectMany(n => n.Output.Select(o => (o, n))).ToDictionary(p => p.o, p => p.n);
                var constants = graph.Initializer.Select(i => i.Name).ToHashSet();
                int matmuls = 0;
                foreach (var node in graph.Node.Where(n => n.OpType is "MatMul" or "MatMulNBits"))
                {
                    matmuls++;
                    foreach (string input in node.OpType == "MatMul" ? node.Input.Take(2) : node.Input.Take(1))
                    {
                        // Either a weight (an initializer, or a Cast of one) or a DequantizeLinear of a uint16 QuantizeLinear.
                        if (constants.Contains(input) || (producer.TryGetValue(input, out var cast) && cast.OpType == "Cast" && constants.Contains(cast.Input[0])))
                        {
                            continue;
                        }

                        var dq = producer[input];
                        Assert.Equal("DequantizeLinear", dq.OpType);
                        Assert.Equal("QuantizeLinear", producer[dq.Input[0]].OpType);
                        var zp = graph.Initializer.Single(i => i.Name == dq.Input[2]);
                        Assert.Equal((int)TensorProto.Types.DataType.Uint16, zp.DataType);
                    }
                }

                Assert.True(matmuls > 0);
                foreach (var v in graph.Input.Concat(graph.Output))
                {
                    var type = (TensorProto.Types.DataType)v.Type.TensorType.ElemType;
                    Assert.True(v.Name == QnnNames.InputIds ? type == TensorProto.Types.DataType.Int32 : type == TensorProto.Types.DataType.Float, $"{file}: {v.Name} is {type}");
                }
            }
        }

        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, OnnxConverter.ManifestFileName)));
        var qdq = manifest.RootElement.GetProperty("qnn").GetProperty("uint16_qdq");
        Assert.True(qdq.GetProperty("calibration_tokens").GetInt32() > 300);
        Assert.True(qdq.GetProperty("qdq_pairs").GetInt32() > 0);
    }

    [Fact]
    public void ConvertTakesACalibrationFileAndRejectsOneShorterThanAWindow()
    {
        string dir = TestPaths.NewTempDir("qdq-calibration");
        try
        {
            string text = Path.Combine(dir, "calib.txt");
            File.WriteAllText(text, "Tom had a red ball. He threw it to his sister, and she laughed. The dog ran after it across the garden.");
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int code = GgufCli.Run(["convert", TestPaths.Stories260K, "-o", Path.Combine(dir, "out"), "--target", "qnn", "--context", "64", "--prefill", "8", "--activations", "uint16", "--calibration", text], stdout, stderr);
            Assert.True(code == 0, stderr.ToString());
            using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "out", OnnxConverter.ManifestFileName)));
            var qdq = manifest.RootElement.GetProperty("qnn").GetProperty("uint16_qdq");
            Assert.Equal("calib.txt", qdq.GetProperty("calibration").GetString());
            Assert.Equal(QnnModelLayout.Uint16Qdq, QnnModelLayout.Read(Path.Combine(dir, "out")).Activations);
            Assert.DoesNotContain(Directory.GetFiles(Path.Combine(dir, "out")), f => Path.GetFileName(f).StartsWith("calibration_", StringComparison.Ordinal));

            File.WriteAllText(text, "Hi");
            Assert.Throws<ArgumentException>(() => OnnxConverter.Convert(new ConvertOptions
            {
                GgufPath = TestPaths.Stories260K,
                OutputDirectory = Path.Combine(dir, "short"),
                Target = ConversionTarget.Qnn,
                ContextLength = 64,
                PrefillLength = 8,
                Activations = QnnActivations.Uint16,
                CalibrationPath = text,
            }));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void EncodingIsAsymmetricUint16WithZeroExact()
    {
        // Hand-computed: range [−1, 3] → scale 4/65535, zero point round(1 / scale) = round(16383.75) = 16384.
        var (scale, zp) = QnnQdq.Encoding(-1f, 3f);
        Assert.Equal(4f / 65535f, scale);
        Assert.Equal(16384, zp);
        // All-positive range: lo clamps to 0, so zero point 0.
        Assert.Equal(0, QnnQdq.Encoding(0.5f, 2f).ZeroPoint);
        Assert.Equal(2f / 65535f, QnnQdq.Encoding(0.5f, 2f).Scale);
        Assert.False(string.IsNullOrWhiteSpace(QnnQdq.DefaultCalibrationText()));
        Assert.True(QnnQdq.DefaultCalibrationText().Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries).Length > 300);
    }
}
