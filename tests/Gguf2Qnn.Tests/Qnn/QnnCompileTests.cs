using System.Text.Json.Nodes;
using Gguf2Qnn.Cli;
using Gguf2Qnn.Onnx.Proto;
using Gguf2Qnn.Qnn;
using Gguf2Qnn.Targets;
using Xunit;

namespace Gguf2Qnn.Tests.Qnn;

/// <summary>
/// The compile contract without Qualcomm's tools: no EP and no SDK → exit 1 with install instructions; with fake
/// qairt-converter / qnn-context-binary-generator executables (shell scripts written here that log their argv and
/// create the files the real tools would) the exact command lines of docs/QNN.md, the EPContext wrappers and the
/// deployment files. Nothing here produces or claims a real context binary.
/// </summary>
public sealed class QnnCompileTests(QnnModelsFixture models) : IClassFixture<QnnModelsFixture>
{
    private const string Host = "x86_64-linux-clang";

    [Fact]
    public void CompileWithoutEpOrSdkExitsOneWithInstructions()
    {
        var dir = CopyOf("stories");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = GgufCli.Run(["compile", dir, "--soc", "8gen3"], stdout, stderr);
        Assert.Equal(1, code);
        string err = stderr.ToString();
        Assert.Contains("Windows ARM64", err, StringComparison.Ordinal);
        Assert.Contains("onnxruntime-qnn", err, StringComparison.Ordinal);
        Assert.Contains("QAIRT", err, StringComparison.Ordinal);
        Assert.Contains("Linux", err, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownSocIsBadUsage()
    {
        var dir = CopyOf("stories");
        Assert.Equal(2, GgufCli.Run(["compile", dir, "--soc", "nonesuch"], new StringWriter(), new StringWriter()));
    }

    [Fact]
    public void QairtRouteRunsTheDocumentedCommandLinesAndWrapsTheBinaries()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // the fake tools are POSIX shell scripts
        }

        RunQairtContract();
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private void RunQairtContract()
    {
        var dir = CopyOf("qwen2-q4_0");
        var sdk = TestPaths.NewTempDir("fake-qairt");
        string log = Path.Combine(sdk, "calls.log");
        string bin = Path.Combine(sdk, "bin", Host);
        string lib = Path.Combine(sdk, "lib", Host);
        Directory.CreateDirectory(bin);
        Directory.CreateDirectory(lib);
        WriteTool(Path.Combine(bin, "qairt-converter"), log,
            "while [ $# -gt 0 ]; do if [ \"$1\" = --output_path ]; then mkdir -p \"$(dirname \"$2\")\"; echo dlc > \"$2\"; fi; shift; done");
        WriteTool(Path.Combine(bin, "qnn-context-binary-generator"), log,
            "out=; name=; while [ $# -gt 0 ]; do case \"$1\" in --output_dir) out=$2;; --binary_file) name=$2;; esac; shift; done; echo ctx > \"$out/$name.bin\"");

        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = GgufCli.Run(["compile", dir, "--soc", "8gen3", "--qairt", sdk, "--qairt-host", Host], stdout, stderr);
        Assert.True(code == 0, stderr.ToString());

        // The exact command lines (docs/QNN.md, "x64 host with the QAIRT SDK"), per part: two conversions, one context binary.
        var expected = new List<string>();
        for (int k = 0; k < 2; k++)
        {
            foreach (int s in new[] { 8, 1 })
            {
                expected.Add($"{bin}/qairt-converter --input_network {dir}/part{k}_ar{s}.onnx --output_path {dir}/qnn/part{k}_ar{s}.dlc --float_bitwidth 16 --quantization_overrides {dir}/qnn/part{k}_ar{s}.overrides.json");
            }

            expected.Add($"{bin}/qnn-context-binary-generator --model {lib}/libQnnModelDlc.so --backend {lib}/libQnnHtp.so --dlc_path {dir}/qnn/part{k}_ar8.dlc,{dir}/qnn/part{k}_ar1.dlc --binary_file part{k} --output_dir {dir} --config_file {dir}/qnn/part{k}_htp_config.json");
        }

        Assert.Equal(expected, File.ReadAllLines(log));
        CheckOverrides(dir, models.Get("qwen2-q4_0").Gguf);

        // EPContext wrappers load back as ONNX with the graph's I/O and point at the part's .bin.
        var layout = QnnModelLayout.Read(dir);
        foreach (var part in layout.Parts)
        {
            foreach (string graph in part.Graphs.Values)
            {
                var ctx = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dir, QnnCompiler.ContextModelName(graph))));
                var source = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dir, graph)));
                var node = Assert.Single(ctx.Graph.Node);
                Assert.Equal("EPContext", node.OpType);
                Assert.Equal("com.microsoft", node.Domain);
                Assert.Equal($"part{part.Index}.bin", node.Attribute.Single(a => a.Name == "ep_cache_context").S.ToStringUtf8());
                Assert.Equal(0, node.Attribute.Single(a => a.Name == "embed_mode").I);
                Assert.Equal(Path.GetFileNameWithoutExtension(graph), node.Attribute.Single(a => a.Name == "partition_name").S.ToStringUtf8());
                Assert.Equal(source.Graph.Input.Select(i => i.Name), ctx.Graph.Input.Select(i => i.Name));
                Assert.Equal(source.Graph.Output.Select(i => i.Name), ctx.Graph.Output.Select(i => i.Name));
                Assert.Empty(ctx.Graph.Initializer);
            }
        }

        // Deployment files: decoder-pipeline genai_config over the ctx models, Genie bundle, conversion.json's compile record.
        var genai = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "genai_config.json")))!;
        Assert.Equal("decoder-pipeline", genai["model"]!["type"]!.GetValue<string>());
        var stages = genai["model"]!["decoder"]!["pipeline"]![0]!.AsObject();
        Assert.Equal(4, stages.Count);
        Assert.Equal("part0_ar8_ctx.onnx", stages["part0_ar8"]!["filename"]!.GetValue<string>());
        Assert.False(stages["part0_ar8"]!["run_on_token_gen"]!.GetValue<bool>());
        Assert.False(stages["part1_ar1"]!["run_on_prompt"]!.GetValue<bool>());
        Assert.Equal("57", stages["part1_ar1"]!["session_options"]!["provider_options"]![0]!["qnn"]!["soc_model"]!.GetValue<string>());
        var genie = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "genie_config.json")))!;
        Assert.Equal(["part0.bin", "part1.bin"], genie["dialog"]!["engine"]!["model"]!["binary"]!["ctx-bins"]!.AsArray().Select(n => n!.GetValue<string>()));

        // The bundle's tokenizer is the Hugging Face tokenizer.json that convert writes beside the graphs.
        string tokenizerPath = Path.Combine(dir, genie["dialog"]!["tokenizer"]!["path"]!.GetValue<string>());
        Assert.Equal("tokenizer.json", Path.GetFileName(tokenizerPath));
        var tokenizerJson = JsonNode.Parse(File.ReadAllText(tokenizerPath))!;
        Assert.Equal("BPE", tokenizerJson["model"]!["type"]!.GetValue<string>());
        var ext = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "htp_backend_ext_config.json")))!;
        Assert.Equal(57, ext["devices"]![0]!["soc_model"]!.GetValue<int>());
        Assert.Equal("v75", ext["devices"]![0]!["dsp_arch"]!.GetValue<string>());
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "conversion.json")))!;
        Assert.Equal("qairt", manifest["compile"]!["route"]!.GetValue<string>());
        Assert.Equal(6, manifest["compile"]!["commands"]!.AsArray().Count);
        Assert.Equal("qnn", manifest["target"]!.GetValue<string>());
        Assert.True(manifest["qnn"]!["op_coverage"]!["fully_covered"]!.GetValue<bool>());
        Assert.Equal(2, manifest["qnn"]!["parts"]!.AsArray().Count);
        Assert.Matches("^[0-9a-f]{64}$", manifest["source"]!["sha256"]!.GetValue<string>());
    }

    [Fact]
    public void CheckQnnCliPrintsCoverageAndConvertCliWritesAQnnFolder()
    {
        var (gguf, _) = models.Get("stories");
        var dir = Path.Combine(TestPaths.NewTempDir("qnn-cli"), "out");
        var stderr = new StringWriter();
        int code = GgufCli.Run(["convert", gguf, "-o", dir, "--target", "qnn", "--context", "64", "--prefill", "16", "--parts", "auto"], new StringWriter(), stderr);
        Assert.True(code == 0, stderr.ToString());
        Assert.Contains("HTP op coverage", stderr.ToString(), StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(dir, "part0_ar16.onnx")));
        Assert.True(File.Exists(Path.Combine(dir, "part0_ar1.onnx")));

        var stdout = new StringWriter();
        Assert.Equal(0, GgufCli.Run(["check-qnn", dir], stdout, new StringWriter()));
        Assert.Contains("(100.00 %)", stdout.ToString(), StringComparison.Ordinal);
        Assert.Contains("ai.onnx:Softmax", stdout.ToString(), StringComparison.Ordinal);
    }

    // The overrides files against the GGUF itself: every Q4_0 tensor kept as 4-bit MatMulNBits has one PER_BLOCK
    // entry whose scales are |d| of ggml's fp16 block scales in block order, offset −8, bw 4, block 32; the report's
    // PER_BLOCK error is |d| of the largest d < 0 block holding nibble 0 (its 8·|d| weight becomes 7·|d|).
    private static void CheckOverrides(string dir, string ggufPath)
    {
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "conversion.json")))!;
        var tensorOf = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var t in manifest["tensors"]!.AsArray())
        {
            foreach (var i in t!["initializers"]!.AsArray())
            {
                tensorOf[i!.GetValue<string>()] = t["name"]!.GetValue<string>();
            }
        }

        using var gguf = Gguf2Qnn.Gguf.GgufFile.Open(ggufPath);
        var layout = QnnModelLayout.Read(dir);
        int entries = 0;
        foreach (var part in layout.Parts)
        {
            foreach (string graph in part.Graphs.Values)
            {
                string file = Path.Combine(dir, "qnn", Path.GetFileNameWithoutExtension(graph) + ".overrides.json");
                var overrides = JsonNode.Parse(File.ReadAllText(file))!;
                Assert.Equal("1.0.0", overrides["version"]!.GetValue<string>());
                Assert.Empty(overrides["activation_encodings"]!.AsArray());
                var report = manifest["compile"]!["quantization_overrides"]![graph]!["tensors"]!.AsArray();
                foreach (var e in overrides["param_encodings"]!.AsArray())
                {
                    entries++;
                    string name = e!["name"]!.GetValue<string>();
                    var tensor = gguf.GetTensor(tensorOf[name]);
                    Assert.Equal(Gguf2Qnn.Gguf.GgmlType.Q4_0, tensor.Type);
                    Assert.Equal("PER_BLOCK", e["enc_type"]!.GetValue<string>());
                    Assert.Equal("INT", e["dtype"]!.GetValue<string>());
                    Assert.Equal(4, e["bw"]!.GetValue<int>());
                    Assert.True(e["is_sym"]!.GetValue<bool>());
                    Assert.Equal(32, e["block_size"]!.GetValue<int>());
                    var scale = e["scale"]!.AsArray().Select(n => n!.GetValue<float>()).ToArray();
                    var offset = e["offset"]!.AsArray().Select(n => n!.GetValue<int>()).ToArray();
                    var bytes = gguf.GetTensorBytes(tensor);
                    int blocks = bytes.Length / 18; // Q4_0 block: fp16 d, 16 bytes of nibbles (GGUF spec, ggml block_q4_0)
                    Assert.Equal(tensor.ElementCount / 32, blocks);
                    Assert.Equal(blocks, scale.Length);
                    Assert.All(offset, o => Assert.Equal(-8, o));
                    double perBlockError = 0;
                    for (int b = 0; b < blocks; b++)
                    {
                        float d = (float)BitConverter.ToHalf(bytes.Slice(b * 18, 2));
                        Assert.Equal(Math.Abs(d), scale[b]);
                        bool hasZero = false;
                        foreach (byte x in bytes.Slice((b * 18) + 2, 16))
                        {
                            hasZero |= (x & 0x0F) == 0 || (x >> 4) == 0;
                        }

                        if (d < 0 && hasZero)
                        {
                            perBlockError = Math.Max(perBlockError, Math.Abs((double)d));
                        }
                    }

                    var r = report.Single(x => x!["name"]!.GetValue<string>() == name)!;
                    Assert.Equal(perBlockError, r["per_block_max_abs_error"]!.GetValue<double>(), 12);
                    Assert.Equal(perBlockError == 0, r["per_block_exact"]!.GetValue<bool>());
                    Assert.True(r["lpbq_max_abs_error"]!.GetValue<double>() >= 0);
                }
            }
        }

        Assert.True(entries > 0, "the Q4_0 test model has 4-bit MatMulNBits weights");
    }

    private string CopyOf(string name)
    {
        var (_, source) = models.Get(name);
        string dir = Path.Combine(TestPaths.NewTempDir("qnn-compile"), name);
        Directory.CreateDirectory(dir);
        foreach (string f in Directory.GetFiles(source))
        {
            File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        }

        return dir;
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void WriteTool(string path, string log, string body)
    {
        File.WriteAllText(path, $"#!/bin/sh\necho \"$0 $*\" >> '{log}'\n{body}\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }
}
