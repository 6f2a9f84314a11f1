using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Gguf2Qnn.Tests.Hub;

/// <summary>One request the fake Hub saw.</summary>
internal sealed record FakeHubRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers, long BodyBytes)
{
    public string? Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out var v) ? v : null;
}

/// <summary>A file the fake Hub serves.</summary>
internal sealed class FakeHubFile(string path, byte[] content)
{
    public string Path { get; } = path;

    public byte[] Content { get; } = content;

    /// <summary>The LFS oid the Hub announces (default: the content's SHA-256); set another to fake a corrupt blob.</summary>
    public string Oid { get; set; } = Convert.ToHexStringLower(SHA256.HashData(content));

    /// <summary>False: a file stored in git itself — the tree gives its git blob id as <c>oid</c> and no <c>lfs</c>, HEAD its blob id as ETag.</summary>
    public bool Lfs { get; set; } = true;

    /// <summary>The git blob id: SHA-1 of <c>"blob {size}\0"</c> + content (git's object format).</summary>
#pragma warning disable CA5350 // git's object id is SHA-1 by definition
    public string GitBlobId => Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {Content.Length}\0"), .. Content]));
#pragma warning restore CA5350

    /// <summary>When set, the next GET sends headers for the whole answer, then this many body bytes, then closes the socket.</summary>
    public long? CutAfterBytes { get; set; }

    /// <summary>Further cuts, one per GET after <see cref="CutAfterBytes"/> is spent: bytes of body sent before closing.</summary>
    public Queue<long> LaterCuts { get; } = new();
}

/// <summary>
/// A minimal HTTP/1.1 server on 127.0.0.1 (random free port, one request per connection) that answers like the Hugging
/// Face Hub: <c>/api/models/{repo}/revision/{rev}</c>, <c>/api/models/{repo}/tree/{rev}</c> (paged), and HEAD/GET
/// <c>/{repo}/resolve/{rev}/{file}</c> with Range support. Every request is recorded with the body bytes it was sent.
/// </summary>
internal sealed class FakeHub : IDisposable
{
    private readonly TcpListener listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource stop = new();
    private readonly Task loop;

    public FakeHub(string repo = "owner/model")
    {
        Repo = repo;
        listener.Start();
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        loop = Task.Run(AcceptLoop);
    }

    public string Repo { get; }

    public int Port { get; }

    public string Endpoint => $"http://127.0.0.1:{Port}";

    public string Commit { get; set; } = "0123456789abcdef0123456789abcdef01234567";

    public List<FakeHubFile> Files { get; } = [];

    /// <summary>Tree entries per page (0: one page).</summary>
    public int TreePageSize { get; set; }

    /// <summary>Answer 404 on the tree endpoint (a Hub without it): hashes then come from HEAD.</summary>
    public bool TreeMissing { get; set; }

    /// <summary>Answer GETs with Range as 200 with the whole file.</summary>
    public bool IgnoreRange { get; set; }

    /// <summary>A token every request must carry as <c>Authorization: Bearer …</c> (else 401); null: none needed.</summary>
    public string? RequiredToken { get; set; }

    /// <summary>Redirect resolve GETs to this server (a "CDN") at <c>/cdn/{sha256}</c>.</summary>
    public FakeHub? Cdn { get; set; }

    /// <summary>
    /// The requests served so far. Reading it first waits (up to 10 s) for requests still being answered: a client can
    /// finish reading a response before this server's handler has recorded it, so a test that asserts right after
    /// its pull would otherwise race the handler (seen as a flaky request count under load).
    /// </summary>
    public ConcurrentQueue<FakeHubRequest> Requests
    {
        get
        {
            SpinWait.SpinUntil(() => Volatile.Read(ref inFlight) == 0, TimeSpan.FromSeconds(10));
            return requests;
        }
    }

    private readonly ConcurrentQueue<FakeHubRequest> requests = new();
    private int inFlight;

    public FakeHubFile Add(string path, byte[] content)
    {
        var f = new FakeHubFile(path, content);
        Files.Add(f);
        return f;
    }

