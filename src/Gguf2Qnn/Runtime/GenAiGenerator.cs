using System.Text.Json;
using System.Text.Json.Nodes;
using Gguf2Qnn.Targets;
using Gguf2Qnn.Tokenization.ChatTemplates;
using Microsoft.ML.OnnxRuntimeGenAI;

namespace Gguf2Qnn.Runtime;

/// <summary>
/// A cpu-target artifact folder (genai_config.json, model.onnx + model.onnx.data, tokenizer.json,
/// tokenizer_config.json) run by ONNX Runtime GenAI (Microsoft.ML.OnnxRuntimeGenAI) instead of our own loop
/// (<see cref="OnnxCausalLm"/>): GenAI reads the config, owns the session, the KV cache and the search, and its
/// tokenizer (onnxruntime-extensions) reads the exported Hugging Face files. The CPU execution provider is forced
/// (the config's provider list is cleared). Not thread-safe: one generation at a time.
/// </summary>
/// <remarks>
/// <para>GenAI's own native library (libonnxruntime-genai) loads the ONNX Runtime library that
/// Microsoft.ML.OnnxRuntime puts beside it, so both engines share one ONNX Runtime build.</para>
/// <para>Differences from <see cref="OnnxCausalLm.Generate"/>: GenAI also stops at the config's
/// <c>eos_token_id</c>s (treated as stop tokens here, so they are never yielded); its <c>max_length</c> counts the
/// prompt and is capped at <see cref="ContextLength"/>; sampled runs use GenAI's own sampler and random generator
/// (std::mt19937 seeded with <see cref="GenerationOptions.Seed"/>), so only greedy runs are comparable token for
/// token with our engine.</para>
/// <para>After <see cref="Dispose"/> every method throws <see cref="ObjectDisposedException"/> (GenAI's native objects are
/// gone; calling into them would crash the process), also an enumeration of <see cref="Generate"/> still in progress.</para>
/// </remarks>
public sealed class GenAiGenerator : IDisposable
{
    private readonly Config _config;
    private readonly Model _model;
    private readonly Tokenizer _tokenizer;
    private readonly int[] _eosTokenIds;
    private readonly int? _bosTokenId;
    private bool _disposed;

    private GenAiGenerator(string artifactDir, Config config, Model model, Tokenizer tokenizer, JsonNode modelNode)
    {
        ArtifactDirectory = artifactDir;
        _config = config;
        _model = model;
        _tokenizer = tokenizer;
        ModelType = model.GetModelType();
        VocabSize = modelNode["vocab_size"]?.GetValue<int>() ?? throw new InvalidDataException($"{GenAiConfig.FileName} has no model.vocab_size.");
        ContextLength = modelNode["context_length"]?.GetValue<int>() ?? throw new InvalidDataException($"{GenAiConfig.FileName} has no model.context_length.");
        _eosTokenIds = tokenizer.GetEosTokenIds().ToArray();
        _bosTokenId = modelNode["bos_token_id"]?.GetValue<int>();
        DecoderSessionOptions = modelNode["decoder"]?["session_options"]?.ToJsonString() ?? "{}";
    }

    /// <summary>The artifact folder GenAI loaded.</summary>
    public string ArtifactDirectory { get; }

    /// <summary>GenAI's model type (genai_config.json <c>model.type</c>, e.g. llama, qwen2).</summary>
    public string ModelType { get; }

    /// <summary>The ONNX Runtime session options GenAI was given for the decoder, as compact JSON
    /// (genai_config.json <c>model.decoder.session_options</c>; <c>{}</c> when absent).</summary>
    public string DecoderSessionOptions { get; }

    /// <summary>Vocabulary size (genai_config.json <c>model.vocab_size</c>).</summary>
    public int VocabSize { get; }

    /// <summary>Most positions (prompt + generated) a sequence can hold (genai_config.json <c>model.context_length</c>).</summary>
    public int ContextLength { get; }

    /// <summary>The end-of-sequence ids GenAI stops at (genai_config.json <c>model.eos_token_id</c>).</summary>
    public IReadOnlyList<int> EosTokenIds => _eosTokenIds;

