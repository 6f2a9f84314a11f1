using Gguf2Qnn.Runtime.CustomOps;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit;

namespace Gguf2Qnn.Tests.Runtime.CustomOps;

/// <summary><see cref="CustomOpDomain"/> and <see cref="ManagedCustomOp"/> argument checks.</summary>
[Trait("Category", "Runtime")]
public sealed class CustomOpDomainTests
{
    private static readonly CustomKernelFactory NoKernel = _ => throw new InvalidOperationException("not used");

    [Fact]
    public void BadOpDescriptionsAreRejected()
    {
        Assert.Throws<ArgumentException>(() => new ManagedCustomOp("", [], [new(TensorElementType.Float)], NoKernel));
        Assert.Throws<ArgumentException>(() => new ManagedCustomOp("A", [], [], NoKernel));
        Assert.Throws<ArgumentException>(() => new ManagedCustomOp("A", [new(TensorElementType.String)], [new(TensorElementType.Float)], NoKernel));
        Assert.Throws<ArgumentException>(() => new ManagedCustomOp("A", [new(TensorElementType.DataTypeMax)], [new(TensorElementType.Float)], NoKernel));
    }

    [Fact]
    public void BadDomainsAreRejected()
    {
        var op = new ManagedCustomOp("A", [], [new(TensorElementType.Float)], NoKernel);
        Assert.Throws<ArgumentException>(() => CustomOpDomain.Create("", op));
        Assert.Throws<ArgumentException>(() => CustomOpDomain.Create("com.microsoft", op));
        Assert.Throws<ArgumentException>(() => CustomOpDomain.Create("com.gguf2qnn.empty"));
        Assert.Throws<ArgumentException>(() => CustomOpDomain.Create("com.gguf2qnn.twice", op, op));
    }

    [Fact]
    public void ADisposedSessionOptionsIsRejected()
    {
        var options = new SessionOptions();
        options.Dispose();
        Assert.Throws<ObjectDisposedException>(() => TestOps.Domain.AddTo(options));
    }

    [Fact]
    public void CreatedDomainsStayRegistered()
    {
        Assert.Contains(TestOps.Domain, CustomOpDomain.All);
        Assert.Equal(TestOps.DomainName, TestOps.Domain.Name);
        Assert.Contains(TestOps.Domain.Ops, o => o.Name == "ScaleAdd");
    }
}
