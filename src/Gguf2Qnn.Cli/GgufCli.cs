using System.CommandLine;
using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Cli;

/// <summary>
/// The <c>gguf2qnn</c> command line (DESIGN.md §3). Exit codes: 0 success, 1 the work failed, 2 bad usage or bad input.
/// </summary>
public static class GgufCli
{
    /// <summary>Exit code: success.</summary>
    public const int Success = 0;

    /// <summary>Exit code: the work failed (verification under threshold, a tool missing).</summary>
    public const int WorkFailed = 1;

    /// <summary>Exit code: bad usage or bad input (missing file, not a GGUF, unsupported model).</summary>
    public const int BadInput = 2;

    // The --kernels values, as README and the help write them (Runtime.CpuKernels' names are not what users type).
    private const string KernelsAuto = "auto";
    private const string KernelsOnnxRuntime = "onnxruntime";
    private const string KernelsGguf2Qnn = "gguf2qnn";

    /// <summary>Parses <paramref name="args"/> and runs the command, writing to the given writers (no input: <c>chat</c> sees end of input).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) => Run(args, stdout, stderr, TextReader.Null);

    /// <summary>Parses <paramref name="args"/> and runs the command, reading interactive input (<c>chat</c>) from <paramref name="stdin"/>.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, TextReader stdin) => Run(args, new CliIO(stdout, stderr, stdin));

    /// <summary>Parses <paramref name="args"/> and runs the command with <paramref name="io"/>'s writers, reader and working directory.</summary>
    internal static int Run(string[] args, CliIO io)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(io);
        var (stdout, stderr) = (io.Out, io.Err);
        var root = new RootCommand("gguf2qnn: GGUF models to ONNX (and QNN), run and checked against llama.cpp. With no command: runs the single .gguf in ./models, else the demo (a small qwen2 model built, converted and run).");
        var verbose = new Option<bool>("--verbose") { Description = "Log to stderr the ONNX Runtime session options used, the execution providers and which kernels run the Q4_0 and Q6_K weights, and let ONNX Runtime log verbosely (node placements per provider)." };
        root.Options.Add(verbose);
        var kernels = new Option<string>("--kernels")
        {
            Description = "Which CPU kernels run Q4_0 and Q6_K weights (MatMulNBits bits 4 block 32, bits 8 block 16) on the ort engine: auto (gguf2qnn's own where the CPU has AVX-512BW, else ONNX Runtime's), onnxruntime, or gguf2qnn. The artifact folder is the same either way.",
            DefaultValueFactory = _ => KernelsAuto,
        };
        kernels.AcceptOnlyFromAmong(KernelsAuto, KernelsOnnxRuntime, KernelsGguf2Qnn);
        root.Options.Add(kernels);
        root.Subcommands.Add(InspectCommand.Create(io));
        root.Subcommands.Add(ConvertCommand.Create(io));
        root.Subcommands.Add(RunCommand.Create(io));
        root.Subcommands.Add(TokenizeCommand.CreateTokenize(io));
        root.Subcommands.Add(TokenizeCommand.CreateDetokenize(io));
        root.Subcommands.Add(ChatCommand.Create(io));
        root.Subcommands.Add(VerifyCommand.Create(io));
        root.Subcommands.Add(BenchCommand.Create(io));
        root.Subcommands.Add(MakeWorkloadCommand.Create(io));
        root.Subcommands.Add(CheckQnnCommand.Create(io));
        root.Subcommands.Add(CompileCommand.Create(io));
        root.Subcommands.Add(PullCommand.Create(io));
        // Only the commands that open a model take --verbose and --kernels (and the bare command, which runs one):
        // elsewhere they would be accepted and do nothing, so there they are an unknown option (exit 2).
        string[] opening = ["run", "chat", "verify", "bench"];
        foreach (var command in root.Subcommands.Where(c => opening.Contains(c.Name)))
        {
            command.Options.Add(verbose);
            command.Options.Add(kernels);
        }

