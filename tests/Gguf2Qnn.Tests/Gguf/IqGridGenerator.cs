using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Gguf2Qnn.Reference;

namespace Gguf2Qnn.Tests.Gguf;

/// <summary>
/// Recovers the lookup tables of the i-quants (and the two 16-entry value tables of IQ4_NL and MXFP4) from ggml's own
/// <c>to_float</c> in the libggml-base that LLamaSharp ships: for each table it builds blocks whose scale makes every
/// multiplier exactly 1, whose sign bits are clear, and whose indices walk the table, then reads the table entries
/// back out of the dequantized floats. <see cref="ToCSharp"/> prints the result as
/// <c>src/Gguf2Qnn/Gguf/Dequantize/IqGrids.g.cs</c>; <c>IqGridGeneratorTests</c> checks that the committed file is
/// exactly what this produces and rewrites it when <c>GGUF2QNN_WRITE_IQ_GRIDS=1</c>.
/// </summary>
internal static class IqGridGenerator
{
    private const int IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, MXFP4 = 39;

    /// <summary>Generated file, relative to the repository root.</summary>
    public const string RelativePath = "src/Gguf2Qnn/Gguf/Dequantize/IqGrids.g.cs";

    /// <summary>All tables, each flattened entry by entry (8 or 4 values per grid entry).</summary>
    public sealed record Tables(
        byte[] Iq2xxs, byte[] Iq2xs, byte[] Iq2s, byte[] Iq3xxs, byte[] Iq3s, sbyte[] Iq1s, byte[] Signs, sbyte[] Iq4nl, sbyte[] Mxfp4);

    public static Tables FromGgml() => new(
        Iq2xxsGrid(),
        Iq2xsGrid(),
        Iq2sGrid(),
        Iq3xxsGrid(),
        Iq3sGrid(),
        Iq1sGrid(),
        SignTable(),
        Iq4nlValues(),
        Mxfp4Values());

    /// <summary>IQ2_XXS (66 bytes): fp16 d = 8 and a 4-bit scale of 0 make db = 8 · 0.5 · 0.25 = 1.</summary>
    private static byte[] Iq2xxsGrid()
    {
        const int entries = 256, perBlock = 32, blockBytes = 66;
        var table = new byte[entries * 8];
        for (var first = 0; first < entries; first += perBlock)
        {
            var block = new byte[blockBytes];
            WriteHalf(block, 0, 8);
            for (var k = 0; k < perBlock; k++)
            {
                block[2 + ((k / 4) * 8) + (k % 4)] = (byte)(first + k); // aux32[0] of group k/4, byte k%4; aux32[1] = 0
            }

            CopyEntries(Dequantize(IQ2_XXS, block, 256), table, first, 8);
        }

        return table;
    }

    /// <summary>IQ2_XS (74 bytes): d = 8, scales 0: db = 1; qs[i] = index (9 bits), sign bits 0.</summary>
    private static byte[] Iq2xsGrid()
    {
        const int entries = 512, perBlock = 32, blockBytes = 74;
        var table = new byte[entries * 8];
        for (var first = 0; first < entries; first += perBlock)
        {
            var block = new byte[blockBytes];
            WriteHalf(block, 0, 8);
            for (var k = 0; k < perBlock; k++)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(2 + (2 * k)), (ushort)(first + k));
            }

