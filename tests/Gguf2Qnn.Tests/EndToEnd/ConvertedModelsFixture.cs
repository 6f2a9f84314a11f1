using Gguf2Qnn.Conversion;
using Gguf2Qnn.Demo;
using Gguf2Qnn.Reference;

namespace Gguf2Qnn.Tests.EndToEnd;

/// <summary>
/// The models the end-to-end tests compare with llama.cpp, converted once per test run: the real stories260K and
/// llama-2-tiny-random files, and two qwen2 models written by <see cref="SyntheticModel"/> (2 layers, hidden 64, 4 heads,
/// 2 KV heads, ffn 128, q/k/v biases; one with tied embeddings, one with output.weight) and quantized to Q4_0 by
/// llama.cpp's own quantizer. The untied one has a planted next-token rule in its head
/// (<see cref="SyntheticModelSpec.PlantedNextTokenWeight"/>): llama.cpp's Q4_0 path quantizes activations to 8 bits and
/// so differs from exact arithmetic on the same weights by up to 0.25 in a logit (measured: llama.cpp on the Q4_0 file
/// against llama.cpp on an F32 file of the same dequantized weights), which random near-ties would turn into arg-max flips.
/// </summary>
public sealed class ConvertedModelsFixture : IDisposable
{
    private readonly string _root = TestPaths.NewTempDir("e2e");
    private readonly Dictionary<string, (string Gguf, string Onnx)> _models = [];
    private readonly Lock _lock = new();

    /// <summary>
    /// A copy of an artifact folder without conversion.json (as written before it existed): the commands then cannot
    /// tell which GGUF it came from.
    /// </summary>
    public static string CopyWithoutManifest(string onnx)
    {
        var copy = Path.Combine(TestPaths.NewTempDir("no-manifest"), Path.GetFileName(onnx));
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(onnx).Where(f => Path.GetFileName(f) != Gguf2Qnn.Conversion.OnnxConverter.ManifestFileName))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }

        return copy;
    }

    /// <summary>The GGUF and converted artifact folder for a named model (stories, tiny-random, qwen2-q4_0-tied, qwen2-q4_0,
    /// qwen2-f32, qwen2-q4_0-q6k-head).</summary>
    public (string Gguf, string Onnx) Get(string name)
    {
        lock (_lock)
        {
            if (_models.TryGetValue(name, out var m))
            {
                return m;
            }

            var gguf = name switch
            {
                "stories" => TestPaths.Stories260K,
                "tiny-random" => TestPaths.LlamaTinyRandom,
                "qwen2-q4_0-tied" => QuantizedQwen2(tied: true),
                "qwen2-q4_0" => QuantizedQwen2(tied: false),
                "qwen2-f32" => Qwen2F32(tied: false),
                "qwen2-q4_0-q6k-head" => QuantizedQwen2WithQ6_KHead(),
                _ => throw new ArgumentException(name),
            };
            var onnx = Path.Combine(_root, name + "-onnx");
            OnnxConverter.Convert(new ConvertOptions { GgufPath = gguf, OutputDirectory = onnx });
            m = (gguf, onnx);
            _models[name] = m;
            return m;
        }
    }

    public void Dispose()
    {
        TestPaths.DeleteQuietly(_root);
    }

    private string Qwen2F32(bool tied)
    {
        var f32 = Path.Combine(_root, $"qwen2-f32{(tied ? "-tied" : string.Empty)}.gguf");
        if (!File.Exists(f32))
        {
            SyntheticModel.Write(f32, new SyntheticModelSpec { BlockCount = 2, HiddenSize = 64, HeadCount = 4, HeadCountKv = 2, FeedForwardLength = 128, TiedEmbeddings = tied, Seed = tied ? 7UL : 11UL, PlantedNextTokenWeight = tied ? 0f : 0.2f });
        }

        return f32;
    }

    /// <summary>
    /// llama.cpp's Q4_0 mix of a qwen2 whose hidden size is a multiple of 256 (2 layers, hidden 256, 4 heads, 2 KV heads,
    /// ffn 512, planted next-token rule): llama-quantize keeps output.weight in Q6_K there (as in real Q4_0 files, e.g.
    /// DeepSeek-R1-Distill-Qwen-1.5B-Q4_0), which the cpu target writes as 8-bit MatMulNBits with block_size 16.
    /// </summary>
    private string QuantizedQwen2WithQ6_KHead()
    {
        var f32 = Path.Combine(_root, "qwen2-256-f32.gguf");
        SyntheticModel.Write(f32, new SyntheticModelSpec { BlockCount = 2, HiddenSize = 256, HeadCount = 4, HeadCountKv = 2, FeedForwardLength = 512, Seed = 5, PlantedNextTokenWeight = 0.2f });
        var q4 = Path.Combine(_root, "qwen2-q4_0-q6k-head.gguf");
        LlamaCppQuantizer.Quantize(f32, q4, "Q4_0");
        return q4;
    }

    private string QuantizedQwen2(bool tied)
    {
        var f32 = Qwen2F32(tied);
        var q4 = Path.Combine(_root, $"qwen2-q4_0{(tied ? "-tied" : string.Empty)}.gguf");
        LlamaCppQuantizer.Quantize(f32, q4, "Q4_0");
        return q4;
    }
}
