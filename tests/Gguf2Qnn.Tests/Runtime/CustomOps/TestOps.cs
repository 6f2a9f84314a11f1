using System.Diagnostics;
using System.Text;
using Gguf2Qnn.Runtime.CustomOps;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit;

namespace Gguf2Qnn.Tests.Runtime.CustomOps;

/// <summary>
/// Small custom ops for the bridge's tests, registered once (domains are immortal) under <see cref="DomainName"/>,
/// apart from gguf2qnn's own domain.
/// </summary>
internal static class TestOps
{
    public const string DomainName = "com.gguf2qnn.test";

    private static readonly Lazy<CustomOpDomain> Instance = new(() => CustomOpDomain.Create(
        DomainName,
        new ManagedCustomOp(
            "ScaleAdd",
            [new(TensorElementType.Float), new(TensorElementType.Float, Optional: true)],
            [new(TensorElementType.Float)],
            info => new ScaleAdd(info.GetFloat("alpha"))),
        new ManagedCustomOp(
            "SplitSign",
            [new(TensorElementType.Float)],
            [new(TensorElementType.Float), new(TensorElementType.Int64)],
            _ => new SplitSign()),
        new ManagedCustomOp(
            "AttrEcho",
            [],
            [new(TensorElementType.Float), new(TensorElementType.UInt8)],
            info => new AttrEcho(info)),
        new ManagedCustomOp(
            "Fail",
            [new(TensorElementType.Int64)],
            [new(TensorElementType.Int64)],
            info => new Fail(info.GetString("where"))),
        new ManagedCustomOp(
            "Cover",
            [],
            [new(TensorElementType.Int32), new(TensorElementType.Int64)],
            info => new Cover(info.GetInt64("total"), info.GetInt64("spin", 0), info.GetInt64("adapter", 0) != 0, info.GetInt64("gc", 0) != 0)),
        new ManagedCustomOp(
            "Overhead",
            [],
            [new(TensorElementType.Double)],
            info => new Overhead(info.GetInt64("calls"), info.GetInt64("total"), info.GetInt64("mode"))),
        new ManagedCustomOp(
            "WeightProbe",
            [new(TensorElementType.UInt8)],
            [new(TensorElementType.UInt8), new(TensorElementType.Int64)],
            info => new WeightProbe(info))));

    /// <summary>The test domain.</summary>
    public static CustomOpDomain Domain => Instance.Value;

    /// <summary>Y = X * alpha + B (B broadcast over the last axis; absent B adds nothing).</summary>
    private sealed class ScaleAdd(float alpha) : ICustomOpKernel
    {
        public void Compute(KernelContext context)
        {
            var x = context.GetInput(0);
            var b = context.GetInput(1);
            var xs = x.GetData<float>();
            var bs = b.IsPresent ? b.GetData<float>() : default;
            var y = context.GetOutput(0, x.Shape).GetMutableData<float>();
            for (int i = 0; i < xs.Length; i++)
            {
                y[i] = (xs[i] * alpha) + (bs.IsEmpty ? 0f : bs[i % bs.Length]);
            }
        }
    }

    /// <summary>Outputs max(x, 0) and the count of positive elements (an int64 scalar).</summary>
    private sealed class SplitSign : ICustomOpKernel
    {
        public void Compute(KernelContext context)
        {
            var x = context.GetInput(0);
            var xs = x.GetData<float>();
            var pos = context.GetOutput(0, x.Shape).GetMutableData<float>();
            long count = 0;
            for (int i = 0; i < xs.Length; i++)
            {
                pos[i] = Math.Max(xs[i], 0f);
                count += xs[i] > 0 ? 1 : 0;
            }

            context.GetOutput(1, []).GetMutableData<long>()[0] = count;
        }
    }

    /// <summary>
    /// Output 0: [i, f, ints..., floats..., input count, node name length]; output 1: the string attribute's UTF-8 bytes.
    /// </summary>
    private sealed class AttrEcho : ICustomOpKernel
    {
        private readonly float[] _values;
        private readonly byte[] _text;

        public AttrEcho(KernelInfo info)
        {
            var values = new List<float> { info.GetInt64("i"), info.GetFloat("f") };
            values.AddRange(info.GetInt64Array("ints").Select(v => (float)v));
            values.AddRange(info.GetFloatArray("floats"));
            values.Add(info.GetInt64("absent", -7));
            values.Add(info.GetFloat("absent", 2.5f));
            values.Add(info.InputCount);
            values.Add(info.NodeName.Length);
            _values = [.. values];
            _text = Encoding.UTF8.GetBytes(info.GetString("s"));
        }

        public void Compute(KernelContext context)
        {
            _values.CopyTo(context.GetOutput(0, [_values.Length]).GetMutableData<float>());
            _text.CopyTo(context.GetOutput(1, [_text.Length]).GetMutableData<byte>());
        }
    }

