using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using LLama;
using LLama.Common;
using LLama.Exceptions;
using LLama.Native;

namespace Gguf2Qnn.Reference;

/// <summary>
/// A GGUF model loaded into llama.cpp (LLamaSharp 0.30.0, CPU backend) with one context and one sequence: the
/// oracle that tokenization, logits and greedy generation of a converted model are compared with, and the
/// baseline of <c>bench --vs llamacpp</c>.
/// </summary>
/// <remarks>
/// Every evaluation starts a fresh sequence (the KV cache is cleared first), so calls do not influence each other.
/// Not thread-safe: one call at a time per instance. Token ids are llama.cpp's (the GGUF's
/// <c>tokenizer.ggml.tokens</c> indices).
/// </remarks>
public sealed unsafe class LlamaCppModel : IDisposable
{
    private static readonly LLamaSeqId Sequence = LLamaSeqId.Zero;

    private readonly LLamaWeights weights;
    private readonly LLamaContext context;
    private readonly IntPtr vocab;
    private readonly delegate* unmanaged[Cdecl]<IntPtr, int*, int, byte*, int, byte, byte, int> detokenize;
    private readonly HashSet<int> endOfGeneration;
    private bool disposed;

    private LlamaCppModel(string path, LlamaCppOptions options, LLamaWeights weights, LLamaContext context)
    {
        ModelPath = path;
        Options = options;
        this.weights = weights;
        this.context = context;

        var vocabulary = weights.NativeHandle.Vocab;
        VocabSize = vocabulary.Count;
        BosToken = vocabulary.BOS is { } bos ? (int)bos : -1;
        endOfGeneration = [];
        for (var id = 0; id < VocabSize; id++)
        {
            if (((LLamaToken)id).IsEndOfGeneration(vocabulary))
            {
                endOfGeneration.Add(id);
            }
        }

        var getVocab = (delegate* unmanaged[Cdecl]<IntPtr, IntPtr>)LlamaCppBackend.LlamaExport("llama_model_get_vocab");
        vocab = getVocab(weights.NativeHandle.DangerousGetHandle());
        detokenize = (delegate* unmanaged[Cdecl]<IntPtr, int*, int, byte*, int, byte, byte, int>)LlamaCppBackend.LlamaExport("llama_detokenize");
    }

    /// <summary>The GGUF file this model was loaded from.</summary>
    public string ModelPath { get; }

    /// <summary>The options the model was loaded with.</summary>
    public LlamaCppOptions Options { get; }

    /// <summary>Number of token ids (<c>llama_vocab_n_tokens</c>); each logits row has this many floats.</summary>
    public int VocabSize { get; }

    /// <summary>The beginning-of-sequence token id (<c>llama_vocab_bos</c>), or -1 when the vocabulary has none.</summary>
    public int BosToken { get; }

    /// <summary>Ids llama.cpp treats as end of generation (<c>llama_vocab_is_eog</c>: EOS, EOT, EOM and the like).</summary>
    public IReadOnlySet<int> EndOfGenerationTokens => endOfGeneration;

    /// <summary>The context length llama.cpp allocated (<c>n_ctx</c>, possibly rounded up from <see cref="LlamaCppOptions.ContextSize"/>).</summary>
    public int ContextSize => (int)context.ContextSize;

    /// <summary>The batch size llama.cpp accepted (<c>n_batch</c>, at most the requested context size).</summary>
    public int BatchSize => (int)context.NativeHandle.BatchSize;

    /// <summary>The GGUF metadata as llama.cpp reads it (values rendered as strings by llama.cpp).</summary>
    public IReadOnlyDictionary<string, string> Metadata => weights.Metadata;

    /// <summary>Loads a GGUF file into llama.cpp on the CPU and creates a context for it.</summary>
    /// <param name="ggufPath">Path of the .gguf file.</param>
    /// <param name="options">Context settings; null for the defaults of <see cref="LlamaCppOptions"/>.</param>
    /// <returns>The loaded model; dispose it to free the native memory.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    /// <exception cref="LlamaCppException">llama.cpp could not load the model or create the context.</exception>
    public static LlamaCppModel Load(string ggufPath, LlamaCppOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(ggufPath);
        options ??= new LlamaCppOptions();
        options.Validate();
        var path = Path.GetFullPath(ggufPath);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException("GGUF file not found.", path);
        }

        LlamaCppBackend.EnsureLoaded();
        var parameters = new ModelParams(path)
        {
            ContextSize = (uint)options.ContextSize,
            BatchSize = (uint)options.BatchSize,
            UBatchSize = (uint)options.BatchSize,
            Threads = options.Threads,
            BatchThreads = options.Threads,
            GpuLayerCount = 0,
            FlashAttention = options.FlashAttention,
            TypeK = options.F32KvCache ? GGMLType.GGML_TYPE_F32 : null,
            TypeV = options.F32KvCache ? GGMLType.GGML_TYPE_F32 : null,
        };

