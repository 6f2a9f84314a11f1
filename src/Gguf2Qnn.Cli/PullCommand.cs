using System.CommandLine;
using System.Text.Json.Nodes;
using Gguf2Qnn.Hub;

namespace Gguf2Qnn.Cli;

/// <summary>
/// <c>gguf2qnn pull REPO[:FILE|:QUANT] [-o DIR] [--revision REV] [--json]</c>: downloads a GGUF model (all parts of a
/// split one) from the Hugging Face Hub into the Hugging Face cache, checked against the Hub's SHA-256, resuming an
/// interrupted download; prints where each file landed (one path a line). Honours <c>HF_ENDPOINT</c>, <c>HF_TOKEN</c>,
/// <c>HF_HUB_CACHE</c> and <c>HF_HOME</c> (<see cref="HubOptions.FromEnvironment"/>).
/// </summary>
/// <remarks>
/// <c>--json</c> (stable): <c>{"repo", "revision", "commit" (null when the Hub gave none), "files": [{"name" (path in the
/// repository), "path" (on disk), "sha256", "bytes", "downloaded" (false: already cached)}]}</c>. Exit codes: 2 for a bad
/// name, no or several matching models, or a repository/revision/file the Hub does not have or will not give without a
/// token; 1 for a hash mismatch or a failed transfer. Progress follows <see cref="CliProgress"/>: byte bars with speed and
/// ETA on a terminal, one line per file when stderr is redirected, nothing with <c>--json</c>.
/// </remarks>
internal static class PullCommand
{
    /// <summary>Tests point the command at a local server and cache through this (null: the process environment).</summary>
    internal static readonly AsyncLocal<Func<string, string?>?> EnvironmentOverride = new();

    public static Command Create(CliIO io)
    {
        var reference = new Argument<string>("REPO") { Description = "OWNER/NAME, OWNER/NAME:FILE.gguf or OWNER/NAME:QUANT (e.g. Q4_0, q4_k_m; case-insensitive)." };
        var output = new Option<string?>("--output", "-o") { Description = "Also place the file(s) in this folder (the cache keeps its copy)." };
        var revision = new Option<string>("--revision") { Description = "Branch, tag or commit.", DefaultValueFactory = _ => HubOptions.DefaultRevision };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of paths." };
        var cmd = new Command("pull", "Download a GGUF model from the Hugging Face Hub (HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE honoured).") { reference, output, revision, json };
        cmd.SetAction(p => Run(io, p.GetValue(reference)!, p.GetValue(output), p.GetValue(revision)!, p.GetValue(json)));
        return cmd;
    }

    private static int Run(CliIO io, string reference, string? output, string revision, bool json)
    {
        var (repo, selector) = HubNames.ParseReference(reference);
        HubNames.ValidateRevision(revision);
        var options = HubOptions.FromEnvironment(EnvironmentOverride.Value);
        using var client = new HubClient(options);
        HubPullResult result;
        try
        {
            result = CliProgress.Run(io, "pull", json, p =>
            {
                string? current = null;
                var progress = new SyncProgress<HubTransferProgress>(t =>
                {
                    if (t.File != current)
                    {
                        current = t.File;
                        p.Stage(t.File, t.BytesTotal ?? 0);
                    }

                    p.Report(t.BytesDone);
                });
                return client.PullAsync(repo, selector, revision, output, progress).GetAwaiter().GetResult();
            }, CliProgress.Unit.Bytes);
        }
        catch (HubRequestException e) when (e.IsNotFoundOrDenied)
        {
            throw new CliException(e.Message, GgufCli.BadInput);
        }

        if (json)
        {
            var files = new JsonArray();
            foreach (var f in result.Files)
            {
                files.Add(new JsonObject { ["name"] = f.Name, ["path"] = f.Path, ["sha256"] = f.Sha256, ["bytes"] = f.Bytes, ["downloaded"] = f.Downloaded });
            }

            io.Out.WriteLine(new JsonObject { ["repo"] = result.RepoId, ["revision"] = result.Revision, ["commit"] = result.Commit, ["files"] = files }.ToJsonString());
        }
        else
        {
            foreach (var f in result.Files)
            {
                io.Err.WriteLine($"pull: {f.Name}: {f.Bytes:N0} bytes, sha256 {f.Sha256}{(f.Downloaded ? string.Empty : " (already in the cache)")}");
                io.Out.WriteLine(f.Path);
            }
        }

        return GgufCli.Success;
    }
}
