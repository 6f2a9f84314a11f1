using LLama;
using LLama.Native;

namespace Gguf2Qnn.Reference;

/// <summary>
/// Makes llama.cpp-quantized GGUF files (<c>llama_model_quantize</c> through LLamaSharp's
/// <see cref="LLamaQuantizer"/>), the same files <c>llama-quantize SRC DST TYPE</c> writes.
/// </summary>
/// <remarks>
/// llama.cpp picks a type per tensor from the file type (Q4_K_M mixes Q4_K, Q6_K…) and falls back per tensor when
/// a row length is not a multiple of the block size (e.g. Q4_K → Q5_0 for 64-wide rows, F16 for 172-wide rows).
/// The plain 32-block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) define no fallback: a model with a row length that is
/// not a multiple of 32 cannot be quantized to them, and <see cref="Quantize"/> throws.
/// </remarks>
public static class LlamaCppQuantizer
{
    private static readonly object Gate = new();

    /// <summary>
    /// The llama.cpp file types this build can write, by the names <c>llama-quantize</c> accepts
    /// (<c>"Q4_0"</c>, <c>"Q8_0"</c>, <c>"Q4_K_M"</c>, <c>"F16"</c>…), from LLamaSharp's <see cref="LLamaFtype"/>.
    /// </summary>
    public static IReadOnlyList<string> FileTypes { get; } = BuildFileTypes();

    /// <summary>
    /// Quantizes <paramref name="srcGguf"/> into <paramref name="dstGguf"/>. Uses llama-quantize's defaults: the
    /// output tensor is quantized too, and an already quantized source is refused unless
    /// <paramref name="allowRequantize"/> (llama-quantize --allow-requantize: its weights are dequantized and quantized
    /// again).
    /// </summary>
    /// <param name="srcGguf">Source GGUF (F32, F16 or BF16 weights).</param>
    /// <param name="dstGguf">File to write; its folder must exist. Removed again if llama.cpp fails half-way.</param>
    /// <param name="type">File type, one of <see cref="FileTypes"/> (case-insensitive).</param>
    /// <param name="threads">Worker threads; 0 lets llama.cpp use every hardware thread.</param>
    /// <param name="allowRequantize">Accept a source whose weights are already quantized.</param>
    /// <exception cref="FileNotFoundException">The source does not exist.</exception>
    /// <exception cref="DirectoryNotFoundException">The destination folder does not exist.</exception>
    /// <exception cref="ArgumentException">Unknown type, or source and destination are the same file.</exception>
    /// <exception cref="LlamaCppException">llama.cpp refused or failed; the message quotes its error.</exception>
    public static void Quantize(string srcGguf, string dstGguf, string type, int threads = 0, bool allowRequantize = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(srcGguf);
        ArgumentException.ThrowIfNullOrEmpty(dstGguf);
        ArgumentException.ThrowIfNullOrEmpty(type);
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        var src = Path.GetFullPath(srcGguf);
        var dst = Path.GetFullPath(dstGguf);
        if (!File.Exists(src))
        {
            throw new FileNotFoundException("Source GGUF not found.", src);
        }

        var folder = Path.GetDirectoryName(dst)!;
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"Destination folder '{folder}' does not exist.");
        }

        if (string.Equals(src, dst, StringComparison.Ordinal))
        {
            throw new ArgumentException("Source and destination are the same file.", nameof(dstGguf));
        }

        var ftype = ParseFileType(type);
        LlamaCppBackend.EnsureLoaded();

        // Serialised: the log capture that explains a failure is process-wide.
        lock (Gate)
        {
            var existed = File.Exists(dst);
            using var log = LlamaCppLog.BeginCapture();
            bool ok;
            try
            {
                ok = LLamaQuantizer.Quantize(src, dst, ftype, threads, allowRequantize, quantizeOutputTensor: true);
            }
            catch (Exception e) when (e is not LlamaCppException and not OutOfMemoryException)
            {
                throw new LlamaCppException($"llama.cpp could not quantize '{src}' to {type}.", log.Summary(), e);
            }

            if (!ok)
            {
                if (!existed && File.Exists(dst))
                {
                    File.Delete(dst);
                }

                throw new LlamaCppException($"llama.cpp could not quantize '{src}' to {type}.", log.Summary());
            }
        }
    }

    /// <summary>Maps a llama-quantize type name to LLamaSharp's enum, exactly (no substring guessing).</summary>
    private static LLamaFtype ParseFileType(string type)
    {
        foreach (var value in Enum.GetValues<LLamaFtype>())
        {
            if (value != LLamaFtype.GUESSED && string.Equals(ShortName(value), type, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }

        throw new ArgumentException($"Unknown llama.cpp file type '{type}'. Known: {string.Join(", ", FileTypes)}.", nameof(type));
    }

    private static IReadOnlyList<string> BuildFileTypes() =>
        Enum.GetValues<LLamaFtype>().Where(v => v != LLamaFtype.GUESSED).Select(ShortName).ToArray();

    /// <summary>llama-quantize's spelling of a file type: the enum name without its LLAMA_FTYPE_/MOSTLY_/ALL_ prefix.</summary>
    private static string ShortName(LLamaFtype value)
    {
        var name = value.ToString();
        foreach (var prefix in new[] { "LLAMA_FTYPE_", "MOSTLY_", "ALL_" })
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal))
            {
                name = name[prefix.Length..];
            }
        }

        // LLamaSharp spells LLAMA_FTYPE_MOSTLY_IQ3_XS as MOSTLY_IQ3_K_XS.
        return name == "IQ3_K_XS" ? "IQ3_XS" : name;
    }
}