        using var log = LlamaCppLog.BeginCapture();
        LLamaWeights weights;
        try
        {
            weights = LLamaWeights.LoadFromFile(parameters);
        }
        catch (RuntimeError e)
        {
            throw new LlamaCppException($"llama.cpp could not load '{path}'.", log.Summary(), e);
        }

        try
        {
            var context = weights.CreateContext(parameters);
            return new LlamaCppModel(path, options, weights, context);
        }
        catch (RuntimeError e)
        {
            weights.Dispose();
            throw new LlamaCppException($"llama.cpp could not create a context for '{path}'.", log.Summary(), e);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>Tokenizes text with the model's own tokenizer (<c>llama_tokenize</c>).</summary>
    /// <param name="text">UTF-8 text.</param>
    /// <param name="addSpecial">Add the tokens the vocabulary asks for around a sequence (BOS, and EOS where configured).</param>
    /// <param name="parseSpecial">Recognise special/control token texts (e.g. <c>&lt;s&gt;</c>) inside the text.</param>
    /// <returns>Token ids.</returns>
    public int[] Tokenize(string text, bool addSpecial, bool parseSpecial)
    {
        ArgumentNullException.ThrowIfNull(text);
        ObjectDisposedException.ThrowIf(disposed, this);
        var tokens = weights.NativeHandle.Tokenize(text, addSpecial, parseSpecial, Encoding.UTF8);
        return MemoryMarshal.Cast<LLamaToken, int>(tokens).ToArray();
    }

    /// <summary>
    /// The bytes of one token's piece (<c>llama_token_to_piece</c> with lstrip 0, special true: control tokens are
    /// rendered as their text, byte tokens as the byte, SPM's ▁ as a space).
    /// </summary>
    /// <param name="id">A token id in [0, <see cref="VocabSize"/>).</param>
    /// <exception cref="ArgumentOutOfRangeException">The id is outside the vocabulary.</exception>
    public byte[] TokenToPieceBytes(int id)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        CheckToken(id, nameof(id));
        Span<byte> buffer = stackalloc byte[64];
        var length = (int)weights.NativeHandle.TokenToSpan(id, buffer, 0, true);
        if (length <= buffer.Length)
        {
            return buffer[..length].ToArray();
        }

        var large = new byte[length];
        length = (int)weights.NativeHandle.TokenToSpan(id, large, 0, true);
        return large.AsSpan(0, length).ToArray();
    }

    /// <summary>
    /// One token's piece as text (see <see cref="TokenToPieceBytes"/>). A piece that is part of a multi-byte UTF-8
    /// character decodes to U+FFFD; use <see cref="Detokenize"/> for whole sequences.
    /// </summary>
    /// <param name="id">A token id in [0, <see cref="VocabSize"/>).</param>
    /// <exception cref="ArgumentOutOfRangeException">The id is outside the vocabulary.</exception>
    public string TokenToPiece(int id) => Encoding.UTF8.GetString(TokenToPieceBytes(id));

    /// <summary>
    /// Turns token ids back into text with <c>llama_detokenize</c> (which also drops the leading space SPM
    /// vocabularies add, as llama.cpp does).
    /// </summary>
    /// <param name="ids">Token ids in [0, <see cref="VocabSize"/>).</param>
    /// <param name="removeSpecial">Drop BOS/EOS where the vocabulary adds them (<c>remove_special</c>).</param>
    /// <param name="unparseSpecial">Render special/control tokens as their text (<c>unparse_special</c>).</param>
    /// <returns>The text; invalid UTF-8 sequences become U+FFFD.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside the vocabulary.</exception>
    public string Detokenize(IReadOnlyList<int> ids, bool removeSpecial = false, bool unparseSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ObjectDisposedException.ThrowIf(disposed, this);
        var tokens = new int[ids.Count];
        for (var i = 0; i < tokens.Length; i++)
        {
            CheckToken(ids[i], nameof(ids));
            tokens[i] = ids[i];
        }

        var buffer = new byte[(tokens.Length * 8) + 16];
        while (true)
        {
            int written;
            fixed (int* t = tokens)
            fixed (byte* b = buffer)
            {
                written = detokenize(vocab, t, tokens.Length, b, buffer.Length, removeSpecial ? (byte)1 : (byte)0, unparseSpecial ? (byte)1 : (byte)0);
            }

            if (written >= 0)
            {
                return Encoding.UTF8.GetString(buffer, 0, written);
            }

            if (written == int.MinValue)
            {
                throw new LlamaCppException("llama_detokenize: the text does not fit in 2 GiB.");
            }

            buffer = new byte[-written];
        }
    }

