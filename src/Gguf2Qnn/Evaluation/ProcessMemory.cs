using System.Diagnostics;
using System.Globalization;

namespace Gguf2Qnn.Evaluation;

/// <summary>
/// This process's memory, from <c>/proc/self/status</c> on Linux (<c>VmHWM</c> peak resident set, <c>VmRSS</c>,
/// <c>RssAnon</c> anonymous resident memory, <c>RssFile</c> file-backed resident memory such as memory-mapped weights),
/// else from <see cref="Process"/> (peak working set; anonymous and file parts unknown, reported as NaN). Megabytes are MiB.
/// </summary>
/// <param name="PeakRssMb">Peak resident set since the process started (or since <see cref="ResetPeak"/>).</param>
/// <param name="RssMb">Current resident set.</param>
/// <param name="AnonMb">Current anonymous resident memory.</param>
/// <param name="FileMb">Current file-backed resident memory.</param>
public sealed record ProcessMemory(double PeakRssMb, double RssMb, double AnonMb, double FileMb)
{
    private const string StatusPath = "/proc/self/status";

    /// <summary>Reads the current figures.</summary>
    public static ProcessMemory Read()
    {
        if (File.Exists(StatusPath))
        {
            double hwm = double.NaN, rss = double.NaN, anon = double.NaN, file = double.NaN;
            foreach (var line in File.ReadLines(StatusPath))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    hwm = Kb(line);
                }
                else if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    rss = Kb(line);
                }
                else if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
                {
                    anon = Kb(line);
                }
                else if (line.StartsWith("RssFile:", StringComparison.Ordinal))
                {
                    file = Kb(line);
                }
            }

            return new ProcessMemory(hwm / 1024, rss / 1024, anon / 1024, file / 1024);
        }

        using var p = Process.GetCurrentProcess();
        return new ProcessMemory(p.PeakWorkingSet64 / 1048576.0, p.WorkingSet64 / 1048576.0, double.NaN, double.NaN);
    }

    /// <summary>
    /// Resets the kernel's peak (<c>VmHWM</c>) to the current resident set by writing 5 to <c>/proc/self/clear_refs</c>
    /// (Linux ≥ 4.0); returns false where that is not possible.
    /// </summary>
    public static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return false;
        }
    }

    private static double Kb(string line)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 2 && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : double.NaN;
    }
}
