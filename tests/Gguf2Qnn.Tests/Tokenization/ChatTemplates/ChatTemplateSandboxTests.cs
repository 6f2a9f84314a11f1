using Gguf2Qnn.Tokenization.ChatTemplates;
using Xunit;

namespace Gguf2Qnn.Tests.Tokenization.ChatTemplates;

/// <summary>Hostile templates: each bound of <see cref="TemplateLimits"/> and each sandbox refusal ends in a TemplateException.</summary>
[Trait("Category", "ChatTemplate")]
public sealed class ChatTemplateSandboxTests
{
    private static TemplateException Fails(string template, TemplateLimits? limits = null)
        => Assert.Throws<TemplateException>(() => ChatTemplate.Parse(template, limits).Render([ChatMessage.User("u")]));

    [Theory]
    [InlineData("{% for i in range(100000000) %}x{% endfor %}")]
    [InlineData("{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}")]
    [InlineData("{% for a in range(100) %}{% for b in range(100) %}{% for c in range(100) %}{% endfor %}{% endfor %}{% endfor %}")]
    public void LoopIterationsAreBounded(string template)
    {
        var ex = Fails(template);
        Assert.True(ex.Kind == TemplateErrorKind.LimitExceeded, ex.Message);
        Assert.Contains("MaxLoopIterations", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RecursionDepthIsBounded()
    {
        var ex = Fails("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
        Assert.Equal(TemplateErrorKind.LimitExceeded, ex.Kind);
        Assert.Contains("MaxCallDepth", ex.Message, StringComparison.Ordinal);

        // Bounded recursion below the limit works.
        Assert.Equal("3210", ChatTemplate.Parse("{% macro f(n) %}{{ n }}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}").Render([]));
    }

    [Theory]
    [InlineData("{{ 'x' * 100000000 }}")]
    [InlineData("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}")]
    [InlineData("{% set ns = namespace(l=[0]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}")]
    [InlineData("{% set ns = namespace(s='abcdefgh') %}{% for i in range(30) %}{% set ns.s = ns.s.replace('a', ns.s) %}{% endfor %}")]
    [InlineData("{% for i in range(9999) %}{{ 'y' * 1000 }}{% endfor %}")]
    public void OutputSizeIsBounded(string template)
    {
        var ex = Fails(template);
        Assert.Equal(TemplateErrorKind.LimitExceeded, ex.Kind);
        Assert.Contains("MaxOutputLength", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WorkIsBounded()
    {
        var limits = new TemplateLimits { MaxSteps = 10_000 };
        var ex = Fails("{% for i in range(5000) %}{% if i > 1 and i < 0 %}{% endif %}{% endfor %}", limits);
        Assert.Equal(TemplateErrorKind.LimitExceeded, ex.Kind);
        Assert.Contains("MaxSteps", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{% set ns = namespace(l=[1]) %}{% for i in range(20) %}{% for x in ns.l %}{% set ns.l = ns.l + [x] %}{% endfor %}{% endfor %}")]
    [InlineData("{% set ns = namespace(s='x' * 1000000) %}{% for i in range(90000) %}{% set ns.t = ns.s.upper() %}{% endfor %}")]
    public void QuadraticWorkIsStoppedQuickly(string template)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var ex = Fails(template);
        Assert.True(ex.Kind == TemplateErrorKind.LimitExceeded, ex.Message);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
    }

    [Fact]
    public void DeepNestingIsRejectedWithoutOverflowingTheStack()
    {
        foreach (var template in new[]
        {
            "{{ " + new string('(', 100_000) + "1" + new string(')', 100_000) + " }}",
            "{{ " + string.Concat(Enumerable.Repeat("not ", 100_000)) + "x }}",
            "{{ " + string.Concat(Enumerable.Repeat("-", 100_000)) + "1 }}",
            "{{ " + new string('[', 100_000) + new string(']', 100_000) + " }}",
            string.Concat(Enumerable.Repeat("{% if true %}", 100_000)),
        })
        {
            var ex = Assert.Throws<TemplateException>(() => ChatTemplate.Parse(template));
            Assert.Equal(TemplateErrorKind.LimitExceeded, ex.Kind);
            Assert.Contains("MaxNesting", ex.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("{{ ''.__class__ }}")]
    [InlineData("{{ messages.__class__.__mro__[1].__subclasses__() }}")]
    [InlineData("{{ cycler.__init__.__globals__.os.popen('id').read() }}")]
    [InlineData("{{ (messages|first).__class__ }}")]
    [InlineData("{% set ns = namespace() %}{% set ns.__dict__ = 1 %}")]
    [InlineData("{{ raise_exception.__globals__ }}")]
    public void UnderscoreAttributesAreRefused(string template)
    {
        var ex = Fails(template);
        Assert.True(ex.Kind is TemplateErrorKind.Security or TemplateErrorKind.Runtime, ex.Message);
        Assert.DoesNotContain("System.", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{% include '/etc/passwd' %}")]
    [InlineData("{% import 'os' as os %}")]
    [InlineData("{% from 'x' import y %}")]
    [InlineData("{% extends 'base.html' %}")]
    public void TemplateLoadingIsRefused(string template)
    {
        var ex = Assert.Throws<TemplateException>(() => ChatTemplate.Parse(template));
        Assert.Equal(TemplateErrorKind.Security, ex.Kind);
    }

    [Theory]
    [InlineData("{{ ''.GetType() }}")]
    [InlineData("{{ messages.GetType().Assembly }}")]
    [InlineData("{{ 'x'.ToString() }}")]
    [InlineData("{{ messages[0].GetHashCode() }}")]
    [InlineData("{{ namespace().GetType() }}")]
    [InlineData("{{ System.IO.File.ReadAllText('/etc/passwd') }}")]
    public void DotNetMembersAreNotReachable(string template)
    {
        var ex = Fails(template);
        Assert.Equal(TemplateErrorKind.Runtime, ex.Kind);
    }

    [Fact]
    public void JinjaGlobalsThatReachPythonAreUndefined()
    {
        Assert.Equal("|||", ChatTemplate.Parse("{{ self }}|{{ cycler }}|{{ joiner }}|{{ lipsum }}").Render([]));
    }

    [Fact]
    public void HostObjectsCannotBePassedIn()
    {
        var t = ChatTemplate.Parse("{{ x }}");
        Assert.Throws<ArgumentException>(() => t.Render(new Dictionary<string, object?> { ["x"] = new FileInfo("/etc/passwd") }));
    }
}
