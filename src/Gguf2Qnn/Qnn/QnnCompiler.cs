using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gguf2Qnn.Onnx;
using Gguf2Qnn.Onnx.Proto;
using Gguf2Qnn.Targets;
using Microsoft.ML.OnnxRuntime;

namespace Gguf2Qnn.Qnn;

/// <summary>How <see cref="QnnCompiler"/> makes context binaries.</summary>
public sealed record QnnCompileOptions
{
    /// <summary>The QNN-target artifact folder.</summary>
    public required string Directory { get; init; }

    /// <summary>The target SoC.</summary>
    public required QnnSoc Soc { get; init; }

    /// <summary>Path of the QNN EP plugin library (onnxruntime_providers_qnn.dll / libonnxruntime_providers_qnn.so), or null.</summary>
    public string? QnnEpLibrary { get; init; }

    /// <summary>QAIRT SDK root (the folder holding bin/ and lib/), or null.</summary>
    public string? QairtRoot { get; init; }

    /// <summary>Host folder name under the SDK's bin/ and lib/; null: the current host's.</summary>
    public string? QairtHost { get; init; }
}

/// <summary>The files a compile wrote.</summary>
/// <param name="Route">"qnn-ep" or "qairt".</param>
/// <param name="ContextModels">Graph file → its EPContext model (<c>*_ctx.onnx</c>).</param>
/// <param name="Binaries">Context binaries written.</param>
/// <param name="Commands">External command lines run (qairt route), in order.</param>
public sealed record QnnCompileResult(string Route, IReadOnlyDictionary<string, string> ContextModels, IReadOnlyList<string> Binaries, IReadOnlyList<string> Commands)
{
    /// <summary>QAIRT route: per graph, its quantization overrides file and the per-tensor loss report
    /// (<see cref="QairtOverrides.Report"/>); null on the EP route.</summary>
    public JsonObject? QuantizationOverrides { get; init; }
}

/// <summary>The QNN EP or the QAIRT SDK is not available.</summary>
public sealed class QnnToolMissingException(string message) : Exception(message);

/// <summary>
/// Compiles a QNN-target folder into QNN context binaries, by one of two documented routes, and writes the deployment
/// files (decoder-pipeline genai_config.json over the <c>*_ctx.onnx</c> models, a Genie bundle).
/// </summary>
/// <remarks>
/// <para>QNN EP route (ONNX Runtime's EPContext feature, onnxruntime-qnn docs "QNN context binary cache feature" and
/// "QNN EP weight sharing"): the EP library is registered with <c>OrtEnv.RegisterExecutionProviderLibrary</c> (or the
/// build already lists QNNExecutionProvider); per part, the AR-N and the AR-1 sessions are created with session
/// entries <c>ep.context_enable=1</c>, <c>ep.context_embed_mode=0</c>, <c>ep.context_file_path=part{k}_ar{S}_ctx.onnx</c>,
/// <c>ep.share_ep_contexts=1</c> (and <c>ep.stop_share_ep_contexts=1</c> on the part's last session, so both graphs share
/// one .bin and its weights), and provider options <c>backend_type=htp</c>, <c>htp_arch</c>, <c>soc_model</c>,
/// <c>enable_htp_fp16_precision=1</c>.</para>
/// <para>QAIRT route (SDK tools): per graph <c>qairt-converter --input_network G.onnx --output_path qnn/G.dlc
/// --float_bitwidth 16 --quantization_overrides qnn/G.overrides.json</c> (the Q4_0 block encodings of the graph's
/// MatMulNBits weights, <see cref="QairtOverrides"/>); per part <c>qnn-context-binary-generator --model lib/HOST/libQnnModelDlc.so --backend
/// lib/HOST/libQnnHtp.so --dlc_path qnn/A.dlc,qnn/B.dlc --binary_file part{k} --output_dir DIR --config_file
/// qnn/part{k}_htp_config.json</c> (weight sharing between the two graphs on), then each graph is wrapped in an
/// EPContext model pointing at <c>part{k}.bin</c>.</para>
/// </remarks>
public static class QnnCompiler
{
    /// <summary>The QNN EP's registration name.</summary>
    public const string EpName = "QNNExecutionProvider";

