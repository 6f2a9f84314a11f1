using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Gguf2Qnn.Artifacts;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Tokenization;

namespace Gguf2Qnn.Cli;

/// <summary>
/// <c>gguf2qnn tokenize MODEL TEXT [--special] [--no-bos] [--json]</c> and <c>gguf2qnn detokenize MODEL IDS [--special]</c>:
/// the GGUF's own tokenizer (tokenizer.ggml.*), as llama.cpp's <c>llama_tokenize</c> / <c>llama_detokenize</c>.
/// MODEL is a .gguf or an artifact folder (its tokenizer.gguf).
/// </summary>
internal static class TokenizeCommand
{
    public static Command CreateTokenize(CliIO io)
    {
        var model = new Argument<string>("MODEL") { Description = "A .gguf file or an artifact folder written by convert." };
        var text = new Argument<string>("TEXT") { Description = "Text to tokenize." };
        var special = new Option<bool>("--special") { Description = "Match special/control token texts (<|im_start|>, <s>…) in TEXT as single tokens (llama.cpp parse_special)." };
        var noBos = new Option<bool>("--no-bos") { Description = "Do not add BOS (nor the EOS or [SEP] some vocabularies append), whatever tokenizer.ggml.add_bos_token says." };
        var json = new Option<bool>("--json") { Description = "Print the ids as a JSON array." };
        var cmd = new Command("tokenize", "Print the token ids of TEXT (space-separated; BOS added when the GGUF asks for it).") { model, text, special, noBos, json };
        cmd.SetAction(p =>
        {
            using var file = OpenTokenizerGguf(p.GetValue(model)!);
            var tokenizer = GgufTokenizer.Create(file);
            int[] ids = p.GetValue(noBos)
                ? tokenizer.Encode(p.GetValue(text)!, addBos: false, p.GetValue(special))
                : tokenizer.EncodeWithSpecialTokens(p.GetValue(text)!, p.GetValue(special));

            io.Out.WriteLine(p.GetValue(json)
                ? new JsonArray(ids.Select(i => (JsonNode)i).ToArray()).ToJsonString()
                : string.Join(' ', ids.Select(i => i.ToString(CultureInfo.InvariantCulture))));
            return GgufCli.Success;
        });
        return cmd;
    }

    public static Command CreateDetokenize(CliIO io)
    {
        var model = new Argument<string>("MODEL") { Description = "A .gguf file or an artifact folder written by convert." };
        var ids = new Argument<string[]>("IDS") { Description = "Token ids, separated by commas or spaces (one or several arguments; a JSON array works too).", Arity = ArgumentArity.OneOrMore };
        var special = new Option<bool>("--special") { Description = "Write special/control tokens as their text instead of nothing (llama.cpp unparse_special)." };
        var json = new Option<bool>("--json") { Description = "Print {\"ids\":[…],\"text\":\"…\"}." };
        var cmd = new Command("detokenize", "Print the text of token ids.") { model, ids, special, json };
        cmd.SetAction(p =>
        {
            using var file = OpenTokenizerGguf(p.GetValue(model)!);
            var tokenizer = GgufTokenizer.Create(file);
            var parsed = ParseIds(p.GetValue(ids)!, tokenizer.VocabSize);
            var text = tokenizer.Decode(parsed, p.GetValue(special));
            io.Out.WriteLine(p.GetValue(json)
                ? new System.Text.Json.Nodes.JsonObject { ["ids"] = new System.Text.Json.Nodes.JsonArray(parsed.Select(i => (System.Text.Json.Nodes.JsonNode)i).ToArray()), ["text"] = text }.ToJsonString()
                : text);
            return GgufCli.Success;
        });
        return cmd;
    }

    /// <summary>
    /// The GGUF holding the tokenizer: MODEL itself when it is a file, its <see cref="TokenizerArtifact.FileName"/>
    /// when it is an artifact folder.
    /// </summary>
    /// <exception cref="FileNotFoundException">Neither exists.</exception>
    /// <exception cref="CliException">MODEL is a folder that is not an artifact folder (exit code 2).</exception>
    internal static GgufFile OpenTokenizerGguf(string model)
    {
        if (Directory.Exists(model))
        {
            var path = Path.Combine(model, TokenizerArtifact.FileName);
            if (!File.Exists(path) && !File.Exists(Path.Combine(model, Targets.GenAiConfig.FileName)))
            {
                ArtifactFolder.Require(model);
            }

            if (!File.Exists(path))
            {
                throw new FileNotFoundException($"The artifact folder {model} has no {TokenizerArtifact.FileName}; convert the .gguf again (or pass the .gguf).", path);
            }

            return GgufFile.Open(path);
        }

        if (!File.Exists(model))
        {
            throw new FileNotFoundException($"No such file or folder: {model}", model);
        }

        return GgufFile.Open(model);
    }

    /// <summary>Ids from arguments such as "1,2,3", "1 2 3", "[1, 2, 3]"; each must be in [0, vocabSize).</summary>
    /// <exception cref="CliException">A token that is not an integer, or an id outside the vocabulary (exit code 2).</exception>
    internal static int[] ParseIds(IEnumerable<string> args, int vocabSize)
    {
        var result = new List<int>();
        foreach (var arg in args)
        {
            foreach (var part in arg.Split([',', ' ', '\t', '\n', '\r', '[', ']'], StringSplitOptions.RemoveEmptyEntries))
            {
                if (!int.TryParse(part, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int id))
                {
                    throw new CliException($"'{part}' is not a token id.", GgufCli.BadInput);
                }

                if (id < 0 || id >= vocabSize)
                {
                    throw new CliException($"Token id {id} is outside the vocabulary (0..{vocabSize - 1}).", GgufCli.BadInput);
                }

                result.Add(id);
            }
        }

        return result.Count > 0 ? result.ToArray() : throw new CliException("No token ids given.", GgufCli.BadInput);
    }
}
