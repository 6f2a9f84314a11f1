using System.Text;
using LLama.Native;

namespace Gguf2Qnn.Reference;

/// <summary>
/// Routes llama.cpp's (and ggml's) log output. By default it is silenced: llama.cpp otherwise prints every model
/// load, context creation and quantization to stderr, which would drown test and CLI output. Set <see cref="Echo"/>
/// to keep it.
/// </summary>
/// <remarks>
/// The callback is installed through LLamaSharp's <c>NativeLogConfig.llama_log_set</c> before the native library
/// loads (so the library-selection messages are caught too); llama.cpp's <c>llama_log_set</c> also sets ggml's log
/// callback. The setting is process-wide because llama.cpp's logger is. Warning and error lines are also recorded
/// while a <see cref="LlamaCppModel"/> or <see cref="LlamaCppQuantizer"/> call runs, so that a failure can be
/// reported with llama.cpp's own words (<see cref="LlamaCppException.NativeLog"/>).
/// </remarks>
public static class LlamaCppLog
{
    private static readonly object Gate = new();
    private static readonly NativeLogConfig.LLamaLogCallback Callback = OnMessage;
    private static readonly List<Capture> Captures = [];
    private static TextWriter? echo;
    private static int installed;

    /// <summary>
    /// Where llama.cpp's log text goes, verbatim (messages already end in their own newlines); null, the default,
    /// discards it. Use <c>Console.Error</c> to get llama.cpp's usual behaviour back.
    /// </summary>
    public static TextWriter? Echo
    {
        get
        {
            lock (Gate)
            {
                return echo;
            }
        }

        set
        {
            lock (Gate)
            {
                echo = value;
            }

            Install();
        }
    }

    /// <summary>Installs the callback once; called before the native library is first used.</summary>
    internal static void Install()
    {
        if (Interlocked.Exchange(ref installed, 1) == 0)
        {
            NativeLogConfig.llama_log_set(Callback);
        }
    }

    /// <summary>Starts recording warning and error messages until the returned scope is disposed.</summary>
    internal static Capture BeginCapture()
    {
        Install();
        var capture = new Capture();
        lock (Gate)
        {
            Captures.Add(capture);
        }

        return capture;
    }

    private static void OnMessage(LLamaLogLevel level, string message)
    {
        lock (Gate)
        {
            echo?.Write(message);
            foreach (var capture in Captures)
            {
                capture.Add(level, message);
            }
        }
    }

    /// <summary>Warning and error text recorded between <see cref="BeginCapture"/> and <see cref="Dispose"/>.</summary>
    internal sealed class Capture : IDisposable
    {
        private readonly StringBuilder warnings = new();
        private readonly StringBuilder errors = new();
        private LLamaLogLevel last = LLamaLogLevel.None;

        /// <summary>Error-level text, whitespace collapsed.</summary>
        public string Errors
        {
            get
            {
                lock (Gate)
                {
                    return Collapse(errors);
                }
            }
        }

        /// <summary>Warning-level text, whitespace collapsed, at most the last <paramref name="maxChars"/> characters.</summary>
        public string Warnings(int maxChars = 2000)
        {
            lock (Gate)
            {
                var text = Collapse(warnings);
                return text.Length <= maxChars ? text : "…" + text[^maxChars..];
            }
        }

        /// <summary>Errors, then the warnings before them: the text a failure message quotes.</summary>
        public string Summary()
        {
            var e = Errors;
            var w = Warnings(600);
            return (e.Length, w.Length) switch
            {
                (0, 0) => string.Empty,
                (_, 0) => e,
                (0, _) => w,
                _ => e + " (after warnings: " + w + ")",
            };
        }

        /// <inheritdoc />
        public void Dispose()
        {
            lock (Gate)
            {
                Captures.Remove(this);
            }
        }

        internal void Add(LLamaLogLevel level, string message)
        {
            // llama.cpp sends long lines in pieces: LLAMA_LOG_CONT pieces belong to the previous message's level.
            var effective = level == LLamaLogLevel.Continue ? last : level;
            last = effective;
            if (effective == LLamaLogLevel.Error)
            {
                errors.Append(message).Append(' ');
            }
            else if (effective == LLamaLogLevel.Warning)
            {
                warnings.Append(message).Append(' ');
            }
        }

        private static string Collapse(StringBuilder text) =>
            string.Join(' ', text.ToString().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
    }
}