    /// <summary>The instructions printed when neither route is available.</summary>
    public static string InstallInstructions =>
        "No QNN execution provider or QAIRT SDK found. Either: (1) on Windows ARM64 (Snapdragon X laptop) or Windows x64 "
        + "(ahead-of-time compile), install the QNN EP — NuGet Qualcomm.ML.OnnxRuntime.QNN or `pip install onnxruntime-qnn` — "
        + "and pass its provider library with --qnn-ep PATH\\onnxruntime_providers_qnn.dll; or (2) on Linux x86_64 or Windows, "
        + "install the Qualcomm AI Runtime (QAIRT) SDK from https://qpm.qualcomm.com (Qualcomm_AI_Runtime_SDK) and pass --qairt SDK_ROOT. "
        + "See docs/QNN.md.";

    /// <summary>The QAIRT host folder name for this machine (bin/ and lib/ subfolder).</summary>
    public static string DefaultQairtHost =>
        OperatingSystem.IsWindows()
            ? (RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "aarch64-windows-msvc" : "x86_64-windows-msvc")
            : (RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "aarch64-oe-linux-gcc11.2" : "x86_64-linux-clang");

    /// <summary>Compiles by the route the options name (QAIRT when <see cref="QnnCompileOptions.QairtRoot"/> is set, else the EP).</summary>
    /// <exception cref="QnnToolMissingException">Neither route is available (message: <see cref="InstallInstructions"/> or the missing file).</exception>
    /// <exception cref="FileNotFoundException">The folder is not a QNN-target folder.</exception>
    /// <exception cref="InvalidOperationException">A tool failed.</exception>
    public static QnnCompileResult Compile(QnnCompileOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var layout = QnnModelLayout.Read(options.Directory);
        var sw = Stopwatch.StartNew();
        QnnCompileResult result;
        if (options.QairtRoot is not null)
        {
            result = CompileWithQairt(options, layout);
        }
        else if (options.QnnEpLibrary is not null || OrtEnv.Instance().GetAvailableProviders().Contains(EpName))
        {
            result = CompileWithEp(options, layout);
        }
        else
        {
            throw new QnnToolMissingException(InstallInstructions);
        }

        WriteDeployment(options, layout, result, sw.Elapsed.TotalMilliseconds);
        return result;
    }

    /// <summary>The command lines the QAIRT route runs for a folder (also what docs/QNN.md shows), tool paths absolute.</summary>
    public static IReadOnlyList<(string Tool, string[] Arguments)> QairtCommands(QnnModelLayout layout, string directory, string sdkRoot, string host)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var commands = new List<(string, string[])>();
        string bin = Path.Combine(sdkRoot, "bin", host);
        string lib = Path.Combine(sdkRoot, "lib", host);
        string exe = host.Contains("windows", StringComparison.Ordinal) ? ".exe" : string.Empty;
        string so(string name) => host.Contains("windows", StringComparison.Ordinal) ? name + ".dll" : "lib" + name + ".so";
        foreach (var part in layout.Parts)
        {
            var dlcs = new List<string>();
            foreach (int s in layout.SequenceLengths)
            {
                string graph = part.Graphs[QnnModelLayout.GraphKey(s)];
                string dlc = Path.Combine(directory, "qnn", Path.ChangeExtension(graph, ".dlc"));
                dlcs.Add(dlc);
                commands.Add((Path.Combine(bin, "qairt-converter" + exe),
                [
                    "--input_network", Path.Combine(directory, graph), "--output_path", dlc, "--float_bitwidth", "16",
                    "--quantization_overrides", Path.Combine(directory, "qnn", QairtOverrides.FileName(graph)),
                ]));
            }

            commands.Add((Path.Combine(bin, "qnn-context-binary-generator" + exe),
            [
                "--model", Path.Combine(lib, so("QnnModelDlc")),
                "--backend", Path.Combine(lib, so("QnnHtp")),
                "--dlc_path", string.Join(",", dlcs),
                "--binary_file", PartBinaryName(part.Index),
                "--output_dir", directory,
                "--config_file", Path.Combine(directory, "qnn", PartBinaryName(part.Index) + "_htp_config.json"),
            ]));
        }

