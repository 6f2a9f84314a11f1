using Microsoft.ML.OnnxRuntime;

namespace Gguf2Qnn.Runtime;

/// <summary>ONNX Runtime session settings for <see cref="OnnxCausalLm"/> (CPU execution provider).</summary>
public sealed record RuntimeOptions
{
    /// <summary>Intra-op threads; 0 lets ONNX Runtime choose (one per physical core).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Graph optimization level. Default: all (ORT_ENABLE_ALL).</summary>
    public GraphOptimizationLevel OptimizationLevel { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;

    /// <summary>
    /// ONNX Runtime's session log level. Default: errors only. At warning level ORT reports, on every load, that the
    /// optional <c>num_logits_to_keep</c> input has a default initializer (intended: generation overrides it), which
    /// would bury the command's own output.
    /// </summary>
    public OrtLoggingLevel LogLevel { get; init; } = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR;

    /// <summary>
    /// When set, ONNX Runtime's profiler records every node run (SessionOptions.EnableProfiling) into a Chrome-trace
    /// JSON file named <c>{prefix}_{date}.json</c>, written when the session is disposed. Default null (off).
    /// </summary>
    public string? ProfilePathPrefix { get; init; }

    /// <summary>Builds the ORT session options (caller disposes).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A negative thread count.</exception>
    public SessionOptions ToSessionOptions()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(IntraOpThreads);
        var options = new SessionOptions
        {
            GraphOptimizationLevel = OptimizationLevel,
            LogSeverityLevel = LogLevel,
            IntraOpNumThreads = IntraOpThreads,
        };
        if (ProfilePathPrefix is not null)
        {
            options.ProfileOutputPathPrefix = ProfilePathPrefix; // read by the EnableProfiling setter
            options.EnableProfiling = true;
        }

        options.AppendExecutionProvider_CPU(useArena: 1);
        return options;
    }
}
