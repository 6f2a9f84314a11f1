using Gguf2Qnn.Demo;
using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Cli;

/// <summary>The demo model the CLI falls back to when no model is named and ./models holds none.</summary>
internal static class DemoGguf
{
    /// <summary>The demo's shape: qwen2, 2 layers, hidden 128, Q4_0 + F32 tensors, seeded random weights with a planted
    /// next-token rule in output.weight (a clear arg-max, as trained models have, so that verify is not decided by
    /// near-ties between random logits).</summary>
    public static readonly SyntheticModelSpec Spec = new() { BlockCount = 2, HiddenSize = 128, HeadCount = 4, HeadCountKv = 2, FeedForwardLength = 256, WeightType = GgmlType.Q4_0, Seed = 2026, PlantedNextTokenWeight = 0.2f };

    /// <summary>Writes the demo GGUF into the cache folder (<c>demo/demo-qwen2-q4_0.gguf</c>), says so on stderr and returns its path.</summary>
    public static string Write(CliIO io)
    {
        var root = Path.Combine(RunCommand.CacheRoot(), "demo");
        Directory.CreateDirectory(root);
        var gguf = Path.Combine(root, "demo-qwen2-q4_0.gguf");
        // Written beside it and moved in only when the bytes differ: an unchanged file keeps its time stamp, so the
        // cached conversion of it (run --chat, --engine genai) stays valid.
        var fresh = Path.Combine(root, $".demo-{Guid.NewGuid():N}.gguf");
        try
        {
            SyntheticModel.Write(fresh, Spec);
            if (!File.Exists(gguf) || !File.ReadAllBytes(gguf).AsSpan().SequenceEqual(File.ReadAllBytes(fresh)))
            {
                File.Move(fresh, gguf, overwrite: true);
            }
        }
        finally
        {
            File.Delete(fresh);
        }

        io.Err.WriteLine($"Demo model (qwen2, {Spec.BlockCount} layers, hidden {Spec.HiddenSize}, Q4_0 + F32 tensors, seeded random weights): {gguf}");
        return gguf;
    }
}