    /// <summary>
    /// Opens <paramref name="artifactDir"/> with GenAI on the CPU execution provider. The tokenizer adds special
    /// tokens (BOS/EOS) as tokenizer_config.json asks (<c>add_bos_token</c>, <c>add_eos_token</c>), as our tokenizer does
    /// from the GGUF; GenAI's own default would add none.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The folder has no genai_config.json.</exception>
    /// <exception cref="NotSupportedException">A qnn-target folder (<see cref="CausalLm.IsQnnTarget"/>), which GenAI
    /// cannot run here; see <see cref="QnnTargetUnsupportedReason"/>.</exception>
    /// <exception cref="InvalidDataException">The config is not JSON, or lacks vocab_size or context_length.</exception>
    /// <exception cref="OnnxRuntimeGenAIException">GenAI rejects the config, the model or the tokenizer files.</exception>
    public static GenAiGenerator Open(string artifactDir)
    {
        ArgumentException.ThrowIfNullOrEmpty(artifactDir);
        if (!Directory.Exists(artifactDir))
        {
            throw new DirectoryNotFoundException($"No such artifact folder: {artifactDir}");
        }

        if (CausalLm.IsQnnTarget(artifactDir))
        {
            throw new NotSupportedException($"'{artifactDir}' is a qnn-target folder, which ONNX Runtime GenAI cannot run here: {QnnTargetUnsupportedReason}");
        }

        string configPath = Path.Combine(artifactDir, GenAiConfig.FileName);
        if (!File.Exists(configPath))
        {
            throw new FileNotFoundException($"ONNX Runtime GenAI needs {GenAiConfig.FileName} in the artifact folder.", configPath);
        }

        JsonNode modelNode;
        try
        {
            modelNode = JsonNode.Parse(File.ReadAllText(configPath))?["model"] ?? throw new InvalidDataException($"{configPath} has no 'model' object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{configPath} is not valid JSON: {e.Message}", e);
        }
        Config? config = null;
        Model? model = null;
        Tokenizer? tokenizer = null;
        try
        {
            config = new Config(artifactDir);
            config.ClearProviders(); // CPU execution provider
            model = new Model(config);
            tokenizer = new Tokenizer(model);
            tokenizer.UpdateOptions(new Dictionary<string, string> { ["add_special_tokens"] = "true" });
            return new GenAiGenerator(artifactDir, config, model, tokenizer, modelNode);
        }
        catch
        {
            tokenizer?.Dispose();
            model?.Dispose();
            config?.Dispose();
            throw;
        }
    }

    /// <summary>Why <see cref="Open"/> refuses a qnn-target folder.</summary>
    public const string QnnTargetUnsupportedReason =
        "its genai_config.json is a 'decoder-pipeline' of static-shape AR-N/AR-1 part graphs for the QNN execution provider, " +
        "which this ONNX Runtime GenAI build lacks (GenAI: 'QNN execution provider is not supported in this build'); without " +
        "the QNN provider options GenAI 0.18's windowed pipeline still cannot feed those graphs (their attention_mask is a " +
        "float additive mask and their rotary tables are inputs, position_ids_cos/position_ids_sin); run the folder with " +
        "--engine ort, or convert with --target cpu for GenAI";

    /// <summary>Token ids of <paramref name="text"/> by GenAI's tokenizer (BOS/EOS added as tokenizer_config.json asks when
    /// <paramref name="addSpecialTokens"/>; special-token texts in the input are always matched as those tokens).</summary>
    /// <exception cref="OnnxRuntimeGenAIException">The tokenizer fails.</exception>
    public int[] Encode(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!addSpecialTokens)
        {
            _tokenizer.UpdateOptions(new Dictionary<string, string> { ["add_special_tokens"] = "false" });
        }

