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
/// A short job (in-process, 3 warm-up and 15 measured iterations of about 100 ms) so that every type runs in a few
/// seconds on two cores, the default statistics columns, and the GB/s and ratio-to-memcpy columns for the median and the
/// fastest iteration.
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
            .WithIterationCount(15)
            .WithIterationTime(TimeInterval.FromMilliseconds(100))
            .WithId("Short"));
        AddColumnProvider(DefaultColumnProviders.Instance);
        AddColumn(
            new OutputThroughputColumn(ThroughputStatistic.Median),
            new MemcpyRatioColumn(ThroughputStatistic.Median),
            new OutputThroughputColumn(ThroughputStatistic.Best),
            new MemcpyRatioColumn(ThroughputStatistic.Best));
        AddLogger(ConsoleLogger.Default);
        AddExporter(MarkdownExporter.GitHub);
        WithOrderer(new BenchmarkDotNet.Order.DefaultOrderer(BenchmarkDotNet.Order.SummaryOrderPolicy.Declared));
    }
}

/// <summary>Which iteration time a throughput column divides by.</summary>
public enum ThroughputStatistic
{
    /// <summary>The median iteration: the typical figure.</summary>
    Median,

    /// <summary>The fastest iteration: the figure least disturbed by other processes on a shared machine (they only ever add time).</summary>
    Best,
}

/// <summary>
/// Throughput in GB/s (10⁹ bytes of float32 output per second): <see cref="DequantizeThroughput.OutputMiB"/> MiB divided by
/// the median or the fastest iteration's time per operation.
/// </summary>
public sealed class OutputThroughputColumn(ThroughputStatistic statistic) : IColumn
{
    /// <inheritdoc/>
    public string Id => nameof(OutputThroughputColumn) + statistic;

    /// <inheritdoc/>
    public string ColumnName => $"GB/s {statistic.ToString().ToLowerInvariant()}";

    /// <inheritdoc/>
    public bool AlwaysShow => true;

    /// <inheritdoc/>
    public ColumnCategory Category => ColumnCategory.Custom;

    /// <inheritdoc/>
    public int PriorityInCategory => (int)statistic * 2;

    /// <inheritdoc/>
    public bool IsNumeric => true;

    /// <inheritdoc/>
    public UnitType UnitType => UnitType.Dimensionless;

    /// <inheritdoc/>
    public string Legend => $"Float32 output bytes per second, 10^9 (OutputMiB per operation / {statistic.ToString().ToLowerInvariant()} iteration's time per operation)";

    /// <summary>GB/s of a case for <paramref name="statistic"/>, or null when it has no result.</summary>
    internal static double? GigabytesPerSecond(Summary summary, BenchmarkCase benchmarkCase, ThroughputStatistic statistic)
    {
        var statistics = summary[benchmarkCase]?.ResultStatistics;
        var ns = statistic == ThroughputStatistic.Best ? statistics?.Min : statistics?.Median;
        var outputBytes = (long)(int)benchmarkCase.Parameters[nameof(DequantizeThroughput.OutputMiB)]! << 20;
        return ns is > 0 ? outputBytes / ns.Value : null;
    }

    /// <inheritdoc/>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
        GigabytesPerSecond(summary, benchmarkCase, statistic)?.ToString("F2", System.Globalization.CultureInfo.InvariantCulture) ?? "NA";

    /// <inheritdoc/>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    /// <inheritdoc/>
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    /// <inheritdoc/>
    public bool IsAvailable(Summary summary) => true;
}

/// <summary>GB/s of the case divided by GB/s of the <c>memcpy</c> case of the same run and output size, for the same statistic.</summary>
public sealed class MemcpyRatioColumn(ThroughputStatistic statistic) : IColumn
{
    /// <inheritdoc/>
    public string Id => nameof(MemcpyRatioColumn) + statistic;

    /// <inheritdoc/>
    public string ColumnName => $"vs memcpy ({statistic.ToString().ToLowerInvariant()})";

    /// <inheritdoc/>
    public bool AlwaysShow => true;

    /// <inheritdoc/>
    public ColumnCategory Category => ColumnCategory.Custom;

    /// <inheritdoc/>
    public int PriorityInCategory => (int)statistic * 2 + 1;

    /// <inheritdoc/>
    public bool IsNumeric => true;

    /// <inheritdoc/>
    public UnitType UnitType => UnitType.Dimensionless;

    /// <inheritdoc/>
    public string Legend => $"GB/s {statistic.ToString().ToLowerInvariant()} divided by the memcpy case's (Span.CopyTo of the same number of float32 bytes)";

    /// <inheritdoc/>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        var outputMiB = benchmarkCase.Parameters[nameof(DequantizeThroughput.OutputMiB)];
        var memcpy = summary.BenchmarksCases.FirstOrDefault(c =>
            c.Parameters[nameof(DequantizeThroughput.Kind)] as string == DequantizeThroughput.Memcpy
            && Equals(c.Parameters[nameof(DequantizeThroughput.OutputMiB)], outputMiB));
        var own = OutputThroughputColumn.GigabytesPerSecond(summary, benchmarkCase, statistic);
        var reference = memcpy is null ? null : OutputThroughputColumn.GigabytesPerSecond(summary, memcpy, statistic);
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
