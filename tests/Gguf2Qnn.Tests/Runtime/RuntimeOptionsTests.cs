using Gguf2Qnn.Runtime;
using Microsoft.ML.OnnxRuntime;
using Xunit;

namespace Gguf2Qnn.Tests.Runtime;

/// <summary><see cref="RuntimeOptions"/>: the settings reach the ORT session options, and <see cref="RuntimeOptions.Log"/> describes them.</summary>
[Trait("Category", "Runtime")]
public sealed class RuntimeOptionsTests
{
    [Fact]
    public void LogDescribesTheSessionOptionsActuallyBuilt()
    {
        var lines = new List<string>();
        var runtime = new RuntimeOptions
        {
            IntraOpThreads = 3,
            OptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC,
            ConfigEntries = new Dictionary<string, string> { ["session.intra_op.allow_spinning"] = "0" },
            Verbose = true,
            Log = lines.Add,
        };
        using var options = runtime.ToSessionOptions();
        Assert.Equal(3, options.IntraOpNumThreads);
        Assert.Equal(OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE, options.LogSeverityLevel);
        Assert.Contains("  intra-op threads: 3", lines);
        Assert.Contains("  graph optimization level: ORT_ENABLE_BASIC", lines);
        Assert.Contains("  execution mode: ORT_SEQUENTIAL", lines);
        Assert.Contains("  session config entries: session.intra_op.allow_spinning=0", lines);
        Assert.Contains("  execution providers (priority order): CPUExecutionProvider (arena on)", lines);
    }

    [Fact]
    public void WithoutLogNothingIsDescribedAndTheLogLevelIsKept()
    {
        using var options = new RuntimeOptions().ToSessionOptions();
        Assert.Equal(OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR, options.LogSeverityLevel);
        Assert.Equal(0, options.IntraOpNumThreads);
    }
}
