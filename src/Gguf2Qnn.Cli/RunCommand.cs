using System.CommandLine;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Gguf2Qnn.Artifacts;
using Gguf2Qnn.Conversion;
using Gguf2Qnn.Demo;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Runtime;
using Gguf2Qnn.Tokenization;

namespace Gguf2Qnn.Cli;

/// <summary>
/// <c>gguf2qnn run [MODEL] [--prompt TEXT] [-n N] [--greedy] [--temperature T --top-k K --top-p P --seed S] [--json]</c>.
/// MODEL is a .gguf (converted into a cache folder on first use) or an artifact folder; with no MODEL, the demo model.
/// </summary>
internal static class RunCommand
{
    /// <summary>Prompt used when none is given.</summary>
    public const string DefaultPrompt = "Once upon a time";

    public static Command Create(CliIO io)
    {
        var model = new Argument<string?>("MODEL") { Description = "A .gguf file or an artifact folder written by convert. Omitted: the built-in demo model.", Arity = ArgumentArity.ZeroOrOne };
        var prompt = new Option<string?>("--prompt", "-p") { Description = "Text to continue (default: \"" + DefaultPrompt + "\")." };
        var n = new Option<int>("-n", "--max-new-tokens") { Description = "Tokens to generate.", DefaultValueFactory = _ => 64 };
        var greedy = new Option<bool>("--greedy") { Description = "Arg-max decoding (the default unless --temperature is given)." };
        var temperature = new Option<float?>("--temperature") { Description = "Sampling temperature (> 0 turns sampling on)." };
        var topK = new Option<int>("--top-k") { Description = "Keep the K most likely tokens (0: all).", DefaultValueFactory = _ => 40 };
        var topP = new Option<float>("--top-p") { Description = "Keep the smallest set whose probability reaches P.", DefaultValueFactory = _ => 0.95f };
        var seed = new Option<int>("--seed") { Description = "Sampling seed.", DefaultValueFactory = _ => 42 };
        var json = new Option<bool>("--json") { Description = "Print {\"prompt_tokens\":[…],\"tokens\":[…],\"text\":\"…\"}." };
        var ep = new Option<string>("--ep") { Description = "Execution provider: cpu.", DefaultValueFactory = _ => "cpu" };
        ep.AcceptOnlyFromAmong("cpu", "qnn", "cuda", "dml");
        var cmd = new Command("run", "Generate text from a model.") { model, prompt, n, greedy, temperature, topK, topP, seed, json, ep };
        cmd.SetAction(p =>
        {
            if (p.GetValue(ep) != "cpu")
            {
                throw new CliException($"--ep {p.GetValue(ep)}: this build runs on ONNX Runtime's CPU execution provider only (Microsoft.ML.OnnxRuntime for linux/win/osx x64 and arm64 ships no {p.GetValue(ep)} provider); use --ep cpu.", GgufCli.WorkFailed);
            }

            var t = p.GetValue(temperature);
            var options = new GenerationOptions
            {
                MaxNewTokens = p.GetValue(n),
                Greedy = p.GetValue(greedy) || t is null or <= 0,
                Temperature = t is > 0 ? t.Value : 1.0f,
                TopK = p.GetValue(topK),
                TopP = p.GetValue(topP),
                Seed = p.GetValue(seed),
            };
            var path = p.GetValue(model);
            return path is null
                ? RunDemo(io, options, p.GetValue(prompt), p.GetValue(json))
                : Generate(io, ResolveArtifacts(io, path), options, p.GetValue(prompt) ?? DefaultPrompt, p.GetValue(json));
        });
        return cmd;
    }

