using System.Runtime.InteropServices;

namespace Gguf2Qnn.Runtime.Kernels;

/// <summary>Linux madvise(2) for the kernels' memory; a no-op answering false elsewhere or without a libc to call.</summary>
internal static unsafe class Madvise
{
    /// <summary>MADV_DONTNEED (linux/mman-common.h): drop the range's pages from this process.</summary>
    public const int DontNeed = 4;

    /// <summary>MADV_HUGEPAGE (linux/mman-common.h): back the range with transparent huge pages where possible.</summary>
    public const int HugePage = 14;

    /// <summary>Calls madvise(<paramref name="address"/>, <paramref name="length"/>, <paramref name="advice"/>); true
    /// when it returned 0.</summary>
    public static bool TryAdvise(void* address, nuint length, int advice)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return madvise((nint)address, length, advice) == 0;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc", SetLastError = false)]
    private static extern int madvise(nint addr, nuint length, int advice);
}
