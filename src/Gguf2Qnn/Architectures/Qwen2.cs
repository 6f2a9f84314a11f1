namespace Gguf2Qnn.Architectures;

/// <summary>
/// <c>qwen2</c> (Qwen1.5, Qwen2, Qwen2.5): half-split rope (ggml mode 2, NEOX) and required Q/K/V biases;
/// small models tie the lm head to the token embedding (no output.weight).
/// </summary>
public sealed class Qwen2 : ArchitectureFamily
{
    /// <inheritdoc />
    public override string Name => "qwen2";

    /// <inheritdoc />
    public override RopeStyle RopeStyle => RopeStyle.Neox;

    /// <inheritdoc />
    public override bool RequiresQkvBias => true;
}
