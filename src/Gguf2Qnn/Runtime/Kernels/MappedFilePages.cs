using System.Globalization;
using System.Runtime.InteropServices;

namespace Gguf2Qnn.Runtime.Kernels;

/// <summary>
/// Drops this process's page-table entries for a range of a never-written, private file mapping (Linux madvise
/// MADV_DONTNEED), so that memory the process has read once, and keeps mapped but will not read again, stops counting
/// in its resident set. The file's pages stay in the page cache; a later read of the range faults them back in with the
/// same bytes, because a private mapping that was never written has no pages of its own.
/// </summary>
/// <remarks>
/// Used after <see cref="Q4_0PackedWeights"/> has copied a weight out of ONNX Runtime's memory-mapped external data
/// (model.onnx.data): ORT keeps the mapping for the session's life, and without this the bytes would count twice in
/// RSS (the packed copy and the mapped original). Anything but such a mapping — anonymous or heap memory, a shared
/// mapping, a private one with pages already written (resident or swapped out), a range crossing mappings — is left alone, since MADV_DONTNEED
/// would discard its contents.
/// </remarks>
internal static unsafe class MappedFilePages
{
    private const int MadvDontNeed = 4; // linux/mman-common.h

    /// <summary>Releases the whole pages inside [<paramref name="data"/>, +<paramref name="length"/>) when they belong
    /// to one private file mapping; returns the bytes released (0 when nothing was done).</summary>
    public static long TryRelease(void* data, long length)
    {
        if (!OperatingSystem.IsLinux() || length <= 0) return 0;
        ulong start = (ulong)data, end = start + (ulong)length;
        try
        {
            if (!InPrivateFileMapping(start, end)) return 0;
            ulong page = (ulong)Environment.SystemPageSize;
            ulong from = (start + page - 1) & ~(page - 1), to = end & ~(page - 1);
            if (to <= from) return 0;
            return madvise((nint)from, (nuint)(to - from), MadvDontNeed) == 0 ? (long)(to - from) : 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or DllNotFoundException or EntryPointNotFoundException)
        {
            return 0;
        }
    }

    // /proc/self/smaps: per mapping a header "start-end perms offset dev inode pathname" then "Key: value kB" lines
    // (proc(5)). The range qualifies when one private (MAP_PRIVATE) mapping of a file holds it and that mapping has no
    // anonymous pages, resident (Anonymous) or swapped out (Swap): nothing in it was ever written (copy-on-write), so
    // dropping its pages loses nothing. ONNX Runtime maps external initializers readable and writable, private.
    private static bool InPrivateFileMapping(ulong start, ulong end) => InPrivateFileMapping(File.ReadLines("/proc/self/smaps"), start, end);

    /// <summary>The test of <see cref="TryRelease"/> on the text of an smaps file (tests give their own).</summary>
    internal static bool InPrivateFileMapping(IEnumerable<string> smaps, ulong start, ulong end)
    {
        bool inMapping = false;
        bool? anonymousZero = null, swapZero = null;
        foreach (var line in smaps)
        {
            if (inMapping)
            {
                if (line.StartsWith("Anonymous:", StringComparison.Ordinal)) anonymousZero = IsZeroKb(line, "Anonymous:");
                else if (line.StartsWith("Swap:", StringComparison.Ordinal)) swapZero = IsZeroKb(line, "Swap:");
                else if (!IsHeader(line, out _, out _)) continue;
                else return false; // the next mapping: a field was missing

                if (anonymousZero is { } a && swapZero is { } w) return a && w;
                continue;
            }

            if (!IsHeader(line, out var fields, out var range) || start < range.From || start >= range.To) continue;
            string perms = fields[1];
            bool privateFile = perms.Length == 4 && perms[3] == 'p' && fields.Length == 6 && fields[4] != "0" && fields[5].TrimStart().StartsWith('/');
            if (!privateFile || end > range.To) return false;
            inMapping = true;
        }

        return false;
    }

    private static bool IsZeroKb(string line, string key) => line.AsSpan(key.Length).Trim().SequenceEqual("0 kB");

    private static bool IsHeader(string line, out string[] fields, out (ulong From, ulong To) range)
    {
        fields = [];
        range = default;
        int dash = line.IndexOf('-', StringComparison.Ordinal);
        if (dash <= 0 || line.Contains(':', StringComparison.Ordinal) && line.IndexOf(':', StringComparison.Ordinal) < dash) return false;
        fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 5 // anonymous mappings have no pathname
            || !ulong.TryParse(fields[0].AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong from)
            || !ulong.TryParse(fields[0].AsSpan(dash + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong to))
        {
            return false;
        }

        range = (from, to);
        return true;
    }

    [DllImport("libc", SetLastError = false)]
    private static extern int madvise(nint addr, nuint length, int advice);
}
