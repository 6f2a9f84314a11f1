using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace Gguf2Qnn.Runtime.CustomOps;

/// <summary>The body of a <see cref="KernelContext.ParallelFor{TBody}(long, ref TBody, long)"/> loop.</summary>
public interface IParallelForBody
{
    /// <summary>Runs iteration <paramref name="index"/>; called once per index, from several threads at once.</summary>
    void Invoke(long index);
}

/// <summary>
/// <see cref="Kernels.IKernelParallelFor"/> on ONNX Runtime's intra-op thread pool for one
/// <see cref="ICustomOpKernel.Compute"/> call (<see cref="KernelContext.CreateParallelFor"/>).
/// </summary>
public sealed unsafe class KernelParallelFor : Kernels.IKernelParallelFor, IDisposable
{
    private nint _context;

    internal KernelParallelFor(nint context) => _context = context;

    /// <inheritdoc/>
    /// <exception cref="ObjectDisposedException">The adapter was disposed (its Compute call may have ended).</exception>
    public void For(int count, delegate*<void*, int, void> body, void* state)
    {
        ObjectDisposedException.ThrowIf(_context == 0, this);
        new KernelContext(_context).ParallelFor(count, body, state);
    }

    /// <summary>Ends the adapter's use; later <see cref="For"/> calls throw.</summary>
    public void Dispose() => _context = 0;
}

