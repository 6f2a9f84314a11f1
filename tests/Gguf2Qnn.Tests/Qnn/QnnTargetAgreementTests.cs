using System.Text.Json;
using Gguf2Qnn.Cli;
using Gguf2Qnn.Conversion;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Onnx.Proto;
using Gguf2Qnn.Qnn;
using Gguf2Qnn.Reference;
using Gguf2Qnn.Runtime;
using Gguf2Qnn.Targets;
using Gguf2Qnn.Tests.EndToEnd;
using Xunit;
using Xunit.Abstractions;
using DataType = Gguf2Qnn.Onnx.Proto.TensorProto.Types.DataType;

namespace Gguf2Qnn.Tests.Qnn;

/// <summary>QNN-target folders (stories260K; the llama.cpp-quantized Q4_0 qwen2) converted once per run.</summary>
public sealed class QnnModelsFixture : IDisposable
{
    private readonly ConvertedModelsFixture _cpu = new();
    private readonly string _root = TestPaths.NewTempDir("qnn");
    private readonly Dictionary<string, (string Gguf, string Dir)> _models = [];
    private readonly Lock _lock = new();

    /// <summary>Context, AR-N window and part count per model: small windows so that a prompt spans several AR-N
    /// steps (the last one padded), two parts for qwen2 to exercise the hand-over of hidden states. A "-fp16" suffix
    /// converts with float16 activations, "-uint16" with calibrated uint16 QDQ (the built-in calibration text).</summary>
    public (string Gguf, string Dir) Get(string name)
    {
        lock (_lock)
        {
            if (!_models.TryGetValue(name, out var m))
            {
                bool fp16 = name.EndsWith("-fp16", StringComparison.Ordinal);
                bool uint16 = name.EndsWith("-uint16", StringComparison.Ordinal);
                string model = fp16 ? name[..^"-fp16".Length] : uint16 ? name[..^"-uint16".Length] : name;
                string gguf = model == "stories" ? TestPaths.Stories260K : _cpu.Get(model).Gguf;
                string dir = Path.Combine(_root, name + "-qnn");
                OnnxConverter.Convert(new ConvertOptions
                {
                    GgufPath = gguf,
                    OutputDirectory = dir,
                    Target = ConversionTarget.Qnn,
                    ContextLength = 96,
                    PrefillLength = 8,
                    PartCount = model == "stories" ? null : 2,
                    Activations = fp16 ? QnnActivations.Float16 : uint16 ? QnnActivations.Uint16 : QnnActivations.Float32,
                });
                m = (gguf, dir);
                _models[name] = m;
            }

            return m;
        }
    }

    public void Dispose()
    {
        _cpu.Dispose();
        TestPaths.DeleteQuietly(_root);
    }
}

