using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Gguf2Qnn.Hub;

/// <summary>
/// Lists and downloads files of Hugging Face model repositories over HTTP, into the shared Hugging Face cache
/// (<see cref="HubCache"/>). Endpoints (huggingface_hub's): <c>GET {endpoint}/api/models/{repo}/revision/{rev}</c> (commit
/// <c>sha</c>, <c>siblings[].rfilename</c>), <c>GET {endpoint}/api/models/{repo}/tree/{rev}?recursive=true</c> (paged by
/// <c>Link: rel="next"</c>; per file <c>size</c>, git <c>oid</c> and <c>lfs.oid</c> = SHA-256), and
/// <c>{endpoint}/{repo}/resolve/{rev}/{file}</c> (HEAD: <c>X-Repo-Commit</c>, <c>X-Linked-Etag</c>/<c>ETag</c>,
/// <c>X-Linked-Size</c>; GET: the content, usually through a redirect to a CDN, with <c>Range</c> support).
/// </summary>
/// <remarks>
/// Downloads go to <c>blobs/&lt;id&gt;.incomplete</c>, resume from its length with <c>Range: bytes=N-</c> (a 200 answer
/// restarts from zero), are hashed while streaming, and are renamed to the blob only when size and digest match the Hub's;
/// otherwise the partial file is deleted and <see cref="HubIntegrityException"/> thrown. The token goes only to requests
/// on the endpoint's origin, never to a CDN the Hub redirects to. No lock is taken: two pulls of one file at once are not
/// supported.
/// </remarks>
public sealed class HubClient : IDisposable
{
    private const int MaxRedirects = 10;
    private const int BufferSize = 1 << 20;
    private readonly HttpClient http;
    private readonly Uri endpoint;

