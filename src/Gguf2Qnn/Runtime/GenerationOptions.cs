namespace Gguf2Qnn.Runtime;

/// <summary>
/// How <see cref="OnnxCausalLm.Generate"/> picks tokens and when it stops. Validated once by <see cref="Validate"/>.
/// Sampling applies, in order: temperature, top-k, softmax, top-p (nucleus), then one draw (the order used by
/// Hugging Face transformers and ONNX Runtime GenAI; llama.cpp's default chain applies temperature last).
/// </summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens to generate after the prompt (a stop token ends generation earlier). Default 128.</summary>
    public int MaxNewTokens { get; init; } = 128;

    /// <summary>Arg-max decoding (ties go to the lowest token id); the sampling settings are ignored. Default false.</summary>
    public bool Greedy { get; init; }

    /// <summary>Logits are divided by this before softmax; 0 means greedy. Default 0.8 (llama.cpp's default).</summary>
    public float Temperature { get; init; } = 0.8f;

    /// <summary>Keep only the K most likely tokens; 0 disables. Default 40 (llama.cpp's default).</summary>
    public int TopK { get; init; } = 40;

    /// <summary>Keep the smallest set of most likely tokens whose probability sum reaches P; 1 disables. Default 0.95.</summary>
    public float TopP { get; init; } = 0.95f;

    /// <summary>Seed for <see cref="System.Random"/>: the same seed, prompt and model give the same tokens. Null: unseeded.</summary>
    public int? Seed { get; init; }

    /// <summary>Token ids that end generation (typically the end-of-generation ids). A stop token is not yielded.</summary>
    public IReadOnlyCollection<int> StopTokens { get; init; } = [];

    /// <summary>True when tokens are picked by arg-max (<see cref="Greedy"/> or a temperature of 0).</summary>
    public bool IsGreedy => Greedy || Temperature == 0f;

    /// <summary>Checks the ranges.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(MaxNewTokens);
        if (!(Temperature >= 0f) || float.IsInfinity(Temperature))
        {
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "Temperature must be finite and >= 0.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(TopK);
        if (!(TopP > 0f && TopP <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "TopP must be in (0, 1].");
        }
    }
}
