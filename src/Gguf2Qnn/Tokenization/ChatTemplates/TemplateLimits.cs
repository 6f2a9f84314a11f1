namespace Gguf2Qnn.Tokenization.ChatTemplates;

/// <summary>
/// Bounds on one render of an untrusted chat template. Hitting any of them throws a <see cref="TemplateException"/>
/// of kind <see cref="TemplateErrorKind.LimitExceeded"/> naming the bound; nothing is retried or truncated.
/// </summary>
public sealed record TemplateLimits
{
    /// <summary>The defaults: generous for every real chat template, small enough to stop a hostile one quickly.</summary>
    public static TemplateLimits Default { get; } = new();

    /// <summary>Total <c>for</c> iterations (all loops together, plus items produced by <c>range</c>) per render.</summary>
    public int MaxLoopIterations { get; init; } = 100_000;

    /// <summary>Deepest macro call chain (recursion depth).</summary>
    public int MaxCallDepth { get; init; } = 64;

    /// <summary>Deepest syntactic nesting (blocks inside blocks, parentheses inside parentheses) the parser accepts.</summary>
    public int MaxNesting { get; init; } = 128;

    /// <summary>Longest string (in UTF-16 chars) or list (in items) a render may build, the output included.</summary>
    public int MaxOutputLength { get; init; } = 4 * 1024 * 1024;

    /// <summary>Work budget per render: one step per expression or statement evaluated, plus one per 64 chars of string or 8 items of list built.</summary>
    public long MaxSteps { get; init; } = 10_000_000;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when a bound is not positive.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxLoopIterations, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxCallDepth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxNesting, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxOutputLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSteps, 1);
    }
}
