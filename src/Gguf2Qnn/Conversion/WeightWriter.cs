using System.Globalization;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Onnx;
using DataType = Gguf2Qnn.Onnx.Proto.TensorProto.Types.DataType;

namespace Gguf2Qnn.Conversion;

/// <summary>How a linear layer's weight is stored, which decides the node(s) a target emits for it.</summary>
internal enum LinearEncoding
{
    /// <summary>float32 [K, N], consumed by MatMul.</summary>
    Float32,

    /// <summary>float16 [K, N], Cast to float32 then MatMul.</summary>
    Float16,

    /// <summary>MatMulNBits B uint8 [N, K/block, block·bits/8], scales float32 [N, K/block], optional uint8 zero_points;
    /// plus, when <see cref="LinearWeight.Offsets"/> is set, an additive per-block term (see there).</summary>
    NBits,
}

/// <summary>One linear weight as written: y = x · W with W of K inputs and N outputs.</summary>
/// <param name="Encoding">How the weight is stored.</param>
/// <param name="Weight">The weight initializer (float [K, N] or MatMulNBits B).</param>
/// <param name="Scales">MatMulNBits scales, or null.</param>
/// <param name="Bits">MatMulNBits bits (4 or 8), or 0.</param>
/// <param name="K">Inputs.</param>
/// <param name="N">Outputs.</param>
internal sealed record LinearWeight(LinearEncoding Encoding, string Weight, string? Scales, int Bits, int K, int N)
{
    /// <summary>MatMulNBits block_size (weights per scale along K).</summary>
    public int BlockSize { get; init; } = MatMulNBitsPacking.BlockSize;

    /// <summary>MatMulNBits zero_points (uint8 [N · ceil(K/block · bits / 8)]), or null for the default 2^(bits−1).</summary>
    public string? ZeroPoints { get; init; }

    /// <summary>
    /// float32 [K/block, N]: the ggml "min" term of each block, or null. W[k, n] = dequant(B)[n, k] + Offsets[k / block, n],
    /// so y = MatMulNBits(x) + (per-block sums of x) · Offsets.
    /// </summary>
    public string? Offsets { get; init; }
}

/// <summary>A token embedding as written: a float32 table for Gather (<paramref name="Scales"/> null, bits 0) or
/// block-quantized data and scales for com.microsoft GatherBlockQuantized.</summary>
internal sealed record EmbeddingWeight(string Data, string? Scales, int Bits);

/// <summary>
/// Turns GGUF tensors into initializers of a <see cref="GraphBuilder"/>, one tensor at a time, straight from the
/// memory-mapped file (a float copy of at most one tensor is held while transposing), and records a
/// <see cref="TensorMapping"/> for each.
/// </summary>
internal sealed class WeightWriter(IGgufSource gguf, GraphBuilder graph, WeightFormat format)
{
    // Source bytes dequantized per slice while streaming.
    private const int SliceBytes = 16 << 20;

    public List<TensorMapping> Mappings { get; } = [];

    /// <summary>Whether <see cref="WeightFormat.Keep"/> re-packs Q8_0 as MatMulNBits bits = 8 (true) or dequantizes it to
    /// float32 (false: the QNN EP lowers MatMulNBits on HTP for 2/4-bit weights only).</summary>
    public bool PackQ8_0 { get; init; } = true;

    /// <summary>
    /// Store every float weight as float16 for graphs whose activations are float16 (qnn target,
    /// <c>--activations fp16</c>): norm weights, biases and the embedding table as float16, MatMulNBits scales as
    /// float16 (the type of input A), dequantized linear weights as float16 [K, N] consumed by MatMul without a Cast.
    /// Each tensor's largest rounding error is recorded in its <see cref="TensorMapping"/>.
    /// </summary>
    public bool Float16Activations { get; init; }

    /// <summary>Whether <see cref="WeightFormat.Keep"/> also maps the affine block types (<see cref="AffineBlocks"/>: Q4_1, Q5_0,
    /// Q5_1, Q2_K…Q6_K) to MatMulNBits (true) or dequantizes them to float32 (false, the default: targets that cannot
    /// consume zero points, block size 16 or the offset term keep float weights).</summary>
    public bool PackAffine { get; init; }

