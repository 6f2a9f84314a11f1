using System.CommandLine;
using Gguf2Qnn.Runtime;

namespace Gguf2Qnn.Cli;

/// <summary>The generation flags <c>run</c> and <c>chat</c> share: <c>-n --greedy --temperature --top-k --top-p --seed --ep</c>.</summary>
internal sealed class GenerationCliOptions
{
    private readonly Option<int> _n;
    private readonly Option<bool> _greedy = new("--greedy") { Description = "Arg-max decoding (the default unless --temperature is given)." };
    private readonly Option<float?> _temperature = new("--temperature") { Description = "Sampling temperature (> 0 turns sampling on)." };
    private readonly Option<int> _topK = new("--top-k") { Description = "Keep the K most likely tokens (0: all).", DefaultValueFactory = _ => 40 };
    private readonly Option<float> _topP = new("--top-p") { Description = "Keep the smallest set whose probability reaches P.", DefaultValueFactory = _ => 0.95f };
    private readonly Option<int> _seed = new("--seed") { Description = "Sampling seed.", DefaultValueFactory = _ => 42 };
    private readonly Option<string> _ep = new("--ep") { Description = "Execution provider. cpu: ONNX Runtime's CPU EP, the only one in this build (qnn-target folders run their AR-N/AR-1 graphs on it too). qnn, cuda, dml: accepted names, but not in this build: exit 1.", DefaultValueFactory = _ => "cpu" };

    public GenerationCliOptions(int defaultMaxNewTokens)
    {
        _n = new Option<int>("-n", "--max-new-tokens") { Description = "Most tokens to generate (per reply in chat).", DefaultValueFactory = _ => defaultMaxNewTokens };
        _ep.AcceptOnlyFromAmong("cpu", "qnn", "cuda", "dml");
    }

    public void AddTo(Command command)
    {
        command.Options.Add(_n);
        command.Options.Add(_greedy);
        command.Options.Add(_temperature);
        command.Options.Add(_topK);
        command.Options.Add(_topP);
        command.Options.Add(_seed);
        command.Options.Add(_ep);
    }

    /// <summary>The options as parsed; fails (exit code 1) for an execution provider this build lacks.</summary>
    public GenerationOptions Read(ParseResult p)
    {
        if (p.GetValue(_ep) != "cpu")
        {
            throw new CliException($"--ep {p.GetValue(_ep)}: not in this build; it runs on ONNX Runtime's CPU execution provider only (Microsoft.ML.OnnxRuntime for linux/win/osx x64 and arm64 ships no {p.GetValue(_ep)} provider); use --ep cpu.", GgufCli.WorkFailed);
        }

        var t = p.GetValue(_temperature);
        return new GenerationOptions
        {
            MaxNewTokens = p.GetValue(_n),
            Greedy = p.GetValue(_greedy) || t is null or <= 0,
            Temperature = t is > 0 ? t.Value : 1.0f,
            TopK = p.GetValue(_topK),
            TopP = p.GetValue(_topP),
            Seed = p.GetValue(_seed),
        };
    }
}