    /// <summary>
    /// Copies its int64 input to the output, or, when the input is non-zero, throws from Compute ("compute") or
    /// from a ParallelFor body ("parallel").
    /// </summary>
    private sealed class Fail(string where) : ICustomOpKernel
    {
        public void Compute(KernelContext context)
        {
            var flag = context.GetInput(0);
            long value = flag.GetData<long>()[0];
            if (value != 0)
            {
                if (where == "parallel")
                {
                    context.ParallelFor(64, i =>
                    {
                        if (i == 37)
                        {
                            throw new InvalidOperationException("boom in iteration 37");
                        }
                    });
                }
                else
                {
                    throw new InvalidOperationException($"boom from compute, flag {value}");
                }
            }

            context.GetOutput(0, flag.Shape).GetMutableData<long>()[0] = value;
        }
    }

    /// <summary>
    /// Output 0: how often each index of [0, total) ran; output 1: the number of distinct threads used. With
    /// <c>adapter</c> the loop goes through <see cref="KernelParallelFor"/> (the kernels' interface), and a call after
    /// its Dispose must throw. With <c>gc</c> some iterations force a compacting collection, and the loop runs twice:
    /// with a delegate body (captured state on the heap, reached through the caller's stack) and with a struct body
    /// that lives in a heap object (pinned for the call); the counts must come out 2.
    /// </summary>
    private sealed unsafe class Cover(long total, long spin, bool adapter, bool gc) : ICustomOpKernel
    {
        public void Compute(KernelContext context)
        {
            var state = new CoverState(total, spin, gc);
            if (gc)
            {
                context.ParallelFor(total, state.Run);
                var holder = new BodyHolder { Body = new StateBody { State = state } };
                context.ParallelFor(total, ref holder.Body);
            }
            else if (adapter)
            {
                var parallel = context.CreateParallelFor();
                var handle = System.Runtime.InteropServices.GCHandle.Alloc(state);
                try
                {
                    parallel.For((int)total, &CoverIndex, (void*)System.Runtime.InteropServices.GCHandle.ToIntPtr(handle));
                }
                finally
                {
                    handle.Free();
                    parallel.Dispose();
                }

                Assert.Throws<ObjectDisposedException>(() => parallel.For(1, &CoverIndex, null));
            }
            else
            {
                context.ParallelFor(total, state.Run);
            }

            state.Counts.CopyTo(context.GetOutput(0, [total]).GetMutableData<int>());
            context.GetOutput(1, []).GetMutableData<long>()[0] = state.Threads.Count;
        }

        private static void CoverIndex(void* state, int index) =>
            ((CoverState)System.Runtime.InteropServices.GCHandle.FromIntPtr((nint)state).Target!).Run(index);
    }

    private sealed class BodyHolder
    {
        public StateBody Body;
    }

    private struct StateBody : IParallelForBody
    {
        public CoverState State;

        public readonly void Invoke(long index) => State.Run(index);
    }

    private sealed class CoverState(long total, long spin, bool gc = false)
    {
        public int[] Counts { get; } = new int[total];

        public System.Collections.Concurrent.ConcurrentDictionary<int, bool> Threads { get; } = new();

        public void Run(long index)
        {
            if (gc && index % 16 == 0)
            {
                _ = new byte[1 << 16];
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            }

            Interlocked.Increment(ref Counts[index]);
            Threads.TryAdd(Environment.CurrentManagedThreadId, true);
            Thread.SpinWait((int)spin);
        }
    }

    /// <summary>Times <c>calls</c> ParallelFor calls over <c>total</c> empty iterations; outputs nanoseconds per call.</summary>
    private sealed class Overhead(long calls, long total, long mode) : ICustomOpKernel
    {
        public void Compute(KernelContext context)
        {
            var body = default(EmptyBody);
            Action<long> action = static _ => { };
            for (int i = 0; i < 200; i++)
            {
                context.ParallelFor(total, ref body);
            }

            long start = Stopwatch.GetTimestamp();
            for (long c = 0; c < calls; c++)
            {
                if (mode == 0)
                {
                    context.ParallelFor(total, ref body);
                }
                else
                {
                    context.ParallelFor(total, action);
                }
            }

            double ns = Stopwatch.GetElapsedTime(start).TotalNanoseconds / calls;
            context.GetOutput(0, [1]).GetMutableData<double>()[0] = ns;
        }

        private struct EmptyBody : IParallelForBody
        {
            public readonly void Invoke(long index)
            {
            }
        }
    }

    /// <summary>
    /// Output 0: a copy of the uint8 input's bytes; output 1: [data address seen in Compute, data address of the
    /// constant input seen by the factory (0 when not constant), byte length, rank].
    /// </summary>
    private sealed class WeightProbe : ICustomOpKernel
    {
        private readonly long _constantAddress;

        public WeightProbe(KernelInfo info) =>
            _constantAddress = info.TryGetConstantInput(0, out var w) ? w.DataPointer : 0;

        public void Compute(KernelContext context)
        {
            var w = context.GetInput(0);
            var bytes = w.GetBytes();
            bytes.CopyTo(context.GetOutput(0, w.Shape).GetMutableData<byte>());
            long[] info = [w.DataPointer, _constantAddress, w.ByteLength, w.Rank];
            info.CopyTo(context.GetOutput(1, [info.Length]).GetMutableData<long>());
        }
    }
}
