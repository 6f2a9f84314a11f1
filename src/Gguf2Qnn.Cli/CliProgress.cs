using Gguf2Qnn.Conversion;
using Spectre.Console;

namespace Gguf2Qnn.Cli;

/// <summary>
/// Progress of long CLI work (conversion, verify, bench, downloads), one policy for every command:
/// <list type="bullet">
/// <item>stderr is an interactive terminal (<see cref="CliIO.Err"/> is the process's <see cref="Console.Error"/> and
/// <see cref="Console.IsErrorRedirected"/> is false) and the caller is not quiet: a Spectre.Console progress display
/// on stderr, one bar per stage with percentage, elapsed and remaining time (ETA);</item>
/// <item>stderr redirected (a pipe, a file, a test's <see cref="StringWriter"/>): one plain line per stage, no
/// carriage returns and no ANSI escape codes;</item>
/// <item>quiet (<c>--json</c>): nothing.</item>
/// </list>
/// Nothing is ever written to stdout. Use <see cref="Run{T}"/> around the work and report through the instance.
/// </summary>
internal sealed class CliProgress
{
    private readonly CliIO _io;
    private readonly string _title;
    private readonly bool _quiet;
    private readonly IAnsiConsole? _console;
    private readonly ProgressContext? _context;
    private ProgressTask? _task;
    private string? _stage;

    private CliProgress(CliIO io, string title, bool quiet, IAnsiConsole? console, ProgressContext? context)
    {
        _io = io;
        _title = title;
        _quiet = quiet;
        _console = console;
        _context = context;
    }

    /// <summary>What a progress display counts: items (tensors, windows, repetitions) or bytes (downloads).</summary>
    public enum Unit
    {
        /// <summary>Items: the bar shows a percentage.</summary>
        Items,

        /// <summary>Bytes: the bar also shows bytes done of total and the transfer speed.</summary>
        Bytes,
    }

    /// <summary>True when progress bars are drawn for <paramref name="io"/>: its stderr is the terminal's.</summary>
    public static bool IsInteractive(CliIO io)
    {
        ArgumentNullException.ThrowIfNull(io);
        return ReferenceEquals(io.Err, Console.Error) && !Console.IsErrorRedirected;
    }

    /// <summary>
    /// Runs <paramref name="work"/> with a progress reporter titled <paramref name="title"/> (e.g. "convert"); see the
    /// class remarks for what is shown. Exceptions from <paramref name="work"/> propagate after the display is closed.
    /// </summary>
    /// <param name="io">The command's writers.</param>
    /// <param name="title">Prefix of every stage's description.</param>
    /// <param name="quiet">True for machine-readable runs (<c>--json</c>): no progress output at all.</param>
    /// <param name="work">The work; it reports through its argument.</param>
    /// <param name="unit">What the stages count.</param>
    public static T Run<T>(CliIO io, string title, bool quiet, Func<CliProgress, T> work, Unit unit = Unit.Items)
    {
        ArgumentNullException.ThrowIfNull(io);
        ArgumentNullException.ThrowIfNull(work);
        if (quiet || !IsInteractive(io))
        {
            return work(new CliProgress(io, title, quiet, null, null));
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        ProgressColumn[] columns = unit == Unit.Bytes
            ? [new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn(), new SpinnerColumn()]
            : [new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn()];
        T result = default!;
        console.Progress()
            .AutoClear(true)
            .HideCompleted(false)
            .Columns(columns)
            .Start(ctx => result = work(new CliProgress(io, title, quiet: false, console, ctx)));
        return result;
    }

    /// <summary>Runs <paramref name="work"/> as <see cref="Run{T}"/> does, for work without a result.</summary>
    public static void Run(CliIO io, string title, bool quiet, Action<CliProgress> work, Unit unit = Unit.Items) =>
        Run<bool>(io, title, quiet, p =>
        {
            work(p);
            return true;
        }, unit);

    /// <summary>
    /// Starts stage <paramref name="name"/> of <paramref name="total"/> units (the previous stage is completed): a new
    /// bar on a terminal, one line <c>"title: name (total)"</c> when redirected.
    /// </summary>
    public void Stage(string name, double total)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_task is { } previous)
        {
            previous.Value = previous.MaxValue;
            previous.StopTask();
        }

        _stage = name;
        if (_context is null)
        {
            if (!_quiet)
            {
                _io.Err.WriteLine($"{_title}: {name}");
            }

            return;
        }

        _task = _context.AddTask(Markup.Escape($"{_title}: {name}"), autoStart: true, maxValue: Math.Max(total, 1e-9));
    }

    /// <summary>Sets the current stage's progress to <paramref name="done"/> units, naming the item in hand (terminal only).</summary>
    public void Report(double done, string? item = null)
    {
        if (_task is null)
        {
            return;
        }

        _task.Value = Math.Min(done, _task.MaxValue);
        if (item is not null)
        {
            _task.Description = Markup.Escape($"{_title}: {_stage} {Shorten(item, 40)}");
        }
    }

    /// <summary>Adds <paramref name="units"/> to the current stage's progress (terminal only).</summary>
    public void Advance(double units) => _task?.Increment(units);

    /// <summary>
    /// Writes a diagnostic line to stderr above the bars (on a terminal) or as a plain line; written even when quiet,
    /// since stderr is not the machine-readable stream.
    /// </summary>
    public void Log(string line)
    {
        if (_console is not null)
        {
            _console.WriteLine(line);
        }
        else
        {
            _io.Err.WriteLine(line);
        }
    }

    /// <summary>A reporter for <see cref="OnnxConverter.Convert"/>: one stage per converter stage (weights, config, manifest).</summary>
    public IProgress<ConversionProgress> ForConversion() => new SyncProgress<ConversionProgress>(p =>
    {
        if (p.Stage != _stage)
        {
            Stage(p.Stage, p.Total);
        }

        Report(p.Completed, p.Tensor);
    });

    private static string Shorten(string s, int max) => s.Length <= max ? s : "…" + s[^(max - 1)..];
}

/// <summary>An <see cref="IProgress{T}"/> that reports on the calling thread (Progress&lt;T&gt; posts to the thread pool).</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
