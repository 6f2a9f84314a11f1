using System.Globalization;
using System.Text;

namespace Gguf2Qnn.Tokenization.ChatTemplates;

internal enum TokenKind
{
    Text,
    VariableBegin,
    VariableEnd,
    BlockBegin,
    BlockEnd,
    Name,
    String,
    Integer,
    Float,
    Operator,
    End,
}

internal readonly record struct TemplateToken(TokenKind Kind, string Value, int Line)
{
    public bool Is(TokenKind kind, string value) => Kind == kind && Value == value;

    public override string ToString() => Kind switch
    {
        TokenKind.End => "end of template",
        TokenKind.VariableEnd => "'}}'",
        TokenKind.BlockEnd => "'%}'",
        TokenKind.String => "string literal",
        _ => "'" + Value + "'",
    };
}

/// <summary>
/// Splits a Jinja template into text and tag tokens with the environment Hugging Face's <c>apply_chat_template</c>
/// uses: <c>trim_blocks</c> (the first newline after a block or comment tag is dropped), <c>lstrip_blocks</c>
/// (spaces and tabs before a block or comment tag at the start of a line are dropped), <c>-</c> / <c>+</c>
/// whitespace control on every tag, newlines normalised to <c>\n</c>, and one trailing newline of the template
/// dropped (<c>keep_trailing_newline=False</c>). Source: the Jinja template designer documentation,
/// "Whitespace Control" and "Escaping" (raw blocks).
/// </summary>
internal sealed class TemplateLexer
{
    private readonly string _src;
    private readonly List<TemplateToken> _tokens = [];
    private int _pos;
    private int _line = 1;

    private TemplateLexer(string source)
    {
        var s = source.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');
        _src = s.EndsWith('\n') ? s[..^1] : s;
    }

    public static List<TemplateToken> Tokenize(string source)
    {
        var lexer = new TemplateLexer(source);
        lexer.Run();
        return lexer._tokens;
    }

    private void Run()
    {
        bool stripNextText = false;
        while (_pos < _src.Length)
        {
            int tag = FindTagStart(_pos);
            int textEnd = tag < 0 ? _src.Length : tag;
            string text = _src[_pos..textEnd];
            int textLine = _line;
            _line += CountNewlines(text);
            if (stripNextText)
            {
                text = text.TrimStart();
            }

            if (tag < 0)
            {
                AddText(text, textLine);
                _pos = _src.Length;
                break;
            }

            char kind = _src[tag + 1];
            char modifier = tag + 2 < _src.Length ? _src[tag + 2] : '\0';
            if (modifier == '-')
            {
                text = text.TrimEnd();
            }
            else if (modifier != '+' && kind is '%' or '#' && StartsLine(tag))
            {
                text = text.TrimEnd(' ', '\t');
            }

            AddText(text, textLine);
            _pos = tag + 2 + (modifier is '-' or '+' ? 1 : 0);
            stripNextText = kind switch
            {
                '#' => SkipComment(),
                '{' => LexTag(TokenKind.VariableBegin, TokenKind.VariableEnd, '}'),
                _ => IsRawBlock() ? LexRaw() : LexTag(TokenKind.BlockBegin, TokenKind.BlockEnd, '%'),
            };
        }

        _tokens.Add(new TemplateToken(TokenKind.End, string.Empty, _line));
    }

    private void AddText(string text, int line)
    {
        if (text.Length > 0)
        {
            _tokens.Add(new TemplateToken(TokenKind.Text, text, line));
        }
    }