        return commands;
    }

    /// <summary>part{k}: the context binary's base name (qnn-context-binary-generator appends .bin).</summary>
    public static string PartBinaryName(int part) => string.Create(CultureInfo.InvariantCulture, $"part{part}");

    /// <summary>The EPContext model for a graph: <c>part{k}_ar{S}_ctx.onnx</c>.</summary>
    public static string ContextModelName(string graph) => Path.GetFileNameWithoutExtension(graph) + "_ctx.onnx";

    /// <summary>
    /// Builds an EPContext model (com.microsoft EPContext, ONNX Runtime docs "EP context design"): the graph's inputs and
    /// outputs unchanged, one node with embed_mode = 0, ep_cache_context = the .bin's file name (relative to the model),
    /// source = QNNExecutionProvider, partition_name = the QNN graph name, main_context = 1.
    /// </summary>
    public static ModelProto BuildEpContextModel(ModelProto graph, string binaryFile, string partitionName)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var g = new GraphBuilder(partitionName + "_ctx");
        var model = g.Model;
        model.Graph.Input.AddRange(graph.Graph.Input.Select(i => i.Clone()));
        model.Graph.Output.AddRange(graph.Graph.Output.Select(o => o.Clone()));
        g.AddNode("EPContext", partitionName + "_ctx_node", graph.Graph.Input.Select(i => i.Name).ToArray(), graph.Graph.Output.Select(o => o.Name).ToArray(), OnnxDomains.Microsoft,
            Attr.Int("embed_mode", 0), Attr.String("ep_cache_context", binaryFile), Attr.String("source", EpName),
            Attr.String("partition_name", partitionName), Attr.Int("main_context", 1));
        return model;
    }

    private static QnnCompileResult CompileWithQairt(QnnCompileOptions options, QnnModelLayout layout)
    {
        string root = options.QairtRoot!;
        string host = options.QairtHost ?? DefaultQairtHost;
        var commands = QairtCommands(layout, options.Directory, root, host);
        foreach (var tool in commands.Select(c => c.Tool).Distinct())
        {
            if (!File.Exists(tool))
            {
                throw new QnnToolMissingException($"'{tool}' does not exist: --qairt must name a QAIRT SDK root (holding bin/{host}/qairt-converter). {InstallInstructions}");
            }
        }

        System.IO.Directory.CreateDirectory(Path.Combine(options.Directory, "qnn"));
        var extConfig = HtpBackendExtConfig(options.Soc, layout);
        foreach (var part in layout.Parts)
        {
            string name = PartBinaryName(part.Index);
            File.WriteAllText(Path.Combine(options.Directory, "qnn", name + "_htp_ext_config.json"), extConfig.ToJsonString(Indented));
            var config = new JsonObject
            {
                ["backend_extensions"] = new JsonObject
                {
                    ["shared_library_path"] = Path.Combine(root, "lib", host, host.Contains("windows", StringComparison.Ordinal) ? "QnnHtpNetRunExtensions.dll" : "libQnnHtpNetRunExtensions.so"),
                    ["config_file_path"] = Path.Combine(options.Directory, "qnn", name + "_htp_ext_config.json"),
                },
            };
            File.WriteAllText(Path.Combine(options.Directory, "qnn", name + "_htp_config.json"), config.ToJsonString(Indented));
        }

        // The Q4_0 block encodings of every graph, passed to qairt-converter so that it keeps the GGUF's 4-bit weights.
        var overrides = new JsonObject();
        foreach (var part in layout.Parts)
        {
            foreach (string graph in part.Graphs.Values)
            {
                var (path, weights) = QairtOverrides.Write(Path.Combine(options.Directory, graph), Path.Combine(options.Directory, "qnn"));
                var report = QairtOverrides.Report(weights);
                report["file"] = Path.GetRelativePath(options.Directory, path);
                overrides[graph] = report;
            }
        }

        var lines = new List<string>();
        foreach (var (tool, args) in commands)
        {
            lines.Add(CommandLine(tool, args));
            var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in args)
            {
                psi.ArgumentList.Add(a);
            }

            using var process = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start '{tool}'.");
            var stdout = process.StandardOutput.ReadToEndAsync();
            string stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            _ = stdout.Result;
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{Path.GetFileName(tool)} exited with {process.ExitCode}: {stderr.Trim()}");
            }
        }

        var contextModels = new Dictionary<string, string>(StringComparer.Ordinal);
        var binaries = new List<string>();
        foreach (var part in layout.Parts)
        {
            string bin = PartBinaryName(part.Index) + ".bin";
            if (!File.Exists(Path.Combine(options.Directory, bin)))
            {
                throw new InvalidOperationException($"qnn-context-binary-generator did not write {bin}.");
            }

            binaries.Add(bin);
            foreach (int s in layout.SequenceLengths)
            {
                string graph = part.Graphs[QnnModelLayout.GraphKey(s)];
                ModelProto source;
                using (var stream = File.OpenRead(Path.Combine(options.Directory, graph)))
                {
                    source = ModelProto.Parser.ParseFrom(stream);
                }

                var ctx = BuildEpContextModel(source, bin, Path.GetFileNameWithoutExtension(graph));
                string ctxName = ContextModelName(graph);
                using (var stream = File.Create(Path.Combine(options.Directory, ctxName)))
                {
                    Google.Protobuf.MessageExtensions.WriteTo(ctx, stream);
                }

                contextModels[graph] = ctxName;
            }
        }

        return new QnnCompileResult("qairt", contextModels, binaries, lines) { QuantizationOverrides = overrides };
    }

    private static QnnCompileResult CompileWithEp(QnnCompileOptions options, QnnModelLayout layout)
    {
        var env = OrtEnv.Instance();
        if (options.QnnEpLibrary is not null)
        {
            if (!File.Exists(options.QnnEpLibrary))
            {
                throw new QnnToolMissingException($"'{options.QnnEpLibrary}' does not exist. {InstallInstructions}");
            }

            env.RegisterExecutionProviderLibrary(EpName, options.QnnEpLibrary);
        }

        var devices = env.GetEpDevices().Where(d => d.EpName == EpName).ToList();
        var providerOptions = new Dictionary<string, string>
        {
            ["backend_type"] = "htp",
            ["htp_arch"] = options.Soc.HtpArch.ToString(CultureInfo.InvariantCulture),
            ["soc_model"] = options.Soc.SocModel.ToString(CultureInfo.InvariantCulture),
            ["enable_htp_fp16_precision"] = "1",
        };
        var contextModels = new Dictionary<string, string>(StringComparer.Ordinal);
        var binaries = new HashSet<string>(StringComparer.Ordinal);
        foreach (var part in layout.Parts)
        {
            var sizes = layout.SequenceLengths;
            for (int i = 0; i < sizes.Count; i++)
            {
                string graph = part.Graphs[QnnModelLayout.GraphKey(sizes[i])];
                string ctxName = ContextModelName(graph);
                using var so = new SessionOptions();
                so.AddSessionConfigEntry("session.disable_cpu_ep_fallback", "1");
                so.AddSessionConfigEntry("ep.context_enable", "1");
                so.AddSessionConfigEntry("ep.context_embed_mode", "0");
                so.AddSessionConfigEntry("ep.context_file_path", Path.Combine(options.Directory, ctxName));
                so.AddSessionConfigEntry("ep.share_ep_contexts", "1");
                if (i == sizes.Count - 1)
                {
                    so.AddSessionConfigEntry("ep.stop_share_ep_contexts", "1");
                }

                if (devices.Count > 0)
                {
                    so.AppendExecutionProvider(env, devices, providerOptions);
                }
                else
                {
                    so.AppendExecutionProvider("QNN", providerOptions);
                }

                using (new InferenceSession(Path.Combine(options.Directory, graph), so))
                {
                }

                contextModels[graph] = ctxName;
            }
        }

        foreach (string f in System.IO.Directory.GetFiles(options.Directory, "*.bin"))
        {
            if (Path.GetFileName(f) != QnnModelLayout.RotaryFileName)
            {
                binaries.Add(Path.GetFileName(f));
            }
        }

        return new QnnCompileResult("qnn-ep", contextModels, [.. binaries.Order(StringComparer.Ordinal)], []);
    }

    /// <summary>htp_backend_ext_config.json (Genie and qnn-context-binary-generator): the SoC, one HTP core, weight sharing.</summary>
    public static JsonObject HtpBackendExtConfig(QnnSoc soc, QnnModelLayout layout)
    {
        ArgumentNullException.ThrowIfNull(soc);
        ArgumentNullException.ThrowIfNull(layout);
        return new JsonObject
        {
            ["devices"] = new JsonArray(new JsonObject
            {
                ["soc_model"] = soc.SocModel,
                ["dsp_arch"] = "v" + soc.HtpArch.ToString(CultureInfo.InvariantCulture),
                ["cores"] = new JsonArray(new JsonObject { ["core_id"] = 0, ["perf_profile"] = "burst", ["rpc_control_latency"] = 100 }),
            }),
            ["memory"] = new JsonObject { ["mem_type"] = "shared_buffer" },
            ["context"] = new JsonObject { ["weight_sharing_enabled"] = true },
            ["graphs"] = new JsonArray(layout.Parts.SelectMany(p => p.Graphs.Values).Select(g => (JsonNode)new JsonObject
            {
                ["graph_names"] = new JsonArray(Path.GetFileNameWithoutExtension(g)),
                ["fp16_relaxed_precision"] = 1,
                ["O"] = 3,
            }).ToArray()),
        };
    }

    /// <summary>genie_config.json for the compiled bins (Genie dialog, basic type, QnnHtp backend, binary model, rope).</summary>
    public static JsonObject GenieConfig(QnnModelLayout layout, IReadOnlyList<string> binaries, JsonObject genai)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(genai);
        var model = genai["model"]!;
        return new JsonObject
        {
            ["dialog"] = new JsonObject
            {
                ["version"] = 1,
                ["type"] = "basic",
                ["context"] = new JsonObject
                {
                    ["version"] = 1,
                    ["size"] = layout.ContextLength,
                    ["n-vocab"] = layout.VocabSize,
                    ["bos-token"] = model["bos_token_id"]?.DeepClone(),
                    ["eos-token"] = model["eos_token_id"]?.DeepClone(),
                },
                ["sampler"] = new JsonObject { ["version"] = 1, ["seed"] = 42, ["temp"] = 0.8, ["top-k"] = 40, ["top-p"] = 0.95 },
                ["tokenizer"] = new JsonObject { ["version"] = 1, ["path"] = "tokenizer.json" },
                ["engine"] = new JsonObject
                {
                    ["version"] = 1,
                    ["n-threads"] = 3,
                    ["backend"] = new JsonObject
                    {
                        ["version"] = 1,
                        ["type"] = "QnnHtp",
                        ["QnnHtp"] = new JsonObject { ["version"] = 1, ["use-mmap"] = true, ["spill-fill-bufsize"] = 0, ["mmap-budget"] = 0, ["poll"] = true, ["kv-dim"] = layout.HeadSize, ["allow-async-init"] = false },
                        ["extensions"] = "htp_backend_ext_config.json",
                    },
                    ["model"] = new JsonObject
                    {
                        ["version"] = 1,
                        ["type"] = "binary",
                        ["binary"] = new JsonObject { ["version"] = 1, ["ctx-bins"] = new JsonArray(binaries.Select(b => (JsonNode)b).ToArray()) },
                        ["positional-encoding"] = new JsonObject { ["type"] = "rope", ["rope-dim"] = layout.RopeDimensionCount / 2 },
                    },
                },
            },
        };
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private static void WriteDeployment(QnnCompileOptions options, QnnModelLayout layout, QnnCompileResult result, double elapsedMs)
    {
        string dir = options.Directory;
        string genaiPath = Path.Combine(dir, GenAiConfig.FileName);
        var genai = (JsonNode.Parse(File.ReadAllText(genaiPath)) ?? new JsonObject()).AsObject();
        var pipeline = genai["model"]?["decoder"]?["pipeline"]?[0]?.AsObject();
        if (pipeline is not null)
        {
            foreach (var (_, stage) in pipeline)
            {
                string? file = stage?["filename"]?.GetValue<string>();
                if (file is not null && result.ContextModels.TryGetValue(file, out var ctx))
                {
                    stage!["filename"] = ctx;
                    var qnn = stage["session_options"]?["provider_options"]?[0]?["qnn"]?.AsObject();
                    if (qnn is not null)
                    {
                        qnn["htp_arch"] = options.Soc.HtpArch.ToString(CultureInfo.InvariantCulture);
                        qnn["soc_model"] = options.Soc.SocModel.ToString(CultureInfo.InvariantCulture);
                    }
                }
            }
        }

        File.WriteAllText(genaiPath, genai.ToJsonString(Indented));
        File.WriteAllText(Path.Combine(dir, "htp_backend_ext_config.json"), HtpBackendExtConfig(options.Soc, layout).ToJsonString(Indented));
        File.WriteAllText(Path.Combine(dir, "genie_config.json"), GenieConfig(layout, result.Binaries, genai).ToJsonString(Indented));

        string manifest = Path.Combine(dir, "conversion.json");
        if (File.Exists(manifest) && JsonNode.Parse(File.ReadAllText(manifest)) is JsonObject m)
        {
            m["compile"] = new JsonObject
            {
                ["route"] = result.Route,
                ["soc"] = options.Soc.Name,
                ["soc_model"] = options.Soc.SocModel,
                ["htp_arch"] = options.Soc.HtpArch,
                ["context_models"] = new JsonObject(result.ContextModels.Select(kv => new KeyValuePair<string, JsonNode?>(kv.Key, kv.Value))),
                ["binaries"] = new JsonArray(result.Binaries.Select(b => (JsonNode)b).ToArray()),
                ["commands"] = new JsonArray(result.Commands.Select(c => (JsonNode)c).ToArray()),
                ["genie_bundle"] = new JsonArray("genie_config.json", "htp_backend_ext_config.json"),
                ["quantization_overrides"] = result.QuantizationOverrides?.DeepClone(),
                ["elapsed_ms"] = Math.Round(elapsedMs, 1),
            };
            File.WriteAllText(manifest, m.ToJsonString(Indented));
        }
    }

    /// <summary>A command line as a shell would show it (arguments with spaces quoted).</summary>
    public static string CommandLine(string tool, IEnumerable<string> args) =>
        string.Join(" ", new[] { tool }.Concat(args).Select(a => a.Contains(' ', StringComparison.Ordinal) ? "\"" + a + "\"" : a));
}
