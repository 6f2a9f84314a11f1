using System.Globalization;

namespace Gguf2Qnn.Tokenization.ChatTemplates;

/// <summary>
/// Recursive-descent parser for the Jinja subset chat templates use, with Jinja's operator precedence (lowest
/// first): <c>x if c else y</c>; <c>or</c>; <c>and</c>; <c>not</c>; comparisons, <c>in</c>, <c>not in</c>;
/// <c>+ -</c>; <c>~</c>; <c>* / // %</c>; <c>**</c>; unary <c>- +</c>; then postfix <c>.attr</c>, <c>[i]</c>,
/// <c>[a:b:c]</c>, calls, and the filter (<c>|f</c>) and test (<c>is t</c>) chain. Unknown filters and tests,
/// and <c>include</c> / <c>import</c> / <c>extends</c>, are rejected at parse time.
/// </summary>
internal sealed class TemplateParser
{
    private static readonly HashSet<string> Forbidden = ["include", "import", "from", "extends", "block", "endblock", "do", "with", "endwith", "autoescape", "endautoescape", "call", "endcall"];

    private readonly List<TemplateToken> _tokens;
    private readonly int _maxNesting;
    private int _pos;
    private int _nesting;

    private TemplateParser(List<TemplateToken> tokens, int maxNesting)
    {
        _tokens = tokens;
        _maxNesting = maxNesting;
    }

    public static IReadOnlyList<Node> Parse(string source, TemplateLimits limits)
    {
        var parser = new TemplateParser(TemplateLexer.Tokenize(source), limits.MaxNesting);
        return parser.ParseBody([], out _);
    }

    private TemplateToken Current => _tokens[_pos];

    private TemplateToken Next() => _tokens[_pos++];

    private TemplateToken Peek(int ahead = 1) => _tokens[Math.Min(_pos + ahead, _tokens.Count - 1)];

    /// <summary>Parses nodes until a block tag whose name is in <paramref name="endTags"/> (consumed, returned in <paramref name="endTag"/>) or the end.</summary>
    private List<Node> ParseBody(string[] endTags, out string endTag)
    {
        Enter();
        var nodes = new List<Node>();
        while (true)
        {
            var t = Current;
            switch (t.Kind)
            {
                case TokenKind.End:
                    if (endTags.Length > 0)
                    {
                        throw Syntax($"unexpected end of template; expected {string.Join(" or ", endTags.Select(e => "'{% " + e + " %}'"))}", t.Line);
                    }

                    endTag = string.Empty;
                    Leave();
                    return nodes;
                case TokenKind.Text:
                    _pos++;
                    nodes.Add(new TextNode(t.Value, t.Line));
                    break;
                case TokenKind.VariableBegin:
                    _pos++;
                    var value = ParseExpression();
                    Expect(TokenKind.VariableEnd);
                    nodes.Add(new OutputNode(value, t.Line));
                    break;
                case TokenKind.BlockBegin:
                    var name = Peek();
                    if (name.Kind == TokenKind.Name && endTags.Contains(name.Value))
                    {
                        _pos += 2;
                        endTag = name.Value;
                        Leave();
                        return nodes;
                    }

                    _pos++;
                    // null: generation / endgeneration, Hugging Face's assistant-mask markers, which render their body unchanged.
                    if (ParseStatement() is { } statement)
                    {
                        nodes.Add(statement);
                    }

                    break;
                default:
                    throw Syntax($"unexpected {t}", t.Line);
            }
        }
    }

    private Node? ParseStatement()
    {
        var t = Next();
        if (t.Kind != TokenKind.Name)
        {
            throw Syntax($"expected a statement name after '{{%', found {t}", t.Line);
        }

        switch (t.Value)
        {
            case "if":
                return ParseIf(t.Line);
            case "for":
                return ParseFor(t.Line);
            case "set":
                return ParseSet(t.Line);
            case "macro":
                return ParseMacro(t.Line);
            case "break":
            case "continue":
                Expect(TokenKind.BlockEnd);
                return new LoopControlNode(t.Value == "break", t.Line);
            case "generation":
            case "endgeneration":
                Expect(TokenKind.BlockEnd);
                return null;
            default:
                if (Forbidden.Contains(t.Value))
                {
                    throw new TemplateException($"'{{% {t.Value} %}}' is not supported: a chat template renders from its variables alone (no other templates, files or blocks)", t.Line, TemplateErrorKind.Security);
                }

                throw Syntax($"unknown statement '{t.Value}'", t.Line);
        }
    }

