using BenchmarkDotNet.Attributes;
using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Benchmarks;

/// <summary>
/// Single-threaded dequantization throughput per ggml type, against memcpy measured the same way.
/// Every case writes <see cref="OutputMiB"/> MiB of float32: 16 MiB is well past the L2 of this project's machines (1 MiB a core)
/// but source and output together still fit their 32 MiB L3 for most types; 64 MiB is past the L3 too (DRAM).
/// <c>memcpy</c> copies a float32 buffer of that size with <see cref="Span{T}.CopyTo(Span{T})"/>, every other
/// case runs <see cref="Dequantizer.Dequantize"/> over the ggml blocks that hold the same number of weights.
/// Throughput (GB/s, 10⁹ bytes of float32 output per second) and the ratio to memcpy are the columns
/// <see cref="OutputThroughputColumn"/> and <see cref="MemcpyRatioColumn"/>.
/// </summary>
public class DequantizeThroughput
{
    /// <summary>The <see cref="Kind"/> value of the memcpy baseline.</summary>
    public const string Memcpy = "memcpy";

    private byte[] _src = [];
    private float[] _srcFloats = [];
    private float[] _dst = [];
    private GgmlType _type;
    private bool _isMemcpy;

    /// <summary>Float32 output per operation, MiB.</summary>
    [Params(16, 64)]
    public int OutputMiB { get; set; } = 16;

    /// <summary>"memcpy", or the name of a ggml type (<see cref="GgmlType"/>).</summary>
    [ParamsSource(nameof(Kinds))]
    public string Kind { get; set; } = Memcpy;

    /// <summary>memcpy, then every type with a dequantizer except the integer and F64 types (not weight formats).</summary>
    public static IEnumerable<string> Kinds()
    {
        yield return Memcpy;
        foreach (var type in Enum.GetValues<GgmlType>())
        {
            if (Dequantizer.IsSupported(type) && type is not (GgmlType.I8 or GgmlType.I16 or GgmlType.I32 or GgmlType.I64 or GgmlType.F64))
            {
                yield return type.ToString();
            }
        }
    }

    /// <summary>Allocates the buffers and fills the source with random blocks whose weights are finite and not subnormal.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _dst = new float[(OutputMiB << 20) / sizeof(float)];
        var random = new Random(20251130);
        _isMemcpy = Kind == Memcpy;
        if (_isMemcpy)
        {
            _srcFloats = new float[_dst.Length];
            for (var i = 0; i < _srcFloats.Length; i++)
            {
                _srcFloats[i] = (float)(random.NextDouble() * 2 - 1);
            }

            return;
        }

        _type = Enum.Parse<GgmlType>(Kind);
        _src = RandomBlocks(_type, random, _dst);
    }

    /// <summary>One operation: <see cref="OutputMiB"/> MiB of float32 output.</summary>
    [Benchmark]
    public void Run()
    {
        if (_isMemcpy)
        {
            _srcFloats.AsSpan().CopyTo(_dst);
        }
        else
        {
            Dequantizer.Dequantize(_type, _src, _dst);
        }
    }

    /// <summary>
    /// Random bytes for <c>dst.Length</c> weights of <paramref name="type"/>; a block whose weights include a NaN, an
    /// infinity or a subnormal (random f16/e8m0 scales can be any of these) is drawn again, so timings see ordinary data.
    /// </summary>
    private static byte[] RandomBlocks(GgmlType type, Random random, float[] dst)
    {
        var blockSize = GgmlTypeTraits.BlockSize(type);
        var typeSize = GgmlTypeTraits.TypeSize(type);
        var src = new byte[GgmlTypeTraits.RowSize(type, dst.Length)];
        random.NextBytes(src);
        for (var round = 0; ; round++)
        {
            Dequantizer.Dequantize(type, src, dst);
            var redrawn = 0;
            var lastBlock = -1;
            for (var i = 0; i < dst.Length; i++)
            {
                var block = i / blockSize;
                if (block != lastBlock && !float.IsNormal(dst[i]) && dst[i] != 0)
                {
                    random.NextBytes(src.AsSpan(block * typeSize, typeSize));
                    lastBlock = block;
                    redrawn++;
                }
            }

            if (redrawn == 0)
            {
                return src;
            }

            if (round == 1000)
            {
                throw new InvalidOperationException($"{type}: random blocks keep producing non-finite weights.");
            }
        }
    }
}
