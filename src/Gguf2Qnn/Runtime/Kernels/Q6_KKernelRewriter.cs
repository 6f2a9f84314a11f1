using System.Globalization;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Gguf2Qnn.Onnx.Proto;

namespace Gguf2Qnn.Runtime.Kernels;

/// <summary>
/// Swaps, in a loaded ONNX model, each MatMulNBits node that holds a ggml Q6_K weight for gguf2qnn's own
/// <see cref="OpType"/> node (domain <see cref="Q4_0KernelRewriter.Domain"/>), run by <see cref="Q6_KMatMul"/> through
/// an ONNX Runtime custom op. As for <see cref="Q4_0KernelRewriter"/>, only the model in memory changes.
/// </summary>
/// <remarks>
/// A node qualifies when it is com.microsoft MatMulNBits (ORT docs/ContribOperators.md) with bits = 8,
/// block_size = 16, accuracy_level = 4 (int8 activations, the kernel's arithmetic), K a multiple of 256, no
/// zero_points and no g_idx, and its B (uint8) and scales (float32) inputs are constant initializers (not also graph
/// inputs): the form the cpu target writes for a Q6_K weight (llama.cpp's Q4_0 files keep output.weight in Q6_K).
/// Unlike a Q4_0 weight, the form does not prove the source type, so the data are read (raw data, or the external data
/// file memory-mapped from <c>externalDataFolder</c>) and checked with <see cref="Q6_KPackedWeights.Check"/>: a node
/// whose codes or scales are not a Q6_K weight's is left to ONNX Runtime, and <see cref="Q6_KRewrite.LeftAlone"/> says
/// why. The new node keeps the inputs A, B, scales and the optional bias (input 5), and the attributes K and N.
/// </remarks>
public static class Q6_KKernelRewriter
{
    /// <summary>The op type of the Q6_K matmul: Y [..., N] = A [..., K] · Wᵀ (+ bias).</summary>
    public const string OpType = "MatMulQ6_K";

    /// <summary>Rewrites qualifying nodes in place and says what changed and what was left alone.</summary>
    /// <param name="model">The model.</param>
    /// <param name="externalDataFolder">The folder that external-data locations are relative to (the model file's
    /// folder); null when the model has no external data (a node whose weight is external is then left alone).</param>
    /// <exception cref="ArgumentNullException">No model.</exception>
    public static Q6_KRewrite Rewrite(ModelProto model, string? externalDataFolder)
    {
        ArgumentNullException.ThrowIfNull(model);
        var graph = model.Graph;
        if (graph is null) return new Q6_KRewrite(0, []);
        var initializers = MatMulNBitsNodes.ConstantInitializers(graph);

        int count = 0;
        var leftAlone = new List<string>();
        foreach (var node in graph.Node)
        {
            if (!MatMulNBitsNodes.TryMatch(node, 8, Q6_KPackedWeights.SubBlockSize, initializers, out var b, out var scales)) continue;
            long k = MatMulNBitsNodes.Int(node, "K", 0), n = MatMulNBitsNodes.Int(node, "N", 0);
            string? why = k <= 0 || n <= 0 || k > int.MaxValue || n > int.MaxValue ? $"K = {k}, N = {n} out of range"
                : k % Q6_KPackedWeights.BlockSize != 0 ? $"K = {k} is not a multiple of {Q6_KPackedWeights.BlockSize} (a Q6_K super-block)"
                : CheckData(b, scales, (int)n, (int)k, externalDataFolder);
            if (why is not null)
            {
                leftAlone.Add($"'{node.Name}': {why}");
                continue;
            }

            MatMulNBitsNodes.Replace(node, OpType);
            count++;
        }

        if (count > 0) MatMulNBitsNodes.ImportDomain(model);
        return new Q6_KRewrite(count, leftAlone);
    }

    private static string? CheckData(TensorProto b, TensorProto scales, int n, int k, string? folder)
    {
        try
        {
            using var bBytes = InitializerBytes.Open(b, folder);
            using var sBytes = InitializerBytes.Open(scales, folder);
            if (sBytes.Span.Length % 4 != 0) return $"scales '{scales.Name}' holds {sBytes.Span.Length} bytes, not whole float32 values";
            return Q6_KPackedWeights.Check(bBytes.Span, MemoryMarshal.Cast<byte, float>(sBytes.Span), n, k);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or ArgumentException)
        {
            return $"its weight could not be read ({e.Message})";
        }
    }

    /// <summary>An initializer's bytes: its raw_data, or its range of the external data file, memory-mapped read-only.</summary>
    private sealed unsafe class InitializerBytes : IDisposable
    {
        private readonly TensorProto? _raw;
        private readonly MemoryMappedFile? _file;
        private readonly MemoryMappedViewAccessor? _view;
        private readonly byte* _pointer;
        private readonly long _length;