    private IfNode ParseIf(int line)
    {
        var branches = new List<(Expr, IReadOnlyList<Node>)>();
        var condition = ParseExpression();
        Expect(TokenKind.BlockEnd);
        while (true)
        {
            var body = ParseBody(["elif", "else", "endif"], out var end);
            branches.Add((condition, body));
            if (end == "elif")
            {
                condition = ParseExpression();
                Expect(TokenKind.BlockEnd);
                continue;
            }

            if (end == "else")
            {
                Expect(TokenKind.BlockEnd);
                var elseBody = ParseBody(["endif"], out _);
                Expect(TokenKind.BlockEnd);
                return new IfNode(branches, elseBody, line);
            }

            Expect(TokenKind.BlockEnd);
            return new IfNode(branches, null, line);
        }
    }

    private ForNode ParseFor(int line)
    {
        var targets = ParseTargetNames();
        ExpectName("in");
        var iterable = ParseOr();
        Expr? filter = null;
        if (Current.Is(TokenKind.Name, "if"))
        {
            _pos++;
            filter = ParseOr();
        }

        if (Current.Is(TokenKind.Name, "recursive"))
        {
            throw Syntax("recursive for loops are not supported", Current.Line);
        }

        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["else", "endfor"], out var end);
        IReadOnlyList<Node>? elseBody = null;
        if (end == "else")
        {
            Expect(TokenKind.BlockEnd);
            elseBody = ParseBody(["endfor"], out _);
        }