    /// <summary>
    /// Whether <see cref="PackAffine"/> also applies to the types stored with 8 bits (Q5_0, Q5_1, Q5_K, Q6_K). Measured on
    /// ORT 1.31.1's CPU EP (x64, K 2048 × N 4096, one token): MatMulNBits bits = 8 runs 130–165 ms at accuracy_level 0
    /// (no MLAS kernel: the whole weight is dequantized on every call) against 2.1–2.4 ms for bits = 4, and 0.9–1.3 ms
    /// at accuracy_level 4 (int8 kernel). So the cpu target packs them only with accuracy_level 4 and otherwise stores
    /// ggml's exact values as float32.
    /// </summary>
    public bool PackAffine8Bit { get; init; }

    /// <summary>Called after each tensor is written (progress reporting).</summary>
    public Action<TensorMapping>? TensorWritten { get; init; }

    /// <summary>
    /// Writes a linear weight with GGUF ne = (<paramref name="k"/>, <paramref name="n"/>) for node <paramref name="node"/>.
    /// </summary>
    /// <exception cref="GgufFormatException">The tensor's shape is not (k, n).</exception>
    /// <exception cref="NotSupportedException">Its ggml type cannot be dequantized yet.</exception>
    public LinearWeight Linear(GgufTensorInfo tensor, string node, int k, int n)
    {
        RequireShape(tensor, k, n);
        if (format == WeightFormat.Keep && (tensor.Type == GgmlType.Q4_0 || (tensor.Type == GgmlType.Q8_0 && PackQ8_0)))
        {
            return NBits(tensor, node, k, n, tensor.Type == GgmlType.Q4_0 ? 4 : 8);
        }

        if (format == WeightFormat.Keep && PackAffine && AffineBlocks.TryGetFormat(tensor.Type, out var affine) && k % affine.SubBlockSize == 0
            && (PackAffine8Bit || MatMulNBitsPacking.PlanAffine(affine).Bits == 4))
        {
            return NBitsAffine(tensor, node, k, n, affine);
        }

        float[] w = DequantizeAll(tensor);
        string name = OnnxNames.Initializer(node, "weight");
        double maxError = 0;
        bool f16 = format == WeightFormat.F16 || Float16Activations;
        if (f16)
        {
            graph.AddInitializer(name, DataType.Float16, [k, n], sink => WriteTransposed<Half>(sink, w, n, k, x => (Half)x));
            foreach (float x in w)
            {
                maxError = Math.Max(maxError, Math.Abs((double)x - (float)(Half)x));
            }
        }
        else
        {
            graph.AddInitializer(name, DataType.Float, [k, n], sink => WriteTransposed(sink, w, n, k, x => x));
        }

        string encoding = (f16 ? "float16" : "float32") + "[K,N] (transposed)";
        Record(tensor, f16 && !Float16Activations ? "Cast+MatMul" : "MatMul", [name], encoding, maxError);
        return new LinearWeight(f16 ? LinearEncoding.Float16 : LinearEncoding.Float32, name, null, 0, k, n);
    }

    /// <summary>Writes a 1-D float32 tensor (norm weight, bias) of <paramref name="length"/> values.</summary>
    public string Vector(GgufTensorInfo tensor, string name, string op, int length)
    {
        RequireShape(tensor, length);
        float[] v = DequantizeAll(tensor);
        string shape = "[" + length.ToString(CultureInfo.InvariantCulture) + "]";
        if (Float16Activations)
        {
            var h = new Half[length];
            double maxError = 0;
            for (int i = 0; i < length; i++)
            {
                h[i] = (Half)v[i];
                maxError = Math.Max(maxError, Math.Abs((double)v[i] - (float)h[i]));
            }

            graph.AddInitializer<Half>(name, DataType.Float16, [length], h);
            Record(tensor, op, [name], "float16" + shape, maxError);
            return name;
        }

        graph.AddInitializer<float>(name, DataType.Float, [length], v);
        Record(tensor, op, [name], "float32" + shape, 0);
        return name;
    }

