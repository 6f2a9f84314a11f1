using System.CommandLine;
using Gguf2Qnn.Artifacts;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Runtime;
using Gguf2Qnn.Tokenization;
using Gguf2Qnn.Tokenization.ChatTemplates;

namespace Gguf2Qnn.Cli;

/// <summary>
/// <c>gguf2qnn chat MODEL [--system TEXT] [--show-prompt] [-n N] [sampling flags]</c>: an interactive multi-turn chat.
/// Each line read from standard input is a user message; the whole conversation is rendered with the model's own
/// template (<c>tokenizer.chat_template</c>, <c>add_generation_prompt</c>), tokenized with special tokens parsed,
/// and the reply is streamed to standard output as it is generated, up to an end-of-generation token. Prompts
/// ("&gt; ") and notices go to standard error. Commands: <c>/reset</c> clears the conversation, <c>/exit</c> or
/// <c>/quit</c> (or end of input) ends it. Each turn prefills the whole conversation again (no KV cache reuse across turns).
/// </summary>
internal static class ChatCommand
{
    public static Command Create(CliIO io)
    {
        var model = new Argument<string>("MODEL") { Description = "A .gguf file (converted into a cache folder on first use) or an artifact folder written by convert." };
        var system = new Option<string?>("--system") { Description = "A system message that opens the conversation." };
        var showPrompt = new Option<bool>("--show-prompt") { Description = "Print each rendered prompt (the template's output) to standard error." };
        var generation = new GenerationCliOptions(defaultMaxNewTokens: 256);
        var cmd = new Command("chat", "Chat with a model, using its own chat template. One line per message; /reset starts over, /exit ends.") { model, system, showPrompt };
        generation.AddTo(cmd);
        cmd.SetAction(p =>
        {
            var options = generation.Read(p);
            var path = p.GetValue(model)!;
            RequireTemplate(path);
            return Run(io, RunCommand.ResolveArtifacts(io, path), options, p.GetValue(system), p.GetValue(showPrompt));
        });
        return cmd;
    }

    /// <summary>Fails early (exit code 2), before any conversion, when MODEL has no chat template.</summary>
    internal static void RequireTemplate(string model)
    {
        using var file = TokenizeCommand.OpenTokenizerGguf(model);
        if (!file.TryGetString(GgufKeys.ChatTemplate, out _))
        {
            throw NoTemplate(model);
        }
    }

    internal static CliException NoTemplate(string model) => new(
        $"{model} has no chat template (GGUF key {GgufKeys.ChatTemplate}); chat needs one. Use 'gguf2qnn run --prompt TEXT' for plain text completion.",
        GgufCli.BadInput);

    private static int Run(CliIO io, string artifactDir, GenerationOptions options, string? system, bool showPrompt)
    {
        using var tokFile = GgufFile.Open(Path.Combine(artifactDir, TokenizerArtifact.FileName));
        var template = ChatTemplate.FromGguf(tokFile) ?? throw NoTemplate(artifactDir);
        var tokenizer = GgufTokenizer.Create(tokFile);
        using var lm = OnnxCausalLm.Open(artifactDir, io.RuntimeOptions());
        io.NoteKernels(lm);
        var opts = options with { StopTokens = options.StopTokens.Count > 0 ? options.StopTokens : tokenizer.EndOfGenerationTokens };
        var messages = new List<ChatMessage>();
        if (system is not null)
        {
            messages.Add(ChatMessage.System(system));
        }

        io.Err.WriteLine("Chat: one line per message; /reset starts over, /exit ends.");
        while (true)
        {
            io.Err.Write("> ");
            io.Err.Flush();
            var line = io.Input.ReadLine();
            if (line is null)
            {
                io.Err.WriteLine();
                break;
            }

            var text = line.Trim();
            if (text.Length == 0)
            {
                continue;
            }

            if (text is "/exit" or "/quit")
            {
                break;
            }

            if (text == "/reset")
            {
                messages.RemoveAll(m => m.Role != "system");
                io.Err.WriteLine("(conversation cleared)");
                continue;
            }

            messages.Add(ChatMessage.User(text));
            var prompt = ChatPrompt.Render(template, tokenizer, messages, addGenerationPrompt: true);
            if (showPrompt)
            {
                io.Err.WriteLine("--- prompt ---");
                io.Err.Write(prompt);
                io.Err.WriteLine(prompt.EndsWith('\n') ? "--- end of prompt ---" : "\n--- end of prompt ---");
            }

            var ids = ChatPrompt.Encode(tokenizer, prompt);
            if (ids.Length >= lm.ContextLength)
            {
                messages.RemoveAt(messages.Count - 1);
                io.Err.WriteLine($"The conversation ({ids.Length} tokens) no longer fits the model's context of {lm.ContextLength} tokens; /reset to start over.");
                continue;
            }

            var reply = StreamReply(io, lm, tokenizer, ids, opts with { MaxNewTokens = Math.Min(opts.MaxNewTokens, lm.ContextLength - ids.Length) });
            messages.Add(ChatMessage.Assistant(reply));
        }

        return GgufCli.Success;
    }

    /// <summary>Generates after <paramref name="promptIds"/>, writing each piece as soon as it is complete UTF-8; returns the reply text.</summary>
    private static string StreamReply(CliIO io, OnnxCausalLm lm, GgufTokenizer tokenizer, int[] promptIds, GenerationOptions options)
    {
        var stream = tokenizer.CreateStreamDecoder();
        var reply = new System.Text.StringBuilder();
        foreach (var id in lm.Generate(promptIds, options))
        {
            var piece = stream.Append(id);
            reply.Append(piece);
            io.Out.Write(piece);
            io.Out.Flush();
        }

        var tail = stream.Flush();
        reply.Append(tail);
        io.Out.WriteLine(tail);
        io.Out.Flush();
        return reply.ToString();
    }
}
