namespace Gguf2Qnn.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        int Here() => GgufCli.Run(args, Console.Out, Console.Error, Console.In);
        return HugePageRelaunch.ShouldRelaunch(args) ? HugePageRelaunch.Run(args, Here) : Here();
    }
}
