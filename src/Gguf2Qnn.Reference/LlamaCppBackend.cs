using System.Diagnostics;
using System.Runtime.InteropServices;
using LLama.Native;

namespace Gguf2Qnn.Reference;

/// <summary>
/// The llama.cpp native libraries LLamaSharp loaded into this process (LLamaSharp.Backend.Cpu 0.30.0 ships
/// llama.cpp commit 815a2a5915f22ce6a760c676389c5dfe8535c08f built for noavx, avx, avx2 and avx512 under
/// <c>runtimes/&lt;rid&gt;/native/&lt;level&gt;/</c> of the output folder; LLamaSharp picks the best level the CPU
/// supports). Other classes of this assembly reach libllama and libggml-base through the handles found here, so
/// they call exactly the code LLamaSharp uses.
/// </summary>
public static class LlamaCppBackend
{
    private static readonly Lazy<Libraries> Loaded = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Folder the loaded libllama (and its ggml libraries) came from.</summary>
    /// <exception cref="DllNotFoundException">LLamaSharp could not load a native library.</exception>
    public static string LibraryDirectory => Loaded.Value.Directory;

    /// <summary>The CPU variant LLamaSharp chose: <c>noavx</c>, <c>avx</c>, <c>avx2</c> or <c>avx512</c>, as its folder is named.</summary>
    public static string Variant => Loaded.Value.Variant;

    /// <summary>ggml's version string (<c>ggml_version()</c>) of the loaded library.</summary>
    public static string GgmlVersion => Loaded.Value.GgmlVersion;

    /// <summary>The short llama.cpp commit the loaded library was built from (<c>ggml_commit()</c>).</summary>
    public static string Commit => Loaded.Value.Commit;

    /// <summary>
    /// Loads the native libraries now (LLamaSharp's <c>NativeApi.llama_empty_call()</c>), after installing the
    /// <see cref="LlamaCppLog"/> callback so that loading is quiet. Safe to call many times.
    /// </summary>
    /// <exception cref="DllNotFoundException">LLamaSharp could not load a native library.</exception>
    public static void EnsureLoaded() => _ = Loaded.Value;

    /// <summary>Handle of the loaded libllama.</summary>
    internal static IntPtr LlamaHandle => Loaded.Value.Llama;

    /// <summary>Handle of the loaded libggml-base.</summary>
    internal static IntPtr GgmlBaseHandle => Loaded.Value.GgmlBase;

    /// <summary>Address of an export of libllama; throws <see cref="EntryPointNotFoundException"/> when absent.</summary>
    internal static IntPtr LlamaExport(string name) => NativeLibrary.GetExport(LlamaHandle, name);

    /// <summary>Address of an export of libggml-base; throws <see cref="EntryPointNotFoundException"/> when absent.</summary>
    internal static IntPtr GgmlBaseExport(string name) => NativeLibrary.GetExport(GgmlBaseHandle, name);

    private static unsafe Libraries Load()
    {
        LlamaCppLog.Install();
        NativeApi.llama_empty_call();

        var llamaFile = PlatformFileName("llama");
        var llamaPath = FindLoadedModule(llamaFile)
            ?? throw new DllNotFoundException(
                $"LLamaSharp reported the native library as loaded, but no module named {llamaFile} is mapped in this process.");
        var directory = Path.GetDirectoryName(llamaPath)!;

        // LLamaSharp loads ggml-base from the same folder before libllama; loading it again by full path returns the
        // same module (the loader reference-counts it), so the functions called here are the ones libllama links to.
        var ggmlBasePath = Path.Combine(directory, PlatformFileName("ggml-base"));
        var llama = NativeLibrary.Load(llamaPath);
        var ggmlBase = NativeLibrary.Load(ggmlBasePath);

        var versionFn = (delegate* unmanaged[Cdecl]<IntPtr>)NativeLibrary.GetExport(ggmlBase, "ggml_version");
        var commitFn = (delegate* unmanaged[Cdecl]<IntPtr>)NativeLibrary.GetExport(ggmlBase, "ggml_commit");
        return new Libraries(
            directory,
            Path.GetFileName(directory),
            llama,
            ggmlBase,
            Marshal.PtrToStringUTF8(versionFn()) ?? string.Empty,
            Marshal.PtrToStringUTF8(commitFn()) ?? string.Empty);
    }

    private static string PlatformFileName(string name)
    {
        if (OperatingSystem.IsWindows())
        {
            return name + ".dll";
        }

        return OperatingSystem.IsMacOS() ? "lib" + name + ".dylib" : "lib" + name + ".so";
    }

    private static string? FindLoadedModule(string fileName)
    {
        using var process = Process.GetCurrentProcess();
        foreach (ProcessModule module in process.Modules)
        {
            if (string.Equals(Path.GetFileName(module.FileName), fileName, StringComparison.OrdinalIgnoreCase))
            {
                return module.FileName;
            }
        }

        return null;
    }

    private sealed record Libraries(string Directory, string Variant, IntPtr Llama, IntPtr GgmlBase, string GgmlVersion, string Commit);
}
