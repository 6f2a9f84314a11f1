using System.Globalization;
using System.Text.RegularExpressions;

namespace Gguf2Qnn.Gguf;

/// <summary>
/// A GGUF model read as one, whether it is a single file or split into parts by llama.cpp's <c>gguf-split</c>
/// (<c>PREFIX-00001-of-0000N.gguf</c> …, keys <see cref="GgufSplitKeys"/>). Opening any part opens them all: the
/// metadata are the first part's, the tensors the union of every part's, in part order; tensor data stay in each
/// part's memory map. Same members as <see cref="GgufFile"/> (both implement <see cref="IGgufSource"/>), so code
/// written for one file switches by replacing <c>GgufFile.Open</c> with <c>GgufModel.Open</c>.
/// </summary>
public sealed partial class GgufModel : IGgufSource
{
    /// <summary>Largest part count gguf-split's 5-digit names allow.</summary>
    public const int MaxSplitCount = 99999;

    private readonly Dictionary<string, (GgufFile Part, GgufTensorInfo Info)> _tensorsByName;

    private GgufModel(GgufFile[] parts)
    {
        Parts = parts;
        var tensors = new List<GgufTensorInfo>(parts.Sum(p => p.Tensors.Count));
        _tensorsByName = new Dictionary<string, (GgufFile, GgufTensorInfo)>(tensors.Capacity, StringComparer.Ordinal);
        foreach (var part in parts)
        {
            foreach (var t in part.Tensors)
            {
                if (!_tensorsByName.TryAdd(t.Name, (part, t)))
                {
                    throw new GgufFormatException(
                        $"{part.Path}: tensor '{t.Name}' is also in {_tensorsByName[t.Name].Part.Path}; a split model holds each tensor once.", -1, t.Name);
                }

                tensors.Add(t);
            }
        }

        Tensors = tensors;
    }

    /// <summary>The parts in order (one element for a model that is not split).</summary>
    public IReadOnlyList<GgufFile> Parts { get; }

    /// <summary>True when the model has more than one part.</summary>
    public bool IsSplit => Parts.Count > 1;

    /// <inheritdoc />
    public string Path => Parts[0].Path;

    /// <inheritdoc />
    public IReadOnlyDictionary<string, GgufValue> Metadata => Parts[0].Metadata;

    /// <inheritdoc />
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    /// <inheritdoc />
    public string? Architecture => Parts[0].Architecture;

    /// <summary>
    /// Opens a model: a single GGUF file, or any part of a split set (all parts are then opened and checked).
    /// </summary>
    /// <param name="path">A .gguf file, or any part <c>PREFIX-0000K-of-0000N.gguf</c> of a split model.</param>
    /// <exception cref="FileNotFoundException">The file, or a part of its split set, does not exist.</exception>
    /// <exception cref="GgufFormatException">
    /// A part is corrupt; or the split set is inconsistent: <c>split.count</c>/<c>split.no</c> disagree with the part
    /// names or with each other, a tensor appears in two parts, or the union does not hold <c>split.tensors.count</c>
    /// tensors.
    /// </exception>
    /// <exception cref="NotSupportedException">A part is GGUF v1 or big-endian.</exception>
    public static GgufModel Open(string path)
    {
        var opened = new List<GgufFile>();
        try
        {
            var first = GgufFile.Open(path);
            opened.Add(first);
            var (no, count) = ReadSplitKeys(first);
            if (count == 1)
            {
                return new GgufModel([first]);
            }

            if (!TryParseSplitPath(path, out var prefix, out var nameNo, out var nameCount) || nameNo != no || nameCount != count)
            {
                throw new GgufFormatException(
                    $"{path} is part {no + 1} of {count} ({GgufSplitKeys.No} = {no}, {GgufSplitKeys.Count} = {count}), but its name is not '{System.IO.Path.GetFileName(SplitPath("PREFIX", no, count))}'.",
                    -1,
                    GgufSplitKeys.No);
            }

            var parts = new GgufFile[count];
            parts[no] = first;
            for (var i = 0; i < count; i++)
            {
                if (i == no)
                {
                    continue;
                }

                var partPath = SplitPath(prefix, i, count);
                if (!File.Exists(partPath))
                {
                    throw new FileNotFoundException($"Part {i + 1} of {count} of the split model {path} is missing: {partPath}", partPath);
                }

                var part = GgufFile.Open(partPath);
                opened.Add(part);
                parts[i] = part;
                var (partNo, partCount) = ReadSplitKeys(part);
                if (partNo != i || partCount != count)
                {
                    throw new GgufFormatException(
                        $"{partPath}: {GgufSplitKeys.No} = {partNo} and {GgufSplitKeys.Count} = {partCount}, expected {i} and {count}.", -1, partNo != i ? GgufSplitKeys.No : GgufSplitKeys.Count);
                }
            }

            var model = new GgufModel(parts);
            if (parts[0].TryGetInt64(GgufSplitKeys.TensorsCount, out var expected) && expected != model.Tensors.Count)
            {
                throw new GgufFormatException(
                    $"{parts[0].Path}: {GgufSplitKeys.TensorsCount} is {expected}, but the {count} parts hold {model.Tensors.Count} tensors.", -1, GgufSplitKeys.TensorsCount);
            }

            return model;
        }
        catch
        {
            foreach (var f in opened)
            {
                f.Dispose();
            }

            throw;
        }
    }