    private int FindTagStart(int from)
    {
        for (int i = _src.IndexOf('{', from); i >= 0 && i + 1 < _src.Length; i = _src.IndexOf('{', i + 1))
        {
            if (_src[i + 1] is '{' or '%' or '#')
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>True when only spaces and tabs stand between the previous newline (or the template start) and <paramref name="tag"/>.</summary>
    private bool StartsLine(int tag)
    {
        int i = tag - 1;
        while (i >= 0 && _src[i] is ' ' or '\t')
        {
            i--;
        }

        return i < 0 || _src[i] == '\n';
    }

    private static int CountNewlines(string s) => s.AsSpan().Count('\n');

    /// <summary>Skips a comment; returns whether the following text loses its leading whitespace.</summary>
    private bool SkipComment()
    {
        int end = _src.IndexOf("#}", _pos, StringComparison.Ordinal);
        if (end < 0)
        {
            throw Error("unterminated comment ('{#' without '#}')");
        }

        _line += CountNewlines(_src[_pos..end]);
        char before = end > _pos ? _src[end - 1] : '\0';
        _pos = end + 2;
        return AfterTagEnd(before);
    }

    /// <summary>Applies the end-of-tag whitespace rules; returns whether the following text loses its leading whitespace.</summary>
    private bool AfterTagEnd(char modifier, bool isBlock = true)
    {
        if (modifier == '-')
        {
            return true;
        }

        if (isBlock && modifier != '+' && _pos < _src.Length && _src[_pos] == '\n')
        {
            _pos++;
            _line++;
        }

        return false;
    }

    private bool IsRawBlock()
    {
        int i = SkipSpaces(_pos);
        if (string.CompareOrdinal(_src, i, "raw", 0, 3) != 0)
        {
            return false;
        }

        i = SkipSpaces(i + 3);
        return i < _src.Length && (_src.AsSpan(i).StartsWith("%}") || _src.AsSpan(i).StartsWith("-%}") || _src.AsSpan(i).StartsWith("+%}"));
    }

    /// <summary>Emits the body of <c>{% raw %}…{% endraw %}</c> as text.</summary>
    private bool LexRaw()
    {
        int close = _src.IndexOf("%}", _pos, StringComparison.Ordinal);
        char openModifier = _src[close - 1];
        _pos = close + 2;
        bool strip = AfterTagEnd(openModifier);
        int search = _pos;
        while (true)
        {
            int start = _src.IndexOf("{%", search, StringComparison.Ordinal);
            if (start < 0)
            {
                throw Error("'{% raw %}' without '{% endraw %}'");
            }

            int i = start + 2;
            char mod = i < _src.Length && _src[i] is '-' or '+' ? _src[i++] : '\0';
            i = SkipSpaces(i);
            if (string.CompareOrdinal(_src, i, "endraw", 0, 6) == 0)
            {
                int end = _src.IndexOf("%}", i, StringComparison.Ordinal);
                if (end < 0)
                {
                    throw Error("unterminated '{% endraw'");
                }

                string body = _src[_pos..start];
                if (strip)
                {
                    body = body.TrimStart();
                }

                if (mod == '-')
                {
                    body = body.TrimEnd();
                }
                else if (mod != '+' && StartsLine(start))
                {
                    body = body.TrimEnd(' ', '\t');
                }

                AddText(body, _line);
                _line += CountNewlines(_src[_pos..end]);
                char endModifier = _src[end - 1];
                _pos = end + 2;
                return AfterTagEnd(endModifier);
            }

            search = start + 2;
        }
    }

    private int SkipSpaces(int i)
    {
        while (i < _src.Length && char.IsWhiteSpace(_src[i]))
        {
            i++;
        }

        return i;
    }

    /// <summary>Lexes the expression tokens of a <c>{{ … }}</c> or <c>{% … %}</c> tag up to its end marker.</summary>
    private bool LexTag(TokenKind begin, TokenKind end, char closeChar)
    {
        _tokens.Add(new TemplateToken(begin, string.Empty, _line));
        int depth = 0;
        while (true)
        {
            while (_pos < _src.Length && char.IsWhiteSpace(_src[_pos]))
            {
                _line += _src[_pos] == '\n' ? 1 : 0;
                _pos++;
            }

            if (_pos >= _src.Length)
            {
                throw Error(end == TokenKind.VariableEnd ? "'{{' without '}}'" : "'{%' without '%}'");
            }

            if (depth == 0)
            {
                char c = _src[_pos];
                char mod = c is '-' or '+' ? c : '\0';
                int at = _pos + (mod != '\0' ? 1 : 0);
                if (at + 1 < _src.Length && _src[at] == closeChar && _src[at + 1] == '}' && (mod != '+' || closeChar == '%'))
                {
                    _tokens.Add(new TemplateToken(end, string.Empty, _line));
                    _pos = at + 2;
                    return AfterTagEnd(mod, isBlock: end == TokenKind.BlockEnd);
                }
            }

            LexOne(ref depth);
        }
    }

    private static readonly string[] Operators =
        ["**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"];

    private void LexOne(ref int depth)
    {
        char c = _src[_pos];
        int line = _line;
        if (char.IsAsciiLetter(c) || c == '_')
        {
            int start = _pos;
            while (_pos < _src.Length && (char.IsAsciiLetterOrDigit(_src[_pos]) || _src[_pos] == '_'))
            {
                _pos++;
            }

            _tokens.Add(new TemplateToken(TokenKind.Name, _src[start.._pos], line));
            return;
        }

        if (char.IsAsciiDigit(c))
        {
            LexNumber(line);
            return;
        }

        if (c is '\'' or '"')
        {
            _tokens.Add(new TemplateToken(TokenKind.String, LexString(c), line));
            return;
        }

        foreach (var op in Operators)
        {
            if (string.CompareOrdinal(_src, _pos, op, 0, op.Length) == 0)
            {
                depth += op is "(" or "[" or "{" ? 1 : op is ")" or "]" or "}" ? -1 : 0;
                if (depth < 0)
                {
                    throw Error($"unexpected '{op}'");
                }

                _pos += op.Length;
                _tokens.Add(new TemplateToken(TokenKind.Operator, op, line));
                return;
            }
        }

        throw Error($"unexpected character '{c}'");
    }

    private void LexNumber(int line)
    {
        int start = _pos;
        bool isFloat = false;
        ConsumeDigits();
        if (_pos + 1 < _src.Length && _src[_pos] == '.' && char.IsAsciiDigit(_src[_pos + 1]))
        {
            isFloat = true;
            _pos++;
            ConsumeDigits();
        }

        if (_pos < _src.Length && _src[_pos] is 'e' or 'E')
        {
            int save = _pos++;
            if (_pos < _src.Length && _src[_pos] is '+' or '-')
            {
                _pos++;
            }

            if (_pos < _src.Length && char.IsAsciiDigit(_src[_pos]))
            {
                isFloat = true;
                ConsumeDigits();
            }
            else
            {
                _pos = save;
            }
        }

        string text = _src[start.._pos].Replace("_", string.Empty, StringComparison.Ordinal);
        _tokens.Add(new TemplateToken(isFloat ? TokenKind.Float : TokenKind.Integer, text, line));

        void ConsumeDigits()
        {
            while (_pos < _src.Length && (char.IsAsciiDigit(_src[_pos]) || _src[_pos] == '_'))
            {
                _pos++;
            }
        }
    }

    /// <summary>A quoted string with Python escapes (<c>\n \t \r \\ \' \" \xNN \uNNNN \UNNNNNNNN</c>; others kept as written).</summary>
    private string LexString(char quote)
    {
        var sb = new StringBuilder();
        _pos++;
        while (true)
        {
            if (_pos >= _src.Length)
            {
                throw Error("unterminated string literal");
            }

            char c = _src[_pos++];
            if (c == quote)
            {
                return sb.ToString();
            }

            if (c == '\n')
            {
                _line++;
            }

            if (c != '\\' || _pos >= _src.Length)
            {
                sb.Append(c);
                continue;
            }

            char e = _src[_pos++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case 'a': sb.Append('\a'); break;
                case '0': sb.Append('\0'); break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case '\n': _line++; break;
                case 'x': sb.Append(HexEscape(2)); break;
                case 'u': sb.Append(HexEscape(4)); break;
                case 'U': sb.Append(HexEscape(8)); break;
                default: sb.Append('\\').Append(e); break;
            }
        }
    }

    private string HexEscape(int digits)
    {
        if (_pos + digits > _src.Length || !int.TryParse(_src.AsSpan(_pos, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int cp) || !Rune.IsValid(cp))
        {
            throw Error("bad escape sequence in string literal");
        }

        _pos += digits;
        return new Rune(cp).ToString();
    }

    private TemplateException Error(string message) => new(message, _line, TemplateErrorKind.Syntax);
}
