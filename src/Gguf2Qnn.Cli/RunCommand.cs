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
using Gguf2Qnn.Tokenization.ChatTemplates;

namespace Gguf2Qnn.Cli;

/// <summary>
/// <c>gguf2qnn run [MODEL] [--prompt TEXT] [--chat [--system TEXT]] [-n N] [--greedy] [--temperature T --top-k K --top-p P --seed S] [--json] [--engine ort|genai]</c>.
/// MODEL is a .gguf (converted into a cache folder on first use) or an artifact folder; with no MODEL, the single
/// model in ./models (<see cref="ModelDiscovery"/>), else the demo model.
/// <c>--engine ort</c> (default) runs our own loop (<see cref="CausalLm"/>, GGUF tokenizer); <c>--engine genai</c> hands the
/// cpu-target folder to ONNX Runtime GenAI (<see cref="GenAiGenerator"/>, its tokenizer and chat template engine).
/// </summary>
internal static class RunCommand
{
    /// <summary>The <c>--engine</c> values.</summary>
    public const string EngineOrt = "ort", EngineGenAi = "genai";

    /// <summary>Prompt used when none is given.</summary>
    public const string DefaultPrompt = "Once upon a time";

    public static Command Create(CliIO io)
    {
        var model = new Argument<string?>("MODEL") { Description = "A .gguf file or an artifact folder written by convert. Omitted: the single .gguf in ./models, else the built-in demo model.", Arity = ArgumentArity.ZeroOrOne };
        var prompt = new Option<string?>("--prompt", "-p") { Description = "Text to continue (default: \"" + DefaultPrompt + "\")." };
        var json = new Option<bool>("--json") { Description = "Print {\"prompt_tokens\":[…],\"tokens\":[…],\"text\":\"…\"}." };
        var chat = new Option<bool>("--chat") { Description = "Wrap the prompt as a user message in the model's chat template (tokenizer.chat_template) and print the assistant's reply." };
        var system = new Option<string?>("--system") { Description = "With --chat: a system message before the prompt." };
        var engine = new Option<string>("--engine") { Description = "ort: our ONNX Runtime loop (default); genai: ONNX Runtime GenAI (cpu-target folders).", DefaultValueFactory = _ => EngineOrt };
        engine.AcceptOnlyFromAmong(EngineOrt, EngineGenAi);
        var generation = new GenerationCliOptions(defaultMaxNewTokens: 64);
        var cmd = new Command("run", "Generate text from a model.") { model, prompt, json, chat, system, engine };
        generation.AddTo(cmd);
        cmd.SetAction(p =>
        {
            var options = generation.Read(p);
            var path = p.GetValue(model) ?? ModelDiscovery.Resolve(io, io.ModelsFolder);
            var text = p.GetValue(prompt);
            bool genAi = p.GetValue(engine) == EngineGenAi;
            if (genAi && io.Kernels == CpuKernels.Gguf2Qnn)
            {
                throw new CliException("--kernels gguf2qnn: gguf2qnn's kernels run on the ort engine; ONNX Runtime GenAI (--engine genai) runs ONNX Runtime's. Use one or the other.", GgufCli.BadInput);
            }

            if (!p.GetValue(chat))
            {
                if (path is null && !genAi)
                {
                    return RunDemo(io, options, text, p.GetValue(json));
                }

                path ??= DemoGguf.Write(io); // GenAI on the demo: its GGUF, converted into the cache like any other

                return genAi
                    ? GenerateWithGenAi(io, ResolveArtifacts(io, path, p.GetValue(json)), options, text ?? DefaultPrompt, p.GetValue(json))
                    : Generate(io, ResolveArtifacts(io, path, p.GetValue(json)), options, text ?? DefaultPrompt, p.GetValue(json));
            }

            path ??= DemoGguf.Write(io); // the demo has a chat template (its replies are gibberish: random weights)
            ChatCommand.RequireTemplate(path);
            var messages = new List<ChatMessage>();
            if (p.GetValue(system) is { } sys)
            {
                messages.Add(ChatMessage.System(sys));
            }

            messages.Add(ChatMessage.User(text ?? DefaultPrompt));
            return genAi
                ? GenerateWithGenAi(io, ResolveArtifacts(io, path, p.GetValue(json)), options, text ?? DefaultPrompt, p.GetValue(json), messages)
                : Generate(io, ResolveArtifacts(io, path, p.GetValue(json)), options, text ?? DefaultPrompt, p.GetValue(json), messages);
        });
        return cmd;
    }

