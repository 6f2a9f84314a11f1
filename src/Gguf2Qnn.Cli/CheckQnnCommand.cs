using System.CommandLine;
using System.Text.Json;
using Gguf2Qnn.Qnn;

namespace Gguf2Qnn.Cli;

/// <summary><c>gguf2qnn check-qnn DIR [--json]</c>: HTP op / data-type / static-shape / part-size coverage. Exit 1 under 100%.
/// A cpu-target folder (conversion.json's <c>target</c>) gets one line on stderr first saying so.</summary>
internal static class CheckQnnCommand
{
    public static Command Create(CliIO io)
    {
        var dir = new Argument<string>("DIR") { Description = "A qnn-target artifact folder (or any folder of .onnx graphs)." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON." };
        var cmd = new Command("check-qnn", "Check a folder's graphs against the QNN EP's HTP operator and data-type support.") { dir, json };
        cmd.SetAction(p =>
        {
            if (ArtifactFolder.ReadTarget(p.GetValue(dir)!) == "cpu")
            {
                io.Err.WriteLine("this folder was converted with --target cpu; convert with --target qnn for the NPU");
            }

            var report = HtpCoverage.Check(p.GetValue(dir)!);
            if (p.GetValue(json))
            {
                io.Out.WriteLine(report.ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
            else
            {
                report.Print(io.Out);
            }

            return report.FullyCovered ? GgufCli.Success : GgufCli.WorkFailed;
        });
        return cmd;
    }
}
