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
/// mapping, a range crossing mappings, a range with a page already written (resident or swapped out) — is left alone,
/// since MADV_DONTNEED would discard its contents. The checks read /proc/self/maps and the range's /proc/self/pagemap
/// entries (cheap), not /proc/self/smaps (which walks every mapping's page tables: ~1.7 s of system time for the 226
/// weights of a 1.5B model).
/// </remarks>
internal static unsafe class MappedFilePages
{
    /// <summary>Releases the whole pages inside [<paramref name="data"/>, +<paramref name="length"/>) when they belong
    /// to one private file mapping and none of them has been written; returns the bytes released (0 when nothing was done).</summary>
    public static long TryRelease(void* data, long length)
    {
        if (!OperatingSystem.IsLinux() || length <= 0) return 0;
        ulong start = (ulong)data, end = start + (ulong)length;
        try
        {
            if (!InPrivateFileMapping(File.ReadLines("/proc/self/maps"), start, end)) return 0;
            ulong page = (ulong)Environment.SystemPageSize;
            ulong from = (start + page - 1) & ~(page - 1), to = end & ~(page - 1);
            if (to <= from || !NoPageOfItsOwn(ReadPagemap(from / page, (to - from) / page))) return 0;
            return Madvise.TryAdvise((void*)from, (nuint)(to - from), Madvise.DontNeed) ? (long)(to - from) : 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>
    /// Whether one private (MAP_PRIVATE) mapping of a file holds [<paramref name="start"/>, <paramref name="end"/>),
    /// read from /proc/self/maps lines "start-end perms offset dev inode pathname" (proc(5); smaps headers are the same).
    /// ONNX Runtime maps external initializers readable and writable, private.
    /// </summary>
    internal static bool InPrivateFileMapping(IEnumerable<string> maps, ulong start, ulong end)
    {
        foreach (var line in maps)
        {
            if (!IsHeader(line, out var fields, out var range) || start < range.From || start >= range.To) continue;
            string perms = fields[1];
            bool privateFile = perms.Length == 4 && perms[3] == 'p' && fields.Length == 6 && fields[4] != "0" && fields[5].TrimStart().StartsWith('/');
            return privateFile && end <= range.To;
        }

        return false;
    }

    /// <summary>
    /// Whether no page of a private file mapping has a page of its own, from its /proc/self/pagemap entries
    /// (Documentation/admin-guide/mm/pagemap.rst: bit 63 present, bit 62 swapped, bit 61 file page or shared anonymous):
    /// a page written since it was mapped became a private anonymous copy (present without bit 61) or was swapped out
    /// (bit 62); MADV_DONTNEED would discard either. Pages never touched (not present) or still the file's qualify.
    /// </summary>
    internal static bool NoPageOfItsOwn(ReadOnlySpan<ulong> entries)
    {
        const ulong present = 1UL << 63, swapped = 1UL << 62, file = 1UL << 61;
        foreach (ulong e in entries)
        {
            if ((e & swapped) != 0 || ((e & present) != 0 && (e & file) == 0)) return false;
        }

        return true;
    }

    private static ulong[] ReadPagemap(ulong firstPage, ulong count)
    {
        var entries = new ulong[count];
        using var pagemap = File.OpenHandle("/proc/self/pagemap");
        var bytes = MemoryMarshal.AsBytes(entries.AsSpan());
        long offset = checked((long)(firstPage * 8));
        for (int read = 0; read < bytes.Length;)
        {
            int n = RandomAccess.Read(pagemap, bytes[read..], offset + read);
            if (n <= 0) throw new IOException("/proc/self/pagemap ended early.");
            read += n;
        }

        return entries;
    }

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
}
