using System.CommandLine;
using Gguf2Qnn.Qnn;

namespace Gguf2Qnn.Cli;

/// <summary><c>gguf2qnn compile DIR --soc NAME [--qnn-ep PATH | --qairt SDK_ROOT]</c>: QNN context binaries (docs/QNN.md).</summary>
internal static class CompileCommand
{
    public static Command Create(CliIO io)
    {
        var dir = new Argument<string>("DIR") { Description = "A qnn-target artifact folder (convert --target qnn)." };
        var soc = new Option<string>("--soc") { Description = "Target SoC: " + string.Join(", ", QnnSoc.All.Select(s => $"{s.Name} ({s.Marketing})")) + ".", Required = true };
        var ep = new Option<string?>("--qnn-ep") { Description = "The QNN EP provider library (onnxruntime_providers_qnn.dll / .so)." };
        var qairt = new Option<string?>("--qairt") { Description = "QAIRT SDK root: compile with qairt-converter and qnn-context-binary-generator." };
        var host = new Option<string?>("--qairt-host") { Description = "SDK host folder under bin/ and lib/ (default: this machine's, e.g. x86_64-linux-clang)." };
        var cmd = new Command("compile", "Compile a qnn-target folder into QNN context binaries and write the Genie bundle.") { dir, soc, ep, qairt, host };
        cmd.SetAction(p =>
        {
            if (p.GetValue(ep) is not null && p.GetValue(qairt) is not null)
            {
                throw new CliException("Give --qnn-ep or --qairt, not both.", GgufCli.BadInput);
            }

            QnnCompileResult result;
            try
            {
                result = QnnCompiler.Compile(new QnnCompileOptions
                {
                    Directory = Path.GetFullPath(p.GetValue(dir)!),
                    Soc = QnnSoc.Find(p.GetValue(soc)!),
                    QnnEpLibrary = p.GetValue(ep),
                    QairtRoot = p.GetValue(qairt) is { } r ? Path.GetFullPath(r) : null,
                    QairtHost = p.GetValue(host),
                });
            }
            catch (QnnToolMissingException ex)
            {
                throw new CliException(ex.Message, GgufCli.WorkFailed);
            }

            foreach (string line in result.Commands)
            {
                io.Err.WriteLine("ran: " + line);
            }

            foreach (var (graph, ctx) in result.ContextModels)
            {
                io.Out.WriteLine($"{graph} -> {ctx}");
            }

            io.Out.WriteLine("context binaries: " + string.Join(", ", result.Binaries));
            return GgufCli.Success;
        });
        return cmd;
    }
}
