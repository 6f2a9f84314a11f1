# Golden outputs for ChatTemplateJinja2Tests: each case rendered by Jinja2 (3.1.6) configured as Hugging Face
# apply_chat_template configures it (sandboxed, trim_blocks, lstrip_blocks, loopcontrols, json.dumps tojson,
# raise_exception). Regenerate: python3 make_jinja2_cases.py jinja2-cases.json
import json, sys
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.ext import loopcontrols
env=ImmutableSandboxedEnvironment(trim_blocks=True,lstrip_blocks=True,extensions=[loopcontrols])
def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
def raise_exception(m): raise Exception(m)
env.filters['tojson']=tojson
env.globals['raise_exception']=raise_exception
messages=[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi there, 🦙!"},{"role":"assistant","content":"Hello."}]
cases = [
 "{{ messages|length }}|{{ messages[::-1]|map(attribute='role')|join(',') }}|{{ messages[1:]|length }}|{{ messages[-1].content }}",
 "{% for m in messages %}{{ loop.index0 }}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex0 }} {% endfor %}",
 "{% set ns = namespace(n=0, roles='') %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% set ns.roles = ns.roles ~ m.role[0] %}{% endfor %}{{ ns.n }}{{ ns.roles }}",
 "{{ ' a b  '.split() }}{{ 'a,b,,c'.split(',') }}{{ 'a,b,c'.split(',', 1) }}{{ 'a,b,c'.rsplit(',', 1) }}{{ '\\n\\nx\\n'.strip('\\n') }}|{{ '  x  '.lstrip() }}|{{ '  x  '.rstrip() }}|",
 "{{ 'Hello'.startswith('He') }}{{ 'Hello'.endswith('lo') }}{{ 'Hello'.startswith(('x', 'H')) }}{{ 'a-b-c'.replace('-', '+') }}{{ 'a-b-c'.replace('-', '', 1) }}{{ 'MiXed'.upper() }}{{ 'MiXed'.lower() }}",
 "{{ 'ell' in 'Hello' }}{{ 'z' not in 'Hello' }}{{ 'user' in messages|map(attribute='role') }}{{ 'role' in messages[0] }}{{ 3 in [1,2] }}",
 "{{ none is none }}{{ x is defined }}{{ messages is defined }}{{ 'a' is string }}{{ 1 is string }}{{ messages[0].foo is defined }}{{ none is not none }}{{ 1 is number }}{{ {} is mapping }}{{ 4 is even }}{{ 3 is odd }}{{ 9 is divisibleby 3 }}",
 "{{ messages|length }}{{ '  pad  '|trim }}|{{ 'ab'|upper }}{{ 'AB'|lower }}{{ messages|first|tojson }}{{ messages|last|tojson }}{{ [1,2,3]|join }}{{ [1,2,3]|join(', ') }}",
 "{{ x|default('dflt') }}{{ none|default('dflt') }}{{ ''|default('dflt', true) }}{{ 'v'|default('dflt') }}",
 "{{ {'name': 'f', 'args': {'a': [1, 2.5, none, true, false]}, 'u': 'é\"\\\\\\n'}|tojson }}|{{ [1, {'b': []}, {}]|tojson(indent=2) }}|{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }}",
 "{% set a = 'x' %}{% if a == 'y' %}Y{% elif a == 'x' %}X{% else %}Z{% endif %}{% if not a %}n{% else %}e{% endif %}",
 "{% for i in [] %}{{ i }}{% else %}empty{% endfor %}{% for i in [1, 2, 3, 4] if i is even %}{{ i }}{{ loop.index }}{% endfor %}",
 "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}",
 "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(name='C', punct='.') }}",
 "{{ 'a' + 'b' ~ 1 ~ none ~ true }}{{ 1 + 2 * 3 }}{{ 7 // 2 }}{{ -7 // 2 }}{{ 7 % 3 }}{{ -7 % 3 }}{{ 7 / 2 }}{{ 2 ** 10 }}{{ 1.5 + 1 }}{{ 10 / 4 * 2 }}",
 "{% set d = {'k': 'v', 'n': 1} %}{{ d.k }}{{ d['n'] }}{{ d.get('k') }}{{ d.get('z', 'dz') }}{% for k, v in d.items() %}[{{ k }}={{ v }}]{% endfor %}{{ d.keys()|list }}{{ d.values()|list }}",
 "a\n  {% if true %}\n  b\n  {%- if true %} c {% endif -%}\n  d\n{% endif %}\n{# comment #}\ne  {{- ' f ' -}}  g\n",
 "{{ 'x' if messages else 'y' }}{{ 'x' if not messages else 'y' }}{{ messages[0]['role'] }}{{ messages[0].content[:2] }}{{ 'abc'[::-1] }}{{ 'abcdef'[1:5:2] }}{{ [1,2,3,4][-2:] }}",
 "{%- set system = messages[0].content if messages[0].role == 'system' else '' -%}{%- set loop_messages = messages[1:] if system else messages -%}{{ system }}|{% for m in loop_messages %}{{ m.role }};{% endfor %}",
 "{{ [3, 1, 2]|sort }}{{ [3, 1, 2]|sort(reverse=true) }}{{ messages|selectattr('role', 'equalto', 'user')|list|length }}{{ messages|rejectattr('role', 'equalto', 'user')|map(attribute='role')|join('/') }}{{ [1, 1, 2]|unique|list }}",
 "{{ 'a\\nb'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'hello world'|title }}|{{ 'hello'|capitalize }}|{{ [1,2,3]|sum }}|{{ [1,5,3]|max }}|{{ -3|abs }}|{{ 3.7|int }}|{{ '42'|int + 1 }}|{{ 2|float }}|{{ 2.567|round(2) }}",
 "{{ messages }}|{{ (1, 'a') }}|{{ none }}|{{ true }}|{{ 1.0 }}|{{ 1e20 }}|{{ 0.00001 }}|{{ {'a': [1, 'b']} }}|{{ \"it's\" }}|{{ x }}",
 "{% set parts = [] %}{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set block %}cap{{ a }}{% endset %}{{ block|upper }}",
 "{{ 'x' ~ 'y' if true }}{{ (messages|length - 1) }}{{ messages|length > 2 and messages[2].role == 'assistant' }}{{ not messages[0].role == 'user' }}",
 "{{ '{} and {}'.format('a', 'b') }}{{ 'one two'.split(' ')[-1] }}{{ 'a b'.count(' ') }}{{ 'abc'.find('c') }}",
 "{% for m in messages %}{{ loop.previtem.role if loop.previtem is defined else '-' }}>{{ loop.nextitem.role if not loop.last else '-' }} {% endfor %}{{ 'ab'|list }}{{ messages[0]|items|list|length }}",
 "{{ '\\u00e9\\x41\\t' }}{{ \"dq 'sq'\" }}{{ 'con' 'cat' }}{% raw %}{{ not evaluated }}{% endraw %}",
]
out=[]
for c in cases:
    t=env.from_string(c)
    r=t.render(messages=messages, add_generation_prompt=True, bos_token="<s>", eos_token="</s>", tools=None, documents=None)
    out.append((c,r))
json.dump(out, open(sys.argv[1] if len(sys.argv) > 1 else "jinja2-cases.json",'w'), ensure_ascii=False, indent=1)
