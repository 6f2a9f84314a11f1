using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace Gguf2Qnn.Runtime.CustomOps;

/// <summary>
/// A set of custom ops written in C# (<see cref="ManagedCustomOp"/>) registered with ONNX Runtime under one domain
/// (an <c>OrtCustomOpDomain</c>), ready to add to any number of <see cref="SessionOptions"/>.
/// </summary>
/// <remarks>
/// <para>Lifetime: ONNX Runtime requires the <c>OrtCustomOp</c> structs to outlive their domain and the domain to
/// outlive every session created from options it was added to (onnxruntime_c_api.h, CustomOpDomain_Add and
/// AddCustomOpDomain), and it never says when the last such session is gone: the managed
/// <see cref="InferenceSession"/> and <see cref="SessionOptions"/> know nothing of the domain, and a
/// <see cref="SessionOptions"/> may create sessions after its creator forgot the domain. A domain is therefore
/// immortal: <see cref="Create"/> keeps it in a process-wide list and its native memory (a few hundred bytes per
/// op) is never freed, so no order of disposal can leave ORT with a dangling pointer. Create each domain once
/// (e.g. a <c>static readonly</c> field) and reuse it. Kernels are not immortal: ORT destroys them with their
/// session, which disposes kernels that implement <see cref="IDisposable"/>.</para>
/// <para>Model side: nodes use <see cref="Name"/> as their domain and the model must import it
/// (<c>opset_import { domain: Name, version: 1 }</c>; ORT registers custom domains for opset versions 1 to 1000).</para>
/// </remarks>
public sealed unsafe class CustomOpDomain
{
    /// <summary>The domain gguf2qnn's own ops use.</summary>
    public const string DefaultName = "com.gguf2qnn";

    private static readonly Lock RegistryLock = new();
    private static readonly List<CustomOpDomain> Registry = [];
    private static readonly ConditionalWeakTable<SessionOptions, HashSet<CustomOpDomain>> AddedTo = [];

    private readonly nint _domain;

    private CustomOpDomain(string name, ManagedCustomOp[] ops, nint domain)
    {
        Name = name;
        Ops = ops;
        _domain = domain;
    }

    /// <summary>The domain name (NodeProto.domain of the ops' nodes).</summary>
    public string Name { get; }

    /// <summary>The ops, in registration order.</summary>
    public IReadOnlyList<ManagedCustomOp> Ops { get; }

    /// <summary>Every domain created in this process (they are never freed; see remarks).</summary>
    public static IReadOnlyList<CustomOpDomain> All
    {
        get
        {
            lock (RegistryLock)
            {
                return Registry.ToArray();
            }
        }
    }

    /// <summary>Registers <paramref name="ops"/> with ONNX Runtime under <paramref name="name"/>.</summary>
    /// <param name="name">The domain: non-empty, not <c>ai.onnx</c> or <c>com.microsoft</c> (ORT's own).</param>
    /// <param name="ops">At least one op; names unique.</param>
    /// <returns>The domain; it lives until the process ends (see remarks).</returns>
    /// <exception cref="ArgumentException">Bad name, no ops, or a duplicate op name.</exception>
    /// <exception cref="CustomOpException">ONNX Runtime rejects the domain or an op.</exception>
    /// <exception cref="NotSupportedException">The loaded ONNX Runtime is older than the C API this bridge uses.</exception>
    /// <exception cref="DllNotFoundException">ONNX Runtime's native library cannot be loaded.</exception>
    public static CustomOpDomain Create(string name, params IReadOnlyList<ManagedCustomOp> ops)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(ops);
        if (name is "ai.onnx" or "com.microsoft" || name.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{name}' cannot be a custom op domain.", nameof(name));
        }

        if (ops.Count == 0)
        {
            throw new ArgumentException("A custom op domain needs at least one op.", nameof(ops));
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var op in ops)
        {
            ArgumentNullException.ThrowIfNull(op, nameof(ops));
            if (!names.Add(op.Name))
            {
                throw new ArgumentException($"Op '{op.Name}' appears twice in domain '{name}'.", nameof(ops));
            }
        }

        EnsureApi();
        nint domain = 0;
        var domainName = new Utf8Name(name);
        try
        {
            OrtApiTable.Check(OrtApiTable.CreateCustomOpDomain(domainName.Pointer, &domain), $"CreateCustomOpDomain('{name}')");
        }
        finally
        {
            domainName.Dispose(); // ORT copies the domain name into its std::string.
        }