    /// <summary>The embedded default: writes the demo qwen2 GGUF (Q4_0 + F32), converts it and generates from it.</summary>
    public static int RunDemo(CliIO io, GenerationOptions options, string? prompt, bool json)
    {
        var gguf = DemoGguf.Write(io);
        var dir = Path.Combine(Path.GetDirectoryName(gguf)!, "onnx");
        var result = ConvertCommand.Convert(io, gguf, dir, WeightFormat.Keep, quiet: json);
        ConvertCommand.PrintArtifacts(io, result.OutputDirectory);
        io.Err.WriteLine("The weights are random, so the text is gibberish; convert a real GGUF to get a real model.");
        return Generate(io, dir, options, prompt ?? " once upon a time", json);
    }

    /// <summary>A .gguf becomes a cached artifact folder (converted once per file version and converter build); a folder is used as it is.</summary>
    /// <exception cref="CliException">A folder that is not an artifact folder (exit code 2).</exception>
    internal static string ResolveArtifacts(CliIO io, string path, bool quiet = false)
    {
        if (Directory.Exists(path))
        {
            ArtifactFolder.Require(path);
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
            if (!quiet)
            {
                io.Err.WriteLine($"Converting {path} into {dir} (once; later runs reuse it).");
            }

            ConvertCommand.Convert(io, path, dir, WeightFormat.Keep, quiet: quiet);
            RemoveOlderConversions(io, info.FullName, dir, quiet);
        }

        return dir;
    }

    // A changed file or a new build of the tool gets a new cache folder; the ones converted earlier from the same path
    // are stale, so they go (one folder per source file, not one per file version and build).
    private static void RemoveOlderConversions(CliIO io, string source, string current, bool quiet)
    {
        var parent = Path.GetDirectoryName(current)!;
        foreach (var other in Directory.EnumerateDirectories(parent))
        {
            if (string.Equals(other, current, StringComparison.Ordinal)
                || ArtifactFolder.ReadSource(other) is not { } recorded
                || !string.Equals(Path.GetFullPath(recorded.Path), source, StringComparison.Ordinal))
            {
                continue;
            }

            try
            {
                Directory.Delete(other, recursive: true);
                if (!quiet)
                {
                    io.Err.WriteLine($"Removed the older conversion of {source}: {other}");
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // In use or not ours to delete: it stays, and the next conversion tries again.
            }
        }
    }

    /// <summary>
    /// Generates after <paramref name="prompt"/> (tokenized with the model's BOS choice) or, when
    /// <paramref name="chat"/> is given, after that conversation rendered with the model's chat template and
    /// <c>add_generation_prompt</c>; in chat mode only the reply is printed.
    /// </summary>
    internal static int Generate(CliIO io, string artifactDir, GenerationOptions options, string prompt, bool json, IReadOnlyList<ChatMessage>? chat = null)
    {
        using var tokFile = GgufFile.Open(Path.Combine(artifactDir, TokenizerArtifact.FileName));
        var tokenizer = GgufTokenizer.Create(tokFile);
        int[] promptIds;
        if (chat is null)
        {
            promptIds = tokenizer.Encode(prompt, tokenizer.AddBosToken);
        }
        else
        {
            var template = ChatTemplate.FromGguf(tokFile) ?? throw ChatCommand.NoTemplate(artifactDir);
            promptIds = ChatPrompt.Encode(tokenizer, ChatPrompt.Render(template, tokenizer, chat, addGenerationPrompt: true));
        }

        using var lm = CausalLm.Open(artifactDir, io.RuntimeOptions());
        io.NoteKernels(lm);
        var opts = options with { StopTokens = options.StopTokens.Count > 0 ? options.StopTokens : tokenizer.EndOfGenerationTokens };
        var generated = new List<int>();
        var stream = tokenizer.CreateStreamDecoder();
        if (chat is null)
        {
            // Printed after the prompt, the generated text is its continuation: the first token keeps its leading
            // space. A chat reply is a message of its own and decodes as a fresh sequence.
            stream.Prime(promptIds);
        }

        var text = new StringBuilder();
        if (!json && chat is null)
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
            WriteJson(io, promptIds, generated, text.ToString());
        }
        else
        {
            io.Out.WriteLine(tail);
        }

        return GgufCli.Success;
    }

