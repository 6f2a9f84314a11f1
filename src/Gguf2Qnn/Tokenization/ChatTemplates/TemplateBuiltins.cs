using System.Globalization;
using System.Text;

namespace Gguf2Qnn.Tokenization.ChatTemplates;

/// <summary>
/// The filters, tests, methods and global functions a chat template may use: Jinja's built-ins that chat templates
/// rely on, Python's <c>str</c> and <c>dict</c> methods, and Hugging Face's additions (<c>raise_exception</c>,
/// <c>strftime_now</c>, a <c>tojson</c> that is <c>json.dumps(ensure_ascii=False)</c>). Everything else is an
/// error; nothing here reaches .NET types, files, processes or the clock except <c>strftime_now</c>.
/// </summary>
internal static class TemplateBuiltins
{
    /// <summary>Hidden global the parser uses for tuple literals (the name cannot be written in a template).</summary>
    public const string TupleConstructor = "(tuple)";

    private static readonly HashSet<string> Filters =
    [
        "abs", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float", "indent", "int", "items", "join",
        "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round", "safe",
        "select", "selectattr", "sort", "string", "sum", "title", "tojson", "trim", "unique", "upper", "wordcount",
    ];

    private static readonly HashSet<string> Tests =
    [
        "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "==", "even", "false", "float", "ge", ">=", "gt", ">",
        "greaterthan", "in", "integer", "iterable", "le", "<=", "lower", "lt", "<", "lessthan", "mapping", "ne", "!=", "none",
        "number", "odd", "sameas", "sequence", "string", "true", "undefined", "upper",
    ];

    private static readonly HashSet<string> StringMethods =
    [
        "capitalize", "count", "endswith", "find", "format", "isalnum", "isalpha", "isdigit", "islower", "isspace", "isupper",
        "join", "lower", "lstrip", "replace", "rfind", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "title", "upper",
    ];

    private static readonly HashSet<string> DictMethods = ["get", "items", "keys", "values"];

    private static readonly Dictionary<string, BuiltinFunction> Globals = new BuiltinFunction[]
    {
        new("raise_exception", RaiseException),
        new("namespace", MakeNamespace),
        new("range", Range),
        new("dict", MakeDict),
        new("strftime_now", StrftimeNow),
        new(TupleConstructor, (_, args, _, _) => new TupleValue(args)),
    }.ToDictionary(f => f.Name, StringComparer.Ordinal);

    public static bool IsFilter(string name) => Filters.Contains(name);

    public static bool IsTest(string name) => Tests.Contains(name);

    public static bool IsStringMethod(string name) => StringMethods.Contains(name);

    public static bool IsDictMethod(string name) => DictMethods.Contains(name);

    public static bool TryGetGlobal(string name, out object? value)
    {
        bool found = Globals.TryGetValue(name, out var f);
        value = f;
        return found;
    }

    // ---- global functions ----

    private static object? RaiseException(TemplateInterpreter it, List<object?> args, List<(string Name, object? Value)> kwargs, int line)
    {
        string message = args.Count > 0 ? it.Str(args[0]) : "raise_exception() called";
        throw new TemplateException("the template raised an error: " + message, line, TemplateErrorKind.Raised);
    }

    private static object? MakeNamespace(TemplateInterpreter it, List<object?> args, List<(string Name, object? Value)> kwargs, int line)
    {
        var ns = new NamespaceValue();
        foreach (var a in args)
        {
            if (a is not OrderedDictionary<string, object?> d)
            {
                throw new TemplateException("namespace() takes keyword arguments or a dict", line);
            }

            foreach (var (k, v) in d)
            {
                ns.Attributes[k] = v;
            }
        }

        foreach (var (k, v) in kwargs)
        {
            ns.Attributes[k] = v;
        }

        return ns;
    }

    private static object? MakeDict(TemplateInterpreter it, List<object?> args, List<(string Name, object? Value)> kwargs, int line)
    {
        var d = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
        foreach (var a in args)
        {
            foreach (var (k, v) in AsDict(a, "dict", line))
            {
                d[k] = v;
            }
        }

        foreach (var (k, v) in kwargs)
        {
            d[k] = v;
        }

        return d;
    }

    private static object? Range(TemplateInterpreter it, List<object?> args, List<(string Name, object? Value)> kwargs, int line)
    {
        long start = 0, stop, step = 1;
        switch (args.Count)
        {
            case 1:
                stop = Int(args[0], "range", line);
                break;
            case 2:
                start = Int(args[0], "range", line);
                stop = Int(args[1], "range", line);
                break;
            case 3:
                start = Int(args[0], "range", line);
                stop = Int(args[1], "range", line);
                step = Int(args[2], "range", line);
                break;
            default:
                throw new TemplateException("range() takes 1 to 3 integer arguments", line);
        }

