using Gguf2Qnn.Runtime.CustomOps;
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

    /// <summary>
    /// Session configuration entries (<c>SessionOptions.AddSessionConfigEntry</c>, keys from ONNX Runtime's
    /// <c>onnxruntime_session_options_config_keys.h</c>, e.g. <c>session.intra_op.allow_spinning</c>). Default: none.
    /// </summary>
    public IReadOnlyDictionary<string, string> ConfigEntries { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// When true, ONNX Runtime logs the session at verbose severity (its own log, on the process's stderr), which
    /// includes the node placements: "All nodes placed on [CPUExecutionProvider]. Number of nodes: N", or per provider
    /// the count and each node. Overrides <see cref="LogLevel"/>. Default false.
    /// </summary>
    public bool Verbose { get; init; }

    /// <summary>
    /// Which kernels run Q4_0 MatMulNBits nodes (bits 4, block 32, no zero points, accuracy_level 4) and Q6_K ones (bits 8,
    /// block 16, no zero points, accuracy_level 4, data checked) in <see cref="OnnxCausalLm"/>.
    /// Default <see cref="CpuKernels.Auto"/>.
    /// </summary>
    public CpuKernels Kernels { get; init; } = CpuKernels.Auto;

    /// <summary>
    /// Receives, once per <see cref="ToSessionOptions"/> and once per session created, lines describing the settings
    /// actually used: graph optimization level, intra-/inter-op threads, execution mode, optimized model file,
    /// config entries, the execution providers registered (in priority order) and those this ONNX Runtime build has.
    /// Default null (nothing is described).
    /// </summary>
    public Action<string>? Log { get; init; }

    /// <summary>
    /// Custom op domains (C# kernels, <see cref="CustomOpDomain"/>) added to the session options, so that models with
    /// those ops load. Domains are immortal, so the sessions may outlive this record. Default: none.
    /// </summary>
    public IReadOnlyList<CustomOpDomain> CustomOpDomains { get; init; } = [];

    /// <summary>Builds the ORT session options (caller disposes), describing them to <see cref="Log"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A negative thread count.</exception>
    public SessionOptions ToSessionOptions()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(IntraOpThreads);
        var options = new SessionOptions
        {
            GraphOptimizationLevel = OptimizationLevel,
            LogSeverityLevel = Verbose ? OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE : LogLevel,
            IntraOpNumThreads = IntraOpThreads,
        };
        try
        {
            if (ProfilePathPrefix is not null)
            {
                options.ProfileOutputPathPrefix = ProfilePathPrefix; // read by the EnableProfiling setter
                options.EnableProfiling = true;
            }

            foreach (var (key, value) in ConfigEntries)
            {
                options.AddSessionConfigEntry(key, value);
            }

            foreach (var domain in CustomOpDomains)
            {
                domain.AddTo(options);
            }

            options.AppendExecutionProvider_CPU(useArena: 1);
            if (Log is { } log)
            {
                Describe(options, ["CPUExecutionProvider (arena on)"], log);
            }

            return options;
        }
        catch
        {
            options.Dispose();
            throw;
        }
    }

    /// <summary>Writes what <paramref name="options"/> holds to <paramref name="log"/>, one setting per line.</summary>
    private void Describe(SessionOptions options, IReadOnlyList<string> providers, Action<string> log)
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        log($"onnxruntime {OrtEnv.Instance().GetVersionString()}: session options");
        log($"  graph optimization level: {options.GraphOptimizationLevel}");
        log(string.Format(c, "  intra-op threads: {0}{1}", options.IntraOpNumThreads, options.IntraOpNumThreads == 0 ? " (ONNX Runtime's choice: one per physical core)" : string.Empty));
        log(string.Format(c, "  inter-op threads: {0}{1}", options.InterOpNumThreads, options.InterOpNumThreads == 0 ? " (ONNX Runtime's choice; unused in sequential mode)" : string.Empty));
        log($"  execution mode: {options.ExecutionMode}");
        log($"  optimized model file: {(string.IsNullOrEmpty(options.OptimizedModelFilePath) ? "none" : options.OptimizedModelFilePath)}");
        log($"  memory pattern: {(options.EnableMemoryPattern ? "on" : "off")}, CPU memory arena: {(options.EnableCpuMemArena ? "on" : "off")}");
        log($"  profiling: {(options.EnableProfiling ? options.ProfileOutputPathPrefix + "_<date>.json" : "off")}");
        log($"  log severity: {options.LogSeverityLevel}");
        log($"  session config entries: {(ConfigEntries.Count == 0 ? "none" : string.Join(", ", ConfigEntries.Select(e => e.Key + "=" + e.Value)))}");
        if (CustomOpDomains.Count > 0)
        {
            log($"  custom op domains: {string.Join("; ", CustomOpDomains)}");
        }

        log($"  execution providers (priority order): {string.Join(", ", providers)}");
        log($"  execution providers in this build: {string.Join(", ", OrtEnv.Instance().GetAvailableProviders())}");
    }
}

/// <summary>Which CPU kernels run the Q4_0 and Q6_K weights of a cpu-target model.</summary>
public enum CpuKernels
{
    /// <summary>gguf2qnn's kernels (<see cref="Kernels.Q4_0MatMul"/>, <see cref="Kernels.Q6_KMatMul"/>) where
    /// <see cref="Kernels.Q4_0MatMul.IsSupported"/> and they can take the model's Q4_0 weights (fp16-exact scales), else
    /// ONNX Runtime's; Q6_K-shaped nodes whose data are not a Q6_K weight stay with ONNX Runtime's.</summary>
    Auto,

    /// <summary>ONNX Runtime's MatMulNBits (MLAS), as written in the model.</summary>
    OnnxRuntime,

    /// <summary>gguf2qnn's kernels; opening a model fails on a CPU without AVX-512BW.</summary>
    Gguf2Qnn,
}
