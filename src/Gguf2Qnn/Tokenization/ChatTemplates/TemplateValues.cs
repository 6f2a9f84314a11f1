using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Gguf2Qnn.Tokenization.ChatTemplates;

// Template values are a closed set of types, so a template can reach nothing but data:
//   null (Python None), Undefined, bool, long, double, string, List<object?> (list), TupleValue (tuple),
//   OrderedDictionary<string, object?> (dict), NamespaceValue, LoopValue and CallableValue (macros, builtins,
//   bound methods). Attribute access is a switch over these types; no .NET member is ever looked up by name.

/// <summary>Jinja's default <c>Undefined</c>: prints as "", is false, iterates as empty; any other use is an error.</summary>
internal sealed class Undefined(string hint)
{
    /// <summary>The error to report when the value is used, e.g. <c>'x' is undefined</c>.</summary>
    public string Hint { get; } = hint;
}

/// <summary>A tuple (prints with parentheses).</summary>
internal sealed class TupleValue : List<object?>
{
    public TupleValue()
    {
    }

    public TupleValue(IEnumerable<object?> items)
        : base(items)
    {
    }
}

/// <summary>The object <c>namespace(…)</c> returns: the one value whose attributes a template may assign.</summary>
internal sealed class NamespaceValue
{
    public OrderedDictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

/// <summary>The <c>loop</c> variable inside a <c>for</c> body.</summary>
internal sealed class LoopValue(List<object?> items)
{
    public List<object?> Items { get; } = items;

    public int Index0 { get; set; }

    public object? Get(string name) => name switch
    {
        "index0" => (long)Index0,
        "index" => (long)Index0 + 1,
        "revindex" => (long)(Items.Count - Index0),
        "revindex0" => (long)(Items.Count - Index0 - 1),
        "first" => Index0 == 0,
        "last" => Index0 == Items.Count - 1,
        "length" => (long)Items.Count,
        "depth" => 1L,
        "depth0" => 0L,
        "previtem" => Index0 > 0 ? Items[Index0 - 1] : new Undefined("there is no previous item"),
        "nextitem" => Index0 + 1 < Items.Count ? Items[Index0 + 1] : new Undefined("there is no next item"),
        "cycle" => new BoundMethod(this, "cycle"),
        _ => new Undefined($"'loop' has no attribute '{name}'"),
    };
}

/// <summary>Something a template can call.</summary>
internal abstract class CallableValue(string name)
{
    public string Name { get; } = name;

    public abstract object? Invoke(TemplateInterpreter interpreter, List<object?> args, List<(string Name, object? Value)> kwargs, int line);
}

/// <summary><c>value.method</c> for a string, dict or loop method, bound to its receiver.</summary>
internal sealed class BoundMethod(object receiver, string name) : CallableValue(name)
{
    public object Receiver { get; } = receiver;

    public override object? Invoke(TemplateInterpreter interpreter, List<object?> args, List<(string Name, object? Value)> kwargs, int line)
        => TemplateBuiltins.CallMethod(interpreter, Receiver, Name, args, kwargs, line);
}

/// <summary>A global function (<c>raise_exception</c>, <c>namespace</c>, <c>range</c>…).</summary>
internal sealed class BuiltinFunction(string name, Func<TemplateInterpreter, List<object?>, List<(string Name, object? Value)>, int, object?> body) : CallableValue(name)
{
    public override object? Invoke(TemplateInterpreter interpreter, List<object?> args, List<(string Name, object? Value)> kwargs, int line)
        => body(interpreter, args, kwargs, line);
}

/// <summary>A <c>{% macro %}</c>: renders its body with the arguments bound, returns the text.</summary>
internal sealed class MacroValue(MacroNode node, Scope closure) : CallableValue(node.Name)
{
    public MacroNode Node { get; } = node;

    public Scope Closure { get; } = closure;