    /// <summary>The embedded default: writes the demo qwen2 GGUF (Q4_0 + F32), converts it and generates from it.</summary>
    public static int RunDemo(CliIO io, GenerationOptions options, string? prompt, bool json)
    {
        var root = Path.Combine(CacheRoot(), "demo");
        Directory.CreateDirectory(root);
        var gguf = Path.Combine(root, "demo-qwen2-q4_0.gguf");
        var spec = new SyntheticModelSpec { BlockCount = 2, HiddenSize = 128, HeadCount = 4, HeadCountKv = 2, FeedForwardLength = 256, WeightType = GgmlType.Q4_0, Seed = 2026 };
        SyntheticModel.Write(gguf, spec);
        io.Err.WriteLine($"Demo model (qwen2, {spec.BlockCount} layers, hidden {spec.HiddenSize}, Q4_0 + F32 tensors, seeded random weights): {gguf}");
        var dir = Path.Combine(root, "onnx");
        var result = ConvertCommand.Convert(io, gguf, dir, WeightFormat.Keep);
        ConvertCommand.PrintArtifacts(io, result.OutputDirectory);
        io.Err.WriteLine("The weights are random, so the text is gibberish; convert a real GGUF to get a real model.");
        return Generate(io, dir, options, prompt ?? " once upon a time", json);
    }

    /// <summary>A .gguf becomes a cached artifact folder (converted once per file version and converter build); a folder is used as it is.</summary>
    internal static string ResolveArtifacts(CliIO io, string path)
    {
        if (Directory.Exists(path))
        {
            return path;
        }

        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"No such file or folder: {path}", path);
        }

        using (GgufFile.Open(path))
        {
            // Fails fast, with exit code 2, on a file that is not a GGUF.
        }

        var info = new FileInfo(path);
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{info.FullName}|{info.Length}|{info.LastWriteTimeUtc.Ticks}|{typeof(OnnxConverter).Assembly.ManifestModule.ModuleVersionId}")))[..16].ToLowerInvariant();
        var dir = Path.Combine(CacheRoot(), "converted", Path.GetFileNameWithoutExtension(path) + "-" + key);
        if (!File.Exists(Path.Combine(dir, "genai_config.json")))
        {
            io.Err.WriteLine($"Converting {path} into {dir} (once; later runs reuse it).");
            ConvertCommand.Convert(io, path, dir, WeightFormat.Keep);
        }

        return dir;
    }

    internal static int Generate(CliIO io, string artifactDir, GenerationOptions options, string prompt, bool json)
    {
        using var tokFile = GgufFile.Open(Path.Combine(artifactDir, TokenizerArtifact.FileName));
        var tokenizer = GgufTokenizer.Create(tokFile);
        var promptIds = tokenizer.Encode(prompt, tokenizer.AddBosToken);
        using var lm = CausalLm.Open(artifactDir);
        var opts = options with { StopTokens = options.StopTokens.Count > 0 ? options.StopTokens : tokenizer.EndOfGenerationTokens };
        var generated = new List<int>();
        var stream = tokenizer.CreateStreamDecoder();
        var text = new StringBuilder();
        if (!json)
        {
            io.Out.Write(prompt);
        }

        foreach (var id in lm.Generate(promptIds, opts))
        {
            generated.Add(id);
            var piece = opts.StopTokens.Contains(id) ? string.Empty : stream.Append(id);
            text.Append(piece);
            if (!json)
            {
                io.Out.Write(piece);
                io.Out.Flush();
            }
        }

        var tail = stream.Flush();
        text.Append(tail);
        if (json)
        {
            io.Out.WriteLine(new JsonObject
            {
                ["prompt_tokens"] = new JsonArray(promptIds.Select(i => (JsonNode)i).ToArray()),
                ["tokens"] = new JsonArray(generated.Select(i => (JsonNode)i).ToArray()),
                ["text"] = text.ToString(),
            }.ToJsonString());
        }
        else
        {
            io.Out.WriteLine(tail);
        }

        return GgufCli.Success;
    }

    /// <summary>$XDG_CACHE_HOME/gguf2qnn or ~/.cache/gguf2qnn (LocalApplicationData on Windows).</summary>
    internal static string CacheRoot()
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var baseDir = !string.IsNullOrEmpty(xdg) ? xdg
            : OperatingSystem.IsWindows() ? Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData)
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(baseDir, "gguf2qnn");
    }
}