        private InitializerBytes(TensorProto raw)
        {
            _raw = raw;
        }

        private InitializerBytes(MemoryMappedFile file, MemoryMappedViewAccessor view, long length)
        {
            _file = file;
            _view = view;
            _length = length;
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            _pointer = p + view.PointerOffset;
        }

        public ReadOnlySpan<byte> Span => _raw is not null ? _raw.RawData.Span : new ReadOnlySpan<byte>(_pointer, checked((int)_length));

        /// <exception cref="InvalidDataException">No raw or external data, a bad location, an offset or length that is not an
        /// integer, or a range past the file's end.</exception>
        /// <exception cref="IOException">The file cannot be opened or mapped.</exception>
        public static InitializerBytes Open(TensorProto t, string? folder)
        {
            if (t.DataLocation != TensorProto.Types.DataLocation.External)
            {
                if (t.RawData.IsEmpty) throw new InvalidDataException($"initializer '{t.Name}' has no raw_data");
                return new InitializerBytes(t);
            }

            if (folder is null) throw new InvalidDataException($"initializer '{t.Name}' is external and the model's folder is not known");
            var entries = t.ExternalData.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
            if (!entries.TryGetValue("location", out var location) || Path.IsPathRooted(location) || location.Split('/', '\\').Contains(".."))
                throw new InvalidDataException($"initializer '{t.Name}' has no usable external data location");
            string path = Path.Combine(folder, location);
            long fileLength = new FileInfo(path).Length;
            long offset = Number(t, entries, "offset") ?? 0;
            // "length" is optional (onnx external_data): without it the tensor's own size, as ONNX Runtime reads it.
            long length = Number(t, entries, "length") ?? ByteSize(t);
            if (offset < 0 || length <= 0 || offset + length > fileLength || length > int.MaxValue)
                throw new InvalidDataException($"initializer '{t.Name}': bytes [{offset}, +{length}) are not inside {location} ({fileLength} bytes)");
            var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            try
            {
                var view = file.CreateViewAccessor(offset, length, MemoryMappedFileAccess.Read);
                return new InitializerBytes(file, view, length);
            }
            catch
            {
                file.Dispose();
                throw;
            }
        }

        /// <summary>The integer of external-data entry <paramref name="key"/>, or null when there is none.</summary>
        /// <exception cref="InvalidDataException">The entry is not a 64-bit integer.</exception>
        private static long? Number(TensorProto t, Dictionary<string, string> entries, string key)
        {
            if (!entries.TryGetValue(key, out var text)) return null;
            return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value) ? value
                : throw new InvalidDataException($"initializer '{t.Name}': external data '{key}' = '{text}' is not an integer");
        }

        /// <summary>Bytes of <paramref name="t"/> from its dims: uint8 and float32 only (the element types read here).</summary>
        /// <exception cref="InvalidDataException">Another element type, a negative dimension, or a size past 2^63.</exception>
        private static long ByteSize(TensorProto t)
        {
            long size = t.DataType switch
            {
                (int)TensorProto.Types.DataType.Uint8 => 1,
                (int)TensorProto.Types.DataType.Float => 4,
                _ => throw new InvalidDataException($"initializer '{t.Name}': external data without a length, of element type {t.DataType}"),
            };
            try
            {
                foreach (long d in t.Dims)
                {
                    if (d < 0) throw new InvalidDataException($"initializer '{t.Name}' has a negative dimension");
                    size = checked(size * d);
                }
            }
            catch (OverflowException)
            {
                throw new InvalidDataException($"initializer '{t.Name}': its dims overflow a 64-bit size");
            }

            return size;
        }

        public void Dispose()
        {
            if (_view is not null)
            {
                _view.SafeMemoryMappedViewHandle.ReleasePointer();
                _view.Dispose();
            }

            _file?.Dispose();
        }
    }
}

/// <summary>What <see cref="Q6_KKernelRewriter.Rewrite"/> changed.</summary>
/// <param name="Nodes">MatMulNBits nodes now run by <see cref="Q6_KKernelRewriter.OpType"/>.</param>
/// <param name="LeftAlone">Nodes of the Q6_K form (bits 8, block_size 16, accuracy_level 4, no zero_points or g_idx,
/// B uint8 and scales float32 constant initializers) that stay with ONNX Runtime because their K, N or data were
/// refused, each as "'node name': why". Nodes that are not of that form are not listed.</param>
public sealed record Q6_KRewrite(int Nodes, IReadOnlyList<string> LeftAlone);