    /// <summary>Writes the token embedding as a float32 Gather table [vocab, hidden] (GGUF rows are tokens).</summary>
    public string Embedding(GgufTensorInfo tensor, string name, int hidden, int vocab)
    {
        RequireShape(tensor, hidden, vocab);
        RequireDequantizer(tensor);
        if (Float16Activations)
        {
            double maxError = 0;
            graph.AddInitializer(name, DataType.Float16, [vocab, hidden], sink =>
            {
                int rowsPerSlice = RowsPerSlice(tensor);
                var buffer = new float[(long)rowsPerSlice * hidden];
                var half = new Half[buffer.Length];
                for (long row = 0; row < vocab; row += rowsPerSlice)
                {
                    int rows = (int)Math.Min(rowsPerSlice, vocab - row);
                    var dst = buffer.AsSpan(0, rows * hidden);
                    Dequantizer.Dequantize(tensor.Type, gguf.GetTensorRows(tensor, row, rows), dst);
                    for (int i = 0; i < dst.Length; i++)
                    {
                        half[i] = (Half)dst[i];
                        maxError = Math.Max(maxError, Math.Abs((double)dst[i] - (float)half[i]));
                    }

                    sink.Write<Half>(half.AsSpan(0, dst.Length));
                }
            });
            Record(tensor, "Gather", [name], "float16[vocab,hidden]", maxError);
            return name;
        }

        graph.AddInitializer(name, DataType.Float, [vocab, hidden], sink =>
        {
            int rowsPerSlice = RowsPerSlice(tensor);
            var buffer = new float[(long)rowsPerSlice * hidden];
            for (long row = 0; row < vocab; row += rowsPerSlice)
            {
                int rows = (int)Math.Min(rowsPerSlice, vocab - row);
                var dst = buffer.AsSpan(0, rows * hidden);
                Dequantizer.Dequantize(tensor.Type, gguf.GetTensorRows(tensor, row, rows), dst);
                sink.Write<float>(dst);
            }
        });
        Record(tensor, "Gather", [name], "float32[vocab,hidden]", 0);
        return name;
    }

    /// <summary>
    /// Writes the token embedding for a Gather over token ids. With <see cref="WeightFormat.Keep"/>, Q4_0 and Q8_0
    /// tables stay block-quantized for com.microsoft GatherBlockQuantized (ORT contrib op, opset 1; CPU kernel
    /// contrib_ops/cpu/quantization/gather_block_quantized.cc): data uint8 [vocab, hidden·bits/8] (bits = 4: weight 2j
    /// in the low nibble of byte j, 2j+1 in the high nibble; bits = 8: q + 128), scales float32 [vocab, hidden/32],
    /// no zero points (the op's default zero point is 2^(bits−1): 8 or 128). The op computes (q − zero point)·scale in
    /// float32, which is ggml's d·(nibble − 8) / d·q bit for bit. Every other type (and the other formats) becomes the
    /// float32 table of <see cref="Embedding"/>.
    /// </summary>
    /// <exception cref="GgufFormatException">The tensor's shape is not (hidden, vocab).</exception>
    /// <exception cref="NotSupportedException">A type that has to be dequantized cannot be yet.</exception>
    public EmbeddingWeight GatherEmbedding(GgufTensorInfo tensor, string node, int hidden, int vocab)
    {
        RequireShape(tensor, hidden, vocab);
        if (format == WeightFormat.Keep && (tensor.Type == GgmlType.Q4_0 || tensor.Type == GgmlType.Q8_0))
        {
            int bits = tensor.Type == GgmlType.Q4_0 ? 4 : 8;
            var (data, scales, _) = WriteBlockQuantized(
                tensor,
                OnnxNames.Initializer(node, "weight_q" + bits.ToString(CultureInfo.InvariantCulture)),
                OnnxNames.Initializer(node, "scales"),
                bits,
                vocab,
                hidden,
                blob => [vocab, (long)hidden / MatMulNBitsPacking.BlockSize * blob]);
            string encoding = string.Create(CultureInfo.InvariantCulture, $"GatherBlockQuantized bits={bits} block_size=32 data[vocab,hidden*{bits}/8] scales[vocab,hidden/32] zero_point={(bits == 4 ? 8 : 128)}");
            Record(tensor, "GatherBlockQuantized", [data, scales], encoding, 0);
            return new EmbeddingWeight(data, scales, bits);
        }

        return new EmbeddingWeight(Embedding(tensor, OnnxNames.Initializer(node, "weight"), hidden, vocab), null, 0);
    }

