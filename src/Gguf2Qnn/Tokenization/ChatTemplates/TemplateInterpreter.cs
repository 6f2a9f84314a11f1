namespace Gguf2Qnn.Tokenization.ChatTemplates;

/// <summary>Variables visible at one point: a for-loop iteration, a macro call, or the template's top level.</summary>
internal sealed class Scope(Scope? parent)
{
    private readonly Dictionary<string, object?> _vars = new(StringComparer.Ordinal);

    public bool TryGet(string name, out object? value)
    {
        for (var s = this; s is not null; s = s.Parent)
        {
            if (s._vars.TryGetValue(name, out value))
            {
                return true;
            }
        }

        value = null;
        return false;
    }

    public Scope? Parent { get; } = parent;

    public void Set(string name, object? value) => _vars[name] = value;
}

/// <summary>
/// Walks the syntax tree with Jinja's semantics: <c>for</c> bodies and macro bodies get their own scope per
/// iteration or call (so <c>set</c> inside them does not leak, hence <c>namespace()</c>), <c>if</c> does not.
/// Every loop iteration, macro call, node and string is charged against <see cref="TemplateLimits"/>.
/// One interpreter renders once.
/// </summary>
internal sealed class TemplateInterpreter
{
    private enum Flow
    {
        Normal,
        Break,
        Continue,
    }

    private readonly TemplateLimits _limits;
    private long _steps;
    private long _iterations;
    private int _callDepth;

    public TemplateInterpreter(TemplateLimits limits, DateTimeOffset now)
    {
        _limits = limits;
        Now = now;
    }

    public TemplateLimits Limits => _limits;

    /// <summary>The time <c>strftime_now</c> reports.</summary>
    public DateTimeOffset Now { get; }

    public string Render(IReadOnlyList<Node> nodes, IReadOnlyDictionary<string, object?> variables)
    {
        var root = new Scope(null);
        foreach (var (name, value) in variables)
        {
            root.Set(name, value);
        }

        var output = new BoundedBuilder(_limits.MaxOutputLength);
        var flow = Execute(nodes, new Scope(root), output);
        if (flow != Flow.Normal)
        {
            throw new TemplateException($"'{{% {(flow == Flow.Break ? "break" : "continue")} %}}' outside a for loop", 0, TemplateErrorKind.Syntax);
        }

        return output.ToString();
    }

    internal static TemplateException OutputTooLong(int max) =>
        new($"the template built a string or list longer than {max} (TemplateLimits.MaxOutputLength)", 0, TemplateErrorKind.LimitExceeded);

    /// <summary>Charges <paramref name="cost"/> steps against <see cref="TemplateLimits.MaxSteps"/>.</summary>
    public void Charge(long cost, int line)
    {
        _steps += cost;
        if (_steps > _limits.MaxSteps)
        {
            throw new TemplateException($"the template ran more than {_limits.MaxSteps} steps (TemplateLimits.MaxSteps)", line, TemplateErrorKind.LimitExceeded);
        }
    }

    /// <summary>Counts <paramref name="count"/> loop iterations (or generated items) against <see cref="TemplateLimits.MaxLoopIterations"/>.</summary>
    public void CountIterations(long count, int line)
    {
        _iterations += count;
        if (_iterations > _limits.MaxLoopIterations)
        {
            throw new TemplateException($"the template ran more than {_limits.MaxLoopIterations} loop iterations (TemplateLimits.MaxLoopIterations)", line, TemplateErrorKind.LimitExceeded);
        }
    }

    /// <summary>Checks a string or list about to be built from its final length.</summary>
    public void CheckLength(long length)
    {
        if (length > _limits.MaxOutputLength)
        {
            throw OutputTooLong(_limits.MaxOutputLength);
        }
    }

    public string Str(object? v) => TemplateValues.ToStr(v, _limits.MaxOutputLength);

