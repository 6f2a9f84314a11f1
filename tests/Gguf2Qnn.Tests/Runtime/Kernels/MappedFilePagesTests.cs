using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Gguf2Qnn.Runtime.Kernels;
using Xunit;

namespace Gguf2Qnn.Tests.Runtime.Kernels;

public sealed unsafe class MappedFilePagesTests
{
    private const int Size = 1 << 20;

    private static string TempFile()
    {
        string path = Path.Combine(TestPaths.NewTempDir("mapped"), "data.bin");
        var bytes = new byte[Size];
        new Random(7).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [LinuxFact]
    public void ReleasesANeverWrittenPrivateFileMappingAndItsBytesStayTheSame()
    {
        string path = TempFile();
        var expected = File.ReadAllBytes(path);
        using var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.CopyOnWrite);
        using var view = file.CreateViewAccessor(0, Size, MemoryMappedFileAccess.CopyOnWrite); // MAP_PRIVATE
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        try
        {
            p += view.PointerOffset;
            Assert.True(new ReadOnlySpan<byte>(p, Size).SequenceEqual(expected)); // read: pages resident
            long released = MappedFilePages.TryRelease(p, Size);
            Assert.True(released >= Size - (2 * Environment.SystemPageSize), $"released {released}");
            Assert.True(new ReadOnlySpan<byte>(p, Size).SequenceEqual(expected)); // faulted back from the file

            p[100] = 1; // a private page of its own now: nothing in this mapping may be dropped any more
            Assert.Equal(0, MappedFilePages.TryRelease(p, Size));
            Assert.Equal(1, p[100]);
        }
        finally
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
    }

    [Fact]
    public void LeavesAnonymousMemoryAlone()
    {
        byte* p = (byte*)NativeMemory.AlignedAlloc(Size, 4096);
        try
        {
            new Span<byte>(p, Size).Fill(42);
            Assert.Equal(0, MappedFilePages.TryRelease(p, Size));
            Assert.True(new ReadOnlySpan<byte>(p, Size).IndexOfAnyExcept((byte)42) < 0);
        }
        finally
        {
            NativeMemory.AlignedFree(p);
        }
    }
}

/// <summary>A fact that runs on Linux only.</summary>
public sealed class LinuxFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> elsewhere.</summary>
    public LinuxFactAttribute()
    {
        if (!OperatingSystem.IsLinux()) Skip = "MADV_DONTNEED and /proc/self/smaps are Linux's.";
    }
}
