using System.Runtime.InteropServices;

namespace Gguf2Qnn.Tests.Gguf;

/// <summary>
/// Bytes placed so that they end exactly where an inaccessible page begins (as dotnet/runtime's BoundedMemory): a
/// kernel that reads one byte past its input crashes the test process instead of passing silently. Linux only
/// (mmap/mprotect); elsewhere <see cref="Create"/> returns null.
/// </summary>
internal sealed unsafe class GuardedBuffer : IDisposable
{
    private const int ProtNone = 0, ProtRead = 1, ProtWrite = 2, MapPrivate = 0x02, MapAnonymous = 0x20;
    private readonly byte* _mapping;
    private readonly nuint _mappingLength;

    private GuardedBuffer(byte* mapping, nuint mappingLength, byte* data, int length)
    {
        _mapping = mapping;
        _mappingLength = mappingLength;
        Data = data;
        Length = length;
    }

    public byte* Data { get; }

    public int Length { get; }

    public ReadOnlySpan<byte> Span => new(Data, Length);

    public static GuardedBuffer? Create(ReadOnlySpan<byte> content)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        var page = (nuint)Environment.SystemPageSize;
        var dataPages = ((nuint)content.Length + page - 1) / page;
        var total = (dataPages + 1) * page;
        var mapping = (byte*)mmap(null, total, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (mapping == (byte*)-1)
        {
            throw new InvalidOperationException("mmap failed");
        }

        var guard = mapping + (dataPages * page);
        if (mprotect(guard, page, ProtNone) != 0)
        {
            munmap(mapping, total);
            throw new InvalidOperationException("mprotect failed");
        }

        var data = guard - content.Length;
        content.CopyTo(new Span<byte>(data, content.Length));
        return new GuardedBuffer(mapping, total, data, content.Length);
    }

    public void Dispose() => munmap(_mapping, _mappingLength);

    [DllImport("libc", SetLastError = true)]
    private static extern void* mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);

    [DllImport("libc", SetLastError = true)]
    private static extern int mprotect(void* addr, nuint len, int prot);

    [DllImport("libc", SetLastError = true)]
    private static extern int munmap(void* addr, nuint length);
}
