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

    /// <summary>/proc/self/maps lines (proc(5) layout) with a private file mapping at 0x10000–0x20000.</summary>
    private static readonly string[] Maps =
    [
        "00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon",
        "00010000-00020000 rw-p 00001000 08:02 4711        /models/model.onnx.data",
        "00030000-00040000 rw-s 00001000 08:02 4711        /models/model.onnx.data",
        "7ffd0000-7ffd1000 rw-p 00000000 00:00 0",
    ];

    [Fact]
    public void OnlyARangeInsideOnePrivateFileMappingQualifies()
    {
        Assert.True(MappedFilePages.InPrivateFileMapping(Maps, 0x10000, 0x18000));
        Assert.False(MappedFilePages.InPrivateFileMapping(Maps, 0x18000, 0x21000)); // crosses its end
        Assert.False(MappedFilePages.InPrivateFileMapping(Maps, 0x30000, 0x31000)); // shared
        Assert.False(MappedFilePages.InPrivateFileMapping(Maps, 0x7ffd0000, 0x7ffd0100)); // anonymous
    }

    [Theory]
    [InlineData(0UL, true)]                                  // never touched
    [InlineData((1UL << 63) | (1UL << 61) | 0x1234, true)]   // present, the file's page
    [InlineData(1UL << 63, false)]                           // present, anonymous: written (copy-on-write)
    [InlineData((1UL << 62) | 0x55, false)]                  // swapped out: a written page
    public void OnlyPagesWithoutACopyOfTheirOwnQualify(ulong entry, bool expected)
    {
        ulong filePage = (1UL << 63) | (1UL << 61);
        Assert.Equal(expected, MappedFilePages.NoPageOfItsOwn([filePage, entry, 0]));
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
