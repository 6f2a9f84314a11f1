using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gguf2Qnn.Qnn;

/// <summary>
/// The QNN execution provider's HTP operator and data-type support, read from the data file
/// <c>Qnn/HtpOpSupport.json</c> (embedded), which names the EP version and the documentation it was taken from.
/// </summary>
public sealed class HtpSupportTable
{
    // Declared before Default: static initializers run in text order.
    private static readonly JsonSerializerOptions Options = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private readonly Dictionary<(string Domain, string Op), HtpOpEntry> _ops;

    private HtpSupportTable(HtpSupportFile file)
    {
        File = file;
        _ops = [];
        foreach (var op in file.Ops)
        {
            _ops[(op.Domain, op.Op)] = op;
        }

        TensorTypes = new HashSet<string>(file.TensorTypes, StringComparer.Ordinal);
    }

    /// <summary>The parsed data file.</summary>
    public HtpSupportFile File { get; }

    /// <summary>Element types the HTP backend holds at run time (ONNX type names in lower case: float32, int32, bool...).</summary>
    public IReadOnlySet<string> TensorTypes { get; }

    /// <summary>The table shipped with gguf2qnn.</summary>
    public static HtpSupportTable Default { get; } = Load();

    /// <summary>The entry for an operator, or null when the EP does not list it. The ai.onnx domain is "" (also "ai.onnx").</summary>
    public HtpOpEntry? Find(string domain, string op) =>
        _ops.TryGetValue((domain == "ai.onnx" ? "" : domain, op), out var e) ? e : null;

    /// <summary>Parses a data file (the embedded one by default).</summary>
    /// <exception cref="InvalidDataException">The JSON does not parse.</exception>
    public static HtpSupportTable Parse(string json)
    {
        try
        {
            return new HtpSupportTable(JsonSerializer.Deserialize<HtpSupportFile>(json, Options) ?? throw new InvalidDataException("Empty HTP support table."));
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException("The HTP support table does not parse: " + ex.Message, ex);
        }
    }

    private static HtpSupportTable Load()
    {
        using var stream = typeof(HtpSupportTable).Assembly.GetManifestResourceStream("Gguf2Qnn.Qnn.HtpOpSupport.json")
            ?? throw new InvalidOperationException("The embedded HtpOpSupport.json is missing.");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd());
    }
}

/// <summary>The data file's top level.</summary>
public sealed record HtpSupportFile
{
    /// <summary>Format tag.</summary>
    public string Format { get; init; } = "";

    /// <summary>The EP the table describes.</summary>
    public string ExecutionProvider { get; init; } = "";

    /// <summary>The EP version and documentation revision it was taken from.</summary>
    public string EpVersion { get; init; } = "";

    /// <summary>The QNN backend (HTP).</summary>
    public string Backend { get; init; } = "";

    /// <summary>Documentation the table was taken from.</summary>
    public IReadOnlyList<string> Sources { get; init; } = [];

    /// <summary>Run-time element types the backend holds.</summary>
    public IReadOnlyList<string> TensorTypes { get; init; } = [];

    /// <summary>Largest weight bytes per context binary.</summary>
    public long MaxContextWeightBytes { get; init; }

    /// <summary>Supported operators.</summary>
    public IReadOnlyList<HtpOpEntry> Ops { get; init; } = [];
}

/// <summary>One supported operator.</summary>
public sealed record HtpOpEntry
{
    /// <summary>"" for ai.onnx, else the domain (com.microsoft).</summary>
    public string Domain { get; init; } = "";

    /// <summary>Operator type.</summary>
    public string Op { get; init; } = "";

    /// <summary>Input positions that must be constant initializers the EP folds into parameters (int64 allowed there).</summary>
    public IReadOnlyList<int> StaticInputs { get; init; } = [];

    /// <summary>Allowed element types per input position (absent: <see cref="HtpSupportFile.TensorTypes"/>).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>>? InputTypes { get; init; }

    /// <summary>Allowed integer attribute values (e.g. MatMulNBits bits and block_size).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<long>>? Attributes { get; init; }

    /// <summary>The EP documentation's note.</summary>
    public string? Notes { get; init; }

    /// <summary>Input positions where an int64 constant initializer is fine (besides <see cref="StaticInputs"/>).</summary>
    [JsonPropertyName("static_inputs_int64_ok")]
    public IReadOnlyList<int> StaticInputsInt64Ok { get; init; } = [];
}
