namespace Gguf2Qnn.Cli;

internal static class Program
{
    private static int Main(string[] args) => GgufCli.Run(args, Console.Out, Console.Error, Console.In);
}
