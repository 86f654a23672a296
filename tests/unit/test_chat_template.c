/* The chat-template interpreter's own rules: whitespace control (lstrip/trim blocks, {%- -%}),
 * the value semantics it shares with the reference renderer (namespace, loop, slices, filters,
 * methods, tests, printing), clear errors for broken or unsupported templates and for a raised
 * exception, and the tokenizer's use of a file's template and of built-in ones. The real
 * templates against @huggingface/jinja: tests/e2e/chat_template_peer.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "model/chat_template.h"
#include "model/gguf.h"
#include "model/tokenizer.h"

static const struct chat_message MSGS[] = {{"system", "Be brief."}, {"user", "Hi"}};

/* Renders src for MSGS; returns the status, the text in *out (freed by the caller). */
static int render(const char *src, char **out) {
    struct chat_template *t;
    *out = NULL;
    int st = chat_template_parse(&t, src);
    if (st < 0) return st;
    st = chat_template_render(t, MSGS, 2, true, "<s>", NULL, out);
    chat_template_free(t);
    return st;
}

static void expect(const char *src, const char *want) {
    char *out;
    if (render(src, &out) < 0) fail_msg("%s: %s", src, disr_last_error());
    if (strcmp(out, want)) fail_msg("%s\n got: '%s'\nwant: '%s'", src, out, want);
    free(out);
}

static void expect_error(const char *src, const char *words) {
    char *out;
    assert_int_equal(render(src, &out), DISR_E_FORMAT);
    assert_null(out);
    if (!strstr(disr_last_error(), words)) fail_msg("'%s' lacks '%s'", disr_last_error(), words);
}

static void test_whitespace(void **state) {
    (void)state;
    expect("A  {%- if true -%}  B  {%- endif %}\nC", "ABC");
    expect("x\n    {% if true %}y{% endif %}\n", "x\ny");     /* lstrip, trailing newline */
    expect("{# a comment #}\n{{ 'a' }}\n  {{- 'b' }}", "ab"); /* trim after #} ; {{- */
    expect("{{ bos_token }}{{ eos_token }}|{{ eos_token is defined }}", "<s>|false");
}

static void test_values(void **state) {
    (void)state;
    expect("{% set ns = namespace(n=0) %}{% for m in messages[::-1] %}{% set ns.n = ns.n + 1 %}"
           "{{ loop.index }}:{{ m.role|upper }}{% if not loop.last %},{% endif %}{% endfor %}"
           "|{{ ns.n }}",
           "1:USER,2:SYSTEM|2");
    expect("{{ 'a,b,,c'.split(',')|length }}|{{ '  x  '.strip('x') }}|{{ 'hello world'|title }}"
           "|{{ [1,2,3][1:] }}|{{ 3/2 }}|{{ 7//2 }}|{{ 4.0 }}|{{ true }}|{{ none }}|{{ nope is "
           "defined }}|{{ {'a': 1}|tojson }}|{{ messages[0]['content'] + '!' }}",
           "4|x|Hello World|[2, 3]|1.5|3|4.0|true||false|{\"a\": 1}|Be brief.!");
    expect("{% for k, v in {'x': 1, 'y': 2}.items() %}{{ k ~ v }}{% endfor %}"
           "{% for i in range(3) if i != 1 %}{{ i }}{% else %}none{% endfor %}"
           "{% for i in [] %}{{ i }}{% else %}-{% endfor %}",
           "x1y202-");
    expect("{{ 'ab' in 'cabd' }}{{ 3 in [1, 3] }}{{ 'role' in messages[0] }}"
           "{{ 'x' if messages|length > 1 else 'y' }}{{ messages[5].role is defined }}",
           "truetruetruexfalse");
    /* break and continue drop their iteration's text; else runs if none ran to its end */
    expect("{% for m in messages %}{{ m.role }}{% if loop.first %}{% continue %}{% endif %}"
           "{% break %}{% else %}E{% endfor %}",
           "E");
    expect("{% for m in messages %}{{ m.role }}{% if loop.last %}{% break %}{% endif %}"
           "{% else %}E{% endfor %}",
           "system");
}

static void test_errors(void **state) {
    (void)state;
    expect_error("{% if x %}never closed", "ends before {% elif else endif %}");
    expect_error("{{ 'abc }}", "never closed");
    expect_error("{% macro f() %}{% endmacro %}", "{% macro %} is not supported");
    expect_error("{{ messages | nosuch }}", "filter 'nosuch' on a list is not supported");
    expect_error("{{ raise_exception('roles must alternate') }}",
                 "raised an exception: roles must alternate");
    expect_error("{{ none + 1 }}", "operation on none");
    expect_error("{{ 1 < 'a' }}", "does not apply to integer and string");
    expect_error("{{ 'a' ", "inside a tag");
}

static void test_builtins_and_tokenizer(void **state) {
    (void)state;
    assert_null(chat_template_builtin("nosuch"));
    char *out;
    assert_int_equal(render(chat_template_builtin("phi3"), &out), 0);
    assert_string_equal(out, "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n");
    free(out);
    struct gguf_file *f;
    struct tokenizer *t;
    assert_int_equal(gguf_open(&f, "tests/golden/gguf_bpe_qwen2.gguf"), 0);
    assert_int_equal(tokenizer_load_gguf(&t, f), 0);
    gguf_close(f);
    char buf[512];
    /* the file's ChatML template */
    assert_int_equal(tokenizer_apply_chat(t, "", "Hi", buf, sizeof buf), 0);
    assert_string_equal(buf, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    assert_int_equal(tokenizer_set_chat_template(t, "nosuch"), DISR_E_ARG);
    assert_non_null(strstr(disr_last_error(), "built-in: chatml"));
    /* Mistral's refuses a system turn: the system text starts the user turn instead. */
    assert_int_equal(tokenizer_set_chat_template(t, "mistral"), 0);
    assert_int_equal(tokenizer_apply_chat(t, "Be brief.", "Hi", buf, sizeof buf), 0);
    assert_string_equal(buf, "<|endoftext|>[INST] Be brief.\n\nHi [/INST]");
    assert_int_equal(tokenizer_apply_chat(t, "Be brief.", "Hi", buf, 8), DISR_E_RANGE);
    tokenizer_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_builtins_and_tokenizer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