    private Flow Execute(IReadOnlyList<Node> nodes, Scope scope, BoundedBuilder output)
    {
        foreach (var node in nodes)
        {
            Charge(1, node.Line);
            switch (node)
            {
                case TextNode t:
                    output.Append(t.Text);
                    break;
                case OutputNode o:
                    output.Append(Str(Evaluate(o.Value, scope)));
                    break;
                case IfNode i:
                    var body = i.Else;
                    foreach (var (condition, branch) in i.Branches)
                    {
                        if (TemplateValues.IsTruthy(Evaluate(condition, scope)))
                        {
                            body = branch;
                            break;
                        }
                    }

                    if (body is not null)
                    {
                        var flow = Execute(body, scope, output);
                        if (flow != Flow.Normal)
                        {
                            return flow;
                        }
                    }

                    break;
                case ForNode f:
                    ExecuteFor(f, scope, output);
                    break;
                case SetNode s:
                    ExecuteSet(s, scope);
                    break;
                case SetBlockNode sb:
                    var captured = new BoundedBuilder(_limits.MaxOutputLength);
                    if (Execute(sb.Body, scope, captured) != Flow.Normal)
                    {
                        throw new TemplateException("'break' or 'continue' inside '{% set %}…{% endset %}'", sb.Line, TemplateErrorKind.Syntax);
                    }

                    scope.Set(sb.Target, captured.ToString());
                    break;
                case MacroNode m:
                    scope.Set(m.Name, new MacroValue(m, scope));
                    break;
                case LoopControlNode c:
                    return c.IsBreak ? Flow.Break : Flow.Continue;
                default:
                    throw new TemplateException($"unsupported node {node.GetType().Name}", node.Line);
            }
        }

        return Flow.Normal;
    }

    private void ExecuteFor(ForNode f, Scope scope, BoundedBuilder output)
    {
        var source = Iterate(Evaluate(f.Iterable, scope), f.Line);
        List<object?> items;
        if (f.Filter is null)
        {
            items = source;
        }
        else
        {
            items = [];
            foreach (var item in source)
            {
                CountIterations(1, f.Line);
                var probe = new Scope(scope);
                Bind(probe, f.Targets, item, f.Line);
                if (TemplateValues.IsTruthy(Evaluate(f.Filter, probe)))
                {
                    items.Add(item);
                }
            }
        }

        if (items.Count == 0)
        {
            if (f.Else is not null)
            {
                Execute(f.Else, new Scope(scope), output);
            }

            return;
        }

        var loop = new LoopValue(items);
        for (int i = 0; i < items.Count; i++)
        {
            CountIterations(1, f.Line);
            var iteration = new Scope(scope);
            Bind(iteration, f.Targets, items[i], f.Line);
            loop.Index0 = i;
            iteration.Set("loop", loop);
            if (Execute(f.Body, iteration, output) == Flow.Break)
            {
                break;
            }
        }
    }

    private static void Bind(Scope scope, IReadOnlyList<string> targets, object? value, int line)
    {
        if (targets.Count == 1)
        {
            scope.Set(targets[0], value);
            return;
        }

        if (value is not List<object?> parts || parts.Count != targets.Count)
        {
            throw new TemplateException($"cannot unpack {TemplateValues.TypeName(value)} into {targets.Count} names", line);
        }

        for (int i = 0; i < targets.Count; i++)
        {
            scope.Set(targets[i], parts[i]);
        }
    }

    private void ExecuteSet(SetNode s, Scope scope)
    {
        var value = Evaluate(s.Value, scope);
        if (s.Attribute is null)
        {
            Bind(scope, s.Targets, value, s.Line);
            return;
        }

        if (!scope.TryGet(s.Targets[0], out var target) || target is not NamespaceValue ns)
        {
            throw new TemplateException($"cannot assign attribute '{s.Attribute}' on '{s.Targets[0]}': only a namespace() object takes attribute assignment", s.Line);
        }

        CheckAttributeName(s.Attribute, s.Line);
        ns.Attributes[s.Attribute] = value;
    }

