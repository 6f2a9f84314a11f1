using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gguf2Qnn.Gguf;
using Spectre.Console;

namespace Gguf2Qnn.Cli;

/// <summary><c>gguf2qnn inspect MODEL.gguf [--json] [--tensor NAME]</c>: metadata, tensors, totals; one tensor's values.</summary>
internal static class InspectCommand
{
    public static Command Create(CliIO io)
    {
        var model = new Argument<string>("MODEL") { Description = "A .gguf file." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of tables." };
        var tensor = new Option<string?>("--tensor") { Description = "Print this tensor's dequantized values (first 64) instead." };
        var cmd = new Command("inspect", "Show a GGUF file's metadata and tensors.") { model, json, tensor };
        cmd.SetAction(p => Run(io, p.GetValue(model)!, p.GetValue(json), p.GetValue(tensor)));
        return cmd;
    }

    private static int Run(CliIO io, string path, bool json, string? tensorName)
    {
        using var file = GgufFile.Open(path);
        if (tensorName is not null)
        {
            var t = file.FindTensor(tensorName) ?? throw new CliException($"{path} has no tensor '{tensorName}'.", GgufCli.BadInput);
            var values = file.DequantizeTensor(t);
            var head = values.Take(64).ToArray();
            if (json)
            {
                io.Out.WriteLine(new JsonObject
                {
                    ["name"] = t.Name,
                    ["type"] = t.Type.ToString(),
                    ["shape"] = new JsonArray(t.Dimensions.Select(d => (JsonNode)d).ToArray()),
                    ["values"] = new JsonArray(head.Select(v => (JsonNode)v).ToArray()),
                }.ToJsonString());
            }
            else
            {
                io.Out.WriteLine($"{t.Name} {t.Type} {t.ShapeText}: first {head.Length} of {values.Length} values");
                io.Out.WriteLine(string.Join(" ", head.Select(v => v.ToString("G6", CultureInfo.InvariantCulture))));
            }

            return GgufCli.Success;
        }

        var totalBytes = file.Tensors.Sum(t => t.ByteSize);
        var totalParams = file.Tensors.Sum(t => t.ElementCount);
        if (json)
        {
            var meta = new JsonObject();
            foreach (var (k, v) in file.Metadata)
            {
                meta[k] = ToJson(v);
            }

            io.Out.WriteLine(new JsonObject
            {
                ["path"] = file.Path,
                ["version"] = file.Version,
                ["alignment"] = file.Alignment,
                ["data_offset"] = file.DataOffset,
                ["metadata"] = meta,
                ["tensors"] = new JsonArray(file.Tensors.Select(t => (JsonNode)new JsonObject
                {
                    ["name"] = t.Name,
                    ["type"] = t.Type.ToString(),
                    ["shape"] = new JsonArray(t.Dimensions.Select(d => (JsonNode)d).ToArray()),
                    ["offset"] = t.Offset,
                    ["bytes"] = t.ByteSize,
                }).ToArray()),
                ["tensor_count"] = file.Tensors.Count,
                ["parameter_count"] = totalParams,
                ["tensor_bytes"] = totalBytes,
            }.ToJsonString());
            return GgufCli.Success;
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(io.Out), Ansi = AnsiSupport.Detect, ColorSystem = ColorSystemSupport.Detect });
        console.WriteLine($"{file.Path}: GGUF v{file.Version}, {file.Metadata.Count} metadata keys, {file.Tensors.Count} tensors, {totalParams:N0} parameters, {totalBytes:N0} bytes of tensor data");
        var mt = new Table().AddColumn("key").AddColumn("type").AddColumn("value");
        foreach (var (k, v) in file.Metadata)
        {
            var text = v.Value is Array a ? $"[{v.ElementType} × {a.Length}]" + Preview(v) : v.ToString();
            if (text.Length > 100)
            {
                text = text[..100] + "…";
            }

            mt.AddRow(Markup.Escape(k), v.Type.ToString(), Markup.Escape(text.ReplaceLineEndings("⏎")));
        }

        console.Write(mt);
        var tt = new Table().AddColumn("tensor").AddColumn("type").AddColumn("shape (ne)").AddColumn(new TableColumn("bytes").RightAligned());
        foreach (var t in file.Tensors)
        {
            tt.AddRow(Markup.Escape(t.Name), t.Type.ToString(), t.ShapeText, t.ByteSize.ToString("N0", CultureInfo.InvariantCulture));
        }

        console.Write(tt);
        var byType = file.Tensors.GroupBy(t => t.Type).Select(g => $"{g.Key}: {g.Count()} tensors, {g.Sum(t => t.ByteSize):N0} bytes");
        console.WriteLine("Totals by type: " + string.Join("; ", byType));
        return GgufCli.Success;
    }

    private static string Preview(GgufValue v) => v.Value switch
    {
        string[] s => " " + string.Join(", ", s.Take(5).Select(x => "'" + x + "'")),
        Array a when a.Length > 0 && v.ElementType != GgufValueType.Array => " " + string.Join(", ", a.Cast<object>().Take(5).Select(o => Convert.ToString(o, CultureInfo.InvariantCulture))),
        _ => string.Empty,
    };

    private static JsonNode? ToJson(GgufValue v) => v.Value switch
    {
        string s => s,
        GgufValue[] nested => new JsonArray(nested.Select(ToJson).ToArray()),
        Array a => JsonSerializer.SerializeToNode(a),
        bool b => b,
        float f => f,
        double d => d,
        ulong u => u,
        long l => l,
        _ => Convert.ToInt64(v.Value, CultureInfo.InvariantCulture),
    };
}