    /// <summary>Creates a client (it owns its <see cref="HttpClient"/>; dispose it).</summary>
    /// <exception cref="ArgumentException">Invalid <paramref name="options"/> (<see cref="HubOptions.Validate"/>).</exception>
    public HubClient(HubOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        endpoint = new Uri(options.EndpointBase + "/");
        Cache = new HubCache(options.CacheDirectory);
        http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, AutomaticDecompression = DecompressionMethods.None })
        {
            Timeout = System.Threading.Timeout.InfiniteTimeSpan,
        };
        http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("gguf2qnn", typeof(HubClient).Assembly.GetName().Version?.ToString(3) ?? "0"));
    }

    /// <summary>The options this client was made with.</summary>
    public HubOptions Options { get; }

    /// <summary>The cache files are stored in.</summary>
    public HubCache Cache { get; }

    /// <inheritdoc/>
    public void Dispose() => http.Dispose();

    /// <summary>
    /// Lists a repository's files at <paramref name="revision"/>: the revision endpoint gives the commit and names, the tree
    /// endpoint (at that commit) sizes and hashes. A Hub without a working tree endpoint leaves sizes and hashes null.
    /// </summary>
    /// <exception cref="ArgumentException">Bad repository id or revision.</exception>
    /// <exception cref="HubRequestException">The Hub answered with an error (404: no such repository or revision, or private without a token).</exception>
    public async Task<HubRepoListing> ListFilesAsync(string repoId, string revision = HubOptions.DefaultRevision, CancellationToken cancellationToken = default)
    {
        HubNames.ValidateRepoId(repoId);
        HubNames.ValidateRevision(revision);
        using var info = await GetJsonAsync($"api/models/{repoId}/revision/{Uri.EscapeDataString(revision)}", cancellationToken).ConfigureAwait(false);
        var root = info.RootElement;
        string? commit = root.TryGetProperty("sha", out var sha) && sha.ValueKind == JsonValueKind.String ? sha.GetString() : null;
        var names = new List<string>();
        if (root.TryGetProperty("siblings", out var siblings) && siblings.ValueKind == JsonValueKind.Array)
        {
            foreach (var s in siblings.EnumerateArray())
            {
                if (s.TryGetProperty("rfilename", out var n) && n.ValueKind == JsonValueKind.String)
                {
                    names.Add(n.GetString()!);
                }
            }
        }

        Dictionary<string, HubRepoFile> tree;
        try
        {
            tree = await GetTreeAsync(repoId, commit ?? revision, cancellationToken).ConfigureAwait(false);
        }
        catch (HubRequestException e) when (e.StatusCode is not null)
        {
            tree = [];
        }

        if (names.Count == 0)
        {
            names.AddRange(tree.Keys);
        }

        var files = names.Select(n => tree.TryGetValue(n, out var f) ? f : new HubRepoFile(n, null, null, null)).ToArray();
        return new HubRepoListing(repoId, revision, commit, files);
    }

    /// <summary>Reads a file's commit, ETag and size with <c>HEAD {endpoint}/{repo}/resolve/{revision}/{file}</c> (same-origin redirects followed, a CDN redirect not).</summary>
    /// <exception cref="ArgumentException">Bad repository id, revision or file name.</exception>
    /// <exception cref="HubRequestException">The Hub answered with an error.</exception>
    public async Task<HubFileMetadata> GetFileMetadataAsync(string repoId, string revision, string file, CancellationToken cancellationToken = default)
    {
        var url = ResolveUrl(repoId, revision, file);
        using var resp = await SendAsync(HttpMethod.Head, url, rangeFrom: 0, followCrossOrigin: false, cancellationToken).ConfigureAwait(false);
        if ((int)resp.StatusCode >= 400)
        {
            throw StatusError(resp, "HEAD", url);
        }

        string? Header(string name) => resp.Headers.TryGetValues(name, out var v) ? v.FirstOrDefault() : null;
        var etag = NormalizeETag(Header("X-Linked-Etag") ?? Header("ETag"));
        var sizeText = Header("X-Linked-Size");
        long? size = sizeText is not null && long.TryParse(sizeText, NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : resp.Content.Headers.ContentLength;
        return new HubFileMetadata(Header("X-Repo-Commit"), etag, size);
    }

    /// <summary>
    /// Pulls the .gguf file(s) that <paramref name="selector"/> names (<see cref="HubFileSelector"/>) into the cache, checks
    /// each against the Hub's SHA-256 (LFS) or git blob SHA-1, links <c>snapshots/&lt;commit&gt;/&lt;file&gt;</c> to the blob,
    /// records <c>refs/&lt;revision&gt;</c>, and copies the files under <paramref name="outputDirectory"/> when given. Blobs
    /// already in the cache with the expected size are not downloaded again.
    /// </summary>
    /// <param name="repoId"><c>OWNER/NAME</c>.</param>
    /// <param name="selector">A file name, a quant tag, or null for the only model.</param>
    /// <param name="revision">Branch, tag or commit.</param>
    /// <param name="outputDirectory">A folder to place the files in too (under their repository paths), or null.</param>
    /// <param name="progress">Receives download progress (on the downloading thread).</param>
    /// <param name="cancellationToken">Stops the pull; the partial file stays for a later resume.</param>
    /// <exception cref="ArgumentException">Bad repository id, revision, selector or listed file name (one that could leave its folder).</exception>
    /// <exception cref="HubSelectionException">The selector matches no model or several.</exception>
    /// <exception cref="HubIntegrityException">Downloaded data differs from the Hub's hash or size (nothing is left under the final name).</exception>
    /// <exception cref="HubRequestException">The Hub answered with an error or the connection failed too often.</exception>
    public async Task<HubPullResult> PullAsync(string repoId, string? selector, string revision = HubOptions.DefaultRevision, string? outputDirectory = null, IProgress<HubTransferProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        HubNames.ValidateRepoId(repoId);
        HubNames.ValidateRevision(revision);
        if (!string.IsNullOrEmpty(selector))
        {
            HubNames.ValidateRelativePath(selector);
        }

        var listing = await ListFilesAsync(repoId, revision, cancellationToken).ConfigureAwait(false);
        var picked = HubFileSelector.Select(listing.Files.Select(f => f.Path).ToArray(), selector);
        foreach (var name in picked)
        {
            HubNames.ValidateRelativePath(name, "file name listed by the Hub");
        }

        var snapshot = listing.Commit ?? revision;
        HubNames.ValidateRevision(snapshot);
        var blobs = new List<(string Name, string Blob, string Sha256, long Bytes, bool Downloaded)>();
        foreach (var name in picked)
        {
            var entry = listing.Files.First(f => f.Path == name);
            blobs.Add(await FetchBlobAsync(repoId, snapshot, entry, progress, cancellationToken).ConfigureAwait(false));
        }

        if (listing.Commit is not null)
        {
            Cache.WriteRef(repoId, revision, listing.Commit);
        }

        var result = new List<HubPulledFile>();
        foreach (var (name, blob, sha256, bytes, downloaded) in blobs)
        {
            var snapshotPath = Cache.SnapshotPath(repoId, snapshot, name);
            HubCache.LinkOrCopy(blob, snapshotPath);
            var path = snapshotPath;
            if (outputDirectory is not null)
            {
                path = Path.Combine([Path.GetFullPath(outputDirectory), .. name.Split('/')]);
                HubCache.CopyInto(blob, path);
            }

            result.Add(new HubPulledFile(name, path, sha256, bytes, blob, downloaded));
        }

        return new HubPullResult(repoId, revision, listing.Commit, result);
    }

    /// <summary>The ETag without <c>W/</c> and quotes, or null.</summary>
    internal static string? NormalizeETag(string? etag)
    {
        if (string.IsNullOrWhiteSpace(etag))
        {
            return null;
        }

        var e = etag.Trim();
        if (e.StartsWith("W/", StringComparison.OrdinalIgnoreCase))
        {
            e = e[2..];
        }

        return e.Trim('"');
    }

    private async Task<(string Name, string Blob, string Sha256, long Bytes, bool Downloaded)> FetchBlobAsync(string repoId, string revision, HubRepoFile entry, IProgress<HubTransferProgress>? progress, CancellationToken ct)
    {
        var (kind, digest, size) = (DigestKind.None, (string?)null, entry.Size);
        if (HubNames.IsHex(entry.Sha256, 64))
        {
            (kind, digest) = (DigestKind.Sha256, entry.Sha256);
        }
        else if (entry.Sha256 is null && HubNames.IsHex(entry.GitBlobId, 40))
        {
            (kind, digest) = (DigestKind.GitSha1, entry.GitBlobId);
        }
        else
        {
            var meta = await GetFileMetadataAsync(repoId, revision, entry.Path, ct).ConfigureAwait(false);
            size ??= meta.Size;
            (kind, digest) = HubNames.IsHex(meta.ETag, 64) ? (DigestKind.Sha256, meta.ETag)
                : HubNames.IsHex(meta.ETag, 40) ? (DigestKind.GitSha1, meta.ETag)
                : throw new HubIntegrityException($"{repoId}/{entry.Path}: the Hub gives no SHA-256 (LFS oid) or git blob id for the file (ETag '{meta.ETag}'), so its download cannot be checked.");
        }

        digest = digest!.ToLowerInvariant();
        if (kind == DigestKind.GitSha1 && size is null)
        {
            throw new HubIntegrityException($"{repoId}/{entry.Path}: the Hub gives no size for a file checked by its git blob id.");
        }

        var blob = Cache.BlobPath(repoId, digest);
        if (File.Exists(blob) && (size is null || new FileInfo(blob).Length == size))
        {
            var sha256 = kind == DigestKind.Sha256 ? digest : await Sha256OfFileAsync(blob, ct).ConfigureAwait(false);
            return (entry.Path, blob, sha256, new FileInfo(blob).Length, false);
        }

        var url = ResolveUrl(repoId, revision, entry.Path);
        var (got, bytes) = await DownloadAsync(url, Cache.IncompletePath(repoId, digest), blob, entry.Path, kind, digest, size, progress, ct).ConfigureAwait(false);
        return (entry.Path, blob, got, bytes, true);
    }

    private async Task<(string Sha256, long Bytes)> DownloadAsync(string url, string incomplete, string blob, string name, DigestKind kind, string digest, long? size, IProgress<HubTransferProgress>? progress, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(incomplete)!);
        using var hash = new BlobHash(kind, size ?? 0);
        long have;
        var buffer = new byte[BufferSize];
        var file = new FileStream(incomplete, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1 << 16, useAsync: true);
        await using (file.ConfigureAwait(false))
        {
            have = file.Length;
            if (size is { } s0 && have > s0)
            {
                file.SetLength(0);
                have = 0;
            }

            // The partial file's bytes feed the hash first; then the network bytes follow.
            file.Position = 0;
            for (long left = have; left > 0;)
            {
                int n = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), ct).ConfigureAwait(false);
                if (n == 0)
                {
                    throw new IOException($"{incomplete} shrank while being read.");
                }

                hash.Append(buffer.AsSpan(0, n));
                left -= n;
            }

            void Restart()
            {
                file.SetLength(0);
                file.Position = 0;
                have = 0;
                hash.Reset();
            }

            int failures = 0;
            while (size is null || have < size)
            {
                HttpResponseMessage resp;
                try
                {
                    resp = await SendAsync(HttpMethod.Get, url, have, followCrossOrigin: true, ct).ConfigureAwait(false);
                }
                catch (HubRequestException e) when (e.StatusCode is null && failures < Options.ResumeAttempts)
                {
                    failures++;
                    await Task.Delay(Options.RetryDelay * failures, ct).ConfigureAwait(false);
                    continue;
                }

                using (resp)
                {
                    if (resp.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0)
                    {
                        Restart();
                        continue;
                    }

                    if (!resp.IsSuccessStatusCode)
                    {
                        throw StatusError(resp, "GET", url);
                    }

                    if (resp.StatusCode == HttpStatusCode.PartialContent)
                    {
                        if (have == 0)
                        {
                            throw new HubRequestException($"GET {url}: HTTP 206 to a request without Range.", resp.StatusCode);
                        }

                        if (resp.Content.Headers.ContentRange?.From != have)
                        {
                            // Not the range asked for: start over without one.
                            Restart();
                            continue;
                        }
                    }
                    else if (have > 0)
                    {
                        // 200: the server ignored the range and sends the whole file.
                        Restart();
                    }

                    bool ended;
                    long attemptStart = have;
                    try
                    {
                        var body = await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
                        await using (body.ConfigureAwait(false))
                        {
                            using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
                            while (true)
                            {
                                stall.CancelAfter(Options.Timeout);
                                int n = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                                if (n == 0)
                                {
                                    break;
                                }

                                if (size is { } s && have + n > s)
                                {
                                    throw new HubIntegrityException($"{name}: the server sent more than the {s:N0} bytes the Hub announced.");
                                }

                                await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                                hash.Append(buffer.AsSpan(0, n));
                                have += n;
                                progress?.Report(new HubTransferProgress(name, have, size));
                            }
                        }

                        ended = true;
                    }
                    catch (Exception e) when (IsInterruption(e, ct))
                    {
                        await file.FlushAsync(ct).ConfigureAwait(false);
                        failures = have > attemptStart ? 0 : failures; // the retry budget is for attempts that got nowhere
                        if (failures >= Options.ResumeAttempts)
                        {
                            throw Interrupted(url, incomplete, have, size, e);
                        }

                        failures++;
                        ended = false;
                        await Task.Delay(Options.RetryDelay * failures, ct).ConfigureAwait(false);
                    }

                    if (ended && size is null)
                    {
                        break;
                    }

                    if (ended && have < size)
                    {
                        failures = have > attemptStart ? 0 : failures;
                        if (failures >= Options.ResumeAttempts)
                        {
                            throw Interrupted(url, incomplete, have, size, null);
                        }

                        failures++;
                        await Task.Delay(Options.RetryDelay * failures, ct).ConfigureAwait(false);
                    }
                }
            }

            await file.FlushAsync(ct).ConfigureAwait(false);
        }

        var (sha256, check) = hash.Finish();
        if (check != digest || (size is { } expected && have != expected))
        {
            File.Delete(incomplete);
            throw new HubIntegrityException(
                $"{name}: the download does not match the Hub: {(kind == DigestKind.Sha256 ? "SHA-256" : "git blob SHA-1")} {check} (expected {digest}), {have:N0} bytes{(size is { } e2 ? $" (expected {e2:N0})" : string.Empty)}. The partial data was deleted; nothing was written.");
        }

        File.Move(incomplete, blob, overwrite: true);
        return (sha256, have);
    }

    private static bool IsInterruption(Exception e, CancellationToken ct) =>
        e is HttpRequestException || (e is IOException and not HubIntegrityException) || (e is OperationCanceledException && !ct.IsCancellationRequested);

    private static HubRequestException Interrupted(string url, string incomplete, long have, long? size, Exception? inner) =>
        new($"GET {url}: the download broke off after {have:N0}{(size is { } s ? $" of {s:N0}" : string.Empty)} bytes{(inner is null ? string.Empty : $" ({inner.Message})")}. The partial file {incomplete} is kept; run the same pull again to resume.", null, inner);

    private static async Task<string> Sha256OfFileAsync(string path, CancellationToken ct)
    {
        var stream = File.OpenRead(path);
        await using (stream.ConfigureAwait(false))
        {
            return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct).ConfigureAwait(false));
        }
    }

    private async Task<Dictionary<string, HubRepoFile>> GetTreeAsync(string repoId, string revision, CancellationToken ct)
    {
        var files = new Dictionary<string, HubRepoFile>(StringComparer.Ordinal);
        string? url = new Uri(endpoint, $"api/models/{repoId}/tree/{Uri.EscapeDataString(revision)}?recursive=true").AbsoluteUri;
        for (int page = 0; url is not null && page < 10_000; page++)
        {
            using var resp = await SendAsync(HttpMethod.Get, url, 0, followCrossOrigin: false, ct).ConfigureAwait(false);
            if (!resp.IsSuccessStatusCode)
            {
                throw StatusError(resp, "GET", url);
            }

            using var doc = await ReadJsonAsync(resp, url, ct).ConfigureAwait(false);
            if (doc.RootElement.ValueKind != JsonValueKind.Array)
            {
                throw new HubRequestException($"GET {url}: expected a JSON array.");
            }

            foreach (var e in doc.RootElement.EnumerateArray())
            {
                if (Str(e, "type") != "file" || Str(e, "path") is not { } path)
                {
                    continue;
                }

                long? size = e.TryGetProperty("size", out var sz) && sz.TryGetInt64(out var sv) ? sv : null;
                string? sha256 = null;
                if (e.TryGetProperty("lfs", out var lfs) && lfs.ValueKind == JsonValueKind.Object)
                {
                    sha256 = Str(lfs, "oid") is { } oid && oid.StartsWith("sha256:", StringComparison.Ordinal) ? oid[7..] : Str(lfs, "oid");
                    size = lfs.TryGetProperty("size", out var ls) && ls.TryGetInt64(out var lv) ? lv : size;
                }

                files[path] = new HubRepoFile(path, size, sha256, sha256 is null ? Str(e, "oid") : null);
            }

            url = NextLink(resp, url);
        }

        return files;
    }

    private static string? Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>The <c>rel="next"</c> target of a <c>Link</c> header, or null.</summary>
    private static string? NextLink(HttpResponseMessage resp, string current)
    {
        if (!resp.Headers.TryGetValues("Link", out var values))
        {
            return null;
        }

        foreach (var link in values.SelectMany(v => v.Split(',')))
        {
            var parts = link.Split(';');
            var target = parts[0].Trim();
            if (target.StartsWith('<') && target.EndsWith('>') && parts.Skip(1).Any(p => p.Trim().Replace(" ", string.Empty, StringComparison.Ordinal) is "rel=\"next\"" or "rel=next"))
            {
                return new Uri(new Uri(current), target[1..^1]).AbsoluteUri;
            }
        }

        return null;
    }

    private async Task<JsonDocument> GetJsonAsync(string relative, CancellationToken ct)
    {
        var url = new Uri(endpoint, relative).AbsoluteUri;
        using var resp = await SendAsync(HttpMethod.Get, url, 0, followCrossOrigin: false, ct).ConfigureAwait(false);
        if (!resp.IsSuccessStatusCode)
        {
            throw StatusError(resp, "GET", url);
        }

        return await ReadJsonAsync(resp, url, ct).ConfigureAwait(false);
    }

    private async Task<JsonDocument> ReadJsonAsync(HttpResponseMessage resp, string url, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(Options.Timeout);
        try
        {
            var body = await resp.Content.ReadAsStreamAsync(cts.Token).ConfigureAwait(false);
            await using (body.ConfigureAwait(false))
            {
                return await JsonDocument.ParseAsync(body, default, cts.Token).ConfigureAwait(false);
            }
        }
        catch (JsonException e)
        {
            throw new HubRequestException($"GET {url}: the answer is not JSON ({e.Message}).", null, e);
        }
        catch (Exception e) when (IsInterruption(e, ct))
        {
            throw new HubRequestException($"GET {url}: {e.Message}", null, e);
        }
    }

    private string ResolveUrl(string repoId, string revision, string file)
    {
        HubNames.ValidateRepoId(repoId);
        HubNames.ValidateRevision(revision);
        HubNames.ValidateRelativePath(file);
        var path = string.Join('/', file.Split('/').Select(Uri.EscapeDataString));
        return new Uri(endpoint, $"{repoId}/resolve/{Uri.EscapeDataString(revision)}/{path}").AbsoluteUri;
    }

    /// <summary>
    /// Sends a request, following redirects by hand: the token only on the endpoint's origin, <c>Range: bytes=N-</c> when
    /// <paramref name="rangeFrom"/> &gt; 0, and — unless <paramref name="followCrossOrigin"/> — stopping at a redirect to
    /// another origin (its response is returned, as huggingface_hub does for HEAD).
    /// </summary>
    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string url, long rangeFrom, bool followCrossOrigin, CancellationToken ct)
    {
        var uri = new Uri(url);
        for (int hop = 0; ; hop++)
        {
            using var req = new HttpRequestMessage(method, uri);
            if (Options.Token is { Length: > 0 } token && SameOrigin(uri, endpoint))
            {
                req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            if (rangeFrom > 0)
            {
                req.Headers.Range = new RangeHeaderValue(rangeFrom, null);
            }

            HttpResponseMessage resp;
            using (var cts = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                cts.CancelAfter(Options.Timeout);
                try
                {
                    resp = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false);
                }
                catch (HttpRequestException e)
                {
                    throw new HubRequestException($"{method} {uri}: {e.Message}", null, e);
                }
                catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
                {
                    throw new HubRequestException($"{method} {uri}: no answer within {Options.Timeout.TotalSeconds:0} s.", null, e);
                }
            }

            int code = (int)resp.StatusCode;
            if (code is 301 or 302 or 303 or 307 or 308 && resp.Headers.Location is { } location)
            {
                var next = location.IsAbsoluteUri ? location : new Uri(uri, location);
                if (!followCrossOrigin && !SameOrigin(next, uri))
                {
                    return resp;
                }

                resp.Dispose();
                if (hop >= MaxRedirects)
                {
                    throw new HubRequestException($"{method} {url}: more than {MaxRedirects} redirects.");
                }

                uri = next;
                continue;
            }

            return resp;
        }
    }

    private static bool SameOrigin(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase) && string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

    private static HubRequestException StatusError(HttpResponseMessage resp, string method, string url)
    {
        string? hubMessage = resp.Headers.TryGetValues("X-Error-Message", out var m) ? m.FirstOrDefault() : null;
        var hint = resp.StatusCode switch
        {
            HttpStatusCode.NotFound => " Check the repository, revision and file names; a private or gated repository also answers so without a token (set HF_TOKEN).",
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => " The repository is private or gated: set HF_TOKEN to a token with access.",
            _ => string.Empty,
        };
        return new HubRequestException($"{method} {url}: HTTP {(int)resp.StatusCode} {resp.ReasonPhrase}{(hubMessage is null ? "." : $" ({hubMessage}).")}{hint}", resp.StatusCode);
    }

    private enum DigestKind
    {
        None,
        Sha256,
        GitSha1,
    }

    /// <summary>SHA-256 of the content, plus the git blob SHA-1 (<c>"blob {size}\0"</c> + content) when that is the check.</summary>
    private sealed class BlobHash : IDisposable
    {
        private readonly IncrementalHash sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private readonly IncrementalHash? gitSha1;
        private readonly long size;

        public BlobHash(DigestKind kind, long size)
        {
            this.size = size;
            if (kind == DigestKind.GitSha1)
            {
                gitSha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
            }

            Reset();
        }

        public void Reset()
        {
            sha256.GetHashAndReset();
            if (gitSha1 is not null)
            {
                gitSha1.GetHashAndReset();
                gitSha1.AppendData(Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"blob {size}\0")));
            }
        }

        public void Append(ReadOnlySpan<byte> data)
        {
            sha256.AppendData(data);
            gitSha1?.AppendData(data);
        }

        /// <summary>The content's SHA-256 and the digest to compare (the same SHA-256, or the git blob SHA-1).</summary>
        public (string Sha256, string Check) Finish()
        {
            var s = Convert.ToHexStringLower(sha256.GetHashAndReset());
            return (s, gitSha1 is null ? s : Convert.ToHexStringLower(gitSha1.GetHashAndReset()));
        }

        public void Dispose()
        {
            sha256.Dispose();
            gitSha1?.Dispose();
        }
    }
}