/// <summary>
/// The QNN-target graphs, run on ONNX Runtime's CPU EP the way a device runs them (AR-N windows, then AR-1 steps),
/// against llama.cpp on the same GGUF (F32 KV cache, no flash attention).
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class QnnTargetAgreementTests(QnnModelsFixture models, ITestOutputHelper output) : IClassFixture<QnnModelsFixture>
{
    [Theory]
    [InlineData("stories", "Once upon a time, there was a little girl named Lily. She loved")]
    [InlineData("qwen2-q4_0", " once upon a time there was a little dog and a happy cat. The sun")]
    [InlineData("stories-fp16", "Once upon a time, there was a little girl named Lily. She loved")]
    [InlineData("qwen2-q4_0-fp16", " once upon a time there was a little dog and a happy cat. The sun")]
    public void GreedyTokensAndTop1MatchLlamaCpp(string name, string prompt)
    {
        var (gguf, dir) = models.Get(name);
        using var reference = LlamaCppModel.Load(gguf, new LlamaCppOptions { F32KvCache = true, FlashAttention = false });
        var ids = reference.Tokenize(prompt, addSpecial: true, parseSpecial: false);
        var expectedTokens = reference.GenerateGreedy(ids, 32, stopAtEndOfGeneration: false);

        using var lm = QnnStaticCausalLm.Open(dir);
        Assert.True(ids.Length > lm.PrefillLength, "the prompt should span more than one AR-N window");
        var tokens = lm.Generate(ids, new GenerationOptions { MaxNewTokens = 32, Greedy = true }).ToArray();
        output.WriteLine("llama.cpp: " + string.Join(",", expectedTokens));
        output.WriteLine("qnn/cpu:   " + string.Join(",", tokens));
        Assert.Equal(expectedTokens, tokens);

        // Every position of prompt + generated text: prompt through AR-N windows, the rest through AR-1 steps.
        int[] all = [.. ids, .. expectedTokens];
        var expected = reference.EvaluateLogits(all);
        var actual = lm.EvaluateLogits(all, ids.Length);
        int agree = 0;
        double maxDiff = 0;
        for (int i = 0; i < all.Length; i++)
        {
            agree += Sampler.ArgMax(expected[i]) == Sampler.ArgMax(actual[i]) ? 1 : 0;
            for (int v = 0; v < expected[i].Length; v++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(expected[i][v] - actual[i][v]));
            }
        }

        double top1 = agree / (double)all.Length;
        output.WriteLine($"{name}: {all.Length} positions ({ids.Length} prompt), top-1 agreement {agree}/{all.Length} = {top1:P2}, max |logit diff| {maxDiff:E3}");
        Assert.True(top1 >= 0.99, $"top-1 agreement {top1:P2} < 99%");
    }

    [Theory]
    [InlineData("stories")]
    [InlineData("qwen2-q4_0")]
    [InlineData("stories-fp16")]
    [InlineData("qwen2-q4_0-fp16")]
    public void CheckQnnReportsFullHtpCoverage(string name)
    {
        var (_, dir) = models.Get(name);
        var report = HtpCoverage.Check(dir);
        report.Print(new TestOutputWriter(output));
        Assert.Empty(report.Offending);
        Assert.Empty(report.DynamicShapes);
        Assert.True(report.FullyCovered);
        Assert.Equal(1.0, report.Coverage);
        Assert.DoesNotContain(report.Ops, o => o.Op.EndsWith(":GroupQueryAttention", StringComparison.Ordinal));
        var layout = QnnModelLayout.Read(dir);
        Assert.All(layout.Parts, p => Assert.True(p.WeightBytes < 2_000_000_000));
        Assert.Equal(name.StartsWith("stories", StringComparison.Ordinal) ? 1 : 2, layout.Parts.Count);
        Assert.All(layout.Parts, p => Assert.Equal(2, p.Graphs.Count));
    }

    [Theory]
    [InlineData("stories")]
    [InlineData("qwen2-q4_0")]
    [InlineData("stories-fp16")]
    [InlineData("qwen2-q4_0-fp16")]
    public void VerifyOnTheQnnFolderMeetsTop1Of99Percent(string name)
    {
        var (gguf, dir) = models.Get(name);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = GgufCli.Run(["verify", gguf, "--onnx", dir, "--json"], stdout, stderr);
        output.WriteLine(stdout.ToString());
        output.WriteLine(stderr.ToString());
        Assert.True(code == 0, stderr.ToString());
        Assert.Equal(string.Empty, stderr.ToString()); // --json: errors only
        if (name == "stories")
        {
            // Without --json the header line says that the qnn folder's part graphs run on the CPU EP.
            var plainErr = new StringWriter();
            Assert.Equal(0, GgufCli.Run(["verify", gguf, "--onnx", dir, "--prompt", "Once upon a time there was a cat."], new StringWriter(), plainErr));
            Assert.Contains("qnn target", plainErr.ToString(), StringComparison.Ordinal);
        }

        output.WriteLine($"{name}: verify {stdout}");
        using var json = JsonDocument.Parse(stdout.ToString());
        Assert.True(json.RootElement.GetProperty("positions").GetInt32() >= 500);
        Assert.True(json.RootElement.GetProperty("top1_agreement").GetDouble() >= 0.99);
    }

    [Theory]
    [InlineData("stories", "Once upon a time")]
    [InlineData("qwen2-q4_0", " once upon a time there was")]
    public void RunOnTheQnnFolderGivesLlamaCppsGreedyTokens(string name, string prompt)
    {
        var (gguf, dir) = models.Get(name);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = GgufCli.Run(["run", dir, "--prompt", prompt, "-n", "24", "--greedy", "--json"], stdout, stderr);
        output.WriteLine(stdout.ToString());
        Assert.True(code == 0, stderr.ToString());
        using var json = JsonDocument.Parse(stdout.ToString());
        var promptIds = json.RootElement.GetProperty("prompt_tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var tokens = json.RootElement.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        using var reference = LlamaCppModel.Load(gguf, new LlamaCppOptions { F32KvCache = true, FlashAttention = false });
        Assert.Equal(reference.Tokenize(prompt, addSpecial: true, parseSpecial: false), promptIds);
        // run does not print the end-of-generation token that stops it; llama.cpp's greedy list ends with it.
        var expected = reference.GenerateGreedy(promptIds, 24, stopAtEndOfGeneration: true);
        if (expected.Length > 0 && reference.EndOfGenerationTokens.Contains(expected[^1]))
        {
            expected = expected[..^1];
        }

        Assert.Equal(expected, tokens);
    }

    [Theory]
    [InlineData("qwen2-q4_0")]
    [InlineData("qwen2-q4_0-fp16")]
    [InlineData("stories-fp16")]
    public void ConversionJsonReportsEachTensorsLossOfForm(string name)
    {
        var (gguf, dir) = models.Get(name);
        bool fp16 = name.EndsWith("-fp16", StringComparison.Ordinal);
        Assert.Equal(fp16 ? QnnModelLayout.Float16 : QnnModelLayout.Float32, QnnModelLayout.Read(dir).Activations);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, OnnxConverter.ManifestFileName)));
        using var file = GgufFile.Open(gguf);
        int lossy = 0;
        foreach (var t in json.RootElement.GetProperty("tensors").EnumerateArray())
        {
            var info = file.GetTensor(t.GetProperty("name").GetString()!);
            double reported = t.GetProperty("max_abs_error").GetDouble();
            if (info.Type == GgmlType.Q4_0 && t.GetProperty("onnx_op").GetString() != "Gather")
            {
                // A Q4_0 linear weight → MatMulNBits keeps the nibbles and the float16 scales: exact in both activation types.
                Assert.Equal("MatMulNBits", t.GetProperty("onnx_op").GetString());
                Assert.True(t.GetProperty("exact").GetBoolean());
                Assert.Equal(0, reported);
                continue;
            }

            // Everything else (the Gather table too) is dequantized: exact as float32; as float16, the error is IEEE round-to-nearest's,
            // recomputed here from the GGUF values with System.Half.
            double expected = 0;
            if (fp16)
            {
                foreach (float x in file.DequantizeTensor(info))
                {
                    expected = Math.Max(expected, Math.Abs((double)x - (float)(Half)x));
                }
            }

            Assert.Equal(expected, reported, 12);
            Assert.Equal(expected == 0, t.GetProperty("exact").GetBoolean());
            lossy += expected == 0 ? 0 : 1;
        }

        var form = json.RootElement.GetProperty("qnn").GetProperty("weight_form");
        Assert.Equal(lossy, form.GetProperty("lossy_tensors").GetInt32());
        Assert.Equal(lossy, form.GetProperty("lossy").GetArrayLength());
        Assert.True(fp16 ? lossy > 0 : lossy == 0);
    }

    [Fact]
    public void Float16FoldersHaveFloat16GraphInputsAndOutputs()
    {
        var (_, dir) = models.Get("qwen2-q4_0-fp16");
        foreach (var part in QnnModelLayout.Read(dir).Parts)
        {
            foreach (var file in part.Graphs.Values)
            {
                var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dir, file)));
                foreach (var v in model.Graph.Input.Concat(model.Graph.Output))
                {
                    var type = (DataType)v.Type.TensorType.ElemType;
                    Assert.True(v.Name == QnnNames.InputIds ? type == DataType.Int32 : type == DataType.Float16, $"{file}: {v.Name} is {type}");
                }
            }
        }
    }

    private sealed class TestOutputWriter(ITestOutputHelper helper) : StringWriter
    {
        public override void WriteLine(string? value) => helper.WriteLine(value ?? string.Empty);
    }
}