        Expect(TokenKind.BlockEnd);
        return new ForNode(targets, iterable, filter, body, elseBody, line);
    }

    private Node ParseSet(int line)
    {
        var first = ExpectName();
        if (Current.Is(TokenKind.Operator, "."))
        {
            _pos++;
            var attribute = ExpectName();
            ExpectOperator("=");
            var value = ParseTupleOrExpression();
            Expect(TokenKind.BlockEnd);
            return new SetNode([first.Value], attribute.Value, value, line);
        }

        var targets = new List<string> { first.Value };
        while (Current.Is(TokenKind.Operator, ","))
        {
            _pos++;
            targets.Add(ExpectName().Value);
        }

        if (Current.Kind == TokenKind.BlockEnd && targets.Count == 1)
        {
            _pos++;
            var body = ParseBody(["endset"], out _);
            Expect(TokenKind.BlockEnd);
            return new SetBlockNode(first.Value, body, line);
        }

        ExpectOperator("=");
        var expr = ParseTupleOrExpression();
        Expect(TokenKind.BlockEnd);
        return new SetNode(targets, null, expr, line);
    }

    private MacroNode ParseMacro(int line)
    {
        var name = ExpectName();
        ExpectOperator("(");
        var parameters = new List<(string, Expr?)>();
        while (!Current.Is(TokenKind.Operator, ")"))
        {
            var p = ExpectName();
            Expr? def = null;
            if (Current.Is(TokenKind.Operator, "="))
            {
                _pos++;
                def = ParseExpression();
            }
            else if (parameters.Any(x => x.Item2 is not null))
            {
                throw Syntax("a macro parameter without a default follows one with a default", p.Line);
            }

            parameters.Add((p.Value, def));
            if (!Current.Is(TokenKind.Operator, ","))
            {
                break;
            }

            _pos++;
        }

        ExpectOperator(")");
        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endmacro"], out _);
        if (Current.Kind == TokenKind.Name && Current.Value == name.Value)
        {
            _pos++;
        }

        Expect(TokenKind.BlockEnd);
        return new MacroNode(name.Value, parameters, body, line);
    }

    private List<string> ParseTargetNames()
    {
        var names = new List<string>();
        bool paren = Current.Is(TokenKind.Operator, "(");
        if (paren)
        {
            _pos++;
        }

        names.Add(ExpectName().Value);
        while (Current.Is(TokenKind.Operator, ","))
        {
            _pos++;
            names.Add(ExpectName().Value);
        }

        if (paren)
        {
            ExpectOperator(")");
        }

        return names;
    }

    /// <summary><c>a, b, c</c> without parentheses (as in <c>set x = 1, 2</c>) becomes a tuple.</summary>
    private Expr ParseTupleOrExpression()
    {
        var first = ParseExpression();
        if (!Current.Is(TokenKind.Operator, ","))
        {
            return first;
        }

        var items = new List<Expr> { first };
        while (Current.Is(TokenKind.Operator, ","))
        {
            _pos++;
            if (Current.Kind == TokenKind.BlockEnd)
            {
                break;
            }

            items.Add(ParseExpression());
        }

        return new CallExpr(new NameExpr(TemplateBuiltins.TupleConstructor, first.Line), items, [], first.Line);
    }

    private Expr ParseExpression()
    {
        Enter();
        var e = ParseConditional();
        Leave();
        return e;
    }

    private Expr ParseConditional()
    {
        var expr = ParseOr();
        while (Current.Is(TokenKind.Name, "if"))
        {
            int line = Next().Line;
            var condition = ParseOr();
            Expr? otherwise = null;
            if (Current.Is(TokenKind.Name, "else"))
            {
                _pos++;
                otherwise = ParseConditional();
            }

            expr = new ConditionalExpr(condition, expr, otherwise, line);
        }

        return expr;
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (Current.Is(TokenKind.Name, "or"))
        {
            int line = Next().Line;
            left = new BinaryExpr("or", left, ParseAnd(), line);
        }

        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (Current.Is(TokenKind.Name, "and"))
        {
            int line = Next().Line;
            left = new BinaryExpr("and", left, ParseNot(), line);
        }

        return left;
    }

    private Expr ParseNot()
    {
        if (Current.Is(TokenKind.Name, "not"))
        {
            int line = Next().Line;
            Enter();
            var operand = ParseNot();
            Leave();
            return new UnaryExpr("not", operand, line);
        }

        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        var left = ParseAdditive();
        while (true)
        {
            var t = Current;
            string? op = null;
            if (t.Kind == TokenKind.Operator && t.Value is "==" or "!=" or "<" or "<=" or ">" or ">=")
            {
                op = t.Value;
                _pos++;
            }
            else if (t.Is(TokenKind.Name, "in"))
            {
                op = "in";
                _pos++;
            }
            else if (t.Is(TokenKind.Name, "not") && Peek().Is(TokenKind.Name, "in"))
            {
                op = "not in";
                _pos += 2;
            }

            if (op is null)
            {
                return left;
            }

            left = new BinaryExpr(op, left, ParseAdditive(), t.Line);
        }
    }

    private Expr ParseAdditive()
    {
        var left = ParseConcat();
        while (Current.Kind == TokenKind.Operator && Current.Value is "+" or "-")
        {
            var t = Next();
            left = new BinaryExpr(t.Value, left, ParseConcat(), t.Line);
        }

        return left;
    }

    private Expr ParseConcat()
    {
        var left = ParseMultiplicative();
        while (Current.Is(TokenKind.Operator, "~"))
        {
            var t = Next();
            left = new BinaryExpr("~", left, ParseMultiplicative(), t.Line);
        }

        return left;
    }

    private Expr ParseMultiplicative()
    {
        var left = ParsePower();
        while (Current.Kind == TokenKind.Operator && Current.Value is "*" or "/" or "//" or "%")
        {
            var t = Next();
            left = new BinaryExpr(t.Value, left, ParsePower(), t.Line);
        }

        return left;
    }

    private Expr ParsePower()
    {
        var left = ParseUnary(withFilters: true);
        while (Current.Is(TokenKind.Operator, "**"))
        {
            var t = Next();
            left = new BinaryExpr("**", left, ParseUnary(withFilters: true), t.Line);
        }

        return left;
    }

    private Expr ParseUnary(bool withFilters)
    {
        var t = Current;
        Expr node;
        if (t.Kind == TokenKind.Operator && t.Value is "-" or "+")
        {
            _pos++;
            Enter();
            node = new UnaryExpr(t.Value, ParseUnary(withFilters: false), t.Line);
            Leave();
        }
        else
        {
            node = ParsePostfix(ParsePrimary());
        }

        return withFilters ? ParseFilterChain(node) : node;
    }

    private Expr ParsePrimary()
    {
        var t = Next();
        switch (t.Kind)
        {
            case TokenKind.Name:
                return t.Value switch
                {
                    "true" or "True" => new LiteralExpr(true, t.Line),
                    "false" or "False" => new LiteralExpr(false, t.Line),
                    "none" or "None" => new LiteralExpr(null, t.Line),
                    _ => new NameExpr(t.Value, t.Line),
                };
            case TokenKind.String:
                var s = t.Value;
                while (Current.Kind == TokenKind.String)
                {
                    s += Next().Value;
                }

                return new LiteralExpr(s, t.Line);
            case TokenKind.Integer:
                return long.TryParse(t.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var l)
                    ? new LiteralExpr(l, t.Line)
                    : throw Syntax($"integer literal {t.Value} is out of range", t.Line);
            case TokenKind.Float:
                return new LiteralExpr(double.Parse(t.Value, NumberStyles.Float, CultureInfo.InvariantCulture), t.Line);
            case TokenKind.Operator when t.Value == "(":
                return ParseParenthesized(t.Line);
            case TokenKind.Operator when t.Value == "[":
                Enter();
                var items = ParseSequence("]");
                Leave();
                return new ListExpr(items, t.Line);
            case TokenKind.Operator when t.Value == "{":
                return ParseDict(t.Line);
            default:
                throw Syntax($"unexpected {t}", t.Line);
        }
    }

    private Expr ParseParenthesized(int line)
    {
        Enter();
        if (Current.Is(TokenKind.Operator, ")"))
        {
            _pos++;
            Leave();
            return new CallExpr(new NameExpr(TemplateBuiltins.TupleConstructor, line), [], [], line);
        }

        var first = ParseExpression();
        if (Current.Is(TokenKind.Operator, ")"))
        {
            _pos++;
            Leave();
            return first;
        }

        ExpectOperator(",");
        var items = new List<Expr> { first };
        items.AddRange(ParseSequence(")"));
        Leave();
        return new CallExpr(new NameExpr(TemplateBuiltins.TupleConstructor, line), items, [], line);
    }

    /// <summary>Comma-separated expressions up to <paramref name="close"/> (consumed); a trailing comma is allowed.</summary>
    private List<Expr> ParseSequence(string close)
    {
        var items = new List<Expr>();
        while (!Current.Is(TokenKind.Operator, close))
        {
            items.Add(ParseExpression());
            if (!Current.Is(TokenKind.Operator, ","))
            {
                break;
            }

            _pos++;
        }

        ExpectOperator(close);
        return items;
    }

    private DictExpr ParseDict(int line)
    {
        Enter();
        var items = new List<(Expr, Expr)>();
        while (!Current.Is(TokenKind.Operator, "}"))
        {
            var key = ParseExpression();
            ExpectOperator(":");
            items.Add((key, ParseExpression()));
            if (!Current.Is(TokenKind.Operator, ","))
            {
                break;
            }

            _pos++;
        }

        ExpectOperator("}");
        Leave();
        return new DictExpr(items, line);
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            var t = Current;
            if (t.Is(TokenKind.Operator, "."))
            {
                _pos++;
                var name = Next();
                node = name.Kind switch
                {
                    TokenKind.Name => new AttributeExpr(node, name.Value, t.Line),
                    TokenKind.Integer => new IndexExpr(node, new LiteralExpr(long.Parse(name.Value, CultureInfo.InvariantCulture), t.Line), t.Line),
                    _ => throw Syntax($"expected an attribute name after '.', found {name}", t.Line),
                };
            }
            else if (t.Is(TokenKind.Operator, "["))
            {
                _pos++;
                Enter();
                node = ParseSubscript(node, t.Line);
                Leave();
            }
            else if (t.Is(TokenKind.Operator, "("))
            {
                _pos++;
                Enter();
                var (args, kwargs) = ParseArguments();
                Leave();
                node = new CallExpr(node, args, kwargs, t.Line);
            }
            else
            {
                return node;
            }
        }
    }

    private Expr ParseSubscript(Expr target, int line)
    {
        Expr? start = null, stop = null, step = null;
        if (!Current.Is(TokenKind.Operator, ":"))
        {
            start = ParseExpression();
            if (Current.Is(TokenKind.Operator, "]"))
            {
                _pos++;
                return new IndexExpr(target, start, line);
            }
        }

        ExpectOperator(":");
        if (!Current.Is(TokenKind.Operator, "]") && !Current.Is(TokenKind.Operator, ":"))
        {
            stop = ParseExpression();
        }

        if (Current.Is(TokenKind.Operator, ":"))
        {
            _pos++;
            if (!Current.Is(TokenKind.Operator, "]"))
            {
                step = ParseExpression();
            }
        }

        ExpectOperator("]");
        return new SliceExpr(target, start, stop, step, line);
    }

    /// <summary>Arguments after an opening '(' (consumed) up to ')' (consumed): positional first, then <c>name=value</c>.</summary>
    private (List<Expr> Args, List<(string, Expr)> Kwargs) ParseArguments()
    {
        var args = new List<Expr>();
        var kwargs = new List<(string, Expr)>();
        while (!Current.Is(TokenKind.Operator, ")"))
        {
            if (Current.Kind == TokenKind.Name && Peek().Is(TokenKind.Operator, "="))
            {
                var name = Next().Value;
                _pos++;
                kwargs.Add((name, ParseExpression()));
            }
            else
            {
                if (kwargs.Count > 0)
                {
                    throw Syntax("a positional argument follows a keyword argument", Current.Line);
                }

                args.Add(ParseExpression());
            }

            if (!Current.Is(TokenKind.Operator, ","))
            {
                break;
            }

            _pos++;
        }

        ExpectOperator(")");
        return (args, kwargs);
    }

    private Expr ParseFilterChain(Expr node)
    {
        while (true)
        {
            var t = Current;
            if (t.Is(TokenKind.Operator, "|"))
            {
                _pos++;
                var name = ExpectName().Value;
                if (!TemplateBuiltins.IsFilter(name))
                {
                    throw Syntax($"unknown filter '{name}'", t.Line);
                }

                List<Expr> args = [];
                List<(string, Expr)> kwargs = [];
                if (Current.Is(TokenKind.Operator, "("))
                {
                    _pos++;
                    (args, kwargs) = ParseArguments();
                }

                node = new FilterExpr(node, name, args, kwargs, t.Line);
            }
            else if (t.Is(TokenKind.Name, "is"))
            {
                _pos++;
                bool negated = false;
                if (Current.Is(TokenKind.Name, "not"))
                {
                    _pos++;
                    negated = true;
                }

                var nameToken = Next();
                string name = nameToken.Kind switch
                {
                    TokenKind.Name => nameToken.Value,
                    TokenKind.Operator when nameToken.Value is "==" or "!=" or "<" or "<=" or ">" or ">=" => nameToken.Value,
                    _ => throw Syntax($"expected a test name after 'is', found {nameToken}", nameToken.Line),
                };
                name = name switch { "None" => "none", "True" => "true", "False" => "false", _ => name };
                if (!TemplateBuiltins.IsTest(name))
                {
                    throw Syntax($"unknown test '{name}'", t.Line);
                }

                List<Expr> args = [];
                if (Current.Is(TokenKind.Operator, "("))
                {
                    _pos++;
                    (args, var kw) = ParseArguments();
                    if (kw.Count > 0)
                    {
                        throw Syntax("tests take no keyword arguments", t.Line);
                    }
                }
                else if (StartsTestArgument(Current))
                {
                    args = [ParsePostfix(ParsePrimary())];
                }

                node = new TestExpr(node, name, args, negated, t.Line);
            }
            else
            {
                return node;
            }
        }
    }

    private static bool StartsTestArgument(TemplateToken t) => t.Kind switch
    {
        TokenKind.String or TokenKind.Integer or TokenKind.Float => true,
        TokenKind.Name => t.Value is not ("else" or "or" or "and" or "if" or "in" or "not" or "is"),
        TokenKind.Operator => t.Value is "[" or "{",
        _ => false,
    };

    private void Enter()
    {
        if (++_nesting > _maxNesting)
        {
            throw new TemplateException($"the template nests deeper than {_maxNesting} levels (TemplateLimits.MaxNesting)", Current.Line, TemplateErrorKind.LimitExceeded);
        }
    }

    private void Leave() => _nesting--;

    private void Expect(TokenKind kind)
    {
        var t = Next();
        if (t.Kind != kind)
        {
            throw Syntax($"expected {(kind == TokenKind.BlockEnd ? "'%}'" : kind == TokenKind.VariableEnd ? "'}}'" : kind.ToString())}, found {t}", t.Line);
        }
    }

    private void ExpectOperator(string op)
    {
        var t = Next();
        if (!t.Is(TokenKind.Operator, op))
        {
            throw Syntax($"expected '{op}', found {t}", t.Line);
        }
    }

    private TemplateToken ExpectName(string? name = null)
    {
        var t = Next();
        if (t.Kind != TokenKind.Name || (name is not null && t.Value != name))
        {
            throw Syntax($"expected {(name is null ? "a name" : "'" + name + "'")}, found {t}", t.Line);
        }

        return t;
    }

    private static TemplateException Syntax(string message, int line) => new(message, line, TemplateErrorKind.Syntax);
}
