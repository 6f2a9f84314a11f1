namespace Gguf2Qnn.Qnn;

/// <summary>A Snapdragon SoC as the QNN HTP backend names it.</summary>
/// <param name="Name">gguf2qnn's name (<c>--soc</c>).</param>
/// <param name="Marketing">Product name.</param>
/// <param name="SocModel">QNN <c>soc_model</c> number.</param>
/// <param name="HtpArch">HTP architecture version (the QNN EP's <c>htp_arch</c>, Genie's <c>dsp_arch</c> "v{n}").</param>
public sealed record QnnSoc(string Name, string Marketing, int SocModel, int HtpArch)
{
    /// <summary>The SoCs gguf2qnn knows (DESIGN.md §4: 8 Gen 3 = 57 / v75, X Elite = 60 / v73, 8 Elite = 69 / v79).</summary>
    public static IReadOnlyList<QnnSoc> All { get; } =
    [
        new("8gen3", "Snapdragon 8 Gen 3", 57, 75),
        new("xelite", "Snapdragon X Elite", 60, 73),
        new("8elite", "Snapdragon 8 Elite", 69, 79),
    ];

    /// <summary>Finds a SoC by name (case-insensitive).</summary>
    /// <exception cref="ArgumentException">An unknown name; the message lists the known ones.</exception>
    public static QnnSoc Find(string name) =>
        All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown SoC '{name}'; known: {string.Join(", ", All.Select(s => s.Name))}.", nameof(name));
}