    private LinearWeight NBits(GgufTensorInfo tensor, string node, int k, int n, int bits)
    {
        var (bName, sName, scaleError) = WriteBlockQuantized(
            tensor,
            OnnxNames.Initializer(node, "weight_q" + bits.ToString(CultureInfo.InvariantCulture)),
            OnnxNames.Initializer(node, "scales"),
            bits,
            n,
            k,
            blob => [n, k / MatMulNBitsPacking.BlockSize, blob]);
        int blobBytes = MatMulNBitsPacking.BlockSize * bits / 8;
        string encoding = string.Create(CultureInfo.InvariantCulture, $"MatMulNBits bits={bits} block_size=32 B[N,K/32,{blobBytes}] scales{(Float16Activations ? " float16" : string.Empty)}[N,K/32] zero_point={(bits == 4 ? 8 : 128)}");

        // A weight's error bound: |d − d'| · max|q − zero_point| (8 for 4-bit, 128 for 8-bit).
        Record(tensor, "MatMulNBits", [bName, sName], encoding, scaleError * (bits == 4 ? 8 : 128));
        return new LinearWeight(LinearEncoding.NBits, bName, sName, bits, k, n);
    }

    /// <summary>
    /// Writes several Q4_0 linear weights that read the same input (GGUF ne = (<paramref name="k"/>, n_i) each) as ONE
    /// MatMulNBits weight of N = Σ n_i outputs: B uint8 [N, K/32, 16] and scales [N, K/32] are the re-packed rows of the
    /// tensors one after the other (MatMulNBits B is row-major by output, so fusing along N is a plain concatenation).
    /// Output columns [Σ_{j&lt;i} n_j, Σ_{j≤i} n_j) are tensor i's outputs, bit for bit the values the separate weights
    /// give. Returns null (nothing written) unless the format is <see cref="WeightFormat.Keep"/> and every tensor is Q4_0.
    /// </summary>
    /// <exception cref="GgufFormatException">A tensor's shape is not (k, n_i).</exception>
    public LinearWeight? FusedNBits(IReadOnlyList<GgufTensorInfo> tensors, string node, int k, IReadOnlyList<int> widths)
    {
        if (format != WeightFormat.Keep || k % MatMulNBitsPacking.BlockSize != 0 || tensors.Any(t => t.Type != GgmlType.Q4_0))
        {
            return null;
        }

        for (int i = 0; i < tensors.Count; i++)
        {
            RequireShape(tensors[i], k, widths[i]);
        }

        int n = widths.Sum();
        const int bits = 4;
        var (bName, sName, scaleError) = WriteBlockQuantized(
            tensors.Select((t, i) => (t, widths[i])).ToArray(),
            OnnxNames.Initializer(node, "weight_q4"),
            OnnxNames.Initializer(node, "scales"),
            bits,
            k,
            blob => [n, k / MatMulNBitsPacking.BlockSize, blob]);
        string encoding = string.Create(CultureInfo.InvariantCulture, $"MatMulNBits bits=4 block_size=32 B[N,K/32,16] scales{(Float16Activations ? " float16" : string.Empty)}[N,K/32] zero_point=8, rows concatenated along N (fused {node})");
        foreach (var t in tensors)
        {
            Record(t, "MatMulNBits", [bName, sName], encoding, scaleError * 8);
        }

        return new LinearWeight(LinearEncoding.NBits, bName, sName, bits, k, n);
    }

