using Microsoft.ML.OnnxRuntime.Tensors;

namespace Gguf2Qnn.Runtime.CustomOps;

/// <summary>One input or output of a custom op: its tensor element type and whether a node may omit it.</summary>
/// <param name="ElementType">
/// The element type ORT checks the node's value against. <see cref="TensorElementType.DataTypeMax"/> is not allowed;
/// to accept any type use a typed op per type (ORT overloads ops of one name by type).
/// </param>
/// <param name="Optional">
/// True when a node may leave the input or output out (the empty name in the NodeProto, or fewer trailing inputs);
/// <see cref="KernelContext.GetInput"/> then returns a tensor whose <see cref="KernelTensor.IsPresent"/> is false.
/// </param>
public readonly record struct CustomOpParameter(TensorElementType ElementType, bool Optional = false);

/// <summary>
/// Creates a kernel for one node when ONNX Runtime initializes a session (once per node and session). Read the
/// node's attributes and constant inputs from <paramref name="info"/>; it is valid only during the call.
/// </summary>
/// <param name="info">The node being instantiated.</param>
/// <returns>The kernel; if it implements <see cref="IDisposable"/> it is disposed when the session releases it.</returns>
/// <remarks>An exception fails the session's creation with an <c>OnnxRuntimeException</c> carrying its message.</remarks>
public delegate ICustomOpKernel CustomKernelFactory(KernelInfo info);

/// <summary>A custom op's kernel: the computation run for one node each time the session runs it.</summary>
/// <remarks>
/// ONNX Runtime may run different nodes' kernels concurrently only in its parallel execution mode (gguf2qnn uses the
/// sequential mode); a kernel is never entered twice at once by one session run, but two sessions (or two
/// concurrent <c>Run</c> calls on one session) each use their own or the same kernel object respectively, so a kernel
/// that keeps mutable scratch state must guard it or allocate it per call.
/// </remarks>
public interface ICustomOpKernel
{
    /// <summary>
    /// Computes the node's outputs. Read inputs with <see cref="KernelContext.GetInput"/>, allocate each output with
    /// <see cref="KernelContext.GetOutput"/> and parallelise with <see cref="KernelContext.ParallelFor(long, Action{long}, long)"/>
    /// (ORT's intra-op thread pool; do not use the .NET thread pool).
    /// </summary>
    /// <param name="context">The node's inputs and outputs; valid only during the call.</param>
    /// <remarks>
    /// Any exception fails the session run: ONNX Runtime throws an <c>OnnxRuntimeException</c> whose message contains
    /// the exception's type and message. Exceptions never cross into native code.
    /// </remarks>
    void Compute(KernelContext context);
}

/// <summary>
/// A custom op written in C#: its name, the element types and optionality of its inputs and outputs, and the factory
/// that creates one <see cref="ICustomOpKernel"/> per node. Register ops with <see cref="CustomOpDomain.Create"/>.
/// </summary>
/// <remarks>
/// Variadic inputs or outputs are not supported. Attributes are not declared: ORT accepts any attribute on a custom
/// op node and the factory reads the ones it needs (a missing one fails the session's creation).
/// </remarks>
public sealed class ManagedCustomOp
{
    /// <summary>Describes an op.</summary>
    /// <param name="name">The NodeProto op_type (non-empty, unique in its domain).</param>
    /// <param name="inputs">Inputs in order.</param>
    /// <param name="outputs">Outputs in order (at least one).</param>
    /// <param name="createKernel">Creates the kernel of each node.</param>
    /// <exception cref="ArgumentException">An empty name, no outputs, or an element type that is not a numeric tensor type.</exception>
    public ManagedCustomOp(string name, IReadOnlyList<CustomOpParameter> inputs, IReadOnlyList<CustomOpParameter> outputs, CustomKernelFactory createKernel)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputs);
        ArgumentNullException.ThrowIfNull(createKernel);
        if (name.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("An op name cannot contain NUL.", nameof(name));
        }

        if (outputs.Count == 0)
        {
            throw new ArgumentException($"Custom op '{name}' has no outputs.", nameof(outputs));
        }

        Validate(name, inputs, "input", nameof(inputs));
        Validate(name, outputs, "output", nameof(outputs));
        Name = name;
        Inputs = inputs.ToArray();
        Outputs = outputs.ToArray();
        CreateKernel = createKernel;
    }

    /// <summary>The op type (NodeProto.op_type).</summary>
    public string Name { get; }

    /// <summary>Inputs in order.</summary>
    public IReadOnlyList<CustomOpParameter> Inputs { get; }

    /// <summary>Outputs in order.</summary>
    public IReadOnlyList<CustomOpParameter> Outputs { get; }

    /// <summary>The kernel factory.</summary>
    public CustomKernelFactory CreateKernel { get; }

    private static void Validate(string op, IReadOnlyList<CustomOpParameter> parameters, string what, string paramName)
    {
        for (int i = 0; i < parameters.Count; i++)
        {
            var p = parameters[i];
            if (p.ElementType is <= 0 or >= TensorElementType.DataTypeMax || p.ElementType == TensorElementType.String)
            {
                throw new ArgumentException($"Custom op '{op}' {what} {i} has element type {p.ElementType}; a numeric tensor type is required.", paramName);
            }
        }
    }
}
