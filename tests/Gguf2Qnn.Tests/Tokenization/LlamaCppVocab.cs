using System.Reflection;
using System.Text;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Tokenization;
using LLama;
using LLama.Common;
using LLama.Native;

namespace Gguf2Qnn.Tests.Tokenization;

/// <summary>
/// llama.cpp's own tokenizer (the native build shipped with LLamaSharp 0.30.0), loaded from a GGUF with
/// <c>vocab_only</c>: the oracle for the differential tests. <c>llama_detokenize</c> is internal in LLamaSharp and
/// is reached by reflection.
/// </summary>
internal sealed class LlamaCppVocab : IDisposable
{
    private static readonly MethodInfo DetokenizeMethod =
        typeof(NativeApi).GetMethod("llama_detokenize", BindingFlags.NonPublic | BindingFlags.Static)
        ?? throw new MissingMethodException("LLama.Native.NativeApi.llama_detokenize");

    private static readonly PropertyInfo VocabNative =
        typeof(SafeLlamaModelHandle.Vocabulary).GetProperty("VocabNative", BindingFlags.NonPublic | BindingFlags.Instance)
        ?? throw new MissingMemberException("SafeLlamaModelHandle.Vocabulary.VocabNative");

    private readonly LLamaWeights _weights;

    static LlamaCppVocab()
    {
        NativeLibraryConfig.All.WithLogCallback((_, _) => { });
    }

    public LlamaCppVocab(string ggufPath)
    {
        _weights = LLamaWeights.LoadFromFile(new ModelParams(ggufPath) { VocabOnly = true });
    }

    public SafeLlamaModelHandle Model => _weights.NativeHandle;

    public SafeLlamaModelHandle.Vocabulary Vocab => _weights.NativeHandle.Vocab;

    /// <summary><c>llama_tokenize(text, add_special, parse_special)</c>.</summary>
    public int[] Tokenize(string text, bool addSpecial, bool parseSpecial) =>
        Array.ConvertAll(_weights.NativeHandle.Tokenize(text, addSpecial, parseSpecial, Encoding.UTF8), t => (int)t);

    /// <summary><c>llama_detokenize(ids, remove_special: false, unparse_special)</c>, read as UTF-8.</summary>
    public unsafe string Detokenize(int[] ids, bool unparseSpecial)
    {
        object vocab = VocabNative.GetValue(Vocab)!;
        var tokenPointerType = DetokenizeMethod.GetParameters()[1].ParameterType;
        var buffer = new byte[4096 + ids.Length * 64];
        fixed (int* tokens = ids)
        fixed (byte* text = buffer)
        {
            int n = (int)DetokenizeMethod.Invoke(null,
                [vocab, Pointer.Box(tokens, tokenPointerType), ids.Length, Pointer.Box(text, typeof(byte*)), buffer.Length, false, unparseSpecial])!;
            if (n < 0)
            {
                throw new InvalidOperationException("detokenize buffer too small");
            }

            return Encoding.UTF8.GetString(buffer, 0, n);
        }
    }

    public void Dispose() => _weights.Dispose();

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