        if (step == 0)
        {
            throw new TemplateException("range() step must not be zero", line);
        }

        long count = step > 0 ? Math.Max(0, (stop - start + step - 1) / step) : Math.Max(0, (start - stop - step - 1) / -step);
        it.CountIterations(count, line);
        var list = new List<object?>((int)count);
        for (long i = 0; i < count; i++)
        {
            list.Add(start + (i * step));
        }

        return list;
    }

    /// <summary>Hugging Face's <c>strftime_now(format)</c>: the render's clock in Python <c>strftime</c> syntax (C locale).</summary>
    private static object? StrftimeNow(TemplateInterpreter it, List<object?> args, List<(string Name, object? Value)> kwargs, int line)
    {
        string format = args.Count == 1 && args[0] is string f ? f : throw new TemplateException("strftime_now() takes one format string", line);
        var t = it.Now;
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 == format.Length)
            {
                sb.Append(format[i]);
                continue;
            }

            char d = format[++i];
            sb.Append(d switch
            {
                'Y' => t.Year.ToString("0000", c),
                'y' => (t.Year % 100).ToString("00", c),
                'm' => t.Month.ToString("00", c),
                'd' => t.Day.ToString("00", c),
                'e' => t.Day.ToString(c).PadLeft(2),
                'H' => t.Hour.ToString("00", c),
                'I' => (((t.Hour + 11) % 12) + 1).ToString("00", c),
                'M' => t.Minute.ToString("00", c),
                'S' => t.Second.ToString("00", c),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'b' => c.DateTimeFormat.GetAbbreviatedMonthName(t.Month),
                'B' => c.DateTimeFormat.GetMonthName(t.Month),
                'a' => c.DateTimeFormat.GetAbbreviatedDayName(t.DayOfWeek),
                'A' => c.DateTimeFormat.GetDayName(t.DayOfWeek),
                'j' => t.DayOfYear.ToString("000", c),
                '%' => "%",
                _ => "%" + d,
            });
        }

        return sb.ToString();
    }

    // ---- filters ----

    public static object? ApplyFilter(TemplateInterpreter it, string name, object? value, List<object?> args, List<(string Name, object? Value)> kwargs, int line)
    {
        var a = new Arguments(name, args, kwargs, line);
        switch (name)
        {
            case "default":
            case "d":
                var fallback = a.Get(0, "default_value", string.Empty);
                bool boolean = TemplateValues.IsTruthy(a.Get(1, "boolean", false));
                a.Done(2);
                return value is Undefined || (boolean && !TemplateValues.IsTruthy(value)) ? fallback : value;
            case "length":
            case "count":
                a.Done(0);
                return (long)Length(value, line);
            case "trim":
                var chars = a.Get(0, "chars", null);
                a.Done(1);
                return chars is string cs ? Str(it, value).Trim(cs.ToCharArray()) : Str(it, value).Trim();
            case "upper":
                a.Done(0);
                return Str(it, value).ToUpperInvariant();
            case "lower":
                a.Done(0);
                return Str(it, value).ToLowerInvariant();
            case "capitalize":
                a.Done(0);
                return Capitalize(Str(it, value));
            case "title":
                a.Done(0);
                return Title(Str(it, value));
            case "string":
            case "safe":
                a.Done(0);
                return Str(it, value);
            case "escape":
            case "e":
                a.Done(0);
                return Str(it, value).Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal)
                    .Replace(">", "&gt;", StringComparison.Ordinal).Replace("\"", "&#34;", StringComparison.Ordinal).Replace("'", "&#39;", StringComparison.Ordinal);
            case "replace":
                var old = Str(it, a.Get(0, "old", null));
                var replacement = Str(it, a.Get(1, "new", null));
                var count = a.Get(2, "count", null);
                a.Done(3);
                return Replace(it, Str(it, value), old, replacement, count is null ? -1 : Int(count, "replace", line), line);
            case "tojson":
                return ToJson(it, value, a);
            case "join":
                var separator = Str(it, a.Get(0, "d", string.Empty));
                var attribute = a.Get(1, "attribute", null);
                a.Done(2);
                var items = it.Iterate(value, line);
                if (attribute is not null)
                {
                    items = items.Select(x => Attribute(x, attribute, line)).ToList();
                }

                return Join(it, separator, items);
            case "first":
                a.Done(0);
                var firstItems = it.Iterate(value, line);
                return firstItems.Count > 0 ? firstItems[0] : new Undefined("No first item, sequence was empty.");
            case "last":
                a.Done(0);
                var lastItems = it.Iterate(value, line);
                return lastItems.Count > 0 ? lastItems[^1] : new Undefined("No last item, sequence was empty.");
            case "list":
                a.Done(0);
                return it.Iterate(value, line);
            case "reverse":
                a.Done(0);
                if (value is string rs)
                {
                    var cps = TemplateValues.CodePoints(rs);
                    cps.Reverse();
                    return string.Concat(cps);
                }

                var reversed = it.Iterate(value, line);
                reversed.Reverse();
                return reversed;
            case "items":
                a.Done(0);
                return value is Undefined ? new List<object?>() : Items(AsDict(value, "items", line));
            case "dictsort":
                a.Done(0);
                return Items(AsDict(value, "dictsort", line)).OrderBy(p => (string)((List<object?>)p!)[0]!, StringComparer.OrdinalIgnoreCase).ToList();
            case "int":
                var intDefault = a.Get(0, "default", 0L);
                a.Done(1);
                return ToInt(value, intDefault);
            case "float":
                var floatDefault = a.Get(0, "default", 0.0);
                a.Done(1);
                return ToFloat(value, floatDefault);
            case "abs":
                a.Done(0);
                return TemplateValues.TryNumber(value, out var n) ? (n.IsInt ? (object)Math.Abs(n.Int) : Math.Abs(n.Float)) : throw new TemplateException($"bad operand type for abs(): '{TemplateValues.TypeName(value)}'", line);
            case "round":
                var precision = Int(a.Get(0, "precision", 0L), "round", line);
                var method = Str(it, a.Get(1, "method", "common"));
                a.Done(2);
                return Round(value, (int)Math.Clamp(precision, 0, 15), method, line);
            case "indent":
                var width = a.Get(0, "width", 4L);
                bool indentFirst = TemplateValues.IsTruthy(a.Get(1, "first", false));
                bool blank = TemplateValues.IsTruthy(a.Get(2, "blank", false));
                a.Done(3);
                return Indent(it, Str(it, value), width is string ws ? ws : new string(' ', (int)Math.Clamp(Int(width, "indent", line), 0, 1000)), indentFirst, blank);
            case "map":
                return Map(it, value, a);
            case "select":
            case "reject":
            case "selectattr":
            case "rejectattr":
                return Select(it, name, value, a);
            case "unique":
                a.Done(0);
                var unique = new List<object?>();
                foreach (var item in it.Iterate(value, line))
                {
                    if (!unique.Exists(x => TemplateValues.PyEquals(x, item)))
                    {
                        unique.Add(item);
                    }
                }

                return unique;
            case "sort":
                bool reverse = TemplateValues.IsTruthy(a.Get(0, "reverse", false));
                a.Get(1, "case_sensitive", false);
                var sortAttribute = a.Get(2, "attribute", null);
                a.Done(3);
                var sorted = it.Iterate(value, line);
                var keys = sorted.Select(x => sortAttribute is null ? x : Attribute(x, sortAttribute, line)).ToList();
                var order = Enumerable.Range(0, sorted.Count).ToList();
                order.Sort((i, j) =>
                {
                    int cmp = TemplateValues.Compare(keys[i], keys[j], "<", line);
                    return cmp != 0 ? cmp : i.CompareTo(j);
                });
                if (reverse)
                {
                    order.Reverse();
                }

                return order.Select(i => sorted[i]).ToList();
            case "min":
            case "max":
                a.Done(0);
                var values = it.Iterate(value, line);
                if (values.Count == 0)
                {
                    return new Undefined($"No {name} item, sequence was empty.");
                }

                var best = values[0];
                foreach (var v in values)
                {
                    int cmp = TemplateValues.Compare(v, best, "<", line);
                    if (name == "min" ? cmp < 0 : cmp > 0)
                    {
                        best = v;
                    }
                }

                return best;
            case "sum":
                var sumAttribute = a.Get(0, "attribute", null);
                object? total = a.Get(1, "start", 0L);
                a.Done(2);
                foreach (var item in it.Iterate(value, line))
                {
                    total = TemplateOperators.Binary(it, "+", total, sumAttribute is null ? item : Attribute(item, sumAttribute, line), line);
                }

                return total;
            case "wordcount":
                a.Done(0);
                return (long)Str(it, value).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
            default:
                throw new TemplateException($"unknown filter '{name}'", line, TemplateErrorKind.Syntax);
        }
    }

    private static string ToJson(TemplateInterpreter it, object? value, Arguments a)
    {
        a.Get(0, "ensure_ascii", false);
        var indent = a.Get(1, "indent", null);
        var separators = a.Get(2, "separators", null);
        bool sortKeys = TemplateValues.IsTruthy(a.Get(3, "sort_keys", false));
        a.Done(4);
        if (TemplateValues.IsTruthy(a.Get(0, "ensure_ascii", false)))
        {
            throw new TemplateException("tojson(ensure_ascii=true) is not supported", a.Line);
        }

        string? indentText = indent switch
        {
            null => null,
            string s => s,
            _ => new string(' ', (int)Math.Clamp(Int(indent, "tojson", a.Line), 0, 100)),
        };
        string itemSeparator = indentText is null ? ", " : ",", keySeparator = ": ";
        if (separators is List<object?> { Count: 2 } seps && seps[0] is string s0 && seps[1] is string s1)
        {
            (itemSeparator, keySeparator) = (s0, s1);
        }
        else if (separators is not null)
        {
            throw new TemplateException("tojson: separators must be a pair of strings", a.Line);
        }

        if (value is Undefined u)
        {
            throw new TemplateException(u.Hint, a.Line);
        }

        var sb = new BoundedBuilder(it.Limits.MaxOutputLength);
        TemplateValues.AppendJson(sb, value, indentText, itemSeparator, keySeparator, sortKeys, 0, a.Line);
        return sb.ToString();
    }

    private static object? Map(TemplateInterpreter it, object? value, Arguments a)
    {
        var items = it.Iterate(value, a.Line);
        var attribute = a.Kwarg("attribute");
        if (attribute is not null)
        {
            var fallback = a.Kwarg("default");
            a.Done(0, "attribute", "default");
            return items.Select(x =>
            {
                var v = Attribute(x, attribute, a.Line);
                return v is Undefined && fallback is not null ? fallback : v;
            }).ToList();
        }

        if (a.Args.Count == 0 || a.Args[0] is not string filter || !IsFilter(filter) || filter == "map")
        {
            throw new TemplateException("map() needs attribute=NAME or the name of a filter", a.Line);
        }

        var rest = a.Args.Skip(1).ToList();
        return items.Select(x => ApplyFilter(it, filter, x, rest, a.Kwargs, a.Line)).ToList();
    }

    private static object? Select(TemplateInterpreter it, string name, object? value, Arguments a)
    {
        bool byAttribute = name.EndsWith("attr", StringComparison.Ordinal);
        bool keep = name.StartsWith("select", StringComparison.Ordinal);
        var args = a.Args;
        int next = 0;
        object? attribute = null;
        if (byAttribute)
        {
            attribute = args.Count > 0 ? args[0] : throw new TemplateException($"{name}() needs an attribute name", a.Line);
            next = 1;
        }

        string? test = args.Count > next ? args[next] as string ?? throw new TemplateException($"{name}(): the test name must be a string", a.Line) : null;
        if (test is not null && !IsTest(test))
        {
            throw new TemplateException($"{name}(): unknown test '{test}'", a.Line);
        }

        var testArgs = args.Skip(next + 1).ToList();
        var result = new List<object?>();
        foreach (var item in it.Iterate(value, a.Line))
        {
            var subject = byAttribute ? Attribute(item, attribute, a.Line) : item;
            bool passed = test is null ? TemplateValues.IsTruthy(subject) : ApplyTest(it, test, subject, testArgs, a.Line);
            if (passed == keep)
            {
                result.Add(item);
            }
        }

        return result;
    }

    // ---- tests ----

    public static bool ApplyTest(TemplateInterpreter it, string name, object? value, List<object?> args, int line)
    {
        object? Arg() => args.Count == 1 ? args[0] : throw new TemplateException($"test '{name}' takes one argument", line);
        switch (name)
        {
            case "defined": return value is not Undefined;
            case "undefined": return value is Undefined;
            case "none": return value is null;
            case "boolean": return value is bool;
            case "true": return value is true;
            case "false": return value is false;
            case "string": return value is string;
            case "number": return value is long or double;
            case "integer": return value is long;
            case "float": return value is double;
            case "mapping": return value is OrderedDictionary<string, object?>;
            case "iterable": return value is string or List<object?> or OrderedDictionary<string, object?>;
            case "sequence": return value is string or List<object?> or OrderedDictionary<string, object?>;
            case "callable": return value is CallableValue;
            case "lower": return value is string ls && ls == ls.ToLowerInvariant();
            case "upper": return value is string us && us == us.ToUpperInvariant();
            case "odd": return Int(value, "odd", line) % 2 != 0;
            case "even": return Int(value, "even", line) % 2 == 0;
            case "divisibleby":
                long divisor = Int(Arg(), "divisibleby", line);
                return divisor != 0 && Int(value, "divisibleby", line) % divisor == 0;
            case "eq" or "equalto" or "==": return TemplateValues.PyEquals(value, Arg());
            case "ne" or "!=": return !TemplateValues.PyEquals(value, Arg());
            case "lt" or "<" or "lessthan": return TemplateValues.Compare(value, Arg(), "<", line) < 0;
            case "le" or "<=": return TemplateValues.Compare(value, Arg(), "<=", line) <= 0;
            case "gt" or ">" or "greaterthan": return TemplateValues.Compare(value, Arg(), ">", line) > 0;
            case "ge" or ">=": return TemplateValues.Compare(value, Arg(), ">=", line) >= 0;
            case "in": return TemplateOperators.Contains(Arg(), value, line);
            case "sameas":
                var other = Arg();
                return value is null or bool || other is null or bool ? Equals(value, other) : ReferenceEquals(value, other);
            default:
                throw new TemplateException($"unknown test '{name}'", line, TemplateErrorKind.Syntax);
        }
    }

    // ---- methods ----

    public static object? CallMethod(TemplateInterpreter it, object receiver, string name, List<object?> args, List<(string Name, object? Value)> kwargs, int line)
    {
        var a = new Arguments(name, args, kwargs, line);
        switch (receiver)
        {
            case string s:
                return StringMethod(it, s, name, a);
            case OrderedDictionary<string, object?> d:
                switch (name)
                {
                    case "items":
                        a.Done(0);
                        return Items(d);
                    case "keys":
                        a.Done(0);
                        return d.Keys.Cast<object?>().ToList();
                    case "values":
                        a.Done(0);
                        return d.Values.ToList();
                    case "get":
                        var key = a.Get(0, "key", null);
                        var fallback = a.Get(1, "default", null);
                        a.Done(2);
                        return key is string k && d.TryGetValue(k, out var v) ? v : fallback;
                }

                break;
            case LoopValue loop when name == "cycle":
                a.Done(int.MaxValue);
                return args.Count == 0 ? throw new TemplateException("loop.cycle() needs at least one value", line) : args[loop.Index0 % args.Count];
        }

        throw new TemplateException($"'{TemplateValues.TypeName(receiver)}' object has no method '{name}'", line);
    }

    private static object? StringMethod(TemplateInterpreter it, string s, string name, Arguments a)
    {
        int line = a.Line;
        switch (name)
        {
            case "upper":
                a.Done(0);
                return s.ToUpperInvariant();
            case "lower":
                a.Done(0);
                return s.ToLowerInvariant();
            case "title":
                a.Done(0);
                return Title(s);
            case "capitalize":
                a.Done(0);
                return Capitalize(s);
            case "strip":
            case "lstrip":
            case "rstrip":
                var chars = a.Get(0, "chars", null);
                a.Done(1);
                char[]? set = chars switch
                {
                    null => null,
                    string cs => cs.ToCharArray(),
                    _ => throw new TemplateException($"{name} arg must be None or str", line),
                };
                return name switch
                {
                    "strip" => set is null ? s.Trim() : s.Trim(set),
                    "lstrip" => set is null ? s.TrimStart() : s.TrimStart(set),
                    _ => set is null ? s.TrimEnd() : s.TrimEnd(set),
                };
            case "startswith":
            case "endswith":
                var affix = a.Get(0, "prefix", null);
                a.Done(1);
                var candidates = affix switch
                {
                    string one => [one],
                    List<object?> many when many.All(x => x is string) => many.Cast<string>().ToList(),
                    _ => throw new TemplateException($"{name} first arg must be str or a tuple of str", line),
                };
                return name == "startswith"
                    ? candidates.Exists(c => s.StartsWith(c, StringComparison.Ordinal))
                    : candidates.Exists(c => s.EndsWith(c, StringComparison.Ordinal));
            case "split":
            case "rsplit":
                var sep = a.Get(0, "sep", null);
                long maxsplit = Int(a.Get(1, "maxsplit", -1L), name, line);
                a.Done(2);
                return Split(s, sep is null ? null : sep as string ?? throw new TemplateException("split separator must be a string", line), maxsplit, name == "rsplit", line);
            case "splitlines":
                a.Done(0);
                var lines = s.Split('\n').ToList();
                if (lines.Count > 0 && lines[^1].Length == 0)
                {
                    lines.RemoveAt(lines.Count - 1);
                }

                return lines.Cast<object?>().ToList();
            case "replace":
                var old = a.Get(0, "old", null) as string ?? throw new TemplateException("replace() arguments must be strings", line);
                var replacement = a.Get(1, "new", null) as string ?? throw new TemplateException("replace() arguments must be strings", line);
                long count = Int(a.Get(2, "count", -1L), "replace", line);
                a.Done(3);
                return Replace(it, s, old, replacement, count, line);
            case "find":
            case "rfind":
                var sub = a.Get(0, "sub", null) as string ?? throw new TemplateException($"{name}() argument must be a string", line);
                a.Done(1);
                int at = name == "find" ? s.IndexOf(sub, StringComparison.Ordinal) : s.LastIndexOf(sub, StringComparison.Ordinal);
                return at < 0 ? -1L : (long)TemplateValues.CodePointLength(s[..at]);
            case "count":
                var needle = a.Get(0, "sub", null) as string ?? throw new TemplateException("count() argument must be a string", line);
                a.Done(1);
                return (long)CountOccurrences(s, needle);
            case "join":
                var items = it.Iterate(a.Get(0, "iterable", null), line);
                a.Done(1);
                if (!items.All(x => x is string))
                {
                    throw new TemplateException("str.join() expects strings", line);
                }

                return Join(it, s, items);
            case "isdigit":
            case "isalpha":
            case "isalnum":
            case "isspace":
            case "islower":
            case "isupper":
                a.Done(0);
                return name switch
                {
                    "isdigit" => s.Length > 0 && s.All(char.IsDigit),
                    "isalpha" => s.Length > 0 && s.All(char.IsLetter),
                    "isalnum" => s.Length > 0 && s.All(char.IsLetterOrDigit),
                    "isspace" => s.Length > 0 && s.All(char.IsWhiteSpace),
                    "islower" => s.Any(char.IsLetter) && s == s.ToLowerInvariant(),
                    _ => s.Any(char.IsLetter) && s == s.ToUpperInvariant(),
                };
            case "format":
                return Format(it, s, a);
            default:
                throw new TemplateException($"'str' object has no method '{name}'", line);
        }
    }

    /// <summary>Python <c>str.format</c> with <c>{}</c>, <c>{0}</c> and <c>{name}</c> fields (no format specs).</summary>
    private static string Format(TemplateInterpreter it, string s, Arguments a)
    {
        var sb = new BoundedBuilder(it.Limits.MaxOutputLength);
        int auto = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c == '{' && i + 1 < s.Length && s[i + 1] == '{')
            {
                sb.Append('{');
                i++;
            }
            else if (c == '}' && i + 1 < s.Length && s[i + 1] == '}')
            {
                sb.Append('}');
                i++;
            }
            else if (c == '{')
            {
                int close = s.IndexOf('}', i);
                if (close < 0)
                {
                    throw new TemplateException("format(): single '{' encountered", a.Line);
                }

                string field = s[(i + 1)..close];
                object? v;
                if (field.Length == 0)
                {
                    v = auto < a.Args.Count ? a.Args[auto++] : throw new TemplateException("format(): not enough arguments", a.Line);
                }
                else if (int.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out int index))
                {
                    v = index < a.Args.Count ? a.Args[index] : throw new TemplateException("format(): index out of range", a.Line);
                }
                else
                {
                    v = a.Kwarg(field) ?? throw new TemplateException($"format(): no argument '{field}'", a.Line);
                }

                sb.Append(it.Str(v));
                i = close;
            }
            else
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }

    // ---- helpers ----

    private static string Str(TemplateInterpreter it, object? v) => it.Str(v);

    private static int Length(object? value, int line) => value switch
    {
        string s => TemplateValues.CodePointLength(s),
        List<object?> l => l.Count,
        OrderedDictionary<string, object?> d => d.Count,
        NamespaceValue ns => ns.Attributes.Count,
        Undefined => 0,
        _ => throw new TemplateException($"object of type '{TemplateValues.TypeName(value)}' has no len()", line),
    };

    private static List<object?> Items(OrderedDictionary<string, object?> d) =>
        d.Select(p => (object?)new TupleValue([p.Key, p.Value])).ToList();

    private static OrderedDictionary<string, object?> AsDict(object? value, string what, int line) => value switch
    {
        OrderedDictionary<string, object?> d => d,
        NamespaceValue ns => ns.Attributes,
        _ => throw new TemplateException($"{what}: expected a dict, got {TemplateValues.TypeName(value)}", line),
    };

    /// <summary><c>attribute='a.b'</c> or an integer index, as Jinja's <c>make_attrgetter</c> reads it.</summary>
    private static object? Attribute(object? item, object? attribute, int line)
    {
        if (TemplateValues.TryNumber(attribute, out var n) && n.IsInt)
        {
            return TemplateInterpreter.GetItem(item, n.Int, line);
        }

        var path = attribute as string ?? throw new TemplateException("attribute must be a string", line);
        foreach (var part in path.Split('.'))
        {
            item = long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out long index)
                ? TemplateInterpreter.GetItem(item, index, line)
                : TemplateInterpreter.GetItem(item, part, line);
            if (item is Undefined)
            {
                return item;
            }
        }

        return item;
    }

    private static string Join(TemplateInterpreter it, string separator, List<object?> items)
    {
        var sb = new BoundedBuilder(it.Limits.MaxOutputLength);
        for (int i = 0; i < items.Count; i++)
        {
            if (i > 0)
            {
                sb.Append(separator);
            }

            sb.Append(it.Str(items[i]));
        }

        return sb.ToString();
    }

    private static string Replace(TemplateInterpreter it, string s, string old, string replacement, long count, int line)
    {
        if (count == 0)
        {
            return s;
        }

        long occurrences = old.Length == 0 ? TemplateValues.CodePointLength(s) + 1 : CountOccurrences(s, old);
        if (count > 0)
        {
            occurrences = Math.Min(occurrences, count);
        }

        it.CheckLength(s.Length + (occurrences * (replacement.Length - (long)old.Length)));
        it.Charge((s.Length + (occurrences * replacement.Length)) / 64, line);
        var sb = new StringBuilder();
        if (old.Length == 0)
        {
            var cps = TemplateValues.CodePoints(s);
            for (int i = 0; i < cps.Count; i++)
            {
                if (i < occurrences)
                {
                    sb.Append(replacement);
                }

                sb.Append(cps[i]);
            }

            if (cps.Count < occurrences)
            {
                sb.Append(replacement);
            }

            return sb.ToString();
        }

        int pos = 0;
        for (long done = 0; done < occurrences; done++)
        {
            int at = s.IndexOf(old, pos, StringComparison.Ordinal);
            sb.Append(s, pos, at - pos).Append(replacement);
            pos = at + old.Length;
        }

        return sb.Append(s, pos, s.Length - pos).ToString();
    }

    private static int CountOccurrences(string s, string sub)
    {
        if (sub.Length == 0)
        {
            return TemplateValues.CodePointLength(s) + 1;
        }

        int n = 0;
        for (int at = s.IndexOf(sub, StringComparison.Ordinal); at >= 0; at = s.IndexOf(sub, at + sub.Length, StringComparison.Ordinal))
        {
            n++;
        }

        return n;
    }

    /// <summary>Python <c>str.split</c> / <c>rsplit</c>: with no separator, runs of whitespace split and ends are dropped.</summary>
    private static List<object?> Split(string s, string? sep, long maxsplit, bool fromRight, int line)
    {
        if (sep is not null && sep.Length == 0)
        {
            throw new TemplateException("empty separator", line);
        }

        var parts = new List<string>();
        if (sep is null)
        {
            var words = s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (maxsplit < 0 || words.Length <= maxsplit + 1)
            {
                return words.Cast<object?>().ToList();
            }

            // Keep the remainder (with its inner whitespace) as the last part, as Python does.
            return fromRight ? SplitWhitespaceRight(s, (int)maxsplit) : SplitWhitespaceLeft(s, (int)maxsplit);
        }

        if (!fromRight)
        {
            int pos = 0;
            while (maxsplit < 0 || parts.Count < maxsplit)
            {
                int at = s.IndexOf(sep, pos, StringComparison.Ordinal);
                if (at < 0)
                {
                    break;
                }

                parts.Add(s[pos..at]);
                pos = at + sep.Length;
            }

            parts.Add(s[pos..]);
            return parts.Cast<object?>().ToList();
        }

        int end = s.Length;
        while (maxsplit < 0 || parts.Count < maxsplit)
        {
            int at = end - sep.Length < 0 ? -1 : s.LastIndexOf(sep, end - 1, end, StringComparison.Ordinal);
            if (at < 0)
            {
                break;
            }

            parts.Add(s[(at + sep.Length)..end]);
            end = at;
        }

        parts.Add(s[..end]);
        parts.Reverse();
        return parts.Cast<object?>().ToList();
    }

    private static List<object?> SplitWhitespaceLeft(string s, int maxsplit)
    {
        var parts = new List<object?>();
        int i = 0;
        while (true)
        {
            while (i < s.Length && char.IsWhiteSpace(s[i]))
            {
                i++;
            }

            if (i >= s.Length)
            {
                return parts;
            }

            if (parts.Count == maxsplit)
            {
                parts.Add(s[i..].TrimEnd());
                return parts;
            }

            int start = i;
            while (i < s.Length && !char.IsWhiteSpace(s[i]))
            {
                i++;
            }

            parts.Add(s[start..i]);
        }
    }

    private static List<object?> SplitWhitespaceRight(string s, int maxsplit)
    {
        var parts = new List<object?>();
        int i = s.Length - 1;
        while (true)
        {
            while (i >= 0 && char.IsWhiteSpace(s[i]))
            {
                i--;
            }

            if (i < 0)
            {
                break;
            }

            if (parts.Count == maxsplit)
            {
                parts.Add(s[..(i + 1)].TrimStart());
                break;
            }

            int end = i;
            while (i >= 0 && !char.IsWhiteSpace(s[i]))
            {
                i--;
            }

            parts.Add(s[(i + 1)..(end + 1)]);
        }

        parts.Reverse();
        return parts;
    }

    private static string Indent(TemplateInterpreter it, string s, string pad, bool first, bool blank)
    {
        var lines = s.Split('\n');
        it.CheckLength(s.Length + ((long)lines.Length * pad.Length));
        var sb = new StringBuilder();
        for (int i = 0; i < lines.Length; i++)
        {
            if (i > 0)
            {
                sb.Append('\n');
            }

            if ((i > 0 || first) && (blank || lines[i].Length > 0))
            {
                sb.Append(pad);
            }

            sb.Append(lines[i]);
        }

        return sb.ToString();
    }

    private static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    private static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousCased = false;
        foreach (char c in s)
        {
            sb.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousCased = char.IsLetter(c);
        }

        return sb.ToString();
    }

    private static object ToInt(object? value, object? fallback)
    {
        switch (value)
        {
            case long l:
                return l;
            case bool b:
                return b ? 1L : 0L;
            case double d when double.IsFinite(d) && Math.Abs(d) < 9.2e18:
                return (long)Math.Truncate(d);
            case string s:
                if (long.TryParse(s.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed))
                {
                    return parsed;
                }

                if (double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var pd) && double.IsFinite(pd) && Math.Abs(pd) < 9.2e18)
                {
                    return (long)Math.Truncate(pd);
                }

                break;
        }

        return fallback ?? 0L;
    }

    private static object ToFloat(object? value, object? fallback) => value switch
    {
        long l => (double)l,
        bool b => b ? 1.0 : 0.0,
        double d => d,
        string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) => parsed,
        _ => fallback ?? 0.0,
    };

    private static object Round(object? value, int precision, string method, int line)
    {
        if (!TemplateValues.TryNumber(value, out var n))
        {
            throw new TemplateException($"round: expected a number, got {TemplateValues.TypeName(value)}", line);
        }

        double x = n.AsDouble, scale = Math.Pow(10, precision);
        return method switch
        {
            "common" => Math.Round(x * scale, MidpointRounding.AwayFromZero) / scale,
            "ceil" => Math.Ceiling(x * scale) / scale,
            "floor" => Math.Floor(x * scale) / scale,
            _ => throw new TemplateException("round: method must be 'common', 'ceil' or 'floor'", line),
        };
    }

    internal static long Int(object? value, string what, int line) =>
        TemplateValues.TryNumber(value, out var n) && n.IsInt ? n.Int : throw new TemplateException($"{what}: expected an integer, got {TemplateValues.TypeName(value)}", line);

    /// <summary>Positional-or-keyword argument reader for built-ins; rejects unknown or surplus arguments.</summary>
    private sealed class Arguments(string function, List<object?> args, List<(string Name, object? Value)> kwargs, int line)
    {
        private readonly HashSet<string> _used = new(StringComparer.Ordinal);

        public List<object?> Args { get; } = args;

        public List<(string Name, object? Value)> Kwargs { get; } = kwargs;

        public int Line { get; } = line;

        public object? Get(int position, string name, object? fallback)
        {
            _used.Add(name);
            if (position < Args.Count)
            {
                return Args[position];
            }

            int k = Kwargs.FindIndex(x => x.Name == name);
            return k >= 0 ? Kwargs[k].Value : fallback;
        }

        public object? Kwarg(string name)
        {
            _used.Add(name);
            int k = Kwargs.FindIndex(x => x.Name == name);
            return k >= 0 ? Kwargs[k].Value : null;
        }

        public void Done(int maxPositional, params string[] alsoAllowed)
        {
            if (Args.Count > maxPositional)
            {
                throw new TemplateException($"{function}() takes at most {maxPositional} positional arguments, {Args.Count} given", Line);
            }

            foreach (var (name, _) in Kwargs)
            {
                if (!_used.Contains(name) && !alsoAllowed.Contains(name))
                {
                    throw new TemplateException($"{function}() got an unexpected keyword argument '{name}'", Line);
                }
            }
        }
    }
}
