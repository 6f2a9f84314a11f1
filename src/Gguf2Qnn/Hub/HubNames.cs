using System.Text.RegularExpressions;

namespace Gguf2Qnn.Hub;

/// <summary>
/// Checks on the names that become paths on disk — repository ids, revisions and file names from the Hub's listing — and
/// the Hugging Face cache's folder name for a repository. A name that could leave its folder (<c>..</c>, an absolute
/// path, a backslash, a drive letter or other <c>:</c>, control characters) is refused with an <see cref="ArgumentException"/>.
/// </summary>
public static partial class HubNames
{
    /// <summary>The longest repository name segment the Hub accepts (96 characters).</summary>
    public const int MaxRepoSegmentLength = 96;

    /// <summary>The longest file path or revision accepted here (1,024 characters).</summary>
    public const int MaxPathLength = 1024;

    /// <summary>
    /// Checks a model repository id: <c>NAME</c> or <c>OWNER/NAME</c>, each part of letters, digits, <c>_</c>, <c>-</c> and
    /// <c>.</c>, starting and ending with a letter, digit or <c>_</c>, at most 96 characters, without <c>--</c> or <c>..</c>
    /// (the Hub's own rules; <c>--</c> is the cache's separator).
    /// </summary>
    /// <exception cref="ArgumentException">The id breaks one of these rules.</exception>
    public static void ValidateRepoId(string repoId)
    {
        ArgumentNullException.ThrowIfNull(repoId);
        var parts = repoId.Split('/');
        bool ok = parts.Length is 1 or 2 && parts.All(p => p.Length <= MaxRepoSegmentLength && RepoSegment().IsMatch(p))
            && !repoId.Contains("--", StringComparison.Ordinal) && !repoId.Contains("..", StringComparison.Ordinal);
        if (!ok)
        {
            throw new ArgumentException($"'{Printable(repoId)}' is not a Hugging Face model id: expected OWNER/NAME (letters, digits, '_', '-', '.'; no '--' or '..').", nameof(repoId));
        }
    }

    /// <summary>
    /// Checks a path inside a repository (a file name from the listing or from <c>REPO:FILE</c>): relative, <c>/</c>-separated,
    /// no empty, <c>.</c> or <c>..</c> segment, no backslash, no <c>:</c> (drive letters, alternate streams), no control character.
    /// </summary>
    /// <exception cref="ArgumentException">The path could escape the folder it is written to.</exception>
    public static void ValidateRelativePath(string path, string what = "file name")
    {
        ArgumentNullException.ThrowIfNull(path);
        string? why = path.Length == 0 ? "it is empty"
            : path.Length > MaxPathLength ? $"it is longer than {MaxPathLength} characters"
            : path.Contains('\\', StringComparison.Ordinal) ? "it contains a backslash"
            : path.Contains(':', StringComparison.Ordinal) ? "it contains ':' (a drive letter or stream name)"
            : path.StartsWith('/') ? "it is an absolute path"
            : path.Any(c => char.IsControl(c)) ? "it contains a control character"
            : path.Split('/').Any(s => s is "" or "." or "..") ? "it has an empty, '.' or '..' segment"
            : null;
        if (why is not null)
        {
            throw new ArgumentException($"Refusing {what} '{Printable(path)}': {why}, so it could land outside the target folder.");
        }
    }

    /// <summary>Checks a revision (branch, tag, commit or <c>refs/pr/N</c>); it names folders in the cache, so the rules of <see cref="ValidateRelativePath"/> apply.</summary>
    /// <exception cref="ArgumentException">The revision could escape the cache folder.</exception>
    public static void ValidateRevision(string revision) => ValidateRelativePath(revision, "revision");

    /// <summary>The cache folder name of a model repository: <c>models--OWNER--NAME</c> (huggingface_hub's <c>repo_folder_name</c>).</summary>
    /// <exception cref="ArgumentException">The id is not valid (<see cref="ValidateRepoId"/>).</exception>
    public static string RepoFolderName(string repoId)
    {
        ValidateRepoId(repoId);
        return "models--" + repoId.Replace("/", "--", StringComparison.Ordinal);
    }

    /// <summary>
    /// Splits <c>REPO[:FILE|:QUANT]</c> at its first <c>:</c> and checks the repository id (and a file name, when the part
    /// after the colon ends in <c>.gguf</c>).
    /// </summary>
    /// <returns>The repository id and the selector (null when absent or empty).</returns>
    /// <exception cref="ArgumentException">A bad repository id or file name.</exception>
    public static (string RepoId, string? Selector) ParseReference(string reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        int colon = reference.IndexOf(':', StringComparison.Ordinal);
        var repo = colon < 0 ? reference : reference[..colon];
        var selector = colon < 0 ? null : reference[(colon + 1)..];
        ValidateRepoId(repo);
        if (string.IsNullOrEmpty(selector))
        {
            return (repo, null);
        }

        ValidateRelativePath(selector);
        return (repo, selector);
    }

    /// <summary>True when <paramref name="text"/> is exactly <paramref name="length"/> lowercase or uppercase hex digits.</summary>
    internal static bool IsHex(string? text, int length) => text is not null && text.Length == length && text.All(char.IsAsciiHexDigit);

    private static string Printable(string s) => new(s.Select(c => char.IsControl(c) ? '?' : c).ToArray());

    [GeneratedRegex(@"^[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?$", RegexOptions.CultureInvariant)]
    private static partial Regex RepoSegment();
}
