using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Perfolizer.Horology;

namespace Gguf2Qnn.Benchmarks;

/// <summary>
/// A short job (in-process, 3 warm-up and 7 measured iterations of about 250 ms) so that every type runs in a few
/// seconds on two cores, the default statistics columns, and the GB/s and ratio-to-memcpy columns.
/// </summary>
public sealed class ThroughputConfig : ManualConfig
{
    /// <summary>Creates the config.</summary>
    public ThroughputConfig()
    {
        AddJob(Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1)
            .WithWarmupCount(3)
            .WithIterationCount(7)
            .WithIterationTime(TimeInterval.FromMilliseconds(250))
            .WithId("Short"));
        AddColumnProvider(DefaultColumnProviders.Instance);
        AddColumn(new OutputThroughputColumn(), new MemcpyRatioColumn());
        AddLogger(ConsoleLogger.Default);
        AddExporter(MarkdownExporter.GitHub);
        WithOrderer(new BenchmarkDotNet.Order.DefaultOrderer(BenchmarkDotNet.Order.SummaryOrderPolicy.Declared));
    }
}

/// <summary>Throughput in GB/s (10⁹ bytes of float32 output per second): <see cref="DequantizeThroughput.OutputBytes"/> / median time
/// (the median, not the mean: other processes on a shared machine only ever add time).</summary>
public sealed class OutputThroughputColumn : IColumn
{
    /// <inheritdoc/>
    public string Id => nameof(OutputThroughputColumn);

    /// <inheritdoc/>
    public string ColumnName => "GB/s out";

    /// <inheritdoc/>
    public bool AlwaysShow => true;

    /// <inheritdoc/>
    public ColumnCategory Category => ColumnCategory.Custom;

    /// <inheritdoc/>
    public int PriorityInCategory => 0;

    /// <inheritdoc/>
    public bool IsNumeric => true;

    /// <inheritdoc/>
    public UnitType UnitType => UnitType.Dimensionless;

    /// <inheritdoc/>
    public string Legend => "Float32 output bytes per second, 10^9 (16 MiB per operation / median time)";

    /// <summary>GB/s of a case, or null when it has no result.</summary>
    internal static double? GigabytesPerSecond(Summary summary, BenchmarkCase benchmarkCase)
    {
        var medianNs = summary[benchmarkCase]?.ResultStatistics?.Median;
        return medianNs is > 0 ? DequantizeThroughput.OutputBytes / medianNs.Value : null;
    }

    /// <inheritdoc/>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
        GigabytesPerSecond(summary, benchmarkCase)?.ToString("F2", System.Globalization.CultureInfo.InvariantCulture) ?? "NA";

    /// <inheritdoc/>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    /// <inheritdoc/>
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    /// <inheritdoc/>
    public bool IsAvailable(Summary summary) => true;
}

/// <summary>GB/s of the case divided by GB/s of the <c>memcpy</c> case of the same run.</summary>
public sealed class MemcpyRatioColumn : IColumn
{
    /// <inheritdoc/>
    public string Id => nameof(MemcpyRatioColumn);

    /// <inheritdoc/>
    public string ColumnName => "vs memcpy";

    /// <inheritdoc/>
    public bool AlwaysShow => true;

    /// <inheritdoc/>
    public ColumnCategory Category => ColumnCategory.Custom;

    /// <inheritdoc/>
    public int PriorityInCategory => 1;

    /// <inheritdoc/>
    public bool IsNumeric => true;

    /// <inheritdoc/>
    public UnitType UnitType => UnitType.Dimensionless;

    /// <inheritdoc/>
    public string Legend => "Output GB/s divided by the memcpy case's output GB/s (Span.CopyTo of 16 MiB of float32)";

    /// <inheritdoc/>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        var memcpy = summary.BenchmarksCases.FirstOrDefault(c =>
            c.Parameters["Kind"] as string == DequantizeThroughput.Memcpy);
        var own = OutputThroughputColumn.GigabytesPerSecond(summary, benchmarkCase);
        var reference = memcpy is null ? null : OutputThroughputColumn.GigabytesPerSecond(summary, memcpy);
        return own is null || reference is null
            ? "NA"
            : (own.Value / reference.Value).ToString("P0", System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <inheritdoc/>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    /// <inheritdoc/>
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    /// <inheritdoc/>
    public bool IsAvailable(Summary summary) => true;
}