    /// <summary>
    /// The path of part <paramref name="splitNo"/> (0-based) of <paramref name="splitCount"/>:
    /// <c>PREFIX-{splitNo + 1:D5}-of-{splitCount:D5}.gguf</c>, as llama.cpp's <c>llama_split_path</c>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">splitNo outside [0, splitCount) or splitCount outside [1, 99999].</exception>
    public static string SplitPath(string prefix, int splitNo, int splitCount)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentOutOfRangeException.ThrowIfLessThan(splitCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(splitCount, MaxSplitCount);
        ArgumentOutOfRangeException.ThrowIfNegative(splitNo);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(splitNo, splitCount);
        return string.Create(CultureInfo.InvariantCulture, $"{prefix}-{splitNo + 1:D5}-of-{splitCount:D5}.gguf");
    }

    /// <summary>
    /// Splits a part's path into its prefix, 0-based index and part count; false when the name does not end in
    /// <c>-NNNNN-of-MMMMM.gguf</c> with 1 ≤ NNNNN ≤ MMMMM.
    /// </summary>
    public static bool TryParseSplitPath(string path, out string prefix, out int splitNo, out int splitCount)
    {
        ArgumentNullException.ThrowIfNull(path);
        var m = SplitName().Match(path);
        prefix = string.Empty;
        splitNo = -1;
        splitCount = 0;
        if (!m.Success)
        {
            return false;
        }

        var no = int.Parse(m.Groups["no"].ValueSpan, CultureInfo.InvariantCulture);
        var count = int.Parse(m.Groups["count"].ValueSpan, CultureInfo.InvariantCulture);
        if (no < 1 || no > count)
        {
            return false;
        }

        prefix = m.Groups["prefix"].Value;
        splitNo = no - 1;
        splitCount = count;
        return true;
    }

    /// <summary>The part holding <paramref name="tensor"/>.</summary>
    /// <exception cref="ArgumentException">The tensor info does not come from this model.</exception>
    public GgufFile PartOf(GgufTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return _tensorsByName.TryGetValue(tensor.Name, out var entry) && ReferenceEquals(entry.Info, tensor)
            ? entry.Part
            : throw new ArgumentException($"Tensor '{tensor.Name}' is not a tensor of {Path}.", nameof(tensor));
    }

    /// <inheritdoc />
    public bool TryGetValue(string key, out GgufValue value) => Parts[0].TryGetValue(key, out value);

    /// <inheritdoc />
    public string GetString(string key) => Parts[0].GetString(key);

    /// <inheritdoc />
    public bool TryGetString(string key, out string value) => Parts[0].TryGetString(key, out value);

    /// <inheritdoc />
    public long GetInt64(string key) => Parts[0].GetInt64(key);

    /// <inheritdoc />
    public bool TryGetInt64(string key, out long value) => Parts[0].TryGetInt64(key, out value);

    /// <inheritdoc />
    public double GetDouble(string key) => Parts[0].GetDouble(key);

    /// <inheritdoc />
    public bool TryGetDouble(string key, out double value) => Parts[0].TryGetDouble(key, out value);

    /// <inheritdoc />
    public bool TryGetBool(string key, out bool value) => Parts[0].TryGetBool(key, out value);

    /// <inheritdoc />
    public string[] GetStringArray(string key) => Parts[0].GetStringArray(key);

    /// <inheritdoc />
    public float[] GetFloatArray(string key) => Parts[0].GetFloatArray(key);

    /// <inheritdoc />
    public int[] GetInt32Array(string key) => Parts[0].GetInt32Array(key);

    /// <inheritdoc />
    public GgufTensorInfo? FindTensor(string name) => _tensorsByName.TryGetValue(name, out var e) ? e.Info : null;

    /// <inheritdoc />
    public GgufTensorInfo GetTensor(string name) =>
        FindTensor(name) ?? throw new GgufFormatException($"{Path}: required tensor '{name}' is missing.", -1, name);

    /// <inheritdoc />
    public ReadOnlySpan<byte> GetTensorBytes(GgufTensorInfo tensor) => PartOf(tensor).GetTensorBytes(tensor);

    /// <inheritdoc />
    public ReadOnlySpan<byte> GetTensorRows(GgufTensorInfo tensor, long firstRow, int rowCount) =>
        PartOf(tensor).GetTensorRows(tensor, firstRow, rowCount);

    /// <inheritdoc />
    public float[] DequantizeTensor(GgufTensorInfo tensor) => PartOf(tensor).DequantizeTensor(tensor);

    /// <summary>Closes every part.</summary>
    public void Dispose()
    {
        foreach (var part in Parts)
        {
            part.Dispose();
        }
    }

    /// <summary>(split.no, split.count) of a part; (0, 1) when it has no split keys.</summary>
    private static (int No, int Count) ReadSplitKeys(GgufFile file)
    {
        if (!file.TryGetInt64(GgufSplitKeys.Count, out var count))
        {
            return (0, 1);
        }

        if (count is < 1 or > MaxSplitCount)
        {
            throw new GgufFormatException($"{file.Path}: {GgufSplitKeys.Count} is {count}; it must be 1 to {MaxSplitCount}.", -1, GgufSplitKeys.Count);
        }

        var no = file.TryGetInt64(GgufSplitKeys.No, out var n) ? n : 0;
        if (no < 0 || no >= count)
        {
            throw new GgufFormatException($"{file.Path}: {GgufSplitKeys.No} is {no}, outside [0, {count}).", -1, GgufSplitKeys.No);
        }

        return ((int)no, (int)count);
    }

    [GeneratedRegex(@"^(?<prefix>.*)-(?<no>\d{5})-of-(?<count>\d{5})\.gguf$", RegexOptions.CultureInvariant)]
    private static partial Regex SplitName();
}
