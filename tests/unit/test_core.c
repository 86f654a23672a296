/* Unit tests for core/: errors, RNG determinism, the forward ops against direct formulas. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/file.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/stats.h"
#include "core/strbuf.h"
#include "model/model.h"

static void test_error_message_is_kept(void **state) {
    (void)state;
    int st = disr_fail(DISR_E_FORMAT, "file %s: bad magic", "x.gguf");
    assert_int_equal(st, DISR_E_FORMAT);
    assert_string_equal(disr_last_error(), "file x.gguf: bad magic");
    assert_string_equal(disr_strerror(DISR_E_NOMEM), "out of memory");
    disr_clear_error();
    assert_string_equal(disr_last_error(), "");
}

static void test_rng_is_deterministic_and_uniform(void **state) {
    (void)state;
    struct rng a, b, c;
    rng_init(&a, 42);
    rng_init(&b, 42);
    rng_init(&c, 43);
    int differ = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = rng_next_u64(&a);
        assert_true(x == rng_next_u64(&b));
        differ += x != rng_next_u64(&c);
    }
    assert_true(differ > 95);
    double sum = 0, sq = 0;
    int counts[10] = {0};
    for (int i = 0; i < 100000; i++) {
        float z = rng_normal(&a);
        sum += z;
        sq += z * z;
        counts[rng_below(&a, 10)]++;
    }
    assert_true(fabs(sum / 100000) < 0.02);
    assert_true(fabs(sq / 100000 - 1.0) < 0.03);
    for (int k = 0; k < 10; k++)
        assert_true(counts[k] > 9500 && counts[k] < 10500);
}

static void test_rmsnorm_and_softmax(void **state) {
    (void)state;
    float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 2, 0.5f}, out[4], rstd;
    rmsnorm_forward(out, &rstd, x, w, 1, 4, 1e-5f);
    float rms = sqrtf((1 + 4 + 9 + 16) / 4.0f + 1e-5f);
    assert_float_equal(rstd, 1 / rms, 1e-6);
    assert_float_equal(out[2], 3 / rms * 2, 1e-5);
    float s[3] = {1000, 1001, 1002};
    softmax_forward(s, 3);
    assert_float_equal(s[0] + s[1] + s[2], 1.0, 1e-6);
    assert_true(s[2] > s[1] && s[1] > s[0]);
    float l[3] = {1000, 1001, 1002};
    assert_float_equal(logsumexp(l, 3), 1002 + logf(1 + expf(-1) + expf(-2)), 1e-3);
}

static void test_rope_styles_rotate_the_right_pairs(void **state) {
    (void)state;
    /* head_dim 4: NORMAL pairs (0,1),(2,3); NEOX pairs (0,2),(1,3). Position 0 is identity. */
    float a[4] = {1, 0, 0, 0}, b[4] = {1, 0, 0, 0};
    rope_forward(a, 1, 4, 0, 10000, ROPE_NORMAL);
    assert_float_equal(a[0], 1, 1e-7);
    rope_forward(a, 1, 4, 1, 10000, ROPE_NORMAL);
    assert_float_equal(a[0], cosf(1), 1e-6);
    assert_float_equal(a[1], sinf(1), 1e-6);
    assert_float_equal(a[2], 0, 1e-7);
    rope_forward(b, 1, 4, 1, 10000, ROPE_NEOX);
    assert_float_equal(b[0], cosf(1), 1e-6);
    assert_float_equal(b[2], sinf(1), 1e-6);
    assert_float_equal(b[1], 0, 1e-7);
}

static void test_param_layout_counts_every_tensor(void **state) {
    (void)state;
    struct model_config c = {.n_vocab = 10,
                             .n_embd = 8,
                             .n_layer = 2,
                             .n_head = 2,
                             .n_head_kv = 1,
                             .n_ff = 12,
                             .n_ctx = 16,
                             .norm_eps = 1e-5f,
                             .rope_base = 10000,
                             .qkv_bias = true,
                             .tied_output = false};
    assert_int_equal(model_config_validate(&c), 0);
    size_t per_layer = 8 + 64 + 8 + 32 + 4 + 32 + 4 + 64 + 8 + 3 * 96;
    assert_int_equal(model_param_count(&c), 80 + 2 * per_layer + 8 + 80);
    c.tied_output = true;
    c.qkv_bias = false;
    assert_int_equal(model_param_count(&c), 80 + 2 * (per_layer - 16) + 8);
    c.n_head = 3;
    assert_int_equal(model_config_validate(&c), DISR_E_FORMAT);
}

