using Gguf2Qnn.Qnn;
using Xunit;

namespace Gguf2Qnn.Tests.Qnn;

/// <summary>The loss measures of <see cref="QairtOverrides"/> on a hand-computed row of two Q4_0 blocks.</summary>
public sealed class QairtOverridesTests
{
    [Fact]
    public void ErrorsMatchHandComputedBlocks()
    {
        // Block 0: d = −1, nibble 0 once (w = −1·(0 − 8) = 8), the rest 8 (w = 0). Scale |d| = 1, offset −8: 8 would
        // need q' = 16, clamps to 15 → 7, error 1. Block 1: d = 0.5, nibble 15 once (w = 3.5), the rest 8.
        // LPBQ: s_c = 1/255; block 0: i = 255, e = 1 (same sign loss, 1); block 1: i = round(127.5) = 128,
        // e = 128/255, 3.5/e = 6.97 → 7, w' = 896/255, error 896/255 − 3.5 = 0.0137254902…
        var b = new byte[32];
        Array.Fill(b, (byte)0x88);
        b[0] = 0x80;
        b[16] = 0x8F;
        float[] scales = [-1f, 0.5f];
        var (perBlock, lpbq, lpbqScale) = QairtOverrides.Errors(b, scales, 1, 2);
        Assert.Equal(1.0, perBlock, 12);
        Assert.Equal(1.0, lpbq, 12);
        Assert.Equal((896.0 / 255) - 3.5, lpbqScale, 12);
    }
}