    /// <summary>Writes several 1-D float32 tensors (biases) of the given lengths as one vector, concatenated.</summary>
    /// <exception cref="GgufFormatException">A tensor's length differs.</exception>
    public string ConcatenatedVector(IReadOnlyList<GgufTensorInfo> tensors, string name, string op, IReadOnlyList<int> lengths)
    {
        var all = new float[lengths.Sum()];
        int offset = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            RequireShape(tensors[i], lengths[i]);
            DequantizeAll(tensors[i]).CopyTo(all, offset);
            offset += lengths[i];
        }

        graph.AddInitializer<float>(name, DataType.Float, [all.Length], all);
        string shape = "[" + all.Length.ToString(CultureInfo.InvariantCulture) + "] (concatenated)";
        foreach (var t in tensors)
        {
            Record(t, op, [name], "float32" + shape, 0);
        }

        return name;
    }

    // Streams a Q4_0/Q8_0 tensor of `rows` rows of `k` weights as re-packed blocks (one pass over the source; the
    // scales, 4 bytes per 32 weights, are kept and written after the data).
    private (string Data, string Scales, double ScaleError) WriteBlockQuantized(
        GgufTensorInfo tensor, string dataName, string scalesName, int bits, int rows, int k, Func<int, long[]> dataDims) =>
        WriteBlockQuantized([(tensor, rows)], dataName, scalesName, bits, k, dataDims);

    // The same for several tensors whose rows are written one tensor after the other (fusion along N).
    private (string Data, string Scales, double ScaleError) WriteBlockQuantized(
        (GgufTensorInfo Tensor, int Rows)[] parts, string dataName, string scalesName, int bits, int k, Func<int, long[]> dataDims)
    {
        int blocksPerRow = k / MatMulNBitsPacking.BlockSize;
        int blob = MatMulNBitsPacking.BlockSize * bits / 8;
        int rows = parts.Sum(p => p.Rows);
        int blockBytes = bits == 4 ? MatMulNBitsPacking.Q4_0BlockBytes : MatMulNBitsPacking.Q8_0BlockBytes;
        var scales = new float[(long)rows * blocksPerRow];
        graph.AddInitializer(dataName, DataType.Uint8, dataDims(blob), sink =>
        {
            // Packs straight into the sink's buffer (the external-data writer's chunk), whole blocks at a time.
            long first = 0;
            foreach (var (tensor, partRows) in parts)
            {
                int slice = RowsPerSlice(tensor);
                for (long row = 0; row < partRows; row += slice)
                {
                    int count = (int)Math.Min(slice, partRows - row);
                    var src = gguf.GetTensorRows(tensor, row, count);
                    var dstScales = scales.AsSpan((int)((first + row) * blocksPerRow), count * blocksPerRow);
                    int blocks = count * blocksPerRow;
                    for (int done = 0; done < blocks;)
                    {
                        var dst = sink.GetSpan(blob);
                        int m = Math.Min(blocks - done, dst.Length / blob);
                        var from = src.Slice(done * blockBytes, m * blockBytes);
                        if (bits == 4)
                        {
                            MatMulNBitsPacking.PackQ4_0(from, dst[..(m * blob)], dstScales.Slice(done, m));
                        }
                        else
                        {
                            MatMulNBitsPacking.PackQ8_0(from, dst[..(m * blob)], dstScales.Slice(done, m));
                        }

                        sink.Advance(m * blob);
                        done += m;
                    }
                }

                first += partRows;
            }
        });
        double scaleError = 0;
        if (Float16Activations)
        {
            // Q4_0/Q8_0 block scales are float16 in the GGUF, so this is exact; the error is measured anyway.
            var half = new Half[scales.Length];
            for (int i = 0; i < scales.Length; i++)
            {
                half[i] = (Half)scales[i];
                scaleError = Math.Max(scaleError, Math.Abs((double)scales[i] - (float)half[i]));
            }

            graph.AddInitializer<Half>(scalesName, DataType.Float16, [rows, blocksPerRow], half);
        }
        else
        {
            graph.AddInitializer<float>(scalesName, DataType.Float, [rows, blocksPerRow], scales);
        }

        return (dataName, scalesName, scaleError);
    }

    // Affine block types: codes → MatMulNBits B, scales as they are, offsets (if any) as a separate [K/block, N] term.
    private LinearWeight NBitsAffine(GgufTensorInfo tensor, string node, int k, int n, AffineFormat f)
    {
        var plan = MatMulNBitsPacking.PlanAffine(f);
        int bs = f.SubBlockSize;
        int blocksPerRow = k / bs;
        int blob = bs * plan.Bits / 8;
        string bits = plan.Bits.ToString(CultureInfo.InvariantCulture);
        string bName = OnnxNames.Initializer(node, "weight_q" + bits);
        string sName = OnnxNames.Initializer(node, "scales");
        int rowsPerSlice = RowsPerSlice(tensor);
        var codes = new sbyte[(long)rowsPerSlice * k];
        var packed = new byte[(long)rowsPerSlice * blocksPerRow * blob];
        var scales = new float[(long)rowsPerSlice * blocksPerRow];
        var sliceOffsets = new float[f.HasOffset ? scales.Length : 0];
        var offsets = f.HasOffset ? new float[(long)n * blocksPerRow] : null;
        double maxError = 0;
        void Decode(long row, int rows)
        {
            var c = codes.AsSpan(0, rows * k);
            AffineBlocks.Decode(tensor.Type, gguf.GetTensorRows(tensor, row, rows), c, scales, sliceOffsets);
            MatMulNBitsPacking.PackCodes(c, plan, packed);
        }

        graph.AddInitializer(bName, DataType.Uint8, [n, blocksPerRow, blob], sink =>
        {
            for (long row = 0; row < n; row += rowsPerSlice)
            {
                int rows = (int)Math.Min(rowsPerSlice, n - row);
                Decode(row, rows);
                sink.WriteBytes(packed.AsSpan(0, rows * blocksPerRow * blob));
                if (offsets is not null)
                {
                    sliceOffsets.AsSpan(0, rows * blocksPerRow).CopyTo(offsets.AsSpan((int)(row * blocksPerRow)));
                    maxError = Math.Max(maxError, MatMulNBitsPacking.MaxOffsetSplitError(f, codes.AsSpan(0, rows * k), scales, sliceOffsets));
                }
            }
        });
        graph.AddInitializer(sName, DataType.Float, [n, blocksPerRow], sink =>
        {
            for (long row = 0; row < n; row += rowsPerSlice)
            {
                int rows = (int)Math.Min(rowsPerSlice, n - row);
                Decode(row, rows);
                sink.Write<float>(scales.AsSpan(0, rows * blocksPerRow));
            }
        });

        List<string> initializers = [bName, sName];
        string? zpName = null;
        if (plan.ZeroPoint is { } zp)
        {
            zpName = OnnxNames.Initializer(node, "zero_points");
            var zps = MatMulNBitsPacking.UniformZeroPoints(zp, plan.Bits, n, blocksPerRow);
            graph.AddInitializer(zpName, DataType.Uint8, [zps.Length], zps);
            initializers.Add(zpName);
        }

        string? oName = null;
        if (offsets is not null)
        {
            oName = OnnxNames.Initializer(node, "block_offsets");
            graph.AddInitializer(oName, DataType.Float, [blocksPerRow, n], sink => WriteTransposed(sink, offsets, n, blocksPerRow, x => x));
            initializers.Add(oName);
        }

        var inv = CultureInfo.InvariantCulture;
        string encoding = string.Format(inv, "MatMulNBits bits={0} block_size={1} B[N,K/{1},{2}] scales[N,K/{1}] zero_point={3}", plan.Bits, bs, blob, plan.ZeroPoint ?? (1 << (plan.Bits - 1)))
            + (plan.ZeroPoint is null ? string.Empty : " (zero_points input)")
            + (offsets is null ? string.Empty : string.Format(inv, " + block sums · offsets[K/{0},N] (ggml min term)", bs));
        Record(tensor, "MatMulNBits", initializers, encoding, maxError);
        return new LinearWeight(LinearEncoding.NBits, bName, sName, plan.Bits, k, n) { BlockSize = bs, ZeroPoints = zpName, Offsets = oName };
    }

    private float[] DequantizeAll(GgufTensorInfo tensor)
    {
        RequireDequantizer(tensor);
        long count = tensor.ElementCount;
        if (count > Array.MaxLength)
        {
            throw new NotSupportedException($"Tensor '{tensor.Name}' has {count} elements, more than one float32 array holds.");
        }

        var result = new float[count];
        if (tensor.Dimensions.Length == 1 || tensor.RowCount <= 1)
        {
            Dequantizer.Dequantize(tensor.Type, gguf.GetTensorBytes(tensor), result);
            return result;
        }

        long rowLength = tensor.Dimensions[0];
        int rowsPerSlice = RowsPerSlice(tensor);
        for (long row = 0; row < tensor.RowCount; row += rowsPerSlice)
        {
            int rows = (int)Math.Min(rowsPerSlice, tensor.RowCount - row);
            Dequantizer.Dequantize(tensor.Type, gguf.GetTensorRows(tensor, row, rows), result.AsSpan((int)(row * rowLength), (int)(rows * rowLength)));
        }

        return result;
    }

    // w is [rows = n][cols = k] row-major; writes its transpose [k][n] in bands.
    private static void WriteTransposed<T>(TensorSink sink, float[] w, int n, int k, Func<float, T> convert)
        where T : unmanaged
    {
        const int Tile = 32;
        int bandRows = Math.Max(1, Math.Min(k, (1 << 20) / Math.Max(1, n)));
        var band = new T[(long)bandRows * n];
        for (int k0 = 0; k0 < k; k0 += bandRows)
        {
            int kb = Math.Min(bandRows, k - k0);
            for (int n0 = 0; n0 < n; n0 += Tile)
            {
                int nb = Math.Min(Tile, n - n0);
                for (int kk = 0; kk < kb; kk++)
                {
                    for (int nn = 0; nn < nb; nn++)
                    {
                        band[(kk * n) + n0 + nn] = convert(w[((long)(n0 + nn) * k) + k0 + kk]);
                    }
                }
            }

            sink.Write<T>(band.AsSpan(0, kb * n));
        }
    }

    private int RowsPerSlice(GgufTensorInfo tensor)
    {
        long rowBytes = Math.Max(1, GgmlTypeTraits.RowSize(tensor.Type, tensor.Dimensions[0]));
        return (int)Math.Clamp(SliceBytes / rowBytes, 1, Math.Max(1, tensor.RowCount));
    }

    private void Record(GgufTensorInfo tensor, string op, IReadOnlyList<string> initializers, string encoding, double maxError)
    {
        var mapping = new TensorMapping(tensor.Name, tensor.Type.ToString(), tensor.Dimensions, op, initializers, encoding, maxError == 0, maxError);
        Mappings.Add(mapping);
        TensorWritten?.Invoke(mapping);
    }

    private static void RequireDequantizer(GgufTensorInfo tensor)
    {
        if (!Dequantizer.IsSupported(tensor.Type))
        {
            throw new NotSupportedException($"Tensor '{tensor.Name}' has ggml type {tensor.Type}, which gguf2qnn cannot dequantize yet.");
        }
    }

    private void RequireShape(GgufTensorInfo tensor, params long[] expected)
    {
        if (!tensor.Dimensions.AsSpan().SequenceEqual(expected))
        {
            throw new GgufFormatException(
                $"{gguf.Path}: tensor '{tensor.Name}' has shape {tensor.ShapeText}; the configuration needs [{string.Join(", ", expected)}].", -1, tensor.Name);
        }
    }
}