    public IEnumerable<FakeHubRequest> ResolveGets => Requests.Where(r => r.Method == "GET" && (r.Path.Contains("/resolve/", StringComparison.Ordinal) || r.Path.StartsWith("/cdn/", StringComparison.Ordinal)));

    public void Dispose()
    {
        stop.Cancel();
        listener.Stop();
        try
        {
            loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }

        stop.Dispose();
    }

    /// <summary>Bytes from a seeded generator (test content; no meaning).</summary>
    public static byte[] RandomBytes(int count, int seed)
    {
        var b = new byte[count];
        new Random(seed).NextBytes(b);
        return b;
    }

    private async Task AcceptLoop()
    {
        while (!stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                using (client)
                {
                    try
                    {
                        await Handle(client.GetStream());
                    }
                    catch (IOException)
                    {
                    }
                }
            });
        }
    }

    private async Task Handle(NetworkStream stream)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(one) == 0)
            {
                return;
            }

            head.Append((char)one[0]);
        }

        var lines = head.ToString().Split("\r\n");
        var first = lines[0].Split(' ');
        var (method, target) = (first[0], first[1]);
        var headers = lines.Skip(1).Where(l => l.Contains(':', StringComparison.Ordinal))
            .ToDictionary(l => l[..l.IndexOf(':', StringComparison.Ordinal)].Trim().ToLowerInvariant(), l => l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim());
        var path = target.Split('?')[0];
        var query = target.Contains('?', StringComparison.Ordinal) ? target[(target.IndexOf('?', StringComparison.Ordinal) + 1)..] : string.Empty;
        long served = 0;
        Interlocked.Increment(ref inFlight);
        try
        {
            served = await Route(stream, method, path, query, headers);
        }
        finally
        {
            requests.Enqueue(new FakeHubRequest(method, Uri.UnescapeDataString(path), headers, served));
            Interlocked.Decrement(ref inFlight);
        }
    }

    private async Task<long> Route(NetworkStream s, string method, string path, string query, Dictionary<string, string> headers)
    {
        if (RequiredToken is not null && (!headers.TryGetValue("authorization", out var auth) || auth != "Bearer " + RequiredToken))
        {
            await Write(s, 401, "Unauthorized", [("X-Error-Message", "Invalid credentials")], null, method);
            return 0;
        }

        var api = $"/api/models/{Repo}/";
        if (path.StartsWith(api + "revision/", StringComparison.Ordinal))
        {
            var rev = Uri.UnescapeDataString(path[(api.Length + "revision/".Length)..]);
            if (rev != "main" && rev != Commit)
            {
                await Write(s, 404, "Not Found", [("X-Error-Code", "RevisionNotFound")], null, method);
                return 0;
            }

            var siblings = new JsonArray(Files.Select(f => (JsonNode)new JsonObject { ["rfilename"] = f.Path }).ToArray());
            await WriteJson(s, new JsonObject { ["id"] = Repo, ["sha"] = Commit, ["siblings"] = siblings }, method, []);
            return 0;
        }

        if (path.StartsWith(api + "tree/", StringComparison.Ordinal))
        {
            if (TreeMissing)
            {
                await Write(s, 404, "Not Found", [], null, method);
                return 0;
            }

            int cursor = query.Split('&').FirstOrDefault(p => p.StartsWith("cursor=", StringComparison.Ordinal)) is { } c ? int.Parse(c[7..], CultureInfo.InvariantCulture) : 0;
            int take = TreePageSize > 0 ? TreePageSize : Files.Count;
            var page = Files.Skip(cursor).Take(take).Select(f => (JsonNode)(f.Lfs
                ? new JsonObject
                {
                    ["type"] = "file",
                    ["oid"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes("pointer " + f.Path)))[..40],
                    ["size"] = f.Content.Length,
                    ["path"] = f.Path,
                    ["lfs"] = new JsonObject { ["oid"] = f.Oid, ["size"] = f.Content.Length, ["pointerSize"] = 134 },
                }
                : new JsonObject { ["type"] = "file", ["oid"] = f.GitBlobId, ["size"] = f.Content.Length, ["path"] = f.Path })).ToArray();
            var extra = new List<(string, string)>();
            if (cursor + take < Files.Count)
            {
                extra.Add(("Link", $"<{Endpoint}{path}?recursive=true&cursor={cursor + take}>; rel=\"next\""));
            }

            await WriteJson(s, new JsonArray(page), method, extra);
            return 0;
        }

        FakeHubFile? file = null;
        var resolve = $"/{Repo}/resolve/";
        if (path.StartsWith(resolve, StringComparison.Ordinal))
        {
            var rest = path[resolve.Length..];
            var rev = Uri.UnescapeDataString(rest[..rest.IndexOf('/', StringComparison.Ordinal)]);
            var name = Uri.UnescapeDataString(rest[(rest.IndexOf('/', StringComparison.Ordinal) + 1)..]);
            file = rev == "main" || rev == Commit ? Files.FirstOrDefault(f => f.Path == name) : null;
            if (file is not null && method == "GET" && Cdn is not null)
            {
                Cdn.Files.Add(file);
                await Write(s, 302, "Found", [("Location", $"{Cdn.Endpoint}/cdn/{file.Oid}"), ("X-Repo-Commit", Commit)], null, method);
                return 0;
            }
        }
        else if (path.StartsWith("/cdn/", StringComparison.Ordinal))
        {
            file = Files.FirstOrDefault(f => f.Oid == path[5..]);
        }

        if (file is null)
        {
            await Write(s, 404, "Not Found", [("X-Error-Code", "EntryNotFound")], null, method);
            return 0;
        }

        var meta = new List<(string, string)> { ("X-Repo-Commit", Commit), (file.Lfs ? "X-Linked-Etag" : "ETag", $"\"{(file.Lfs ? file.Oid : file.GitBlobId)}\""), ("X-Linked-Size", file.Content.Length.ToString(CultureInfo.InvariantCulture)) };
        if (file.Lfs)
        {
            meta.Add(("ETag", "\"pointer-etag\""));
        }

        long from = 0;
        if (headers.TryGetValue("range", out var range) && !IgnoreRange && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            from = long.Parse(range[6..^1], CultureInfo.InvariantCulture);
        }

        if (from >= file.Content.Length && from > 0)
        {
            await Write(s, 416, "Range Not Satisfiable", [], null, method);
            return 0;
        }

        var body = file.Content.AsMemory((int)from);
        if (from > 0)
        {
            meta.Add(("Content-Range", $"bytes {from}-{file.Content.Length - 1}/{file.Content.Length}"));
        }

        if (method == "GET" && (file.CutAfterBytes ?? (file.LaterCuts.Count > 0 ? file.LaterCuts.Dequeue() : null)) is { } cut)
        {
            file.CutAfterBytes = null;
            await WriteHead(s, from > 0 ? 206 : 200, from > 0 ? "Partial Content" : "OK", meta, body.Length);
            await s.WriteAsync(body[..(int)cut]);
            await s.FlushAsync();
            return cut;
        }

        await Write(s, from > 0 ? 206 : 200, from > 0 ? "Partial Content" : "OK", meta, body, method);
        return method == "GET" ? body.Length : 0;
    }

    private static Task WriteJson(NetworkStream s, JsonNode json, string method, List<(string, string)> extra) =>
        Write(s, 200, "OK", [("Content-Type", "application/json"), .. extra], Encoding.UTF8.GetBytes(json.ToJsonString()), method);

    private static async Task Write(NetworkStream s, int code, string reason, List<(string, string)> headers, ReadOnlyMemory<byte>? body, string method)
    {
        await WriteHead(s, code, reason, headers, body?.Length ?? 0);
        if (method != "HEAD" && body is { } b)
        {
            await s.WriteAsync(b);
        }

        await s.FlushAsync();
    }

    private static async Task WriteHead(NetworkStream s, int code, string reason, List<(string Name, string Value)> headers, long length)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {code} {reason}\r\n");
        foreach (var (n, v) in headers)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{n}: {v}\r\n");
        }

        sb.Append(CultureInfo.InvariantCulture, $"Content-Length: {length}\r\nConnection: close\r\n\r\n");
        await s.WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()));
    }
}
