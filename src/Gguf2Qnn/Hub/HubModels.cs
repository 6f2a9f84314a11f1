namespace Gguf2Qnn.Hub;

/// <summary>A file in a repository listing.</summary>
/// <param name="Path">Path in the repository, <c>/</c>-separated, as the Hub lists it (not yet checked: see <see cref="HubNames.ValidateRelativePath"/>).</param>
/// <param name="Size">Size in bytes (the LFS object's size for LFS files), or null when the listing did not say.</param>
/// <param name="Sha256">The LFS object id (the content's SHA-256, lowercase hex) for LFS files, else null.</param>
/// <param name="GitBlobId">The git blob id (SHA-1 of <c>"blob {size}\0"</c> + content) for files stored in git itself, else null.</param>
public sealed record HubRepoFile(string Path, long? Size, string? Sha256, string? GitBlobId);

/// <summary>A repository's files at a revision.</summary>
/// <param name="RepoId">The repository id.</param>
/// <param name="Revision">The revision asked for (branch, tag or commit).</param>
/// <param name="Commit">The commit the revision resolved to (the Hub's <c>sha</c>), or null when the Hub did not say.</param>
/// <param name="Files">Every file, in listing order.</param>
public sealed record HubRepoListing(string RepoId, string Revision, string? Commit, IReadOnlyList<HubRepoFile> Files);

/// <summary>What <c>HEAD {endpoint}/{repo}/resolve/{revision}/{file}</c> tells about a file.</summary>
/// <param name="Commit">The <c>X-Repo-Commit</c> header, or null.</param>
/// <param name="ETag">The <c>X-Linked-Etag</c> header, else <c>ETag</c>, without quotes or <c>W/</c>: an LFS file's SHA-256 or a git file's blob SHA-1.</param>
/// <param name="Size">The <c>X-Linked-Size</c> header, else <c>Content-Length</c>, or null.</param>
public sealed record HubFileMetadata(string? Commit, string? ETag, long? Size);

/// <summary>Download progress of one file.</summary>
/// <param name="File">The file's path in the repository.</param>
/// <param name="BytesDone">Bytes on disk so far (resumed bytes included).</param>
/// <param name="BytesTotal">The file's size, or null when unknown.</param>
public sealed record HubTransferProgress(string File, long BytesDone, long? BytesTotal);

/// <summary>A pulled file.</summary>
/// <param name="Name">Its path in the repository.</param>
/// <param name="Path">Where it landed: under the output folder when one was given, else its cache snapshot path.</param>
/// <param name="Sha256">SHA-256 of its content, lowercase hex.</param>
/// <param name="Bytes">Its size in bytes.</param>
/// <param name="BlobPath">The cache blob holding its content.</param>
/// <param name="Downloaded">False when the blob was already in the cache.</param>
public sealed record HubPulledFile(string Name, string Path, string Sha256, long Bytes, string BlobPath, bool Downloaded);

/// <summary>The result of <see cref="HubClient.PullAsync"/>.</summary>
/// <param name="RepoId">The repository id.</param>
/// <param name="Revision">The revision asked for.</param>
/// <param name="Commit">The commit pulled, or null when the Hub did not say.</param>
/// <param name="Files">The pulled files (all parts of a split model, in order).</param>
public sealed record HubPullResult(string RepoId, string Revision, string? Commit, IReadOnlyList<HubPulledFile> Files);