        try
        {
            foreach (var op in ops)
            {
                OrtApiTable.Check(OrtApiTable.CustomOpDomainAdd(domain, Allocate(op)), $"CustomOpDomain_Add('{op.Name}')");
            }
        }
        catch
        {
            // Nothing has seen the domain yet; the op blocks already added stay allocated (immortal by design).
            OrtApiTable.ReleaseCustomOpDomain(domain);
            throw;
        }

        var result = new CustomOpDomain(name, ops.ToArray(), domain);
        lock (RegistryLock)
        {
            Registry.Add(result);
        }

        return result;
    }

    /// <summary>
    /// Adds this domain to <paramref name="options"/> (ORT's <c>AddCustomOpDomain</c>), so sessions created from them
    /// can load models with these ops. Adding the same domain to the same options again does nothing.
    /// </summary>
    /// <exception cref="ObjectDisposedException"><paramref name="options"/> is disposed.</exception>
    /// <exception cref="CustomOpException">ONNX Runtime rejects the call.</exception>
    public void AddTo(SessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ObjectDisposedException.ThrowIf(options.IsClosed || options.IsInvalid, options);
        var added = AddedTo.GetValue(options, _ => []);
        lock (added)
        {
            if (added.Contains(this))
            {
                return;
            }

            // SessionOptions is a SafeHandle over the OrtSessionOptions*; hold a reference across the call.
            bool addedRef = false;
            try
            {
                options.DangerousAddRef(ref addedRef);
                OrtApiTable.Check(OrtApiTable.AddCustomOpDomain(options.DangerousGetHandle(), _domain), $"AddCustomOpDomain('{Name}')");
                added.Add(this);
            }
            finally
            {
                if (addedRef)
                {
                    options.DangerousRelease();
                }
            }
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({string.Join(", ", Ops.Select(o => o.Name))})";

    /// <summary>Loads <see cref="OrtApiTable"/>, rethrowing its initialisation failure itself (not wrapped).</summary>
    private static void EnsureApi()
    {
        try
        {
            RuntimeHelpers.RunClassConstructor(typeof(OrtApiTable).TypeHandle);
        }
        catch (TypeInitializationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
        }
    }

    /// <summary>Builds the never-freed native block ORT sees for <paramref name="op"/>.</summary>
    private static NativeCustomOp* Allocate(ManagedCustomOp op)
    {
        var n = (NativeCustomOp*)NativeMemory.AllocZeroed((nuint)sizeof(NativeCustomOp));
        CustomOpCallbacks.Fill(&n->Op);
        n->Managed = GCHandle.ToIntPtr(GCHandle.Alloc(op));
        n->Name = Utf8Name.Immortal(op.Name);
        n->InputCount = (nuint)op.Inputs.Count;
        n->InputTypes = Ints(op.Inputs, p => (int)p.ElementType);
        n->InputCharacteristics = Ints(op.Inputs, p => p.Optional ? 1 : 0);
        n->OutputCount = (nuint)op.Outputs.Count;
        n->OutputTypes = Ints(op.Outputs, p => (int)p.ElementType);
        n->OutputCharacteristics = Ints(op.Outputs, p => p.Optional ? 1 : 0);
        return n;
    }

    private static int* Ints(IReadOnlyList<CustomOpParameter> parameters, Func<CustomOpParameter, int> select)
    {
        var p = (int*)NativeMemory.AllocZeroed((nuint)Math.Max(1, parameters.Count), sizeof(int));
        for (int i = 0; i < parameters.Count; i++)
        {
            p[i] = select(parameters[i]);
        }

        return p;
    }
}

/// <summary>Adds <see cref="CustomOpDomain"/>s to ONNX Runtime session options.</summary>
public static class SessionOptionsCustomOpExtensions
{
    /// <summary>Adds <paramref name="domain"/> to <paramref name="options"/>; see <see cref="CustomOpDomain.AddTo"/>.</summary>
    /// <returns><paramref name="options"/>.</returns>
    public static SessionOptions AddCustomOpDomain(this SessionOptions options, CustomOpDomain domain)
    {
        ArgumentNullException.ThrowIfNull(domain);
        domain.AddTo(options);
        return options;
    }
}
