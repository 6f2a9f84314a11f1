namespace Gguf2Qnn.Tokenization.PreTokenization;

/// <summary>
/// What llama.cpp derives from a <c>tokenizer.ggml.pre</c> value (<c>llama_vocab::impl::load</c> and the
/// <c>llm_tokenizer_bpe</c> constructor): the split rules, whether decoding cleans up spaces before punctuation
/// (<c>clean_spaces</c>), whether a word found whole in the vocabulary skips the merges (<c>ignore_merges</c>),
/// and the default of <c>add_bos</c>.
/// </summary>
internal sealed record BpePreTokenizerSpec(
    string Family,
    IReadOnlyList<SplitRule> Rules,
    bool CleanSpaces,
    bool IgnoreMerges = false,
    bool AddBos = false)
{
    /// <summary>CJK ideographs and Hangul syllables, the fourth deepseek-llm rule: 一-龥, U+0800-一, 가-U+D7FF.</summary>
    internal static readonly (int, int)[] CjkHangul = [(0x4E00, 0x9FA5), (0x0800, 0x4E00), (0xAC00, 0xD7FF)];

    /// <summary>The third deepseek-llm rule's class: ASCII and full-width punctuation, quotes, ideographic space and marks.</summary>
    internal static readonly (int, int)[] DeepseekLlmPunctuation =
        [(0x21, 0x2F), (0x3A, 0x7E), (0xFF01, 0xFF0F), (0xFF1A, 0xFF5E), (0x2018, 0x201F), (0x3000, 0x3002)];

    /// <summary>The second deepseek-llm rule's class: the cased letters of many scripts, as listed by llama.cpp.</summary>
    internal static readonly (int, int)[] DeepseekLlmLetters =
    [
        (0x0041, 0x005A), (0x0061, 0x007A), (0x00B5, 0x00B5), (0x00C0, 0x00D6), (0x00D8, 0x00F6), (0x00F8, 0x01BA),
        (0x01BC, 0x01BF), (0x01C4, 0x0293), (0x0295, 0x02AF), (0x0370, 0x0373), (0x0376, 0x0377), (0x037B, 0x037D),
        (0x037F, 0x037F), (0x0386, 0x0386), (0x0388, 0x038A), (0x038C, 0x038C), (0x038E, 0x03A1), (0x03A3, 0x03F5),
        (0x03F7, 0x0481), (0x048A, 0x052F), (0x0531, 0x0556), (0x10A0, 0x10C5), (0x13A0, 0x13F5), (0x13F8, 0x13FD),
        (0x1C90, 0x1CBA), (0x1CBD, 0x1CBF), (0x1D00, 0x1D2B), (0x1D6B, 0x1D77), (0x1D79, 0x1D9A), (0x1E00, 0x1F15),
        (0x1F18, 0x1F1D), (0x1F20, 0x1F45), (0x1F48, 0x1F4D), (0x1F50, 0x1F57), (0x1F59, 0x1F59), (0x1F5B, 0x1F5B),
        (0x1F5D, 0x1F5D), (0x1F5F, 0x1F7D), (0x1F80, 0x1FB4), (0x1FB6, 0x1FBC), (0x1FBE, 0x1FBE), (0x1FC2, 0x1FC4),
        (0x1FC6, 0x1FCC), (0x1FD0, 0x1FD3), (0x1FD6, 0x1FDB), (0x1FE0, 0x1FEC), (0x1FF2, 0x1FF4), (0x1FF6, 0x1FFC),
        (0x2102, 0x2102), (0x2107, 0x2107), (0x210A, 0x2113), (0x2115, 0x2115), (0x2119, 0x211D), (0x2124, 0x2124),
        (0x2126, 0x2126), (0x2128, 0x2128), (0x212A, 0x212D), (0x212F, 0x2134), (0x2139, 0x2139), (0x213C, 0x213F),
        (0x2145, 0x2149), (0x214E, 0x214E), (0x2183, 0x2184), (0x2C00, 0x2C7B), (0x2C7E, 0x2CE4), (0x2CEB, 0x2CEE),
        (0x2CF2, 0x2CF3), (0xA640, 0xA66D), (0xA680, 0xA69B), (0xA722, 0xA76F), (0xA771, 0xA787), (0xA78B, 0xA78E),
        (0xAB70, 0xABBF), (0xFB00, 0xFB06), (0xFB13, 0xFB17), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A),
        (0x10400, 0x1044F), (0x104B0, 0x104D3), (0x104D8, 0x104FB), (0x10C80, 0x10CB2), (0x10CC0, 0x10CF2),
        (0x118A0, 0x118DF), (0x1E900, 0x1E943),
    ];

    // The regexes below are llama.cpp's, in its spelling; RegexSplitRule rewrites those that name categories.
    private static readonly SplitRule Gpt2 = new GptStyleSplitRule(GptStyle.Gpt2);
    private static readonly SplitRule Llama3 = new GptStyleSplitRule(GptStyle.Llama3);
    private static readonly SplitRule Qwen2 = new GptStyleSplitRule(GptStyle.Qwen2);

    private static SplitRule Re(string llamaCppPattern) => RegexSplitRule.FromLlamaCpp(llamaCppPattern);

    private static readonly Lazy<BpePreTokenizerSpec> DefaultSpec = new(() => new("default",
        [Re(@"[\p{P}\$\+<=>\^~\|]+"), Gpt2, Re(@"\p{N}+"), Re("[0-9][0-9][0-9]")], CleanSpaces: true));

    private static readonly Lazy<BpePreTokenizerSpec> Gpt2Spec = new(() => new("gpt-2", [Gpt2], CleanSpaces: true));

    private static readonly Lazy<BpePreTokenizerSpec> FalconSpec = new(() => new("falcon",
        [Re(@"[\p{P}\$\+<=>\^~\|`]+"), Gpt2, Re("[0-9][0-9][0-9]")], CleanSpaces: true));

    private static readonly Lazy<IReadOnlyList<SplitRule>> StarcoderRules = new(() => [Re(@"\p{N}"), Gpt2]);

    private static readonly Lazy<BpePreTokenizerSpec> DeepseekLlmSpec = new(() => new("deepseek-llm",
        [
            Re("[\r\n]"),
            Re(@"\s?" + CodepointClass.Pattern(DeepseekLlmLetters) + "+"),
            Re(@"\s?" + CodepointClass.Pattern(DeepseekLlmPunctuation) + "+"),
            Re(@"\s+\z"), // llama.cpp: "\s+$" (ECMAScript "$" is the end of input; .NET's "$" also matches before a final \n)
            Re(CodepointClass.Pattern(CjkHangul) + "+"),
            Re(@"\p{N}+"),
        ],
        CleanSpaces: false));

    private static readonly Lazy<BpePreTokenizerSpec> DeepseekCoderSpec = new(() => new("deepseek-coder",
        [Re("[\r\n]"), Re(@"\s?\p{L}+"), Re(@"\s?\p{P}+"), Re(CodepointClass.Pattern(CjkHangul) + "+"), Re(@"\p{N}")],
        CleanSpaces: false));

    /// <summary>
    /// The spec for <paramref name="pre"/> (null or empty: <c>default</c>, as llama.cpp), or null when the value
    /// is not one this project supports.
    /// </summary>
    public static BpePreTokenizerSpec? Find(string? pre) => (string.IsNullOrEmpty(pre) ? "default" : pre) switch
    {
        "default" => DefaultSpec.Value,
        "gpt-2" or "phi-2" or "mpt" or "olmo" or "jais" or "gigachat" or "exaone4" => Gpt2Spec.Value,
        "trillion" or "granite-docling" => Gpt2Spec.Value with { Family = "gpt-2", CleanSpaces = false },
        "falcon" => FalconSpec.Value,
        "starcoder" or "refact" or "codeshell" or "exaone" or "minerva-7b" or "mellum2"
            => new("starcoder", StarcoderRules.Value, CleanSpaces: true),
        "command-r" or "smollm" => new("starcoder", StarcoderRules.Value, CleanSpaces: false),
        "llama3" or "llama-v3" or "llama-bpe" or "falcon3" or "falcon-h1" or "pixtral" or "midm-2.0" or "lfm2"
            => new("llama3", [Llama3], CleanSpaces: true, IgnoreMerges: true, AddBos: true),
        "dbrx" or "smaug-bpe" => new("llama3", [Llama3], CleanSpaces: true),
        "chatglm-bpe" or "glm4" => null, // llama3 regex, but llama.cpp also drops the BOS id: not covered here
        "qwen2" or "deepseek-r1-qwen" => new("qwen2", [Qwen2], CleanSpaces: false),
        "stablelm2" or "megrez" => new("qwen2", [Qwen2], CleanSpaces: true),
        "deepseek-llm" => DeepseekLlmSpec.Value,
        "deepseek-coder" => DeepseekCoderSpec.Value,
        _ => null,
    };
}
