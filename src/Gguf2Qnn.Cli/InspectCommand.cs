using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Inspection;
using Spectre.Console;

namespace Gguf2Qnn.Cli;

/// <summary>
/// <c>gguf2qnn inspect MODEL.gguf [--json] [--tensor NAME]</c>: metadata, tensors, per-type totals, hyper-parameters,
/// tokenizer summary and anomalies; or one tensor's dequantized values. Split models (<c>*-00001-of-0000N.gguf</c>) are
/// read as one. Redirected output is not wrapped (one table row a line); special token ids outside the vocabulary show
/// as absent (<c>-</c>, JSON null).
/// </summary>
/// <remarks>
/// <c>--json</c> (stable): <c>{"path", "version", "alignment", "data_offset", "split_count", "metadata": {key: value},
/// "tensors": [{"name", "type", "shape" (ne order, innermost first), "offset", "bytes"}], "tensor_count",
/// "parameter_count", "tensor_bytes", "bytes_per_parameter", "types": [{"type", "tensors", "parameters", "bytes"}],
/// "hyper_parameters": {…} | null, "tokenizer": {…} | null, "anomalies": ["…"]}</c>.
/// <c>--tensor NAME --json</c>: <c>{"name", "type", "shape" (outermost first), "values": [all values]}</c>.
/// </remarks>
internal static class InspectCommand
{
    // Console width assumed for redirected output: wider than any row (values are cut at 100 characters).
    private const int UnwrappedWidth = 4096;

    public static Command Create(CliIO io)
    {
        var model = new Argument<string>("MODEL") { Description = "A .gguf file (any part of a split model)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of tables." };
        var tensor = new Option<string?>("--tensor") { Description = "Print this tensor's dequantized values instead (text: the first 64)." };
        var cmd = new Command("inspect", "Show a GGUF file's metadata, tensors, hyper-parameters, tokenizer and anomalies.") { model, json, tensor };
        cmd.SetAction(p => Run(io, p.GetValue(model)!, p.GetValue(json), p.GetValue(tensor)));
        return cmd;
    }