    /// <summary>
    /// Runs <paramref name="tokens"/> as a fresh sequence (KV cache cleared, positions 0…n-1, sequence 0) and returns
    /// llama.cpp's logits for every position, in batches of at most <see cref="BatchSize"/> tokens.
    /// </summary>
    /// <param name="tokens">Token ids; at most <see cref="ContextSize"/> of them.</param>
    /// <returns>
    /// <c>tokens.Count</c> arrays of <see cref="VocabSize"/> floats: row i holds the raw (pre-softmax) logits that
    /// predict the token after position i.
    /// </returns>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside the vocabulary, or the sequence exceeds the context.</exception>
    /// <exception cref="LlamaCppException"><c>llama_decode</c> failed.</exception>
    public float[][] EvaluateLogits(IReadOnlyList<int> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ObjectDisposedException.ThrowIf(disposed, this);
        CheckSequence(tokens, tokens.Count);

        var logits = new float[tokens.Count][];
        using var log = LlamaCppLog.BeginCapture();
        ClearKvCache();
        var batch = new LLamaBatch();
        for (var start = 0; start < tokens.Count; start += BatchSize)
        {
            var count = Math.Min(BatchSize, tokens.Count - start);
            batch.Clear();
            for (var i = 0; i < count; i++)
            {
                batch.Add(tokens[start + i], start + i, Sequence, true);
            }

            Decode(batch, log, "prefill");
            for (var i = 0; i < count; i++)
            {
                logits[start + i] = context.NativeHandle.GetLogitsIth(i).ToArray();
            }
        }

        return logits;
    }

    /// <summary>
    /// Greedy generation: decodes the prompt as a fresh sequence, then repeatedly takes the arg-max of llama.cpp's raw
    /// logits (no sampler chain, no temperature, no repetition penalty; ties go to the lowest id) and feeds it back.
    /// </summary>
    /// <param name="prompt">Prompt token ids (at least one).</param>
    /// <param name="maxNewTokens">Most tokens to generate; <c>prompt.Count + maxNewTokens - 1</c> must fit the context.</param>
    /// <param name="stopAtEndOfGeneration">Stop after a token of <see cref="EndOfGenerationTokens"/>; that token is the last element returned.</param>
    /// <returns>The generated ids only (not the prompt).</returns>
    /// <exception cref="ArgumentException">The prompt is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside the vocabulary, or the generation would not fit the context.</exception>
    /// <exception cref="LlamaCppException"><c>llama_decode</c> failed.</exception>
    public int[] GenerateGreedy(IReadOnlyList<int> prompt, int maxNewTokens, bool stopAtEndOfGeneration = true)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ObjectDisposedException.ThrowIf(disposed, this);
        if (prompt.Count == 0)
        {
            throw new ArgumentException("The prompt needs at least one token.", nameof(prompt));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(maxNewTokens);
        CheckSequence(prompt, prompt.Count + Math.Max(maxNewTokens - 1, 0));
        if (maxNewTokens == 0)
        {
            return [];
        }

        using var log = LlamaCppLog.BeginCapture();
        ClearKvCache();
        var batch = new LLamaBatch();
        var outputIndex = 0;
        for (var start = 0; start < prompt.Count; start += BatchSize)
        {
            var count = Math.Min(BatchSize, prompt.Count - start);
            batch.Clear();
            for (var i = 0; i < count; i++)
            {
                var last = start + i == prompt.Count - 1;
                batch.Add(prompt[start + i], start + i, Sequence, last);
            }

            Decode(batch, log, "prefill");
            outputIndex = count - 1;
        }

        var generated = new List<int>(maxNewTokens);
        var position = prompt.Count;
        while (true)
        {
            var next = ArgMax(context.NativeHandle.GetLogitsIth(outputIndex));
            generated.Add(next);
            if ((stopAtEndOfGeneration && endOfGeneration.Contains(next)) || generated.Count == maxNewTokens)
            {
                return [.. generated];
            }

            batch.Clear();
            batch.Add(next, position++, Sequence, true);
            Decode(batch, log, "decode");
            outputIndex = 0;
        }
    }

