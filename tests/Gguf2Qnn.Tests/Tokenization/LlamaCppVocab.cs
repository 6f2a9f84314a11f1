using System.Runtime.InteropServices;
using System.Text;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Reference;
using Gguf2Qnn.Tokenization;
using LLama;
using LLama.Common;
using LLama.Native;

namespace Gguf2Qnn.Tests.Tokenization;

/// <summary>
/// llama.cpp's own tokenizer (the native build shipped with LLamaSharp 0.30.0, loaded through
/// <see cref="LlamaCppBackend"/>), from a GGUF opened with <c>vocab_only</c> (the vocabulary GGUFs have no
/// weights, which <see cref="LlamaCppModel"/> needs): the oracle for the differential tests.
/// </summary>
internal sealed unsafe class LlamaCppVocab : IDisposable
{
    private static readonly Lazy<Exports> Native = new(LoadExports);

    private readonly LLamaWeights _weights;

    public LlamaCppVocab(string ggufPath)
    {
        LlamaCppBackend.EnsureLoaded(); // quiet native log, same library as the Reference project
        _weights = LLamaWeights.LoadFromFile(new ModelParams(ggufPath) { VocabOnly = true });
    }

    public SafeLlamaModelHandle Model => _weights.NativeHandle;

    public SafeLlamaModelHandle.Vocabulary Vocab => _weights.NativeHandle.Vocab;

    /// <summary><c>llama_tokenize(text, add_special, parse_special)</c>.</summary>
    public int[] Tokenize(string text, bool addSpecial, bool parseSpecial) =>
        Array.ConvertAll(_weights.NativeHandle.Tokenize(text, addSpecial, parseSpecial, Encoding.UTF8), t => (int)t);

    /// <summary><c>llama_detokenize(ids, remove_special: false, unparse_special)</c>, read as UTF-8.</summary>
    public string Detokenize(int[] ids, bool unparseSpecial)
    {
        var exports = Native.Value;
        IntPtr vocab = exports.ModelGetVocab(_weights.NativeHandle.DangerousGetHandle());
        var buffer = new byte[256 + ids.Length * 64];
        while (true)
        {
            int n;
            fixed (int* tokens = ids)
            fixed (byte* text = buffer)
            {
                n = exports.Detokenize(vocab, tokens, ids.Length, text, buffer.Length, 0, unparseSpecial ? (byte)1 : (byte)0);
            }

            if (n >= 0)
            {
                return Encoding.UTF8.GetString(buffer, 0, n);
            }

            buffer = new byte[-n];
        }
    }

    public void Dispose() => _weights.Dispose();

    private static Exports LoadExports()
    {
        LlamaCppBackend.EnsureLoaded();
        string file = OperatingSystem.IsWindows() ? "llama.dll" : OperatingSystem.IsMacOS() ? "libllama.dylib" : "libllama.so";
        IntPtr lib = NativeLibrary.Load(Path.Combine(LlamaCppBackend.LibraryDirectory, file)); // the module already mapped
        return new Exports(NativeLibrary.GetExport(lib, "llama_model_get_vocab"), NativeLibrary.GetExport(lib, "llama_detokenize"));
    }

    /// <summary>libllama functions: <c>llama_model_get_vocab(model)</c>, <c>llama_detokenize(vocab, tokens, n, text, max, remove_special, unparse_special)</c>.</summary>
    private sealed record Exports(IntPtr ModelGetVocabFn, IntPtr DetokenizeFn)
    {
        public IntPtr ModelGetVocab(IntPtr model) => ((delegate* unmanaged[Cdecl]<IntPtr, IntPtr>)ModelGetVocabFn)(model);

        public int Detokenize(IntPtr vocab, int* tokens, int count, byte* text, int max, byte removeSpecial, byte unparseSpecial) =>
            ((delegate* unmanaged[Cdecl]<IntPtr, int*, int, byte*, int, byte, byte, int>)DetokenizeFn)(vocab, tokens, count, text, max, removeSpecial, unparseSpecial);
    }

    /// <summary>
    /// Writes <paramref name="vocab"/> as a weightless GGUF that llama.cpp loads with <c>vocab_only</c> (architecture
    /// <c>llama</c> with placeholder hyper-parameters, which tokenization does not read).
    /// </summary>
    public static void WriteVocabOnlyGguf(TokenizerVocab vocab, string path)
    {
        var w = new GgufWriter();
        w.AddString(GgufKeys.Architecture, "llama");
        w.AddString(GgufKeys.Name, vocab.ModelName ?? "vocab");
        w.AddUInt32(GgufKeys.BlockCount("llama"), 1);
        w.AddUInt32(GgufKeys.ContextLength("llama"), 4096);
        w.AddUInt32(GgufKeys.EmbeddingLength("llama"), 64);
        w.AddUInt32(GgufKeys.FeedForwardLength("llama"), 128);
        w.AddUInt32(GgufKeys.HeadCount("llama"), 4);
        w.AddUInt32(GgufKeys.HeadCountKv("llama"), 4);
        w.AddFloat32(GgufKeys.RmsEpsilon("llama"), 1e-6f);
        w.AddString(GgufKeys.TokenizerModel, vocab.Model);
        if (vocab.Pre is not null)
        {
            w.AddString(GgufKeys.TokenizerPre, vocab.Pre);
        }

        w.AddStringArray(GgufKeys.Tokens, vocab.Tokens);
        if (vocab.TokenTypes is not null)
        {
            w.AddInt32Array(GgufKeys.TokenType, vocab.TokenTypes.Select(t => (int)t).ToArray());
        }

        if (vocab.Scores is not null)
        {
            w.AddFloat32Array(GgufKeys.Scores, vocab.Scores.ToArray());
        }

        if (vocab.Merges is not null)
        {
            w.AddStringArray(GgufKeys.Merges, vocab.Merges);
        }

        void AddId(string key, int? id)
        {
            if (id is int v)
            {
                w.AddUInt32(key, (uint)v);
            }
        }

        AddId(GgufKeys.BosTokenId, vocab.BosTokenId);
        AddId(GgufKeys.EosTokenId, vocab.EosTokenId);
        AddId(GgufKeys.PaddingTokenId, vocab.PaddingTokenId);
        if (vocab.AddBosToken is bool addBos)
        {
            w.AddBool(GgufKeys.AddBosToken, addBos);
        }

        w.WriteTo(path);
    }
}