    private static int Run(CliIO io, string path, bool json, string? tensorName)
    {
        using var file = GgufModel.Open(path);
        if (tensorName is not null)
        {
            return PrintTensor(io, file, path, tensorName, json);
        }

        var report = ModelInspection.Create(file);
        if (json)
        {
            PrintJson(io, file, report);
            return GgufCli.Success;
        }

        var first = file.Parts[0];
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(io.Out), Ansi = AnsiSupport.Detect, ColorSystem = ColorSystemSupport.Detect });
        if (!ReferenceEquals(io.Out, Console.Out) || Console.IsOutputRedirected)
        {
            // Redirected (a file, a pipe, grep): no terminal width to fit, so nothing is wrapped (Spectre would
            // otherwise assume 80 columns and break key names and values across lines).
            console.Profile.Width = UnwrappedWidth;
        }

        console.WriteLine($"{file.Path}: GGUF v{first.Version}{(file.IsSplit ? $", {file.Parts.Count} split parts" : string.Empty)}, {file.Metadata.Count} metadata keys, {file.Tensors.Count} tensors, {report.Parameters:N0} parameters, {report.TensorBytes:N0} bytes of tensor data ({report.BytesPerParameter:0.####} bytes/parameter)");
        var mt = new Table().AddColumn("key").AddColumn("type").AddColumn("value");
        foreach (var (k, v) in file.Metadata)
        {
            var text = v.Type == GgufValueType.Array ? v.ToString() + Preview(v) : v.ToString();
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
            tt.AddRow(Markup.Escape(t.Name), t.Type.ToString(), Markup.Escape(t.ShapeText), t.ByteSize.ToString("N0", CultureInfo.InvariantCulture));
        }

        console.Write(tt);
        var ty = new Table().AddColumn("type").AddColumn(new TableColumn("tensors").RightAligned()).AddColumn(new TableColumn("parameters").RightAligned()).AddColumn(new TableColumn("bytes").RightAligned());
        foreach (var t in report.Types)
        {
            ty.AddRow(t.Type.ToString(), t.Tensors.ToString(CultureInfo.InvariantCulture), t.Parameters.ToString("N0", CultureInfo.InvariantCulture), t.Bytes.ToString("N0", CultureInfo.InvariantCulture));
        }

        console.Write(ty);
        if (report.Config is { } c)
        {
            console.WriteLine($"Hyper-parameters: {c.Architecture}, {c.BlockCount} {(c.BlockCount == 1 ? "layer" : "layers")}, hidden {c.EmbeddingLength}, ffn {c.FeedForwardLength}, heads {c.HeadCount} (kv {c.HeadCountKv}, head dim {c.HeadDim}), context {c.ContextLength}, vocab {c.VocabSize}, rms eps {c.RmsEpsilon:G6}, rope base {c.RopeFreqBase:G6} ({c.RopeStyle}, {c.RopeDimensionCount} dims), qkv bias {c.HasQkvBias}, tied embeddings {c.TiedEmbeddings}");
        }

        if (report.Tokenizer is { } tok)
        {
            console.WriteLine($"Tokenizer: {tok.Model}{(tok.Pre is null ? string.Empty : "/" + tok.Pre)}, {tok.VocabSize} tokens, {tok.MergeCount} merges, bos {Show(tok.BosTokenId)}, eos {Show(tok.EosTokenId)}, eot {Show(tok.EotTokenId)}, unk {Show(tok.UnknownTokenId)}, pad {Show(tok.PaddingTokenId)}, chat template {(tok.HasChatTemplate ? "present" : "absent")}");
        }

        console.WriteLine(report.Anomalies.Count == 0 ? "Anomalies: none" : "Anomalies:");
        foreach (var a in report.Anomalies)
        {
            console.WriteLine("  - " + a);
        }

        return GgufCli.Success;
    }

    private static int PrintTensor(CliIO io, GgufModel file, string path, string tensorName, bool json)
    {
        var t = file.FindTensor(tensorName) ?? throw new CliException($"{path} has no tensor '{tensorName}'.", GgufCli.BadInput);
        var values = file.DequantizeTensor(t);
        if (json)
        {
            io.Out.WriteLine(new JsonObject
            {
                ["name"] = t.Name,
                ["type"] = t.Type.ToString(),
                ["shape"] = new JsonArray(t.Dimensions.Reverse().Select(d => (JsonNode)d).ToArray()),
                ["values"] = new JsonArray(values.Select(v => (JsonNode)v).ToArray()),
            }.ToJsonString());
        }
        else
        {
            var head = values.Take(64).ToArray();
            io.Out.WriteLine($"{t.Name} {t.Type} shape [{string.Join(", ", t.Dimensions.Reverse())}] (outermost first): first {head.Length} of {values.Length} values");
            io.Out.WriteLine(string.Join(" ", head.Select(v => v.ToString("G6", CultureInfo.InvariantCulture))));
        }

        return GgufCli.Success;
    }

    private static void PrintJson(CliIO io, GgufModel file, ModelInspection report)
    {
        var meta = new JsonObject();
        foreach (var (k, v) in file.Metadata)
        {
            meta[k] = ToJson(v);
        }

        var c = report.Config;
        var tok = report.Tokenizer;
        io.Out.WriteLine(new JsonObject
        {
            ["path"] = file.Path,
            ["version"] = file.Parts[0].Version,
            ["alignment"] = file.Parts[0].Alignment,
            ["data_offset"] = file.Parts[0].DataOffset,
            ["split_count"] = file.Parts.Count,
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
            ["parameter_count"] = report.Parameters,
            ["tensor_bytes"] = report.TensorBytes,
            ["bytes_per_parameter"] = report.BytesPerParameter,
            ["types"] = new JsonArray(report.Types.Select(t => (JsonNode)new JsonObject
            {
                ["type"] = t.Type.ToString(),
                ["tensors"] = t.Tensors,
                ["parameters"] = t.Parameters,
                ["bytes"] = t.Bytes,
            }).ToArray()),
            ["hyper_parameters"] = c is null ? null : new JsonObject
            {
                ["architecture"] = c.Architecture,
                ["block_count"] = c.BlockCount,
                ["embedding_length"] = c.EmbeddingLength,
                ["feed_forward_length"] = c.FeedForwardLength,
                ["head_count"] = c.HeadCount,
                ["head_count_kv"] = c.HeadCountKv,
                ["head_dim"] = c.HeadDim,
                ["context_length"] = c.ContextLength,
                ["vocab_size"] = c.VocabSize,
                ["rms_epsilon"] = c.RmsEpsilon,
                ["rope_freq_base"] = c.RopeFreqBase,
                ["rope_dimension_count"] = c.RopeDimensionCount,
                ["rope_style"] = c.RopeStyle.ToString(),
                ["qkv_bias"] = c.HasQkvBias,
                ["tied_embeddings"] = c.TiedEmbeddings,
            },
            ["tokenizer"] = tok is null ? null : new JsonObject
            {
                ["model"] = tok.Model,
                ["pre"] = tok.Pre,
                ["vocab_size"] = tok.VocabSize,
                ["merges"] = tok.MergeCount,
                ["bos_token_id"] = tok.BosTokenId,
                ["eos_token_id"] = tok.EosTokenId,
                ["eot_token_id"] = tok.EotTokenId,
                ["unknown_token_id"] = tok.UnknownTokenId,
                ["padding_token_id"] = tok.PaddingTokenId,
                ["chat_template"] = tok.HasChatTemplate,
            },
            ["anomalies"] = new JsonArray(report.Anomalies.Select(a => (JsonNode)a).ToArray()),
        }.ToJsonString());
    }

    private static string Show(long? id) => id?.ToString(CultureInfo.InvariantCulture) ?? "-";

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
