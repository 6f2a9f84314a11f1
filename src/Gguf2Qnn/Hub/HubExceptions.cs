using System.Net;

namespace Gguf2Qnn.Hub;

/// <summary>
/// The file part of <c>REPO[:FILE|:QUANT]</c> matched no file, or more than one model, in the repository listing. An
/// <see cref="ArgumentException"/>: bad input (the CLI's exit code 2). <see cref="Candidates"/> lists what could be picked.
/// </summary>
public sealed class HubSelectionException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong; the candidates are appended, one per line.</param>
    /// <param name="candidates">The .gguf models the repository offers (a split set as its first part plus a part count).</param>
    public HubSelectionException(string message, IReadOnlyList<string> candidates)
        : base(candidates.Count == 0 ? message : message + Environment.NewLine + string.Join(Environment.NewLine, candidates.Select(c => "  " + c)))
    {
        Candidates = candidates;
    }

    /// <summary>The .gguf models the repository offers, in listing order.</summary>
    public IReadOnlyList<string> Candidates { get; }
}

/// <summary>
/// Downloaded data failed its check: its SHA-256 (or git blob SHA-1) differs from the Hub's, or its length from the
/// announced size. The partial data was deleted and no file was written under the final name. An <see cref="IOException"/>
/// (the CLI's exit code 1).
/// </summary>
public sealed class HubIntegrityException(string message) : IOException(message)
{
}

/// <summary>
/// A request to the Hub failed: an HTTP error status, a connection that could not be made, or a download cut more often than
/// <see cref="HubOptions.ResumeAttempts"/> allows (the <c>.incomplete</c> file is kept; running again resumes it).
/// </summary>
public sealed class HubRequestException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed, with the URL.</param>
    /// <param name="statusCode">The HTTP status, or null when no response came back.</param>
    /// <param name="inner">The transport error, if any.</param>
    public HubRequestException(string message, HttpStatusCode? statusCode = null, Exception? inner = null)
        : base(message, inner)
    {
        StatusCode = statusCode;
    }

    /// <summary>The HTTP status the Hub answered with, or null when no response came back.</summary>
    public HttpStatusCode? StatusCode { get; }

    /// <summary>True for 401, 403 and 404: the repository, revision or file does not exist or needs a token — bad input, not a transient failure.</summary>
    public bool IsNotFoundOrDenied => StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden;
}