    /// <summary>
    /// Measures llama.cpp's prefill and decode speed with <see cref="Stopwatch"/>: one batch of
    /// <paramref name="promptTokens"/> pseudo-random ids (seeded by <see cref="LlamaCppOptions.Seed"/>), then
    /// <paramref name="genTokens"/> single-token decodes of further pseudo-random ids (as llama-bench does; the
    /// ids do not change the cost). Only the <c>llama_decode</c> calls are timed. A warm-up prefill and one decode
    /// run first and are not counted.
    /// </summary>
    /// <param name="promptTokens">Prefill length; at most <see cref="BatchSize"/>.</param>
    /// <param name="genTokens">Number of single-token decodes; prompt plus generated must fit the context.</param>
    /// <returns>The measured times.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A count is out of range.</exception>
    /// <exception cref="LlamaCppException"><c>llama_decode</c> failed.</exception>
    public ReferenceTimings Bench(int promptTokens, int genTokens)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(promptTokens);
        ArgumentOutOfRangeException.ThrowIfNegative(genTokens);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(promptTokens, BatchSize);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(promptTokens + genTokens, ContextSize, nameof(genTokens));

        var random = new Random(Options.Seed);
        var prompt = new int[promptTokens];
        var decodeIds = new int[genTokens];
        for (var i = 0; i < prompt.Length; i++)
        {
            prompt[i] = random.Next(VocabSize);
        }

        for (var i = 0; i < decodeIds.Length; i++)
        {
            decodeIds[i] = random.Next(VocabSize);
        }

        using var log = LlamaCppLog.BeginCapture();
        var batch = new LLamaBatch();

        // Warm-up: first use of the graph allocates buffers and pages the weights in.
        TimePrefill(batch, prompt, log);
        TimeDecodes(batch, decodeIds.AsSpan(0, Math.Min(1, genTokens)), promptTokens, log);

        var prefill = TimePrefill(batch, prompt, log);
        var decode = TimeDecodes(batch, decodeIds, promptTokens, log);
        ClearKvCache();
        return new ReferenceTimings(promptTokens, genTokens, Options.Threads, prefill.TotalSeconds, decode.TotalSeconds);
    }

    /// <summary>Frees the llama.cpp context and model.</summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        context.Dispose();
        weights.Dispose();
    }

    /// <summary>Index of the largest value; the lowest index wins ties, NaN never wins.</summary>
    private static int ArgMax(ReadOnlySpan<float> values)
    {
        var best = 0;
        var bestValue = float.NegativeInfinity;
        for (var i = 0; i < values.Length; i++)
        {
            if (values[i] > bestValue)
            {
                bestValue = values[i];
                best = i;
            }
        }

        return best;
    }

    private TimeSpan TimePrefill(LLamaBatch batch, int[] prompt, LlamaCppLog.Capture log)
    {
        ClearKvCache();
        batch.Clear();
        for (var i = 0; i < prompt.Length; i++)
        {
            batch.Add(prompt[i], i, Sequence, i == prompt.Length - 1);
        }

        var start = Stopwatch.GetTimestamp();
        Decode(batch, log, "prefill");
        context.NativeHandle.Synchronize();
        return Stopwatch.GetElapsedTime(start);
    }

    private TimeSpan TimeDecodes(LLamaBatch batch, ReadOnlySpan<int> ids, int firstPosition, LlamaCppLog.Capture log)
    {
        var total = TimeSpan.Zero;
        for (var i = 0; i < ids.Length; i++)
        {
            batch.Clear();
            batch.Add(ids[i], firstPosition + i, Sequence, true);
            var start = Stopwatch.GetTimestamp();
            Decode(batch, log, "decode");
            context.NativeHandle.Synchronize();
            total += Stopwatch.GetElapsedTime(start);
        }

        return total;
    }

    private void ClearKvCache() => context.NativeHandle.MemoryClear(true);

    private void Decode(LLamaBatch batch, LlamaCppLog.Capture log, string phase)
    {
        var result = context.NativeHandle.Decode(batch);
        if (result != DecodeResult.Ok)
        {
            throw new LlamaCppException($"llama_decode failed during {phase} of {batch.TokenCount} token(s): {result}.", log.Summary());
        }
    }

    private void CheckToken(int id, string paramName)
    {
        if ((uint)id >= (uint)VocabSize)
        {
            throw new ArgumentOutOfRangeException(paramName, id, $"Token id outside the vocabulary [0, {VocabSize}).");
        }
    }

    private void CheckSequence(IReadOnlyList<int> tokens, int positionsNeeded)
    {
        for (var i = 0; i < tokens.Count; i++)
        {
            CheckToken(tokens[i], nameof(tokens));
        }

        if (positionsNeeded > ContextSize)
        {
            throw new ArgumentOutOfRangeException(
                nameof(tokens), positionsNeeded, $"The sequence needs {positionsNeeded} positions; the context holds {ContextSize}.");
        }
    }
}