            CopyEntries(Dequantize(IQ2_XS, block, 256), table, first, 8);
        }

        return table;
    }

    /// <summary>
    /// IQ2_S (82 bytes: d, qs[32] low index bits, signs[32], qh[8], scales[8]): d = 8, scales 0: db = 1; the index of
    /// lookup l of group g is qs[4g + l] | bits 2l..2l+1 of qh[g] shifted to bits 8..9.
    /// </summary>
    private static byte[] Iq2sGrid()
    {
        const int entries = 1024, perBlock = 32, blockBytes = 82;
        var table = new byte[entries * 8];
        for (var first = 0; first < entries; first += perBlock)
        {
            var block = new byte[blockBytes];
            WriteHalf(block, 0, 8);
            for (var k = 0; k < perBlock; k++)
            {
                var index = first + k;
                int g = k / 4, l = k % 4;
                block[2 + k] = (byte)index;
                block[66 + g] |= (byte)((index >> 8) << (2 * l));
            }

            CopyEntries(Dequantize(IQ2_S, block, 256), table, first, 8);
        }

        return table;
    }

    /// <summary>IQ3_XXS (98 bytes: d, qs[64] indices, 8 × uint32 signs and scale): d = 4, scale 0: db = 4 · 0.5 · 0.5 = 1.</summary>
    private static byte[] Iq3xxsGrid()
    {
        const int entries = 256, perBlock = 64, blockBytes = 98;
        var table = new byte[entries * 4];
        for (var first = 0; first < entries; first += perBlock)
        {
            var block = new byte[blockBytes];
            WriteHalf(block, 0, 4);
            for (var k = 0; k < perBlock; k++)
            {
                block[2 + k] = (byte)(first + k);
            }

            CopyEntries(Dequantize(IQ3_XXS, block, 256), table, first, 4);
        }

        return table;
    }

    /// <summary>
    /// IQ3_S (110 bytes: d, qs[64], qh[8], signs[32], scales[4]): d = 1, scales 0: db = 1; index 2l + h of group g is
    /// qs[8g + 2l + h] | bit (2l + h) of qh[g] shifted to bit 8.
    /// </summary>
    private static byte[] Iq3sGrid()
    {
        const int entries = 512, perBlock = 64, blockBytes = 110;
        var table = new byte[entries * 4];
        for (var first = 0; first < entries; first += perBlock)
        {
            var block = new byte[blockBytes];
            WriteHalf(block, 0, 1);
            for (var k = 0; k < perBlock; k++)
            {
                var index = first + k;
                block[2 + k] = (byte)index;
                block[66 + (k / 8)] |= (byte)((index >> 8) << (k % 8));
            }

            CopyEntries(Dequantize(IQ3_S, block, 256), table, first, 4);
        }

        return table;
    }

    /// <summary>
    /// IQ1_S (50 bytes: d, qs[32], qh[8] uint16): d = 1 and scale bits 0 make dl = 1, delta +0.125, so each output is
    /// grid + 0.125 exactly; lookup l of group g indexes qs[4g + l] | bits 3l..3l+2 of qh[g] shifted to bits 8..10.
    /// </summary>
    private static sbyte[] Iq1sGrid()
    {
        const int entries = 2048, perBlock = 32, blockBytes = 50;
        var table = new sbyte[entries * 8];
        for (var first = 0; first < entries; first += perBlock)
        {
            var block = new byte[blockBytes];
            WriteHalf(block, 0, 1);
            for (var k = 0; k < perBlock; k++)
            {
                var index = first + k;
                int g = k / 4, l = k % 4;
                block[2 + k] = (byte)index;
                var qh = BinaryPrimitives.ReadUInt16LittleEndian(block.AsSpan(34 + (2 * g)));
                qh |= (ushort)((index >> 8) << (3 * l));
                BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(34 + (2 * g)), qh);
            }

            var y = Dequantize(IQ1_S, block, 256);
            for (var i = 0; i < y.Length; i++)
            {
                var v = y[i] - 0.125f;
                if (v != MathF.Round(v) || v < -128 || v > 127)
                {
                    throw new InvalidOperationException($"IQ1_S entry {first + (i / 8)} value {y[i]} is not an integer + 0.125.");
                }

                table[(first * 8) + i] = (sbyte)v;
            }
        }

        return table;
    }

    /// <summary>
    /// The 128-entry sign table shared by IQ2_XXS/IQ2_XS/IQ2_S/IQ3_XXS: bit j set means weight j of a group of 8 is
    /// negated. Read from IQ2_XS blocks (d = 8, scales 0, grid entry 0) whose 7-bit sign fields walk 0..127.
    /// </summary>
    private static byte[] SignTable()
    {
        var signs = new byte[128];
        for (var first = 0; first < 128; first += 32)
        {
            var block = new byte[74];
            WriteHalf(block, 0, 8);
            for (var k = 0; k < 32; k++)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(2 + (2 * k)), (ushort)((first + k) << 9));
            }

            var y = Dequantize(IQ2_XS, block, 256);
            for (var k = 0; k < 32; k++)
            {
                byte mask = 0;
                for (var j = 0; j < 8; j++)
                {
                    var v = y[(8 * k) + j];
                    if (v == 0)
                    {
                        throw new InvalidOperationException("IQ2_XS grid entry 0 has a zero; signs cannot be read from it.");
                    }

                    if (v < 0)
                    {
                        mask |= (byte)(1 << j);
                    }
                }

                signs[first + k] = mask;
            }
        }

        return signs;
    }

    /// <summary>IQ4_NL (18 bytes): d = 1, byte j = j | j &lt;&lt; 4, so weight j is the table's entry j.</summary>
    private static sbyte[] Iq4nlValues()
    {
        var block = new byte[18];
        WriteHalf(block, 0, 1);
        for (var j = 0; j < 16; j++)
        {
            block[2 + j] = (byte)(j | (j << 4));
        }

        return ToIntegers(Dequantize(IQ4_NL, block, 32).AsSpan(0, 16));
    }

    /// <summary>MXFP4 (17 bytes: e8m0 exponent, qs[16]): e = 128 gives the scale 1 (ggml halves 2^(e−127)).</summary>
    private static sbyte[] Mxfp4Values()
    {
        var block = new byte[17];
        block[0] = 128;
        for (var j = 0; j < 16; j++)
        {
            block[1 + j] = (byte)(j | (j << 4));
        }

        return ToIntegers(Dequantize(MXFP4, block, 32).AsSpan(0, 16));
    }

    private static float[] Dequantize(int type, byte[] block, int n)
    {
        var y = new float[n];
        GgmlNative.DequantizeRow(type, block, y);
        return y;
    }

    private static void CopyEntries(float[] y, byte[] table, int first, int width)
    {
        for (var i = 0; i < y.Length; i++)
        {
            var v = y[i];
            if (v != MathF.Round(v) || v is < 0 or > 255)
            {
                throw new InvalidOperationException($"Grid entry {first + (i / width)} value {v} is not a byte.");
            }

            table[(first * width) + i] = (byte)v;
        }
    }

    private static sbyte[] ToIntegers(ReadOnlySpan<float> y)
    {
        var r = new sbyte[y.Length];
        for (var i = 0; i < y.Length; i++)
        {
            if (y[i] != MathF.Round(y[i]) || y[i] is < -128 or > 127)
            {
                throw new InvalidOperationException($"Value {y[i]} is not an sbyte.");
            }

            r[i] = (sbyte)y[i];
        }

        return r;
    }

    private static void WriteHalf(byte[] block, int offset, float value) =>
        BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(offset), BitConverter.HalfToUInt16Bits((Half)value));

    /// <summary>The generated C# source.</summary>
    public static string ToCSharp(Tables t, string provenance)
    {
        var sb = new StringBuilder();
        sb.Append("// <auto-generated>\n");
        sb.Append("// Generated by tests/Gguf2Qnn.Tests/Gguf/IqGridGenerator.cs; do not edit by hand.\n");
        sb.Append("// Each table was read back from ggml's own to_float (dequantize_row_*) on crafted blocks whose scale makes\n");
        sb.Append("// every multiplier exactly 1 and whose indices walk the table (see IqGridGenerator for each type's block).\n");
        sb.Append("// Source library: ").Append(provenance).Append('\n');
        sb.Append("// Regenerate: GGUF2QNN_WRITE_IQ_GRIDS=1 dotnet test tests/Gguf2Qnn.Tests --filter FullyQualifiedName~IqGridGenerator\n");
        sb.Append("// </auto-generated>\n\n");
        sb.Append("namespace Gguf2Qnn.Gguf;\n\n");
        sb.Append("/// <summary>Lookup tables of the i-quants, IQ4_NL and MXFP4 (generated from ggml's to_float; see the file header).</summary>\n");
        sb.Append("internal static class IqGrids\n{\n");
        Emit(sb, "Iq2xxs", "IQ2_XXS grid: 256 entries × 8 magnitudes.", t.Iq2xxs.Select(b => (int)b), 32, first: true);
        Emit(sb, "Iq2xs", "IQ2_XS grid: 512 entries × 8 magnitudes.", t.Iq2xs.Select(b => (int)b), 32);
        Emit(sb, "Iq2s", "IQ2_S grid: 1024 entries × 8 magnitudes.", t.Iq2s.Select(b => (int)b), 32);
        Emit(sb, "Iq3xxs", "IQ3_XXS grid: 256 entries × 4 magnitudes.", t.Iq3xxs.Select(b => (int)b), 32);
        Emit(sb, "Iq3s", "IQ3_S grid: 512 entries × 4 magnitudes.", t.Iq3s.Select(b => (int)b), 32);
        Emit(sb, "Iq1s", "IQ1_S / IQ1_M grid: 2048 entries × 8 values in {−1, 0, 1}.", t.Iq1s.Select(b => (int)b), 64, signed: true);
        Emit(sb, "Signs", "Sign masks of IQ2_XXS/IQ2_XS/IQ3_XXS: entry i (7 bits) → 8 bits, bit j set = weight j negated.", t.Signs.Select(b => (int)b), 16);
        Emit(sb, "Iq4nl", "IQ4_NL / IQ4_XS non-linear 4-bit values.", t.Iq4nl.Select(b => (int)b), 16, signed: true);
        Emit(sb, "Mxfp4", "MXFP4 (E2M1) values times 2.", t.Mxfp4.Select(b => (int)b), 16, signed: true);
        sb.Append("}\n");
        return sb.ToString();
    }

    private static void Emit(StringBuilder sb, string name, string doc, IEnumerable<int> values, int perLine, bool signed = false, bool first = false)
    {
        if (!first)
        {
            sb.Append('\n');
        }

        var type = signed ? "sbyte" : "byte";
        sb.Append("    /// <summary>").Append(doc).Append("</summary>\n");
        sb.Append("    public static ReadOnlySpan<").Append(type).Append("> ").Append(name).Append(" =>\n    [\n");
        var all = values.ToArray();
        for (var i = 0; i < all.Length; i += perLine)
        {
            sb.Append("        ");
            sb.Append(string.Join(", ", all.Skip(i).Take(perLine).Select(v => v.ToString(CultureInfo.InvariantCulture))));
            sb.Append(",\n");
        }

        sb.Append("    ];\n");
    }
}