    /// <summary>Items of a for loop or a filter input: lists and tuples (copied), dict keys, string code points; Undefined is empty.</summary>
    public List<object?> Iterate(object? value, int line) => value switch
    {
        List<object?> l => [.. l],
        OrderedDictionary<string, object?> d => d.Keys.Cast<object?>().ToList(),
        string s => TemplateValues.CodePoints(s).Cast<object?>().ToList(),
        Undefined => [],
        NamespaceValue => throw new TemplateException("'Namespace' object is not iterable", line),
        _ => throw new TemplateException($"'{TemplateValues.TypeName(value)}' object is not iterable", line),
    };

    public object? Evaluate(Expr e, Scope scope)
    {
        Charge(1, e.Line);
        var result = EvaluateCore(e, scope);
        switch (result)
        {
            case string s when s.Length > 64:
                Charge(s.Length / 64, e.Line);
                CheckLength(s.Length);
                break;
            case List<object?> l when l.Count > 8:
                Charge(l.Count / 8, e.Line);
                CheckLength(l.Count);
                break;
        }

        return result;
    }

    private object? EvaluateCore(Expr e, Scope scope)
    {
        switch (e)
        {
            case LiteralExpr l:
                return l.Value;
            case NameExpr n:
                if (scope.TryGet(n.Name, out var v))
                {
                    return v;
                }

                return TemplateBuiltins.TryGetGlobal(n.Name, out var g) ? g : new Undefined($"'{n.Name}' is undefined");
            case ListExpr list:
                return list.Items.Select(x => Evaluate(x, scope)).ToList();
            case DictExpr dict:
                var d = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (key, value) in dict.Items)
                {
                    d[Evaluate(key, scope) as string ?? throw new TemplateException("dict keys must be strings in chat templates", dict.Line)] = Evaluate(value, scope);
                }

                return d;
            case AttributeExpr a:
                return GetAttribute(Evaluate(a.Target, scope), a.Name, a.Line);
            case IndexExpr i:
                return GetItem(Evaluate(i.Target, scope), Evaluate(i.Index, scope), i.Line);
            case SliceExpr s:
                return Slice(Evaluate(s.Target, scope), s.Start is null ? null : Evaluate(s.Start, scope), s.Stop is null ? null : Evaluate(s.Stop, scope), s.Step is null ? null : Evaluate(s.Step, scope), s.Line);
            case CallExpr c:
                var callee = Evaluate(c.Callee, scope);
                var args = c.Args.Select(x => Evaluate(x, scope)).ToList();
                var kwargs = c.Kwargs.Select(x => (x.Name, Evaluate(x.Value, scope))).ToList();
                return callee switch
                {
                    CallableValue f => f.Invoke(this, args, kwargs, c.Line),
                    Undefined u => throw new TemplateException(u.Hint, c.Line),
                    _ => throw new TemplateException($"'{TemplateValues.TypeName(callee)}' object is not callable", c.Line),
                };
            case FilterExpr f:
                return TemplateBuiltins.ApplyFilter(this, f.Name, Evaluate(f.Value, scope), f.Args.Select(x => Evaluate(x, scope)).ToList(), f.Kwargs.Select(x => (x.Name, Evaluate(x.Value, scope))).ToList(), f.Line);
            case TestExpr t:
                var result = TemplateBuiltins.ApplyTest(this, t.Name, Evaluate(t.Value, scope), t.Args.Select(x => Evaluate(x, scope)).ToList(), t.Line);
                return result != t.Negated;
            case UnaryExpr u:
                var operand = Evaluate(u.Operand, scope);
                return u.Operator == "not" ? !TemplateValues.IsTruthy(operand) : TemplateOperators.Unary(u.Operator, operand, u.Line);
            case BinaryExpr b:
                if (b.Operator == "and")
                {
                    var left = Evaluate(b.Left, scope);
                    return TemplateValues.IsTruthy(left) ? Evaluate(b.Right, scope) : left;
                }

