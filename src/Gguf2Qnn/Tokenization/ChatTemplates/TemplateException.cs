namespace Gguf2Qnn.Tokenization.ChatTemplates;

/// <summary>
/// A chat template failed: a syntax error, an unsupported construct, a runtime error (an undefined value used, a
/// type mismatch), a <c>raise_exception(…)</c> call in the template, or a <see cref="TemplateLimits"/> bound hit.
/// The message names the template line.
/// </summary>
public sealed class TemplateException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TemplateException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public TemplateException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public TemplateException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal TemplateException(string message, int line, TemplateErrorKind kind = TemplateErrorKind.Runtime)
        : base(line > 0 ? $"chat template line {line}: {message}" : "chat template: " + message)
    {
        Line = line;
        Kind = kind;
    }

    /// <summary>1-based template line of the failing construct, or 0 when unknown.</summary>
    public int Line { get; }

    /// <summary>What went wrong.</summary>
    public TemplateErrorKind Kind { get; }
}

/// <summary>The kinds of <see cref="TemplateException"/>.</summary>
public enum TemplateErrorKind
{
    /// <summary>An error while rendering (undefined value, wrong type, unknown method).</summary>
    Runtime = 0,

    /// <summary>The template does not parse, or uses a construct this engine does not support.</summary>
    Syntax = 1,

    /// <summary>The template called <c>raise_exception(message)</c>.</summary>
    Raised = 2,

    /// <summary>A <see cref="TemplateLimits"/> bound was hit (loop iterations, call depth, nesting, output size, steps).</summary>
    LimitExceeded = 3,

    /// <summary>The template tried something the sandbox refuses (underscore attributes, include/import/extends).</summary>
    Security = 4,
}
