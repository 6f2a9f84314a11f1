namespace Gguf2Qnn.Tokenization.ChatTemplates;

/// <summary>
/// Python operator semantics on template values: <c>+</c> adds numbers and concatenates strings or lists,
/// <c>~</c> concatenates <c>str()</c> of both sides, <c>/</c> is true division, <c>//</c> and <c>%</c> floor,
/// <c>*</c> repeats strings and lists; comparisons, <c>in</c> and <c>not in</c>. Integer overflow is an error
/// (Python would widen).
/// </summary>
internal static class TemplateOperators
{
    public static object? Unary(string op, object? operand, int line)
    {
        if (!TemplateValues.TryNumber(operand, out var n))
        {
            throw new TemplateException($"bad operand type for unary {op}: '{TemplateValues.TypeName(operand)}'", line);
        }

        if (op == "+")
        {
            return n.IsInt ? (object)n.Int : n.Float;
        }

        return n.IsInt ? (object)Checked(() => -n.Int, line) : -n.Float;
    }

    public static object? Binary(TemplateInterpreter interpreter, string op, object? a, object? b, int line)
    {
        switch (op)
        {
            case "==":
                return TemplateValues.PyEquals(a, b);
            case "!=":
                return !TemplateValues.PyEquals(a, b);
            case "<":
                return TemplateValues.Compare(a, b, op, line) < 0;
            case "<=":
                return TemplateValues.Compare(a, b, op, line) <= 0;
            case ">":
                return TemplateValues.Compare(a, b, op, line) > 0;
            case ">=":
                return TemplateValues.Compare(a, b, op, line) >= 0;
            case "in":
                return Contains(b, a, line);
            case "not in":
                return !Contains(b, a, line);
            case "~":
                var left = interpreter.Str(a);
                var right = interpreter.Str(b);
                interpreter.CheckLength((long)left.Length + right.Length);
                return left + right;
        }

        ThrowIfUndefined(a, line);
        ThrowIfUndefined(b, line);
        if (TemplateValues.TryNumber(a, out var x) && TemplateValues.TryNumber(b, out var y))
        {
            return Arithmetic(op, x, y, line);
        }

        switch (op)
        {
            case "+" when a is string s && b is string t:
                interpreter.CheckLength((long)s.Length + t.Length);
                return s + t;
            case "+" when a is List<object?> l && b is List<object?> m && (a is TupleValue) == (b is TupleValue):
                interpreter.CheckLength((long)l.Count + m.Count);
                List<object?> joined = a is TupleValue ? new TupleValue(l) : new List<object?>(l);
                joined.AddRange(m);
                return joined;
            case "*" when a is string or List<object?> && TemplateValues.TryNumber(b, out var times) && times.IsInt:
                return Repeat(interpreter, a, times.Int);
            case "*" when b is string or List<object?> && TemplateValues.TryNumber(a, out var times) && times.IsInt:
                return Repeat(interpreter, b, times.Int);
            default:
                throw new TemplateException($"unsupported operand type(s) for {op}: '{TemplateValues.TypeName(a)}' and '{TemplateValues.TypeName(b)}'", line);
        }
    }

    private static void ThrowIfUndefined(object? v, int line)
    {
        if (v is Undefined u)
        {
            throw new TemplateException(u.Hint, line);
        }
    }

    private static object Repeat(TemplateInterpreter interpreter, object value, long times)
    {
        times = Math.Max(0, times);
        if (value is string s)
        {
            interpreter.CheckLength(s.Length * times);
            interpreter.Charge(s.Length * times / 64, 0);
            return string.Concat(Enumerable.Repeat(s, (int)times));
        }

        var list = (List<object?>)value;
        interpreter.CheckLength(list.Count * times);
        List<object?> result = value is TupleValue ? new TupleValue() : new List<object?>();
        for (long i = 0; i < times; i++)
        {
            result.AddRange(list);
        }

        return result;
    }

    private static object Arithmetic(string op, TemplateValues.Number x, TemplateValues.Number y, int line)
    {
        bool ints = x.IsInt && y.IsInt;
        double a = x.AsDouble, b = y.AsDouble;
        switch (op)
        {
            case "+":
                return ints ? (object)Checked(() => checked(x.Int + y.Int), line) : a + b;
            case "-":
                return ints ? (object)Checked(() => checked(x.Int - y.Int), line) : a - b;
            case "*":
                return ints ? (object)Checked(() => checked(x.Int * y.Int), line) : a * b;
            case "/":
                return b == 0 ? throw new TemplateException("division by zero", line) : a / b;
            case "//":
                if (b == 0)
                {
                    throw new TemplateException("integer division or modulo by zero", line);
                }

                return ints ? (object)FloorDiv(x.Int, y.Int) : Math.Floor(a / b);
            case "%":
                if (b == 0)
                {
                    throw new TemplateException("integer division or modulo by zero", line);
                }

                return ints ? (object)(x.Int - (y.Int * FloorDiv(x.Int, y.Int))) : a - (b * Math.Floor(a / b));
            case "**":
                if (ints && y.Int >= 0)
                {
                    return Checked(() => Power(x.Int, y.Int), line);
                }

                return Math.Pow(a, b);
            default:
                throw new TemplateException($"unknown operator '{op}'", line);
        }
    }

    private static long FloorDiv(long a, long b)
    {
        long q = a / b;
        return (a % b != 0) && ((a < 0) != (b < 0)) ? q - 1 : q;
    }

    private static long Power(long b, long e)
    {
        long result = 1;
        while (e > 0)
        {
            if ((e & 1) != 0)
            {
                result = checked(result * b);
            }

            e >>= 1;
            if (e > 0)
            {
                b = checked(b * b);
            }
        }

        return result;
    }

    private static long Checked(Func<long> f, int line)
    {
        try
        {
            return f();
        }
        catch (OverflowException)
        {
            throw new TemplateException("integer overflow (values beyond 64 bits are not supported)", line);
        }
    }

    /// <summary>Python's <c>item in container</c>.</summary>
    public static bool Contains(object? container, object? item, int line) => container switch
    {
        string s when item is string t => s.Contains(t, StringComparison.Ordinal),
        string => throw new TemplateException($"'in <string>' requires string as left operand, not {TemplateValues.TypeName(item)}", line),
        List<object?> l => l.Exists(x => TemplateValues.PyEquals(x, item)),
        OrderedDictionary<string, object?> d => item is string k && d.ContainsKey(k),
        NamespaceValue ns => item is string k && ns.Attributes.ContainsKey(k),
        Undefined u => throw new TemplateException(u.Hint, line),
        _ => throw new TemplateException($"argument of type '{TemplateValues.TypeName(container)}' is not iterable", line),
    };
}
