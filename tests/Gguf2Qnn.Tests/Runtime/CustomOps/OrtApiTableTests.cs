using System.Runtime.InteropServices;
using Gguf2Qnn.Runtime.CustomOps;
using Microsoft.ML.OnnxRuntime;
using Xunit;

namespace Gguf2Qnn.Tests.Runtime.CustomOps;

/// <summary>
/// <see cref="OrtApiTable"/>'s indices into <c>struct OrtApi</c> and the <see cref="OrtCustomOp"/> layout, checked
/// against the loaded ONNX Runtime (the session tests exercise the kernel-context and domain entries).
/// </summary>
[Trait("Category", "Runtime")]
public sealed unsafe class OrtApiTableTests
{
    [Fact]
    public void TheTableComesFromTheLibraryTheManagedPackageUses()
    {
        // OrtApiBase.GetVersionString of our table against the managed package's own call (OrtEnv).
        Assert.Equal(OrtEnv.Instance().GetVersionString(), OrtApiTable.VersionString);
        Assert.StartsWith("1.31.", OrtApiTable.VersionString, StringComparison.Ordinal);
    }

    [Fact]
    public void CreateStatusGetErrorCodeAndGetErrorMessageRoundTrip()
    {
        // CreateStatus [0], GetErrorCode [1], GetErrorMessage [2], ReleaseStatus [93].
        nint status = OrtApiTable.CreateStatusFor(OrtErrorCode.InvalidArgument, "bad input: Größe ≠ 3");
        Assert.NotEqual(0, status);
        var (code, message) = OrtApiTable.TakeStatus(status);
        Assert.Equal(OrtErrorCode.InvalidArgument, code);
        Assert.Equal("bad input: Größe ≠ 3", message);
    }

    [Fact]
    public void CheckTurnsAStatusIntoCustomOpException()
    {
        nint status = OrtApiTable.CreateStatusFor(OrtErrorCode.NotImplemented, "nope");
        var e = Assert.Throws<CustomOpException>(() => OrtApiTable.Check(status, "Probe"));
        Assert.Equal(OrtErrorCode.NotImplemented, e.ErrorCode);
        Assert.Equal("Probe failed (NotImplemented): nope", e.Message);
        OrtApiTable.Check(0, "Probe"); // success: no throw
    }

    [Fact]
    public void CreateCustomOpDomainAndReleaseWork()
    {
        // CreateCustomOpDomain [26] and ReleaseCustomOpDomain [101] on a domain no session sees.
        nint domain = 0;
        fixed (byte* name = "com.gguf2qnn.probe\0"u8)
        {
            OrtApiTable.Check(OrtApiTable.CreateCustomOpDomain(name, &domain), "CreateCustomOpDomain");
        }

        Assert.NotEqual(0, domain);
        OrtApiTable.ReleaseCustomOpDomain(domain);
    }

    [Fact]
    public void OrtCustomOpHasTheHeadersLayout()
    {
        // sizeof(OrtCustomOp) and offsetof(OrtCustomOp, CreateKernelV2 / KernelComputeV2 / ReleaseAliasMap) from the 1.31.1 header.
        Assert.Equal(OrtCustomOp.Size64, sizeof(OrtCustomOp));
        Assert.Equal(136, (int)Marshal.OffsetOf<OrtCustomOp>(nameof(OrtCustomOp.CreateKernelV2)));
        Assert.Equal(144, (int)Marshal.OffsetOf<OrtCustomOp>(nameof(OrtCustomOp.KernelComputeV2)));
        Assert.Equal(200, (int)Marshal.OffsetOf<OrtCustomOp>(nameof(OrtCustomOp.ReleaseAliasMap)));
        Assert.Equal(0, (int)Marshal.OffsetOf<NativeCustomOp>(nameof(NativeCustomOp.Op)));
    }
}