    /// <summary>
    /// <see cref="Generate"/> through ONNX Runtime GenAI: GenAI's tokenizer encodes the prompt (BOS as
    /// tokenizer_config.json asks) or, with <paramref name="chat"/>, GenAI renders the conversation with the folder's
    /// chat_template and encodes it; GenAI's generator picks the tokens and stops at its EOS ids; GenAI's stream
    /// decoder prints them. Same output as <see cref="Generate"/> (<c>--json</c>: prompt_tokens, tokens, text).
    /// </summary>
    /// <exception cref="CliException">A qnn-target folder (exit code 1, with the reason).</exception>
    internal static int GenerateWithGenAi(CliIO io, string artifactDir, GenerationOptions options, string prompt, bool json, IReadOnlyList<ChatMessage>? chat = null)
    {
        if (CausalLm.IsQnnTarget(artifactDir))
        {
            throw new CliException($"--engine genai: '{artifactDir}' is a qnn-target folder; {GenAiGenerator.QnnTargetUnsupportedReason}", GgufCli.WorkFailed);
        }

        using var lm = GenAiGenerator.Open(artifactDir);
        if (io.Verbose)
        {
            // GenAI builds its own ONNX Runtime session from genai_config.json: say what it was given.
            io.Err.WriteLine($"onnxruntime-genai: ONNX Runtime GenAI (Microsoft.ML.OnnxRuntimeGenAI) over {artifactDir}: CPU execution provider (genai_config.json's providers cleared), GenAI's own session and search loop");
            io.Err.WriteLine($"onnxruntime-genai: decoder session_options from genai_config.json: {lm.DecoderSessionOptions}");
            io.Err.WriteLine("kernels: ONNX Runtime's (GenAI runs its own session; gguf2qnn's kernels are for the ort engine)");
        }

        int[] promptIds = chat is null
            ? lm.Encode(prompt)
            : lm.EncodeChat(lm.ApplyChatTemplate(chat, addGenerationPrompt: true));
        var generated = new List<int>();
        var text = new StringBuilder();
        if (!json && chat is null)
        {
            io.Out.Write(prompt);
        }

        using (var stream = lm.CreateStreamDecoder())
        {
            foreach (var id in lm.Generate(promptIds, options))
            {
                generated.Add(id);
                var piece = stream.Decode(id);
                text.Append(piece);
                if (!json)
                {
                    io.Out.Write(piece);
                    io.Out.Flush();
                }
            }
        }

        if (json)
        {
            WriteJson(io, promptIds, generated, text.ToString());
        }
        else
        {
            io.Out.WriteLine();
        }

        return GgufCli.Success;
    }

    // run --json's one object: {"prompt_tokens":[…],"tokens":[…],"text":"…"}.
    private static void WriteJson(CliIO io, IEnumerable<int> promptIds, IEnumerable<int> generated, string text) =>
        io.Out.WriteLine(new JsonObject
        {
            ["prompt_tokens"] = new JsonArray(promptIds.Select(i => (JsonNode)i).ToArray()),
            ["tokens"] = new JsonArray(generated.Select(i => (JsonNode)i).ToArray()),
            ["text"] = text,
        }.ToJsonString());

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
