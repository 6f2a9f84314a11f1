using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Architectures;

/// <summary>
/// One GGUF <c>general.architecture</c> family that gguf2qnn converts. A family states only what differs from the
/// common pre-norm decoder (RMSNorm, rotary attention with grouped KV heads, SwiGLU MLP): its rope pairing, whether
/// Q/K/V carry biases, and what it rejects. Hyper-parameters come from the file through <see cref="ModelConfig"/>.
/// </summary>
public abstract class ArchitectureFamily
{
    /// <summary>The <c>general.architecture</c> value, which is also the key prefix (<c>{arch}.block_count</c>).</summary>
    public abstract string Name { get; }

    /// <summary>The rope pairing llama.cpp uses for this architecture (llama.cpp <c>llama_model_rope_type</c>).</summary>
    public abstract RopeStyle RopeStyle { get; }

    /// <summary>True when llama.cpp requires <c>blk.{i}.attn_{q,k,v}.bias</c> for this architecture.</summary>
    public virtual bool RequiresQkvBias => false;

    /// <summary>True when llama.cpp requires <c>blk.{i}.attn_q_norm.weight</c> and <c>attn_k_norm.weight</c> (per-head
    /// RMSNorm of Q and K before rope).</summary>
    public virtual bool RequiresQkNorm => false;

    /// <summary>True when llama.cpp requires <c>blk.{i}.post_attention_norm.weight</c> and <c>post_ffw_norm.weight</c>
    /// (RMSNorm after attention and after the MLP as well as before them: gemma2, gemma3).</summary>
    public virtual bool RequiresPostNorms => false;

    /// <summary>The ONNX Runtime GenAI <c>model.type</c> written to genai_config.json.</summary>
    public virtual string GenAiModelType => Name;

    /// <summary>The families gguf2qnn supports, in the order listed in errors.</summary>
    public static IReadOnlyList<ArchitectureFamily> Supported { get; } = [new Llama(), new Qwen2(), new Qwen3(), new Phi3(), new Granite(), new Gemma2(), new Gemma3()];

    /// <summary>The family for a <c>general.architecture</c> value.</summary>
    /// <exception cref="NotSupportedException">The architecture is not supported; the message lists those that are.</exception>
    public static ArchitectureFamily ForArchitecture(string? architecture)
    {
        foreach (var family in Supported)
        {
            if (string.Equals(family.Name, architecture, StringComparison.Ordinal))
            {
                return family;
            }
        }

        throw new NotSupportedException(
            $"GGUF architecture '{architecture ?? "(missing general.architecture)"}' is not supported; supported: {string.Join(", ", Supported.Select(f => f.Name))}.");
    }

    /// <summary>Reads the architecture's own keys into <paramref name="config"/> (the common ones are already there).</summary>
    /// <exception cref="GgufFormatException">A key the architecture requires is missing or has the wrong type.</exception>
    /// <exception cref="NotSupportedException">A value selects a feature gguf2qnn does not convert.</exception>
    internal virtual ModelConfig Configure(IGgufSource gguf, ModelConfig config) => config;

    /// <summary>Rejects files of this family that use features gguf2qnn does not convert.</summary>
    /// <exception cref="NotSupportedException">An unsupported feature (named in the message).</exception>
    /// <exception cref="GgufFormatException">A tensor the family requires is missing.</exception>
    internal virtual void Validate(IGgufSource gguf, ModelConfig config)
    {
        if (RequiresQkvBias && !config.HasQkvBias)
        {
            throw new GgufFormatException($"{gguf.Path}: architecture '{Name}' requires {GgufTensorNames.AttnQBias(0)} and its K/V siblings.", -1, GgufTensorNames.AttnQBias(0));
        }

        if (RequiresQkNorm && !config.HasQkNorm)
        {
            throw new GgufFormatException($"{gguf.Path}: architecture '{Name}' requires {GgufTensorNames.AttnQNorm(0)} and {GgufTensorNames.AttnKNorm(0)}.", -1, GgufTensorNames.AttnQNorm(0));
        }

        if (RequiresPostNorms)
        {
            foreach (string name in new[] { GgufTensorNames.AttnPostNorm(0), GgufTensorNames.FfnPostNorm(0) })
            {
                if (gguf.FindTensor(name) is null)
                {
                    throw new GgufFormatException($"{gguf.Path}: architecture '{Name}' requires {name}.", -1, name);
                }
            }
        }
    }
}