                if (b.Operator == "or")
                {
                    var left = Evaluate(b.Left, scope);
                    return TemplateValues.IsTruthy(left) ? left : Evaluate(b.Right, scope);
                }

                return TemplateOperators.Binary(this, b.Operator, Evaluate(b.Left, scope), Evaluate(b.Right, scope), b.Line);
            case ConditionalExpr c:
                return TemplateValues.IsTruthy(Evaluate(c.Condition, scope))
                    ? Evaluate(c.Then, scope)
                    : c.Else is null ? new Undefined("the conditional expression has no else branch") : Evaluate(c.Else, scope);
            default:
                throw new TemplateException($"unsupported expression {e.GetType().Name}", e.Line);
        }
    }

    /// <summary>Jinja's <c>getattr</c>: an attribute (method) first, then an item; refuses names starting with '_'.</summary>
    public static object? GetAttribute(object? target, string name, int line)
    {
        CheckAttributeName(name, line);
        switch (target)
        {
            case Undefined u:
                throw new TemplateException(u.Hint, line);
            case null:
                throw new TemplateException($"'None' has no attribute '{name}'", line);
            case OrderedDictionary<string, object?> d:
                if (TemplateBuiltins.IsDictMethod(name))
                {
                    return new BoundMethod(d, name);
                }

                return d.TryGetValue(name, out var v) ? v : new Undefined($"'dict object' has no attribute '{name}'");
            case NamespaceValue ns:
                return ns.Attributes.TryGetValue(name, out var a) ? a : new Undefined($"'Namespace' object has no attribute '{name}'");
            case LoopValue loop:
                return loop.Get(name);
            case string s:
                return TemplateBuiltins.IsStringMethod(name) ? new BoundMethod(s, name) : new Undefined($"'str object' has no attribute '{name}'");
            default:
                return new Undefined($"'{TemplateValues.TypeName(target)} object' has no attribute '{name}'");
        }
    }

    /// <summary>Jinja's <c>getitem</c>: an item first, then (for a string key) an attribute. Out-of-range indexes are Undefined.</summary>
    public static object? GetItem(object? target, object? key, int line)
    {
        switch (target)
        {
            case Undefined u:
                throw new TemplateException(u.Hint, line);
            case List<object?> list when TemplateValues.TryNumber(key, out var n) && n.IsInt:
                long i = n.Int < 0 ? n.Int + list.Count : n.Int;
                return i >= 0 && i < list.Count ? list[(int)i] : new Undefined($"{TemplateValues.TypeName(target)} index {n.Int} out of range");
            case string s when TemplateValues.TryNumber(key, out var n) && n.IsInt:
                var cps = TemplateValues.CodePoints(s);
                long j = n.Int < 0 ? n.Int + cps.Count : n.Int;
                return j >= 0 && j < cps.Count ? cps[(int)j] : new Undefined($"string index {n.Int} out of range");
            case OrderedDictionary<string, object?> d when key is string k:
                if (d.TryGetValue(k, out var v))
                {
                    return v;
                }

                return k.StartsWith('_') || !TemplateBuiltins.IsDictMethod(k) ? new Undefined($"'dict object' has no attribute '{k}'") : new BoundMethod(d, k);
            case OrderedDictionary<string, object?>:
                return new Undefined($"'dict object' has no item {TemplateValues.ToStr(key, 256)}");
            case null:
                throw new TemplateException("'None' is not subscriptable", line);
            default:
                return key is string name ? GetAttribute(target, name, line) : new Undefined($"'{TemplateValues.TypeName(target)} object' has no item {TemplateValues.ToStr(key, 256)}");
        }
    }

    /// <summary>Python slicing <c>x[start:stop:step]</c> of a list, tuple or string.</summary>
    public object? Slice(object? target, object? start, object? stop, object? step, int line)
    {
        long? Index(object? v, string what) => v switch
        {
            null => null,
            _ when TemplateValues.TryNumber(v, out var n) && n.IsInt => n.Int,
            _ => throw new TemplateException($"slice {what} must be an integer or none, not {TemplateValues.TypeName(v)}", line),
        };

        var (items, isString) = target switch
        {
            string s => (TemplateValues.CodePoints(s).Cast<object?>().ToList(), true),
            List<object?> l => (l, false),
            Undefined u => throw new TemplateException(u.Hint, line),
            _ => throw new TemplateException($"'{TemplateValues.TypeName(target)}' object is not subscriptable", line),
        };
        long st = Index(step, "step") ?? 1;
        if (st == 0)
        {
            throw new TemplateException("slice step cannot be zero", line);
        }

        // Python's slice.indices: clamp into [lower, upper], negative indexes counted from the end.
        long len = items.Count;
        long lower = st > 0 ? 0 : -1, upper = st > 0 ? len : len - 1;
        long lo = Adjust(Index(start, "start"), st > 0 ? lower : upper);
        long hi = Adjust(Index(stop, "stop"), st > 0 ? upper : lower);
        var result = new List<object?>();
        for (long i = lo; st > 0 ? i < hi : i > hi; i += st)
        {
            result.Add(items[(int)i]);
        }

        Charge(result.Count / 64, line);
        if (isString)
        {
            return string.Concat(result.Cast<string>());
        }

        return target is TupleValue ? new TupleValue(result) : result;

        long Adjust(long? index, long fallback)
        {
            if (index is not { } i)
            {
                return fallback;
            }

            if (i < 0)
            {
                i += len;
            }

            return Math.Clamp(i, lower, upper);
        }
    }

    public string CallMacro(MacroValue macro, List<object?> args, List<(string Name, object? Value)> kwargs, int line)
    {
        var node = macro.Node;
        if (args.Count > node.Parameters.Count)
        {
            throw new TemplateException($"macro '{node.Name}' takes {node.Parameters.Count} arguments, {args.Count} given", line);
        }

        if (_callDepth + 1 > _limits.MaxCallDepth)
        {
            throw new TemplateException($"macro calls nest deeper than {_limits.MaxCallDepth} (TemplateLimits.MaxCallDepth)", line, TemplateErrorKind.LimitExceeded);
        }

        _callDepth++;
        try
        {
            var scope = new Scope(macro.Closure);
            for (int i = 0; i < node.Parameters.Count; i++)
            {
                var (name, def) = node.Parameters[i];
                object? value;
                int k = kwargs.FindIndex(x => x.Name == name);
                if (i < args.Count)
                {
                    value = args[i];
                }
                else if (k >= 0)
                {
                    value = kwargs[k].Value;
                }
                else
                {
                    value = def is null ? new Undefined($"'{name}' is undefined") : Evaluate(def, scope);
                }

                scope.Set(name, value);
            }

            foreach (var (name, _) in kwargs)
            {
                if (!node.Parameters.Any(p => p.Name == name))
                {
                    throw new TemplateException($"macro '{node.Name}' has no parameter '{name}'", line);
                }
            }

            var output = new BoundedBuilder(_limits.MaxOutputLength);
            if (Execute(node.Body, scope, output) != Flow.Normal)
            {
                throw new TemplateException("'break' or 'continue' outside a for loop in a macro", node.Line, TemplateErrorKind.Syntax);
            }

            return output.ToString();
        }
        finally
        {
            _callDepth--;
        }
    }

    private static void CheckAttributeName(string name, int line)
    {
        if (name.StartsWith('_'))
        {
            throw new TemplateException($"access to attribute '{name}' is not allowed in a chat template", line, TemplateErrorKind.Security);
        }
    }
}
