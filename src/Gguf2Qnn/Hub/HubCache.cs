namespace Gguf2Qnn.Hub;

/// <summary>
/// The Hugging Face hub cache layout (as huggingface_hub writes it, so both tools share files):
/// <c>ROOT/models--OWNER--NAME/blobs/&lt;sha256&gt;</c> (an LFS file's content under its SHA-256; a plain git file under its
/// git blob SHA-1), <c>blobs/&lt;id&gt;.incomplete</c> while downloading, <c>snapshots/&lt;commit&gt;/&lt;path&gt;</c> a
/// relative symbolic link to the blob (a copy where links cannot be made), and <c>refs/&lt;revision&gt;</c> holding the
/// commit a branch or tag pointed to. All names are checked with <see cref="HubNames"/>.
/// </summary>
/// <param name="root">The cache root (<see cref="HubOptions.CacheDirectory"/>).</param>
public sealed class HubCache(string root)
{
    /// <summary>The cache root.</summary>
    public string Root { get; } = Path.GetFullPath(root);

    /// <summary><c>ROOT/models--OWNER--NAME</c>.</summary>
    public string RepoFolder(string repoId) => Path.Combine(Root, HubNames.RepoFolderName(repoId));

    /// <summary><c>…/blobs/&lt;blobId&gt;</c>; the id must be a hex digest.</summary>
    /// <exception cref="ArgumentException">The id is not 40 or 64 hex digits.</exception>
    public string BlobPath(string repoId, string blobId)
    {
        if (!HubNames.IsHex(blobId, 64) && !HubNames.IsHex(blobId, 40))
        {
            throw new ArgumentException($"'{blobId}' is not a SHA-256 or SHA-1 hex digest.", nameof(blobId));
        }

        return Path.Combine(RepoFolder(repoId), "blobs", blobId.ToLowerInvariant());
    }

    /// <summary><c>…/blobs/&lt;blobId&gt;.incomplete</c>: a download in progress, resumed from its length.</summary>
    public string IncompletePath(string repoId, string blobId) => BlobPath(repoId, blobId) + ".incomplete";

    /// <summary><c>…/snapshots/&lt;commit&gt;/&lt;file&gt;</c>.</summary>
    /// <exception cref="ArgumentException">The commit (or revision) or file name could escape the folder.</exception>
    public string SnapshotPath(string repoId, string commit, string file)
    {
        HubNames.ValidateRevision(commit);
        HubNames.ValidateRelativePath(file);
        return Path.Combine([RepoFolder(repoId), "snapshots", .. commit.Split('/'), .. file.Split('/')]);
    }

    /// <summary>Records <c>refs/&lt;revision&gt;</c> = commit (nothing when the revision is the commit itself).</summary>
    public void WriteRef(string repoId, string revision, string commit)
    {
        HubNames.ValidateRevision(revision);
        if (revision == commit)
        {
            return;
        }

        var path = Path.Combine([RepoFolder(repoId), "refs", .. revision.Split('/')]);
        if (File.Exists(path) && File.ReadAllText(path) == commit)
        {
            return;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var tmp = path + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        File.WriteAllText(tmp, commit);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>The commit <c>refs/&lt;revision&gt;</c> records, or null.</summary>
    public string? ReadRef(string repoId, string revision)
    {
        HubNames.ValidateRevision(revision);
        var path = Path.Combine([RepoFolder(repoId), "refs", .. revision.Split('/')]);
        return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
    }

    /// <summary>
    /// Points <paramref name="snapshotPath"/> at <paramref name="blobPath"/>: a relative symbolic link, or a copy where the
    /// file system refuses links. Made under a temporary name and renamed into place.
    /// </summary>
    public static void LinkOrCopy(string blobPath, string snapshotPath)
    {
        var dir = Path.GetDirectoryName(snapshotPath)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, "." + Path.GetFileName(snapshotPath) + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp");
        try
        {
            File.CreateSymbolicLink(tmp, Path.GetRelativePath(dir, blobPath));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            File.Copy(blobPath, tmp, overwrite: true);
        }

        File.Move(tmp, snapshotPath, overwrite: true);
    }

    /// <summary>Copies <paramref name="source"/> to <paramref name="destination"/> through a temporary file renamed into place.</summary>
    public static void CopyInto(string source, string destination)
    {
        var dir = Path.GetDirectoryName(destination)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, "." + Path.GetFileName(destination) + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp");
        try
        {
            File.Copy(source, tmp, overwrite: true);
            File.Move(tmp, destination, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }
}