    public override object? Invoke(TemplateInterpreter interpreter, List<object?> args, List<(string Name, object? Value)> kwargs, int line)
        => interpreter.CallMacro(this, args, kwargs, line);
}

/// <summary>Python semantics for template values: truth, str(), repr(), json.dumps, ==, ordering, type names.</summary>
internal static class TemplateValues
{
    public static bool IsTruthy(object? v) => v switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        ICollection c => c.Count > 0,
        _ => true,
    };

    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        Undefined => "Undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        TupleValue => "tuple",
        List<object?> => "list",
        OrderedDictionary<string, object?> => "dict",
        NamespaceValue => "Namespace",
        LoopValue => "LoopContext",
        MacroValue => "Macro",
        _ => "function",
    };

    /// <summary>Python <c>str(v)</c>; Undefined prints as the empty string.</summary>
    public static string ToStr(object? v, int maxLength)
    {
        switch (v)
        {
            case string s:
                return s;
            case Undefined:
                return string.Empty;
            case null:
                return "None";
            case bool b:
                return b ? "True" : "False";
            case long l:
                return l.ToString(CultureInfo.InvariantCulture);
            case double d:
                return FloatRepr(d);
            default:
                var sb = new BoundedBuilder(maxLength);
                AppendRepr(sb, v);
                return sb.ToString();
        }
    }

    public static void AppendRepr(BoundedBuilder sb, object? v)
    {
        switch (v)
        {
            case string s:
                AppendStringRepr(sb, s);
                break;
            case TupleValue t:
                sb.Append('(');
                AppendItems(sb, t);
                sb.Append(t.Count == 1 ? ",)" : ")");
                break;
            case List<object?> list:
                sb.Append('[');
                AppendItems(sb, list);
                sb.Append(']');
                break;
            case OrderedDictionary<string, object?> dict:
                sb.Append('{');
                AppendPairs(sb, dict);
                sb.Append('}');
                break;
            case NamespaceValue ns:
                sb.Append("<Namespace {");
                AppendPairs(sb, ns.Attributes);
                sb.Append("}>");
                break;
            case LoopValue:
                sb.Append("<LoopContext>");
                break;
            case CallableValue c:
                sb.Append("<function ").Append(c.Name).Append('>');
                break;
            default:
                sb.Append(ToStr(v, sb.MaxLength));
                break;
        }

        static void AppendItems(BoundedBuilder sb, List<object?> items)
        {
            for (int i = 0; i < items.Count; i++)
            {
                if (i > 0)
                {
                    sb.Append(", ");
                }

                AppendRepr(sb, items[i]);
            }
        }

        static void AppendPairs(BoundedBuilder sb, OrderedDictionary<string, object?> d)
        {
            bool first = true;
            foreach (var (key, value) in d)
            {
                if (!first)
                {
                    sb.Append(", ");
                }

                first = false;
                AppendStringRepr(sb, key);
                sb.Append(": ");
                AppendRepr(sb, value);
            }
        }
    }

    /// <summary>Python's <c>repr(str)</c>: single quotes unless the text has one and no double quote.</summary>
    private static void AppendStringRepr(BoundedBuilder sb, string s)
    {
        char quote = s.Contains('\'', StringComparison.Ordinal) && !s.Contains('"', StringComparison.Ordinal) ? '"' : '\'';
        sb.Append(quote);
        foreach (char c in s)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c == quote)
                    {
                        sb.Append('\\').Append(c);
                    }
                    else if (c < 0x20 || c == 0x7F)
                    {
                        sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        sb.Append(quote);
    }

    /// <summary>Python's <c>repr(float)</c>: shortest round-trip digits, ".0" on integral values, exponent form outside [1e-4, 1e16).</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d))
        {
            return "nan";
        }

        if (double.IsInfinity(d))
        {
            return d > 0 ? "inf" : "-inf";
        }

        double abs = Math.Abs(d);
        string r = d.ToString("R", CultureInfo.InvariantCulture);
        int e = r.IndexOf('E', StringComparison.Ordinal);
        if (abs != 0 && (abs >= 1e16 || abs < 1e-4))
        {
            if (e < 0)
            {
                r = d.ToString("0.################E+00", CultureInfo.InvariantCulture);
                e = r.IndexOf('E', StringComparison.Ordinal);
            }

            int exponent = int.Parse(r.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            return r[..e] + "e" + (exponent < 0 ? "-" : "+") + Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture);
        }

        if (e >= 0)
        {
            // .NET chose exponent form inside Python's positional range [1e-4, 1e16).
            return d == Math.Floor(d)
                ? ((long)d).ToString(CultureInfo.InvariantCulture) + ".0"
                : d.ToString("0.0###################", CultureInfo.InvariantCulture);
        }

        return r.Contains('.', StringComparison.Ordinal) ? r : r + ".0";
    }

    /// <summary>
    /// Python's <c>json.dumps(v, ensure_ascii=False, indent=indent, separators=…, sort_keys=…)</c>, the
    /// <c>tojson</c> filter of Hugging Face's chat-template environment. Without indent the separators are
    /// ", " and ": "; with indent, "," and ": ".
    /// </summary>
    public static void AppendJson(BoundedBuilder sb, object? v, string? indent, string itemSeparator, string keySeparator, bool sortKeys, int level, int line)
    {
        switch (v)
        {
            case null:
                sb.Append("null");
                break;
            case bool b:
                sb.Append(b ? "true" : "false");
                break;
            case long l:
                sb.Append(l.ToString(CultureInfo.InvariantCulture));
                break;
            case double d:
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsInfinity(d) ? (d > 0 ? "Infinity" : "-Infinity") : FloatRepr(d));
                break;
            case string s:
                AppendJsonString(sb, s);
                break;
            case List<object?> list:
                if (list.Count == 0)
                {
                    sb.Append("[]");
                    break;
                }

                sb.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(itemSeparator);
                    }

                    NewLine(sb, indent, level + 1);
                    AppendJson(sb, list[i], indent, itemSeparator, keySeparator, sortKeys, level + 1, line);
                }

                NewLine(sb, indent, level);
                sb.Append(']');
                break;
            case OrderedDictionary<string, object?> dict:
                AppendJsonObject(sb, dict, indent, itemSeparator, keySeparator, sortKeys, level, line);
                break;
            case NamespaceValue ns:
                AppendJsonObject(sb, ns.Attributes, indent, itemSeparator, keySeparator, sortKeys, level, line);
                break;
            default:
                throw new TemplateException($"tojson: Object of type {TypeName(v)} is not JSON serializable", line);
        }

        static void NewLine(BoundedBuilder sb, string? indent, int level)
        {
            if (indent is not null)
            {
                sb.Append('\n');
                for (int i = 0; i < level; i++)
                {
                    sb.Append(indent);
                }
            }
        }

        static void AppendJsonObject(BoundedBuilder sb, OrderedDictionary<string, object?> dict, string? indent, string itemSeparator, string keySeparator, bool sortKeys, int level, int line)
        {
            if (dict.Count == 0)
            {
                sb.Append("{}");
                return;
            }

            IEnumerable<KeyValuePair<string, object?>> pairs = sortKeys ? dict.OrderBy(p => p.Key, StringComparer.Ordinal) : dict;
            sb.Append('{');
            bool first = true;
            foreach (var (key, value) in pairs)
            {
                if (!first)
                {
                    sb.Append(itemSeparator);
                }

                first = false;
                NewLine(sb, indent, level + 1);
                AppendJsonString(sb, key);
                sb.Append(keySeparator);
                AppendJson(sb, value, indent, itemSeparator, keySeparator, sortKeys, level + 1, line);
            }

            NewLine(sb, indent, level);
            sb.Append('}');
        }
    }

    private static void AppendJsonString(BoundedBuilder sb, string s)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20)
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        sb.Append('"');
    }

    /// <summary>Python <c>==</c> (1 == 1.0 == True; lists and dicts by value; Undefined equals only Undefined).</summary>
    public static bool PyEquals(object? a, object? b)
    {
        if (a is null || b is null)
        {
            return a is null && b is null;
        }

        if (TryNumber(a, out var x) && TryNumber(b, out var y))
        {
            return x.IsInt && y.IsInt ? x.Int == y.Int : x.AsDouble == y.AsDouble;
        }

        switch (a)
        {
            case string s:
                return b is string t && string.Equals(s, t, StringComparison.Ordinal);
            case Undefined:
                return b is Undefined;
            case List<object?> l when b is List<object?> m && (a is TupleValue) == (b is TupleValue):
                if (l.Count != m.Count)
                {
                    return false;
                }

                for (int i = 0; i < l.Count; i++)
                {
                    if (!PyEquals(l[i], m[i]))
                    {
                        return false;
                    }
                }

                return true;
            case OrderedDictionary<string, object?> d when b is OrderedDictionary<string, object?> e:
                if (d.Count != e.Count)
                {
                    return false;
                }

                foreach (var (key, value) in d)
                {
                    if (!e.TryGetValue(key, out var other) || !PyEquals(value, other))
                    {
                        return false;
                    }
                }

                return true;
            default:
                return ReferenceEquals(a, b);
        }
    }

    /// <summary>Python ordering for numbers and strings (strings by code unit); other pairs are a TypeError.</summary>
    public static int Compare(object? a, object? b, string op, int line)
    {
        if (TryNumber(a, out var x) && TryNumber(b, out var y))
        {
            return x.IsInt && y.IsInt ? x.Int.CompareTo(y.Int) : x.AsDouble.CompareTo(y.AsDouble);
        }

        if (a is string s && b is string t)
        {
            return string.CompareOrdinal(s, t);
        }

        throw new TemplateException($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'", line);
    }

    /// <summary>A number operand: bool counts as int, as in Python.</summary>
    public readonly record struct Number(bool IsInt, long Int, double Float)
    {
        public double AsDouble => IsInt ? Int : Float;
    }

    public static bool TryNumber(object? v, out Number n)
    {
        switch (v)
        {
            case long l:
                n = new Number(true, l, 0);
                return true;
            case bool b:
                n = new Number(true, b ? 1 : 0, 0);
                return true;
            case double d:
                n = new Number(false, 0, d);
                return true;
            default:
                n = default;
                return false;
        }
    }

    /// <summary>The string as Python sees it: one element per code point (a surrogate pair is one).</summary>
    public static List<string> CodePoints(string s)
    {
        var list = new List<string>(s.Length);
        foreach (var r in s.EnumerateRunes())
        {
            list.Add(r.ToString());
        }

        return list;
    }

    /// <summary>Python <c>len(str)</c>: code points.</summary>
    public static int CodePointLength(string s)
    {
        int n = 0;
        foreach (var c in s)
        {
            n += char.IsLowSurrogate(c) ? 0 : 1;
        }

        return n;
    }

    /// <summary>Converts a caller's .NET value into a template value; anything outside the supported data types is refused.</summary>
    /// <exception cref="ArgumentException">A value of another type (the template must never reach arbitrary .NET objects).</exception>
    public static object? FromDotNet(object? v, int depth = 0)
    {
        if (depth > 64)
        {
            throw new ArgumentException("Template variables nest deeper than 64 levels.");
        }

        switch (v)
        {
            case null: return null;
            case string s: return s;
            case bool b: return b;
            case int i: return (long)i;
            case long l: return l;
            case uint u: return (long)u;
            case short sh: return (long)sh;
            case byte by: return (long)by;
            case float f: return (double)f;
            case double d: return d;
            case ChatMessage m:
                return new OrderedDictionary<string, object?>(StringComparer.Ordinal) { ["role"] = m.Role, ["content"] = m.Content };
            case JsonNode node:
                return FromJson(JsonSerializer.SerializeToElement(node), depth);
            case JsonElement e:
                return FromJson(e, depth);
            case IEnumerable<KeyValuePair<string, object?>> dict:
                var result = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (key, value) in dict)
                {
                    result[key] = FromDotNet(value, depth + 1);
                }

                return result;
            case IEnumerable items:
                var list = new List<object?>();
                foreach (var item in items)
                {
                    list.Add(FromDotNet(item, depth + 1));
                }

                return list;
            default:
                throw new ArgumentException($"A template variable of type {v.GetType().Name} is not supported; use string, bool, integer, floating point, null, lists, string-keyed dictionaries, ChatMessage or JSON.");
        }
    }

    private static object? FromJson(JsonElement e, int depth) => e.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.TryGetInt64(out var l) ? l : e.GetDouble(),
        JsonValueKind.Array => e.EnumerateArray().Select(x => FromJson(x, depth + 1)).ToList(),
        _ => ObjectFromJson(e, depth),
    };

    private static OrderedDictionary<string, object?> ObjectFromJson(JsonElement e, int depth)
    {
        if (depth > 64)
        {
            throw new ArgumentException("Template variables nest deeper than 64 levels.");
        }

        var d = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
        foreach (var p in e.EnumerateObject())
        {
            d[p.Name] = FromJson(p.Value, depth + 1);
        }

        return d;
    }
}

/// <summary>A StringBuilder that throws a <see cref="TemplateErrorKind.LimitExceeded"/> error past a length.</summary>
internal sealed class BoundedBuilder(int maxLength)
{
    private readonly StringBuilder _sb = new();

    public int MaxLength { get; } = maxLength;

    public int Length => _sb.Length;

    public BoundedBuilder Append(string s)
    {
        Check(s.Length);
        _sb.Append(s);
        return this;
    }

    public BoundedBuilder Append(char c)
    {
        Check(1);
        _sb.Append(c);
        return this;
    }

    public override string ToString() => _sb.ToString();

    private void Check(int extra)
    {
        if ((long)_sb.Length + extra > MaxLength)
        {
            throw TemplateInterpreter.OutputTooLong(MaxLength);
        }
    }
}
