using System.Runtime.InteropServices;
using Gguf2Qnn.Reference;

namespace Gguf2Qnn.Tests.Gguf;

/// <summary>
/// ggml-quants.c row functions that libggml-base exports by name but that are not reachable through the type traits
/// <see cref="GgmlNative"/> wraps (Q8_K has no <c>to_float</c> entry; Q8_1 only a reference quantizer).
/// </summary>
internal static unsafe class GgmlExports
{
    private static readonly Lazy<IntPtr> Library = new(() =>
    {
        LlamaCppBackend.EnsureLoaded();
        var name = OperatingSystem.IsWindows() ? "ggml-base.dll" : OperatingSystem.IsMacOS() ? "libggml-base.dylib" : "libggml-base.so";
        return NativeLibrary.Load(Path.Combine(LlamaCppBackend.LibraryDirectory, name));
    });

    /// <summary><c>dequantize_row_q8_K(x, y, k)</c>: k a multiple of 256.</summary>
    public static void DequantizeRowQ8K(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (dst.Length % 256 != 0 || src.Length < dst.Length / 256 * 292)
        {
            throw new ArgumentException("Q8_K: whole 292-byte blocks of 256 weights expected.");
        }

        var fn = (delegate* unmanaged[Cdecl]<byte*, float*, long, void>)NativeLibrary.GetExport(Library.Value, "dequantize_row_q8_K");
        fixed (byte* s = src)
        fixed (float* d = dst)
        {
            fn(s, d, dst.Length);
        }
    }

    /// <summary><c>quantize_row_q8_1_ref(x, y, k)</c>: k a multiple of 32, 36 bytes per block.</summary>
    public static void QuantizeRowQ8_1(ReadOnlySpan<float> src, Span<byte> dst)
    {
        if (src.Length % 32 != 0 || dst.Length < src.Length / 32 * 36)
        {
            throw new ArgumentException("Q8_1: whole 36-byte blocks of 32 weights expected.");
        }

        var fn = (delegate* unmanaged[Cdecl]<float*, byte*, long, void>)NativeLibrary.GetExport(Library.Value, "quantize_row_q8_1_ref");
        fixed (float* s = src)
        fixed (byte* d = dst)
        {
            fn(s, d, src.Length);
        }
    }
}
