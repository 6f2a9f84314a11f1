namespace Gguf2Qnn.Hub;

/// <summary>
/// Where and how <see cref="HubClient"/> talks to the Hugging Face Hub and caches files. <see cref="FromEnvironment"/> reads
/// the variables huggingface_hub reads: <c>HF_ENDPOINT</c>, <c>HF_TOKEN</c>, <c>HF_HUB_CACHE</c> (legacy
/// <c>HUGGINGFACE_HUB_CACHE</c>), <c>HF_HOME</c> and <c>XDG_CACHE_HOME</c>.
/// </summary>
public sealed record HubOptions
{
    /// <summary>The public Hub: <c>https://huggingface.co</c>.</summary>
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>The branch pulled when none is given: <c>main</c>.</summary>
    public const string DefaultRevision = "main";

    /// <summary>Base URL of the Hub (or a mirror), http or https, with or without a path prefix; a trailing <c>/</c> is ignored.</summary>
    public string Endpoint { get; init; } = DefaultEndpoint;

    /// <summary>An access token sent as <c>Authorization: Bearer …</c> to <see cref="Endpoint"/> (never to a CDN it redirects to); null: none.</summary>
    public string? Token { get; init; }

    /// <summary>The hub cache root (huggingface_hub's <c>HF_HUB_CACHE</c>, by default <c>~/.cache/huggingface/hub</c>): it holds <c>models--OWNER--NAME/</c>.</summary>
    public required string CacheDirectory { get; init; }

    /// <summary>How often in a row one pull resumes a download whose connection broke without delivering any new bytes before giving up (an attempt that moved the download forward starts the count again; the partial file stays for the next pull). Default 3.</summary>
    public int ResumeAttempts { get; init; } = 3;

    /// <summary>Pause before the n-th resume of a broken download: n × this. Default 1 s.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait for a response's headers or for the next bytes of a body. Default 60 s.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary><see cref="Endpoint"/> without its trailing <c>/</c>.</summary>
    internal string EndpointBase => Endpoint.TrimEnd('/');

    /// <summary>
    /// Options from environment variables: <c>HF_ENDPOINT</c> (default <see cref="DefaultEndpoint"/>), <c>HF_TOKEN</c>, and
    /// the cache at <c>HF_HUB_CACHE</c>, else <c>HUGGINGFACE_HUB_CACHE</c>, else <c>$HF_HOME/hub</c>, else
    /// <c>${XDG_CACHE_HOME:-~/.cache}/huggingface/hub</c>. A leading <c>~</c> is expanded to the user's home.
    /// </summary>
    /// <param name="getVariable">Reads a variable (default: <see cref="Environment.GetEnvironmentVariable(string)"/>); empty counts as unset.</param>
    public static HubOptions FromEnvironment(Func<string, string?>? getVariable = null)
    {
        getVariable ??= Environment.GetEnvironmentVariable;
        string? Get(string name) => getVariable(name) is { Length: > 0 } v ? v : null;
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string Expand(string p) => p == "~" ? home : p.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(home, p[2..]) : p;
        var hfHome = Get("HF_HOME") is { } h ? Expand(h) : Path.Combine(Get("XDG_CACHE_HOME") is { } x ? Expand(x) : Path.Combine(home, ".cache"), "huggingface");
        var cache = Get("HF_HUB_CACHE") ?? Get("HUGGINGFACE_HUB_CACHE");
        return new HubOptions
        {
            Endpoint = Get("HF_ENDPOINT") ?? DefaultEndpoint,
            Token = Get("HF_TOKEN"),
            CacheDirectory = cache is not null ? Expand(cache) : Path.Combine(hfHome, "hub"),
        };
    }

    /// <summary>Checks the options.</summary>
    /// <exception cref="ArgumentException">The endpoint is not an absolute http(s) URL, the cache folder is empty, or a count or timeout is out of range.</exception>
    public void Validate()
    {
        if (!Uri.TryCreate(EndpointBase, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"HF_ENDPOINT '{Endpoint}' is not an absolute http(s) URL.", nameof(Endpoint));
        }

        if (string.IsNullOrWhiteSpace(CacheDirectory))
        {
            throw new ArgumentException("The hub cache folder is empty.", nameof(CacheDirectory));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(ResumeAttempts);
        ArgumentOutOfRangeException.ThrowIfLessThan(RetryDelay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(Timeout, TimeSpan.Zero);
    }
}