/// <summary>
/// One run of a custom op's node (an <c>OrtKernelContext</c>): its inputs and outputs, and ORT's intra-op thread
/// pool. Valid only during <see cref="ICustomOpKernel.Compute"/> (it is a ref struct so it cannot escape).
/// </summary>
public readonly unsafe ref struct KernelContext
{
    private readonly nint _context;

    internal KernelContext(nint context) => _context = context;

    /// <summary>The number of inputs the node has.</summary>
    public int InputCount
    {
        get
        {
            nuint count;
            OrtApiTable.Check(OrtApiTable.KernelContextGetInputCount(_context, &count), "KernelContext_GetInputCount");
            return (int)count;
        }
    }

    /// <summary>The number of outputs the node has.</summary>
    public int OutputCount
    {
        get
        {
            nuint count;
            OrtApiTable.Check(OrtApiTable.KernelContextGetOutputCount(_context, &count), "KernelContext_GetOutputCount");
            return (int)count;
        }
    }

    /// <summary>Input <paramref name="index"/>; an omitted optional input gives a tensor whose <see cref="KernelTensor.IsPresent"/> is false.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is negative.</exception>
    /// <exception cref="CustomOpException">ONNX Runtime rejects the query.</exception>
    public KernelTensor GetInput(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        nint value = 0;
        OrtApiTable.Check(OrtApiTable.KernelContextGetInput(_context, (nuint)index, &value), "KernelContext_GetInput");
        return KernelTensor.FromValue(value);
    }

    /// <summary>
    /// Allocates output <paramref name="index"/> with <paramref name="shape"/> (ORT's allocator; the memory is
    /// uninitialised) and returns a view to fill through <see cref="KernelTensor.GetMutableData{T}"/>. The element
    /// type is the op's declared output type.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is negative.</exception>
    /// <exception cref="CustomOpException">ONNX Runtime rejects the request (index out of range, a negative dimension, or the node omits that output).</exception>
    public KernelTensor GetOutput(int index, ReadOnlySpan<long> shape)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        nint value = 0;
        fixed (long* dims = shape)
        {
            OrtApiTable.Check(OrtApiTable.KernelContextGetOutput(_context, (nuint)index, dims, (nuint)shape.Length, &value), "KernelContext_GetOutput");
        }

        if (value == 0)
        {
            throw new CustomOpException(OrtErrorCode.InvalidArgument, $"The node leaves output {index} out.");
        }

        return KernelTensor.FromValue(value);
    }

    /// <summary>
    /// Runs <paramref name="body"/> for every index in [0, <paramref name="total"/>) on ONNX Runtime's intra-op
    /// thread pool (<c>KernelContext_ParallelFor</c>), the calling thread included; returns when all are done. Each
    /// index runs exactly once; their order and thread are unspecified.
    /// </summary>
    /// <param name="total">The number of iterations (0 does nothing).</param>
    /// <param name="body">The iteration; a struct so that the call allocates nothing and the body's fields are read in place.</param>
    /// <param name="maxBatches">ORT's <c>num_batch</c>: the most batches the range is divided into (0: no limit).</param>
    /// <remarks>
    /// The first exception a body throws is rethrown here once the loop ends; later iterations that have not
    /// started yet are skipped. With one intra-op thread ORT runs the loop on the calling thread. Each iteration
    /// crosses from native code into .NET (a reverse P/Invoke), so give each a chunk of work (rows, blocks), not one
    /// element.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="total"/> or <paramref name="maxBatches"/> is negative.</exception>
    public void ParallelFor<TBody>(long total, ref TBody body, long maxBatches = 0)
        where TBody : struct, IParallelForBody
    {
        // Pinned: the body may live inside a heap object (a field or array element); on the stack this is free.
        fixed (byte* state = &Unsafe.As<TBody, byte>(ref body))
        {
            ParallelFor(total, &InvokeBody<TBody>, state, maxBatches);
        }
    }

    /// <summary>As <see cref="ParallelFor{TBody}(long, ref TBody, long)"/> with a delegate body (captures allocate).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="body"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="total"/> or <paramref name="maxBatches"/> is negative.</exception>
    public void ParallelFor(long total, Action<long> body, long maxBatches = 0)
    {
        ArgumentNullException.ThrowIfNull(body);
        var wrapper = new ActionBody(body);
        ParallelFor(total, ref wrapper, maxBatches);
        GC.KeepAlive(body);
    }

    /// <summary>
    /// As <see cref="ParallelFor{TBody}(long, ref TBody, long)"/> with a static function and a caller-owned state
    /// pointer passed to each iteration (the state must stay fixed until the call returns).
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="body"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="total"/> or <paramref name="maxBatches"/> is negative.</exception>
    public void ParallelFor(long total, delegate*<void*, long, void> body, void* state, long maxBatches = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(total);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBatches);
        if (body == null)
        {
            throw new ArgumentNullException(nameof(body));
        }

        if (total == 0)
        {
            return;
        }

        var loop = new ParallelForState { Body = body, State = state };
        OrtApiTable.Check(
            OrtApiTable.KernelContextParallelFor(_context, &ParallelForEntry, (nuint)total, (nuint)maxBatches, &loop),
            "KernelContext_ParallelFor");
        if (loop.Failed != 0)
        {
            if (loop.Error == 0)
            {
                throw new InvalidOperationException("A ParallelFor iteration failed and its exception could not be kept (out of memory).");
            }

            var handle = GCHandle.FromIntPtr(loop.Error);
            var error = (Exception)handle.Target!;
            handle.Free();
            ExceptionDispatchInfo.Throw(error);
        }
    }

    /// <summary>
    /// As the <c>ParallelFor(long, delegate*&lt;void*, long, void&gt;, void*, long)</c> overload with an int index: the shape of
    /// <see cref="Kernels.IKernelParallelFor.For"/>, so gguf2qnn's kernels run on ORT's pool (see
    /// <see cref="CreateParallelFor"/>).
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="body"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative.</exception>
    public void ParallelFor(int count, delegate*<void*, int, void> body, void* state)
    {
        if (body == null)
        {
            throw new ArgumentNullException(nameof(body));
        }

        var loop = new IntBody { Body = body, State = state };
        ParallelFor(count, ref loop);
    }

    /// <summary>
    /// An <see cref="Kernels.IKernelParallelFor"/> over this context's intra-op thread pool, for kernels written
    /// against that interface (e.g. <see cref="Kernels.Q4_0MatMul"/>). Dispose it before
    /// <see cref="ICustomOpKernel.Compute"/> returns; using it after that throws <see cref="ObjectDisposedException"/>
    /// instead of touching a finished context.
    /// </summary>
    public KernelParallelFor CreateParallelFor() => new(_context);

    private static void InvokeBody<TBody>(void* state, long index)
        where TBody : struct, IParallelForBody => Unsafe.AsRef<TBody>(state).Invoke(index);

    /// <summary>
    /// The <c>void (*fn)(void*, size_t)</c> ORT calls per index. Never lets an exception out: the first is kept (as a
    /// GCHandle) for the caller to rethrow and the remaining iterations return at once.
    /// </summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void ParallelForEntry(void* userData, nuint index)
    {
        var loop = (ParallelForState*)userData;
        if (Volatile.Read(ref loop->Failed) != 0)
        {
            return;
        }

        try
        {
            loop->Body(loop->State, (long)index);
        }
        catch (Exception e)
        {
            if (Interlocked.Exchange(ref loop->Failed, 1) == 0)
            {
                try
                {
                    loop->Error = GCHandle.ToIntPtr(GCHandle.Alloc(e));
                }
                catch (OutOfMemoryException)
                {
                    // Failed is set; the caller reports a failure without the original exception.
                }
            }
        }
    }

    /// <summary>Lives on the caller's stack for the duration of one KernelContext_ParallelFor call.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct ParallelForState
    {
        public delegate*<void*, long, void> Body;
        public void* State;
        public nint Error;
        public int Failed;
    }

    private struct IntBody : IParallelForBody
    {
        public delegate*<void*, int, void> Body;
        public void* State;

        public readonly void Invoke(long index) => Body(State, (int)index);
    }

    private readonly struct ActionBody(Action<long> action) : IParallelForBody
    {
        public void Invoke(long index) => action(index);
    }
}
