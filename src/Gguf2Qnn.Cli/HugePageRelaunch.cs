using System.Diagnostics;

namespace Gguf2Qnn.Cli;

/// <summary>
/// Linux: runs the commands that execute a model (run, chat, verify, bench, and the demo) in a child process started
/// with <c>GLIBC_TUNABLES=glibc.malloc.hugetlb=1</c>, so that glibc's malloc asks for transparent huge pages
/// (madvise(MADV_HUGEPAGE) on the memory it maps).
/// </summary>
/// <remarks>
/// <para>ONNX Runtime keeps the MatMulNBits weights it pre-packs at session load (about 1 GB for a 1.5B Q4_0 model) in
/// malloc'ed memory. Where transparent huge pages are in <c>madvise</c> mode (a common default) that memory is
/// otherwise mapped in 4 KiB pages, and every decode step streams all of it through the TLB. glibc reads its tunables
/// only when a process starts, hence the child process. Measured on the project's 2-core benchmark VM (ORT profiler,
/// median per-node time over 64 decode steps): the layer MatMulNBits nodes run 6–15% faster (docs/BENCHMARKS.md).</para>
/// <para>Not relaunched: other operating systems, other commands (convert, inspect…, where nothing would gain), a
/// process whose <c>GLIBC_TUNABLES</c> already mentions <c>hugetlb</c>, and <c>GGUF2QNN_HUGEPAGES=0</c> (off switch
/// for A/B measurements). The child inherits stdin/stdout/stderr and the parent returns its exit code.</para>
/// </remarks>
internal static class HugePageRelaunch
{
    private const string Tunables = "GLIBC_TUNABLES";
    private const string Setting = "glibc.malloc.hugetlb=1";
    private const string Switch = "GGUF2QNN_HUGEPAGES";

    private static readonly HashSet<string> ModelCommands = new(StringComparer.Ordinal) { "run", "chat", "verify", "bench" };

    /// <summary>Whether <paramref name="args"/> should run in a relaunched child (see remarks).</summary>
    public static bool ShouldRelaunch(string[] args) =>
        Environment.ProcessPath is not null && ShouldRelaunch(args, OperatingSystem.IsLinux(), Environment.GetEnvironmentVariable);

    /// <summary>The decision of <see cref="ShouldRelaunch(string[])"/> for a given OS and environment.</summary>
    internal static bool ShouldRelaunch(string[] args, bool linux, Func<string, string?> environment)
    {
        if (!linux || environment(Switch) == "0")
        {
            return false;
        }

        string? tunables = environment(Tunables);
        if (tunables is not null && tunables.Contains("hugetlb", StringComparison.Ordinal))
        {
            return false;
        }

        // The demo (no command) runs a model too; options before the command are not part of this CLI's grammar.
        return args.Length == 0 || ModelCommands.Contains(args[0]);
    }

    /// <summary>Starts this executable again with the tunable set and the same arguments; returns its exit code.</summary>
    /// <remarks>When the child cannot be started, runs <paramref name="fallback"/> in this process instead.</remarks>
    public static int Run(string[] args, Func<int> fallback)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false };
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        string? tunables = Environment.GetEnvironmentVariable(Tunables);
        start.Environment[Tunables] = string.IsNullOrEmpty(tunables) ? Setting : tunables + ":" + Setting;
        start.Environment[Switch] = "0"; // the child never relaunches again
        Process? child;
        try
        {
            child = Process.Start(start);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            child = null;
        }

        if (child is null)
        {
            return fallback();
        }

        using (child)
        {
            // Ctrl+C reaches the whole process group: let the child handle it and report its own exit code.
            Console.CancelKeyPress += (_, e) => e.Cancel = true;
            child.WaitForExit();
            return child.ExitCode;
        }
    }
}