/* Wilson intervals against Newcombe (1998), "Two-sided confidence intervals for the single
 * proportion", Statistics in Medicine 17, Table I (method 3), printed to 4 decimals. */
static void test_wilson_interval(void **state) {
    (void)state;
    const struct {
        int k, n;
        double lo, hi;
    } cases[] = {{81, 263, 0.2553, 0.3662},
                 {15, 148, 0.0624, 0.1605},
                 {0, 20, 0.0, 0.1611},
                 {1, 29, 0.0061, 0.1718}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double lo, hi;
        stats_wilson95(cases[i].k, cases[i].n, &lo, &hi);
        assert_float_equal(lo, cases[i].lo, 6e-5);
        assert_float_equal(hi, cases[i].hi, 6e-5);
    }
    double lo, hi; /* all right: the upper end is 1, the lower one well below */
    stats_wilson95(9, 9, &lo, &hi);
    assert_float_equal(hi, 1.0, 1e-12);
    assert_true(lo > 0.65 && lo < 0.71);
}

/* The text buffer grows across its first allocation, formats as printf does, and hands its
 * text over (empty: ""), leaving itself empty. */
static void test_strbuf_builds_text(void **state) {
    (void)state;
    struct strbuf b = {0};
    char want[9000] = "";
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(strbuf_printf(&b, "%d,", i % 7), DISR_OK);
        snprintf(want + strlen(want), sizeof want - strlen(want), "%d,", i % 7);
    }
    assert_int_equal(strbuf_put(&b, "xyz", 2), DISR_OK);
    assert_int_equal(strbuf_puts(&b, "!"), DISR_OK);
    strcat(want, "xy!");
    assert_int_equal(b.n, strlen(want));
    char *t = strbuf_take(&b);
    assert_string_equal(t, want);
    assert_null(b.p);
    assert_int_equal(b.n, 0);
    free(t);
    t = strbuf_take(&b);
    assert_string_equal(t, "");
    free(t);
    b.oom = true; /* a failed allocation sticks */
    assert_int_equal(strbuf_puts(&b, "a"), DISR_E_NOMEM);
    assert_null(strbuf_take(&b));
}

/* An atomic write replaces the file whole; an aborted one, or one whose writes failed, leaves
 * the old file and no temporary file; a missing directory fails clearly. */
static void test_file_writes_are_atomic(void **state) {
    (void)state;
    char dir[] = "/tmp/disr_core_file.XXXXXX", path[300], sub[300];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/a.txt", dir);
    assert_int_equal(file_write_atomic(path, "old", 3), DISR_OK);
    struct file_atomic fa;
    assert_int_equal(file_atomic_begin(&fa, path), DISR_OK);
    fputs("half", fa.f);
    file_atomic_abort(&fa);
    assert_int_equal(file_atomic_begin(&fa, path), DISR_OK);
    fputs("bad", fa.f);
    assert_int_equal(file_atomic_commit(&fa, ENOSPC), DISR_E_IO);
    assert_non_null(strstr(disr_last_error(), "nothing was changed"));
    char *text;
    size_t len;
    assert_int_equal(file_read_all(path, &text, &len), DISR_OK);
    assert_string_equal(text, "old");
    free(text);
    assert_int_equal(file_write_atomic(path, "new!", 4), DISR_OK);
    assert_int_equal(file_read_all(path, &text, &len), DISR_OK);
    assert_int_equal(len, 4);
    assert_string_equal(text, "new!");
    free(text);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q tmp", dir);
    assert_int_not_equal(system(cmd), 0);
    snprintf(sub, sizeof sub, "%s/x/y/z.txt", dir);
    assert_int_equal(file_write_atomic(sub, "a", 1), DISR_E_IO);
    assert_non_null(strstr(disr_last_error(), "x/y/z.txt"));
    snprintf(sub, sizeof sub, "%s/x/y", dir);
    assert_int_equal(file_mkdir_p(sub), DISR_OK);
    assert_int_equal(file_mkdir_p(path), DISR_E_IO); /* a file, not a directory */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_message_is_kept),
        cmocka_unit_test(test_rng_is_deterministic_and_uniform),
        cmocka_unit_test(test_wilson_interval),
        cmocka_unit_test(test_rmsnorm_and_softmax),
        cmocka_unit_test(test_rope_styles_rotate_the_right_pairs),
        cmocka_unit_test(test_param_layout_counts_every_tensor),
        cmocka_unit_test(test_strbuf_builds_text),
        cmocka_unit_test(test_file_writes_are_atomic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
