/* Jinja interpreter tests: each case renders a small template against a JSON
 * context and compares the exact output (expected strings follow Jinja2's
 * documented behaviour with trim_blocks and lstrip_blocks on). */
#include "test.h"
#include "text/jinja.h"

static char last_err[512];

/* Renders src with a JSON context; NULL on error (message in last_err). */
static char *render(const char *src, const char *ctx_json) {
    struct err e = {{0}};
    last_err[0] = 0;
    struct jv *ctx = jv_from_json(ctx_json ? ctx_json : "{}", &e);
    if (!ctx) { snprintf(last_err, sizeof last_err, "%s", e.msg); return NULL; }
    struct jinja_template *t = jinja_parse(src, &e);
    char *out = NULL;
    if (t && jinja_render(t, ctx, &out, &e)) out = NULL;
    if (!out) snprintf(last_err, sizeof last_err, "%s", e.msg);
    jinja_free(t);
    jv_unref(ctx);
    return out;
}

#define CHECK_RENDER(src, ctx, want) do { char *_o = render(src, ctx); \
    CHECK_MSG(_o && !strcmp(_o, want), "render(%s) = \"%s\" (err: %s), want \"%s\"", #src, _o ? _o : "(null)", last_err, want); free(_o); } while (0)
#define CHECK_FAILS(src, ctx, needle) do { char *_o = render(src, ctx); \
    CHECK_MSG(!_o && strstr(last_err, needle), "render(%s) should fail with \"%s\", got \"%s\" / \"%s\"", #src, needle, _o ? _o : "(null)", last_err); free(_o); } while (0)

TEST(text_and_output) {
    CHECK_RENDER("hello", NULL, "hello");
    CHECK_RENDER("{{ x }}!", "{\"x\": \"hi\"}", "hi!");
    CHECK_RENDER("{{ 1 + 2 * 3 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % 3 }}|{{ 7 / 2 }}|{{ 2 ** 10 }}", NULL, "7|3|-4|1|3.5|1024");
    CHECK_RENDER("{{ 'a' ~ 1 ~ none }}|{{ 'ab' + 'cd' }}|{{ 'x' * 3 }}", NULL, "a1None|abcd|xxx");
    CHECK_RENDER("{{ true }} {{ false }} {{ none }} {{ 1.0 }} {{ 2.5 }} {{ [1, 'a'] }} {{ {'k': 'v'} }}", NULL,
                 "True False None 1.0 2.5 [1, 'a'] {'k': 'v'}");
    CHECK_RENDER("{{ missing }}|{{ missing.attr }}", NULL, "|");
    CHECK_RENDER("{{ \"tab\\there\\n\" }}{{ '\\u00e9' }}", NULL, "tab\there\n\xc3\xa9");
}

TEST(whitespace_control) {
    /* trim_blocks drops the newline after a block tag; lstrip_blocks the indent before it */
    CHECK_RENDER("{% if true %}\nyes\n{% endif %}\nend", NULL, "yes\nend");
    CHECK_RENDER("  {% if true %}\n  yes\n  {% endif %}\n", NULL, "  yes\n");
    CHECK_RENDER("a  {{- ' b ' -}}  c", NULL, "a b c");
    CHECK_RENDER("a\n  {%- if true -%}\n  b  {%- endif %}", NULL, "ab");
    CHECK_RENDER("x {# comment #}\ny", NULL, "x y");
    CHECK_RENDER("{{ 'v' }}\nz", NULL, "v\nz"); /* no trimming after {{ }} */
    CHECK_RENDER("a {%+ if true %}b{% endif %}", NULL, "a b");
}

TEST(if_elif_else) {
    const char *t = "{% if x > 2 %}big{% elif x == 2 %}two{% else %}small{% endif %}";
    CHECK_RENDER(t, "{\"x\": 3}", "big");
    CHECK_RENDER(t, "{\"x\": 2}", "two");
    CHECK_RENDER(t, "{\"x\": 1}", "small");
    CHECK_RENDER("{{ 'y' if a and not b else 'n' }}", "{\"a\": 1, \"b\": 0}", "y");
    CHECK_RENDER("{{ 'y' if a else 'n' }}{{ 'z' if false }}", "{\"a\": []}", "n");
    CHECK_RENDER("{{ a or 'dflt' }}|{{ 'x' in 'xyz' }}|{{ 3 not in [1, 2] }}|{{ 'k' in {'k': 1} }}", "{\"a\": \"\"}", "dflt|True|True|True");
}

TEST(for_loops) {
    CHECK_RENDER("{% for x in xs %}{{ loop.index }}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}",
                 "{\"xs\": [\"a\", \"b\", \"c\"]}", "1a,2b,3c");
    CHECK_RENDER("{% for x in xs %}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{{ loop.length }} {% endfor %}",
                 "{\"xs\": [5, 6]}", "02True2 11False2 ");
    CHECK_RENDER("{% for x in [] %}x{% else %}empty{% endfor %}", NULL, "empty");
    CHECK_RENDER("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", "{\"d\": {\"b\": 1, \"a\": 2}}", "b=1;a=2;");
    CHECK_RENDER("{% for x in xs if x.keep %}{{ loop.index }}{{ x.n }}{% endfor %}",
                 "{\"xs\": [{\"n\": \"a\", \"keep\": true}, {\"n\": \"b\"}, {\"n\": \"c\", \"keep\": 1}]}", "1a2c");
    CHECK_RENDER("{% for x in xs | reverse %}{{ x }}{% endfor %}|{% for x in xs[::-1] %}{{ x }}{% endfor %}", "{\"xs\": [1, 2, 3]}", "321|321");
    CHECK_RENDER("{% for i in range(3) %}{{ i }}{% endfor %}{% for i in range(5, 1, -2) %}{{ i }}{% endfor %}", NULL, "01253");
    CHECK_RENDER("{% for x in xs %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}",
                 "{\"xs\": [1, 2, 3, 4, 5]}", "13");
    /* a set inside a loop does not leak out: that is what namespace() is for */
    CHECK_RENDER("{% set n = 0 %}{% set ns = namespace(n=0) %}{% for x in [1, 2] %}{% set n = n + x %}{% set ns.n = ns.n + x %}{% endfor %}{{ n }} {{ ns.n }}",
                 NULL, "0 3");
}

TEST(set_and_macros) {
    CHECK_RENDER("{% set a, b = [1, 2] %}{{ b }}{{ a }}", NULL, "21");
    CHECK_RENDER("{% set s %}in{{ 1 }}side{% endset %}[{{ s }}]", NULL, "[in1side]");
    CHECK_RENDER("{% macro greet(name, punct='!') %}hi {{ name }}{{ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', punct='?') }}",
                 NULL, "hi a! hi b?");
    CHECK_RENDER("{% macro box() %}[{{ caller() }}]{% endmacro %}{% call box() %}x{{ 1 }}{% endcall %}", NULL, "[x1]");
    CHECK_RENDER("{% filter upper %}abc{% endfilter %}", NULL, "ABC");
    CHECK_RENDER("{% set ns = namespace(items=[]) %}{% for x in [1, 2] %}{% set _ = ns.items.append(x * 10) %}{% endfor %}{{ ns.items }}",
                 NULL, "[10, 20]");
}

TEST(indexing_and_slicing) {
    const char *ctx = "{\"m\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"U\"}], \"s\": \"hello\"}";
    CHECK_RENDER("{{ m[0]['role'] }}|{{ m[-1].content }}|{{ m[1:] | length }}|{{ m[5] is defined }}", ctx, "system|U|1|False");
    CHECK_RENDER("{{ s[1:3] }}|{{ s[::-1] }}|{{ s[-3:] }}|{{ s[:-1] }}|{{ s[::2] }}", ctx, "el|olleh|llo|hell|hlo");
    CHECK_RENDER("{{ (1, 2)[1] }}|{{ [1, 2, 3][1:][0] }}", NULL, "2|2");
}

TEST(string_methods) {
    CHECK_RENDER("[{{ '  a b  '.strip() }}][{{ 'xxaxx'.strip('x') }}][{{ '  a'.lstrip() }}][{{ 'a  '.rstrip() }}]", NULL, "[a b][a][a][a]");
    CHECK_RENDER("{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a-b-c'.split('-', 1) }}", NULL, "['a', 'b', '', 'c']|['a', 'b']|['a', 'b-c']");
    CHECK_RENDER("{{ 'Hello'.startswith('He') }}{{ 'Hello'.endswith('x') }}{{ 'abc'.upper() }}{{ 'ABC'.lower() }}{{ 'hello world'.title() }}", NULL,
                 "TrueFalseABCabcHello World");
    CHECK_RENDER("{{ 'aXbXc'.replace('X', '-') }}|{{ ', '.join(['a', 'b']) }}|{{ 'abcabc'.count('b') }}|{{ 'abc'.find('c') }}", NULL, "a-b-c|a, b|2|2");
    CHECK_RENDER("{{ d.get('a') }}{{ d.get('z', 'def') }}{{ d.get('z') }}{{ d.keys() }}{{ d.values() }}", "{\"d\": {\"a\": 1}}", "1defNone['a'][1]");
}

TEST(filters) {
    CHECK_RENDER("[{{ '  x  ' | trim }}]{{ 'abc' | length }}{{ [1, 2] | count }}{{ '한국어' | length }}", NULL, "[x]323");
    CHECK_RENDER("{{ 'ab' | upper }}{{ 'AB' | lower }}{{ 'ab cd' | title }}{{ 'aB' | capitalize }}", NULL, "ABabAb CdAb");
    CHECK_RENDER("{{ [1, 2, 3] | first }}{{ [1, 2, 3] | last }}{{ [1, 2] | join('-') }}{{ ['a', 'b'] | join }}", NULL, "131-2ab");
    CHECK_RENDER("{{ x | default('d') }}{{ '' | default('e', true) }}{{ 0 | default('z') }}", NULL, "de0");
    CHECK_RENDER("{{ '42' | int + 1 }}|{{ 3 | float }}|{{ 5 | string ~ 'x' }}|{{ 'a<b' | e }}|{{ 'a<b' | safe }}", NULL, "43|3.0|5x|a&lt;b|a<b");
    CHECK_RENDER("{{ 'aXb' | replace('X', 'y') }}|{{ [3, 1, 2] | sort }}|{{ [1, 1, 2] | unique | list }}|{{ 'ab' | list }}", NULL,
                 "ayb|[1, 2, 3]|[1, 2]|['a', 'b']");
    const char *ctx = "{\"m\": [{\"role\": \"user\", \"n\": 1}, {\"role\": \"tool\", \"n\": 2}, {\"role\": \"user\", \"n\": 3}]}";
    CHECK_RENDER("{{ m | map(attribute='n') | list }}|{{ m | selectattr('role', 'equalto', 'user') | list | length }}|"
                 "{{ m | rejectattr('role', 'eq', 'user') | map(attribute='n') | first }}|{{ [1, 2, 3, 4] | select('odd') | list }}|"
                 "{{ [0, 1, none, 2] | select | list }}|{{ [1, 2] | reject('even') | list }}|{{ ['a', 'b'] | map('upper') | join }}",
                 ctx, "[1, 2, 3]|2|2|[1, 3]|[1, 2]|[1]|AB");
    CHECK_RENDER("{{ {'b': 1, 'a': [1, 2.5, true, none, 'x\"y']} | tojson }}", NULL, "{\"b\": 1, \"a\": [1, 2.5, true, null, \"x\\\"y\"]}");
    CHECK_RENDER("{{ {'a': [1, {}], 'b': '한'} | tojson(indent=2) }}", NULL, "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": \"한\"\n}");
    CHECK_RENDER("{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'x\\ny' | indent(2, true) }}", NULL, "a\n  b\n\n  c|  x\n  y");
    CHECK_RENDER("{{ {'b': 1, 'a': 2} | items | list }}|{{ {'b': 1, 'a': 2} | dictsort }}", NULL, "[['b', 1], ['a', 2]]|[['a', 2], ['b', 1]]");
}

TEST(tests) {
    CHECK_RENDER("{{ x is defined }}{{ y is defined }}{{ y is undefined }}{{ n is none }}{{ x is not none }}", "{\"x\": 1, \"n\": null}", "TrueFalseTrueTrueTrue");
    CHECK_RENDER("{{ 's' is string }}{{ {} is mapping }}{{ [] is iterable }}{{ 1 is number }}{{ 1.5 is float }}{{ 1 is integer }}{{ true is boolean }}",
                 NULL, "TrueTrueTrueTrueTrueTrueTrue");
    CHECK_RENDER("{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby(3) }}{{ 2 is divisibleby 4 }}{{ 'a' is in ['a'] }}{{ false is sameas false }}",
                 NULL, "TrueTrueTrueFalseTrueTrue");
}

TEST(builtins) {
    char *o = render("{{ strftime_now('%Y') }}", NULL);
    CHECK(o && strlen(o) == 4 && o[0] == '2');
    free(o);
    CHECK_RENDER("{% set d = dict(a=1) %}{{ d.a }}", NULL, "1");
}

TEST(errors) {
    CHECK_FAILS("{% if x %}open", NULL, "endif");
    CHECK_FAILS("{% for x in y %}{% endif %}", NULL, "line 1");
    CHECK_FAILS("{% endfor %}", NULL, "unexpected tag 'endfor'");
    CHECK_FAILS("{{ x | nosuchfilter }}", NULL, "unknown filter 'nosuchfilter'");
    CHECK_FAILS("{{ x is nosuchtest }}", NULL, "unknown test 'nosuchtest'");
    CHECK_FAILS("ok\n  {{ raise_exception('Roles must alternate') }}", NULL, "line 2 col 6: template raised an exception: Roles must alternate");
    CHECK_FAILS("{{ 1 / 0 }}", NULL, "division by zero");
    CHECK_FAILS("{{ 'a' - 1 }}", NULL, "unsupported operand");
    CHECK_FAILS("{{ x", NULL, "unclosed");
    CHECK_FAILS("{{ 'abc }}", NULL, "unterminated string");
    CHECK_FAILS("{{ (1 + }}", NULL, "unclosed");
    CHECK_FAILS("{{ 1 + }}", NULL, "expected an expression");
    CHECK_FAILS("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", NULL, "nested deeper");
    CHECK_FAILS("{% for i in range(2000) %}{% for j in range(2000) %}{% endfor %}{% endfor %}", NULL, "loop iterations");
    CHECK_FAILS("{% set s = 'x' * 1000000 %}{% for i in range(100) %}{{ s }}{% endfor %}", NULL, "output larger");
    CHECK_FAILS("{{ nofunc() }}", NULL, "'nofunc' is undefined, not a function");
    CHECK_FAILS("{% foo %}", NULL, "unexpected tag 'foo'");
    /* deep nesting must be refused, not overflow the stack */
    char deep[4000];
    int n = 0;
    n += sprintf(deep + n, "{{ ");
    for (int i = 0; i < 1500; i++) deep[n++] = '(';
    deep[n++] = '1';
    for (int i = 0; i < 1500; i++) deep[n++] = ')';
    sprintf(deep + n, " }}");
    CHECK_FAILS(deep, NULL, "nested");
}

int main(void) {
    TEST_EXPECT(11);
    RUN(text_and_output);
    RUN(whitespace_control);
    RUN(if_elif_else);
    RUN(for_loops);
    RUN(set_and_macros);
    RUN(indexing_and_slicing);
    RUN(string_methods);
    RUN(filters);
    RUN(tests);
    RUN(builtins);
    RUN(errors);
    return test_summary();
}
