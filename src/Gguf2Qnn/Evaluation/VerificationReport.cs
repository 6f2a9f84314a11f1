using System.Globalization;
using System.Text.Json.Nodes;

namespace Gguf2Qnn.Evaluation;

/// <summary>
/// How closely our converted model follows the reference (llama.cpp) on the same token ids (<c>gguf2qnn verify</c>).
/// </summary>
/// <param name="Positions">Positions compared.</param>
/// <param name="Top1Agreement">Fraction of positions whose arg-max agrees, in [0, 1].</param>
/// <param name="KlMean">Mean KL(P_reference ‖ P_ours) per position, nats.</param>
/// <param name="KlMax">Largest per-position KL, nats.</param>
/// <param name="MaxAbsLogitDiff">Largest absolute difference of any raw logit.</param>
/// <param name="PerplexityOurs">exp(mean negative log-likelihood of the next token) under our model.</param>
/// <param name="PerplexityReference">The same under the reference.</param>
public sealed record VerificationReport(
    int Positions,
    double Top1Agreement,
    double KlMean,
    double KlMax,
    double MaxAbsLogitDiff,
    double PerplexityOurs,
    double PerplexityReference)
{
    /// <summary>The JSON of DESIGN.md §3: <c>{"positions":N,"top1_agreement":x,"kl_mean":x,"kl_max":x,"max_abs_logit_diff":x,"ppl_ours":x,"ppl_reference":x}</c>.</summary>
    public JsonObject ToJson() => new()
    {
        ["positions"] = Positions,
        ["top1_agreement"] = Top1Agreement,
        ["kl_mean"] = KlMean,
        ["kl_max"] = KlMax,
        ["max_abs_logit_diff"] = MaxAbsLogitDiff,
        ["ppl_ours"] = PerplexityOurs,
        ["ppl_reference"] = PerplexityReference,
    };

    /// <summary>A short human-readable table (one metric per line).</summary>
    public string ToTable(VerificationThresholds? thresholds = null)
    {
        var c = CultureInfo.InvariantCulture;
        var lines = new List<string>
        {
            string.Format(c, "{0,-22} {1,14}", "positions", Positions),
            string.Format(c, "{0,-22} {1,13:F2}%{2}", "top-1 agreement", Top1Agreement * 100, thresholds is null ? "" : string.Format(c, "   (needs ≥ {0:F2}%)", thresholds.MinTop1Agreement * 100)),
            string.Format(c, "{0,-22} {1,14:E3}{2}", "KL mean (nats)", KlMean, thresholds is null ? "" : string.Format(c, "   (needs ≤ {0:E1})", thresholds.MaxKlMean)),
            string.Format(c, "{0,-22} {1,14:E3}", "KL max (nats)", KlMax),
            string.Format(c, "{0,-22} {1,14:E3}", "max |logit diff|", MaxAbsLogitDiff),
            string.Format(c, "{0,-22} {1,14:F4}", "perplexity (ours)", PerplexityOurs),
            string.Format(c, "{0,-22} {1,14:F4}", "perplexity (llama.cpp)", PerplexityReference),
        };
        return string.Join(Environment.NewLine, lines);
    }
}