        root.SetAction(_ => ModelDiscovery.Resolve(io, io.ModelsFolder) is { } found
            ? RunCommand.Generate(io, RunCommand.ResolveArtifacts(io, found), new Runtime.GenerationOptions { MaxNewTokens = 32, Greedy = true }, RunCommand.DefaultPrompt, json: false)
            : RunCommand.RunDemo(io, new Runtime.GenerationOptions { MaxNewTokens = 32, Greedy = true }, prompt: null, json: false));

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors)
            {
                stderr.WriteLine("gguf2qnn: " + e.Message);
            }

            stderr.WriteLine("Try 'gguf2qnn --help'.");
            return BadInput;
        }

        // Written before the command (`gguf2qnn --verbose inspect …`) they parse as the bare command's options.
        if (parse.CommandResult.Command != root && !opening.Contains(parse.CommandResult.Command.Name)
            && new Option[] { verbose, kernels }.FirstOrDefault(o => parse.GetResult(o) is { Implicit: false }) is { } misplaced)
        {
            stderr.WriteLine($"gguf2qnn: {misplaced.Name} applies to the commands that open a model ({string.Join(", ", opening)}), not to {parse.CommandResult.Command.Name}.");
            stderr.WriteLine("Try 'gguf2qnn --help'.");
            return BadInput;
        }

        io.Verbose = parse.GetValue(verbose);
        io.Kernels = parse.GetValue(kernels) switch
        {
            KernelsOnnxRuntime => Runtime.CpuKernels.OnnxRuntime,
            KernelsGguf2Qnn => Runtime.CpuKernels.Gguf2Qnn,
            _ => Runtime.CpuKernels.Auto,
        };
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (Exception ex) when (Classify(ex) is { } code)
        {
            stderr.WriteLine("gguf2qnn: " + OneLine(ex));
            return code;
        }
    }

    /// <summary>Maps input problems to exit code 2 and tool or runtime failures to 1.</summary>
    private static int? Classify(Exception ex) => ex switch
    {
        FileNotFoundException or DirectoryNotFoundException or Conversion.OutputFolderException or GgufFormatException or NotSupportedException or ArgumentException or Tokenization.ChatTemplates.TemplateException => BadInput,
        CliException c => c.ExitCode,
        Reference.LlamaCppException => WorkFailed,
        Microsoft.ML.OnnxRuntime.OnnxRuntimeException or Microsoft.ML.OnnxRuntimeGenAI.OnnxRuntimeGenAIException or IOException or InvalidOperationException => WorkFailed,
        _ => null,
    };

    private static string OneLine(Exception ex)
    {
        // ArgumentException's Message appends " (Parameter 'name')" (and "Actual value was …"): .NET's words, not the user's.
        var msg = (ex is ArgumentException { ParamName: not null } ? ex.Message.Split(" (Parameter '")[0] : ex.Message).ReplaceLineEndings(" ").Trim();
        return ex is GgufFormatException { Offset: >= 0 } g ? $"{msg} (field '{g.Field}', byte {g.Offset})" : msg;
    }
}

/// <summary>The writers a command prints to, and the reader interactive commands read from.</summary>
/// <param name="Out">Standard output: results.</param>
/// <param name="Err">Standard error: progress, prompts, diagnostics.</param>
/// <param name="In">Standard input (null: none, as at end of input).</param>
public sealed record CliIO(TextWriter Out, TextWriter Err, TextReader? In = null)
{
    /// <summary><see cref="In"/>, or an empty reader.</summary>
    public TextReader Input => In ?? TextReader.Null;

    /// <summary>The folder ./models discovery and default output folders are resolved in (null: the current directory).</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>The <c>models</c> folder under <see cref="WorkingDirectory"/>, searched when no model is named.</summary>
    internal string ModelsFolder => Path.Combine(WorkingDirectory ?? Directory.GetCurrentDirectory(), ModelDiscovery.FolderName);

    /// <summary>Set from <c>--verbose</c> when the command line is parsed.</summary>
    internal bool Verbose { get; set; }

    /// <summary>
    /// ONNX Runtime settings for the command's sessions: the defaults, or with <c>--verbose</c> verbose ORT logging and
    /// a description of the session options on <see cref="Err"/>; the kernels chosen with <c>--kernels</c>.
    /// </summary>
    internal Runtime.RuntimeOptions RuntimeOptions() =>
        new() { Verbose = Verbose, Log = Verbose ? Err.WriteLine : null, Kernels = Kernels };

    /// <summary>Set from <c>--kernels</c> when the command line is parsed (default auto).</summary>
    internal Runtime.CpuKernels Kernels { get; set; }

    /// <summary>
    /// After a model opened: with <c>--kernels gguf2qnn</c> (and no <c>--verbose</c>, which logs it anyway), says on
    /// <see cref="Err"/> when gguf2qnn's kernels run none of its nodes (no Q4_0 weight they take, a qnn-target folder).
    /// </summary>
    internal void NoteKernels(Runtime.ICausalLm lm)
    {
        if (Kernels != Runtime.CpuKernels.Gguf2Qnn || Verbose)
        {
            return;
        }

        string? why = lm switch
        {
            Runtime.OnnxCausalLm { Gguf2QnnKernelNodes: 0 } onnx => onnx.KernelsDescription,
            Runtime.QnnStaticCausalLm => Runtime.QnnStaticCausalLm.KernelsDescription,
            _ => null,
        };
        if (why is not null)
        {
            Err.WriteLine($"gguf2qnn: --kernels gguf2qnn did not apply; kernels: {why}");
        }
    }

    /// <summary><paramref name="name"/> under <see cref="WorkingDirectory"/>.</summary>
    internal string InWorkingDirectory(string name) => Path.GetFullPath(Path.Combine(WorkingDirectory ?? Directory.GetCurrentDirectory(), name));
}

/// <summary>A failure with a chosen exit code and a one-line message.</summary>
public sealed class CliException(string message, int exitCode) : Exception(message)
{
    /// <summary>Exit code to return.</summary>
    public int ExitCode { get; } = exitCode;
}