        try
        {
            using var sequences = _tokenizer.Encode(text);
            return sequences[0].ToArray();
        }
        finally
        {
            if (!addSpecialTokens)
            {
                _tokenizer.UpdateOptions(new Dictionary<string, string> { ["add_special_tokens"] = "true" });
            }
        }
    }

    /// <summary>
    /// Token ids of a rendered chat prompt: special tokens added as tokenizer_config.json asks, and a BOS the template
    /// wrote itself not doubled (the rule <see cref="ChatPrompt.Encode"/> applies).
    /// </summary>
    public int[] EncodeChat(string renderedPrompt)
    {
        int[] ids = Encode(renderedPrompt);
        return ids.Length >= 2 && _bosTokenId is int bos && ids[0] == bos && ids[1] == bos ? ids[1..] : ids;
    }

    /// <summary>Text of <paramref name="ids"/> by GenAI's tokenizer (special tokens skipped, GenAI's default).</summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _tokenizer.Decode(ids);
    }

    /// <summary>A streaming decoder: one text piece per id (empty while a UTF-8 character is incomplete).</summary>
    public TokenizerStream CreateStreamDecoder()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _tokenizer.CreateStream();
    }

    /// <summary>
    /// Renders <paramref name="messages"/> with GenAI's chat-template engine (onnxruntime-extensions): the template
    /// <paramref name="template"/>, or tokenizer_config.json's <c>chat_template</c> when null. Messages go in as
    /// <c>[{"role":…,"content":…}]</c>.
    /// </summary>
    /// <exception cref="OnnxRuntimeGenAIException">GenAI cannot render the template.</exception>
    public string ApplyChatTemplate(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, string? template = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var array = new JsonArray(messages.Select(m => (JsonNode)new JsonObject { ["role"] = m.Role, ["content"] = m.Content }).ToArray());
        return _tokenizer.ApplyChatTemplate(template, array.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }), null, addGenerationPrompt);
    }

    /// <summary>
    /// Generates after <paramref name="prompt"/> through GenAI's generator, streaming ids: greedy (arg-max) when
    /// <see cref="GenerationOptions.IsGreedy"/>, else GenAI's sampling with the options' temperature, top-k (0: the whole
    /// vocabulary), top-p and seed. Stops at a stop token (<see cref="GenerationOptions.StopTokens"/> or the config's
    /// EOS ids; not yielded), after <see cref="GenerationOptions.MaxNewTokens"/>, or when the context is full.
    /// </summary>
    /// <exception cref="ArgumentException">An empty prompt, one that fills the context, or an id outside the vocabulary.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (<see cref="GenerationOptions.Validate"/>).</exception>
    public IEnumerable<int> Generate(IReadOnlyList<int> prompt, GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        ObjectDisposedException.ThrowIf(_disposed, this);
        options.Validate();
        if (prompt.Count == 0)
        {
            throw new ArgumentException("At least one token is needed.", nameof(prompt));
        }

        if (prompt.Count >= ContextLength)
        {
            throw new ArgumentException($"A {prompt.Count}-token prompt leaves no room in the model's context length {ContextLength}.", nameof(prompt));
        }

        foreach (int t in prompt)
        {
            if ((uint)t >= (uint)VocabSize)
            {
                throw new ArgumentException($"Token id {t} is outside the vocabulary [0, {VocabSize}).", nameof(prompt));
            }
        }

        return GenerateCore(prompt.ToArray(), options);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _tokenizer.Dispose();
        _model.Dispose();
        _config.Dispose();
    }

    private IEnumerable<int> GenerateCore(int[] prompt, GenerationOptions options)
    {
        if (options.MaxNewTokens == 0)
        {
            yield break;
        }

        var stops = new HashSet<int>(options.StopTokens);
        stops.UnionWith(_eosTokenIds);
        ObjectDisposedException.ThrowIf(_disposed, this); // disposed between Generate and the first MoveNext
        using var search = new GeneratorParams(_model);
        search.SetSearchOption("max_length", Math.Min(ContextLength, (long)prompt.Length + options.MaxNewTokens));
        search.SetSearchOption("min_length", 0);
        if (options.IsGreedy)
        {
            search.SetSearchOption("do_sample", false);
        }
        else
        {
            search.SetSearchOption("do_sample", true);
            search.SetSearchOption("temperature", options.Temperature);
            search.SetSearchOption("top_k", options.TopK == 0 ? VocabSize : Math.Min(options.TopK, VocabSize));
            search.SetSearchOption("top_p", options.TopP);
            if (options.Seed is int seed)
            {
                search.SetSearchOption("random_seed", seed);
            }
        }

        using var generator = new Generator(_model, search);
        generator.AppendTokens(prompt);
        while (!generator.IsDone())
        {
            ObjectDisposedException.ThrowIf(_disposed, this); // disposed while the caller enumerates
            generator.GenerateNextToken();
            int token = generator.GetNextTokens()[0];
            if (stops.Contains(token))
            {
                yield break;
            }

            yield return token;
        }
    }
}
