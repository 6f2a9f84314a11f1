using Gguf2Qnn.Cli;
using Xunit;

namespace Gguf2Qnn.Tests.Cli;

[Trait("Category", "Cli")]
public class HugePageRelaunchTests
{
    private static Func<string, string?> Env(params (string Key, string Value)[] vars) =>
        key => vars.FirstOrDefault(v => v.Key == key).Value;

    [Theory]
    [InlineData("bench", true)]
    [InlineData("run", true)]
    [InlineData("chat", true)]
    [InlineData("verify", true)]
    [InlineData("convert", false)]
    [InlineData("inspect", false)]
    [InlineData("make-workload", false)]
    public void OnlyCommandsThatRunAModelRelaunch(string command, bool expected) =>
        Assert.Equal(expected, HugePageRelaunch.ShouldRelaunch([command, "x"], linux: true, Env()));

    [Fact]
    public void TheDemoRelaunches() => Assert.True(HugePageRelaunch.ShouldRelaunch([], linux: true, Env()));

    [Fact]
    public void NotOffLinuxNorWhenSwitchedOffNorWhenTheTunableIsSetAlready()
    {
        Assert.False(HugePageRelaunch.ShouldRelaunch(["bench"], linux: false, Env()));
        Assert.False(HugePageRelaunch.ShouldRelaunch(["bench"], linux: true, Env(("GGUF2QNN_HUGEPAGES", "0"))));
        Assert.False(HugePageRelaunch.ShouldRelaunch(["bench"], linux: true, Env(("GLIBC_TUNABLES", "glibc.malloc.hugetlb=0"))));
        Assert.True(HugePageRelaunch.ShouldRelaunch(["bench"], linux: true, Env(("GLIBC_TUNABLES", "glibc.malloc.arena_max=2"))));
    }
}
