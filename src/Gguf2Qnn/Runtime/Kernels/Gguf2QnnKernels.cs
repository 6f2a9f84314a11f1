using Gguf2Qnn.Runtime.CustomOps;

namespace Gguf2Qnn.Runtime.Kernels;

/// <summary>
/// The ONNX Runtime custom-op domain <c>com.gguf2qnn</c> with all of gguf2qnn's kernels: <c>MatMulQ4_0</c>
/// (<see cref="Q4_0MatMulOp"/>) and <c>MatMulQ6_K</c> (<see cref="Q6_KMatMulOp"/>). One domain for both, so a session
/// registers the name once.
/// </summary>
public static class Gguf2QnnKernels
{
    private static readonly Lazy<CustomOpDomain> LazyDomain = new(() =>
        CustomOpDomain.Create(Q4_0KernelRewriter.Domain, Q4_0MatMulOp.Op, Q6_KMatMulOp.Op));

    /// <summary>The domain; created once per process and never freed (see <see cref="CustomOpDomain"/>).</summary>
    public static CustomOpDomain Domain => LazyDomain.Value;
}
