using Gguf2Qnn.Cli;

namespace Gguf2Qnn.Tests.Cli;

/// <summary>Runs the <c>gguf2qnn</c> command line in-process with captured standard output and error.</summary>
internal static class CliRun
{
    /// <summary>Runs <paramref name="args"/>; returns the exit code and what was written to stdout and stderr.</summary>
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = GgufCli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }
}
