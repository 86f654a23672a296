/* Unit tests for the super-block types and BF16 (core/kquant, model/quant_k):
 * - dequantization is bit-identical to tests/golden/kquant_reference.py (independent numpy
 *   float32 implementation of ggml's layouts) on random blocks, and BF16 rounding too;
 * - the dot kernels (scalar, AVX2, AVX-512) agree bit for bit with each other and with the
 *   double-precision product of the dequantized rows within float tolerance, on random-byte
 *   blocks and on quantized data; matmul uses them for decode (n = 1) and prefill (n > 1);
 * - quantize -> dequantize error within ggml's published bounds (tests/test-quantize-fns.cpp:
 *   on x_i = 0.1 + 2 cos(i), 4096 values, sqrt(sum of squared errors) / n below 0.002, Q3_K
 *   0.004, Q2_K 0.0075; dot product error |q(a).q8(b) - a.b| / n below 0.02, Q2_K 0.04), and a
 *   relative RMSE on Gaussian data per type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/kquant.h"
#include "core/matmul.h"
#include "core/pool.h"
#include "core/rng.h"
#include "model/engine.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model/model_io.h"
#include "model/quant.h"
#include "engine_logits.h"

#define FIXTURE "tests/golden/kquant_blocks.gguf"

static const enum dtype KTYPES[] = {DTYPE_Q2_K, DTYPE_Q3_K, DTYPE_Q4_K, DTYPE_Q5_K, DTYPE_Q6_K};
#define N_KTYPES 5

static const struct gguf_tensor *tensor(struct gguf_file *f, const char *name) {
    int64_t id = gguf_find_tensor(f, name);
    if (id < 0) fail_msg("fixture has no %s", name);
    return gguf_tensor_at(f, id);
}

static void test_dequantize_matches_reference(void **state) {
    (void)state;
    struct gguf_file *f;
    if (gguf_open(&f, FIXTURE)) fail_msg("%s", disr_last_error());
    for (int i = 0; i < N_KTYPES; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s.blocks", dtype_name(KTYPES[i]));
        const struct gguf_tensor *b = tensor(f, name);
        snprintf(name, sizeof name, "%s.want", dtype_name(KTYPES[i]));
        const struct gguf_tensor *w = tensor(f, name);
        assert_int_equal(b->type, KTYPES[i]);
        assert_true(b->ne[0] >= 8 * QK_K && b->ne[0] == w->ne[0]);
        float *y = malloc(sizeof(float) * (size_t)b->ne[0]);
        assert_int_equal(dequantize_row(KTYPES[i], b->data, y, b->ne[0]), 0);
        for (int64_t e = 0; e < b->ne[0]; e++) {
            uint32_t got, want;
            memcpy(&got, &y[e], 4);
            memcpy(&want, (const char *)w->data + 4 * e, 4);
            if (got != want)
                fail_msg("%s element %lld: got %08x (%g), want %08x", dtype_name(KTYPES[i]),
                         (long long)e, got, y[e], want);
        }
        free(y);
    }
    /* BF16 both ways */
    const struct gguf_tensor *b = tensor(f, "bf16.blocks"), *w = tensor(f, "bf16.want");
    float *y = malloc(sizeof(float) * (size_t)b->ne[0]);
    assert_int_equal(dequantize_row(DTYPE_BF16, b->data, y, b->ne[0]), 0);
    assert_memory_equal(y, w->data, 4 * (size_t)b->ne[0]);
    free(y);
    const struct gguf_tensor *from = tensor(f, "bf16.from"), *round = tensor(f, "bf16.round");
    uint16_t *h = malloc(2 * (size_t)from->ne[0]);
    assert_int_equal(quantize_row(DTYPE_BF16, from->data, h, from->ne[0]), 0);
    assert_memory_equal(h, round->data, 2 * (size_t)from->ne[0]);
    free(h);
    gguf_close(f);
}

/* Offset of the fp16 super-block scale d in a block whose type has mins, -1 otherwise. */
static int d_offset(enum dtype t) {
    return t == DTYPE_Q2_K ? 80 : t == DTYPE_Q4_K || t == DTYPE_Q5_K ? 0 : -1;
}

/* double-precision dot of the dequantized row with the dequantized activations; *mag bounds
 * what float rounding can reach: sum |w x|, plus twice the mins' part, which the kernels
 * subtract separately (with d zeroed, a block dequantizes to -min alone) */
static double ref_dot(enum dtype t, const void *w, const struct block_q8_K *x, int nb,
                      double *mag) {
    size_t bytes = dtype_row_size(t, (int64_t)nb * QK_K), bb = bytes / (size_t)nb;
    float *wf = malloc(sizeof(float) * QK_K * (size_t)nb), *mf = calloc(QK_K * (size_t)nb, 4);
    assert_int_equal(dequantize_row(t, w, wf, (int64_t)nb * QK_K), 0);
    if (d_offset(t) >= 0) {
        char *z = malloc(bytes);
        memcpy(z, w, bytes);
        for (int b = 0; b < nb; b++)
            memset(z + bb * b + d_offset(t), 0, 2);
        assert_int_equal(dequantize_row(t, z, mf, (int64_t)nb * QK_K), 0);
        free(z);
    }
    double s = 0;
    *mag = 0;
    for (int b = 0; b < nb; b++)
        for (int j = 0; j < QK_K; j++) {
            double xv = (double)x[b].d * x[b].qs[j], p = (double)wf[b * QK_K + j] * xv;
            s += p;
            *mag += fabs(p) + 2 * fabs(mf[b * QK_K + j] * xv);
        }
    free(wf);
    free(mf);
    return s;
}

static void random_x(struct rng *r, float *x, int n) {
    for (int i = 0; i < n; i++)
        x[i] = rng_normal(r) * (i % 97 == 0 ? 8.0f : 1.0f);
}

/* Each kernel level against the reference and against the scalar kernel, bit for bit. */
static void check_dots(enum dtype t, const void *w, const float *xf, int nb) {
    struct block_q8_K *x = malloc(sizeof *x * (size_t)nb);
    kquant_quantize_q8_K(xf, x, nb * QK_K);
    double mag, ref = ref_dot(t, w, x, nb, &mag);
    float scalar = kquant_dot(KQUANT_SCALAR, t, w, x, nb);
    if (!(fabs(scalar - ref) <= 1e-5 * mag + 1e-6))
        fail_msg("%s scalar: got %.9g want %.9g (mag %g)", dtype_name(t), scalar, ref, mag);
    for (int level = KQUANT_AVX2; level <= KQUANT_AVX512; level++) {
        float got = kquant_dot(level, t, w, x, nb);
        if (memcmp(&got, &scalar, 4) != 0)
            fail_msg("%s level %d: %.9g, scalar %.9g", dtype_name(t), level, got, scalar);
    }
    free(x);
}

static void test_dot_kernels_random_blocks(void **state) {
    (void)state;
    struct gguf_file *f;
    if (gguf_open(&f, FIXTURE)) fail_msg("%s", disr_last_error());
    struct rng r;
    rng_init(&r, 3);
    for (int i = 0; i < N_KTYPES; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s.blocks", dtype_name(KTYPES[i]));
        const struct gguf_tensor *b = tensor(f, name);
        int nb = (int)(b->ne[0] / QK_K);
        float *x = malloc(sizeof(float) * QK_K * (size_t)nb);
        for (int rep = 0; rep < 4; rep++) {
            random_x(&r, x, nb * QK_K);
            for (int k = 1; k <= nb; k++) /* every prefix: 1 .. nb super-blocks */
                check_dots(KTYPES[i], b->data, x, k);
        }
        free(x);
    }
    gguf_close(f);
}

static void test_dot_kernels_quantized_data(void **state) {
    (void)state;
    struct rng r;
    rng_init(&r, 4);
    enum { NB = 12 };
    float *w = malloc(sizeof(float) * QK_K * NB), *x = malloc(sizeof(float) * QK_K * NB);
    for (int i = 0; i < N_KTYPES; i++) {
        void *q = malloc(dtype_row_size(KTYPES[i], QK_K * NB));
        for (int rep = 0; rep < 3; rep++) {
            for (int j = 0; j < QK_K * NB; j++)
                w[j] = rep == 2 && j < QK_K ? 0.0f : rng_normal(&r) * 0.1f + (rep ? 0.02f : 0);
            random_x(&r, x, QK_K * NB);
            assert_int_equal(quantize_row(KTYPES[i], w, q, QK_K * NB), 0);
            check_dots(KTYPES[i], q, x, NB);
        }
        free(q);
    }
    free(w);
    free(x);
}

/* The matrix product picks the kernels for decode (n = 1) and prefill (n > 1), with threads,
 * for each kernel set, together with a Q8_0 task sharing the input (both scratch areas). */
static void test_matmul_uses_kquant(void **state) {
    (void)state;
    struct rng r;
    rng_init(&r, 9);
    struct pool *p;
    assert_int_equal(pool_init(&p, 2), 0);
    enum { ROWS = 37, COLS = 512 };
    const enum dtype types[] = {DTYPE_Q2_K, DTYPE_Q3_K, DTYPE_Q4_K,
                                DTYPE_Q5_K, DTYPE_Q6_K, DTYPE_BF16};
    float *wf = malloc(sizeof(float) * ROWS * COLS), *deq = malloc(sizeof(float) * ROWS * COLS);
    float x[5 * COLS], out[5 * ROWS], out8[5 * ROWS];
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        size_t rb = dtype_row_size(types[ti], COLS);
        char *q = malloc(rb * ROWS), *q8 = malloc(dtype_row_size(DTYPE_Q8_0, COLS) * ROWS);
        for (int i = 0; i < ROWS * COLS; i++)
            wf[i] = rng_normal(&r) * 0.3f;
        for (int i = 0; i < ROWS; i++) {
            assert_int_equal(quantize_row(types[ti], wf + i * COLS, q + rb * i, COLS), 0);
            assert_int_equal(quantize_row(DTYPE_Q8_0, wf + i * COLS,
                                          q8 + dtype_row_size(DTYPE_Q8_0, COLS) * i, COLS),
                             0);
        }
        struct mat m = {types[ti], ROWS, COLS, q}, m8 = {DTYPE_Q8_0, ROWS, COLS, q8};
        for (int i = 0; i < ROWS; i++)
            assert_int_equal(matmul_row_f32(&m, i, deq + i * COLS), 0);
        for (int n = 1; n <= 5; n += 4)
            for (int kern = 0; kern < 3; kern++) {
                random_x(&r, x, n * COLS);
                size_t ss = matmul_scratch_size(n, COLS);
                void *scratch = malloc(ss);
                struct matmul_task t[2] = {{&m, out, NULL}, {&m8, out8, NULL}};
                int old = matmul_force_kernels(kern);
                assert_int_equal(matmul_tasks(p, x, n, COLS, t, 2, scratch, ss, 0), 0);
                matmul_force_kernels(old);
                for (int i = 0; i < n; i++)
                    for (int row = 0; row < ROWS; row++) {
                        double ref = 0, qerr = 0;
                        for (int b = 0; b < COLS / QK_K; b++) {
                            double amax = 0, wsum = 0;
                            for (int j = b * QK_K; j < (b + 1) * QK_K; j++) {
                                ref += (double)x[i * COLS + j] * deq[row * COLS + j];
                                amax = fmax(amax, fabs(x[i * COLS + j]));
                                wsum += fabs(deq[row * COLS + j]);
                            }
                            /* x to 8 bits per 256 moves each x_j by <= amax / 254 (BF16: none) */
                            if (types[ti] != DTYPE_BF16) qerr += amax / 254.0 * wsum * 1.01;
                        }
                        double got = out[i * ROWS + row];
                        if (fabs(got - ref) > 1e-4 + 1e-5 * fabs(ref) + qerr)
                            fail_msg("%s n=%d kern=%d [%d][%d]: got %.7g want %.7g",
                                     dtype_name(types[ti]), n, kern, i, row, got, ref);
                    }
                free(scratch);
            }
        free(q);
        free(q8);
    }
    free(wf);
    free(deq);
    pool_free(p);
}

static double published_error(enum dtype t) {
    return t == DTYPE_Q2_K ? 0.0075 : t == DTYPE_Q3_K ? 0.0040 : 0.002;
}

/* ggml's test-quantize-fns figures, on its data. */
static void test_quantize_error_within_ggml_bounds(void **state) {
    (void)state;
    enum { N = 32 * 128 };
    static float a[N], b[N], y[N];
    static char q[N * 2];
    static struct block_q8_K xb[N / QK_K];
    for (int i = 0; i < N; i++) {
        a[i] = 0.1f + 2 * cosf((float)i);
        b[i] = 0.1f + 2 * cosf((float)i + 1.0f);
    }
    for (int i = 0; i < N_KTYPES; i++) {
        enum dtype t = KTYPES[i];
        assert_int_equal(quantize_row(t, a, q, N), 0);
        assert_int_equal(dequantize_row(t, q, y, N), 0);
        double se = 0, dot = 0;
        for (int j = 0; j < N; j++) {
            se += ((double)a[j] - y[j]) * ((double)a[j] - y[j]);
            dot += a[j] * b[j];
        }
        double err = sqrt(se) / N;
        kquant_quantize_q8_K(b, xb, N);
        double dot_err = fabs(kquant_dot(KQUANT_AVX512, t, q, xb, N / QK_K) - dot) / N;
        print_message("%s: total error %.6f (ggml bound %.4f), dot error %.6f (bound %.2f)\n",
                      dtype_name(t), err, published_error(t), dot_err,
                      t == DTYPE_Q2_K ? 0.04 : 0.02);
        assert_true(err < published_error(t));
        assert_true(dot_err < (t == DTYPE_Q2_K ? 0.04 : 0.02));
    }
}

/* Relative RMSE on Gaussian weights, where the bits per weight show: each type must beat the
 * next-coarser one, and stay under a bound a correct k-quant meets with margin (Q8_0 and Q4_0
 * measured alongside for scale). */
static void test_quantize_relative_rmse(void **state) {
    (void)state;
    enum { N = QK_K * 64 };
    static float x[N], y[N];
    static char q[N * 2];
    struct rng r;
    rng_init(&r, 12);
    for (int i = 0; i < N; i++)
        x[i] = rng_normal(&r);
    const enum dtype types[] = {DTYPE_Q2_K, DTYPE_Q3_K, DTYPE_Q4_0, DTYPE_Q4_K,
                                DTYPE_Q5_K, DTYPE_Q6_K, DTYPE_Q8_0};
    /* bounds: about 1.25x the expected figure for Gaussian data */
    const double bound[] = {0.45, 0.25, 0.13, 0.125, 0.065, 0.033, 0.006};
    double prev = 1;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        assert_int_equal(quantize_row(types[i], x, q, N), 0);
        assert_int_equal(dequantize_row(types[i], q, y, N), 0);
        double se = 0, ss = 0;
        for (int j = 0; j < N; j++) {
            se += ((double)x[j] - y[j]) * ((double)x[j] - y[j]);
            ss += (double)x[j] * x[j];
        }
        double rel = sqrt(se / ss);
        print_message("%s: relative rmse %.5f (%.3f bits/weight)\n", dtype_name(types[i]), rel,
                      8.0 * (double)dtype_row_size(types[i], N) / N);
        assert_true(rel < bound[i]);
        if (types[i] != DTYPE_Q4_K) assert_true(rel < prev); /* Q4_K vs Q4_0: about even */
        prev = rel;
    }
}

static void test_refuses_partial_blocks(void **state) {
    (void)state;
    float x[300] = {0};
    char q[1024];
    assert_int_equal(quantize_row(DTYPE_Q4_K, x, q, 300), DISR_E_ARG);
    assert_int_equal(dequantize_row(DTYPE_Q6_K, q, x, 128), DISR_E_ARG);
    assert_int_equal(dtype_row_size(DTYPE_Q5_K, 255), 0);
    assert_int_equal(dtype_row_size(DTYPE_Q5_K, 512), 352);
    enum dtype t;
    assert_int_equal(dtype_parse("Q6_K", &t), 0);
    assert_int_equal(t, DTYPE_Q6_K);
    assert_int_equal(dtype_parse("q7_k", &t), DISR_E_ARG);
    /* a 300-column K matrix is refused by the product with the block size in the message */
    struct pool *p;
    assert_int_equal(pool_init(&p, 1), 0);
    struct mat m = {DTYPE_Q4_K, 1, 300, q};
    float out[1];
    char scratch[4096];
    assert_int_equal(matmul_apply(p, out, x, 1, &m, scratch, sizeof scratch), DISR_E_UNSUPPORTED);
    assert_non_null(strstr(disr_last_error(), "multiple of 256"));
    pool_free(p);
}

/* ---- whole models ---- */

static struct model *random_model(void) {
    struct model_config c = {
        .arch = MODEL_ARCH_LLAMA,
        .n_vocab = 64,
        .n_embd = 256,
        .n_layer = 8,
        .n_head = 4,
        .n_head_kv = 2,
        .n_ff = 512,
        .n_ctx = 64,
        .norm_eps = 1e-5f,
        .rope_base = 5e5f,
        .rope_style = ROPE_NORMAL,
    };
    struct model *m;
    assert_int_equal(model_init_random(&m, &c, NULL, 21), 0);
    for (size_t i = 0; i < m->n_params; i++) /* GPT-2 init hides errors in near-uniform logits */
        m->params[i] *= 3.0f;
    return m;
}

/* Logits of every position of a fixed token sequence, as prefill (one batch) or decode. */
static void run_logits(struct model *m, int decode, float *out, int T) {
    int32_t tok[32];
    for (int t = 0; t < T; t++)
        tok[t] = (t * 7 + 3) % m->config.n_vocab;
    engine_logits(m, tok, T, decode, out);
}

static double rel_err(const float *a, const float *b, int n) {
    double d = 0, s = 0;
    for (int i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        s += (double)b[i] * b[i];
    }
    return sqrt(d / s);
}

/* A model quantized to each K type (and with the Q4_K_M mix) loads as mapped weights of those
 * types, in the places llama.cpp puts them, and computes what the same model with its weights
 * dequantized to F32 computes, up to the 8-bit quantization of the activations (the error Q8_0
 * shows alike), on both the prefill and the decode path. */
static void test_models_in_k_types(void **state) {
    (void)state;
    struct model *m = random_model();
    enum { T = 12 };
    const int V = m->config.n_vocab;
    static float ref[T * 64], got[T * 64], dec[T * 64];
    char dir[] = "/tmp/disr_kquant_XXXXXX", f32[64], path[64], back[64];
    assert_non_null(mkdtemp(dir));
    snprintf(f32, sizeof f32, "%s/f32.gguf", dir);
    snprintf(back, sizeof back, "%s/back.gguf", dir);
    assert_int_equal(model_save(m, f32, NULL), 0);
    const char *recipes[] = {"q8_0", "q2_k", "q3_k", "q4_k", "q4_k_m", "q5_k", "q6_k", "bf16"};
    for (int i = 0; i < 8; i++) {
        struct quant_recipe r, rf = {DTYPE_F32, 0};
        assert_int_equal(quant_recipe_parse(recipes[i], &r), 0);
        snprintf(path, sizeof path, "%s/%s.gguf", dir, recipes[i]);
        if (model_quantize_recipe(f32, path, &r)) fail_msg("%s", disr_last_error());
        assert_int_equal(model_quantize_recipe(path, back, &rf), 0);
        struct model *q, *b;
        if (model_load(&q, path)) fail_msg("%s", disr_last_error());
        assert_int_equal(model_load(&b, back), 0);
        assert_null(q->params); /* typed weights, used in place */
        assert_non_null(q->mapped);
        const struct model_weights *w = &q->weights;
        int k = kquant_is_ktype(r.type);
        assert_int_equal(w->layer[1].wq.type, r.type);
        assert_int_equal(w->output.type, k ? DTYPE_Q6_K : r.type);
        assert_int_equal(w->layer[3].wv.type, r.q4_k_m ? DTYPE_Q6_K : r.type);
        assert_int_equal(w->layer[2].w_down.type, r.type);
        assert_int_equal(w->layer[7].w_down.type, r.q4_k_m ? DTYPE_Q6_K : r.type);
        assert_true((char *)w->layer[1].wq.data >= (char *)q->mapped &&
                    (char *)w->layer[1].wq.data < (char *)q->mapped + q->mapped_size);
        run_logits(b, 0, ref, T);
        run_logits(q, 0, got, T);
        run_logits(q, 1, dec, T);
        double e = rel_err(got, ref, T * V), pd = rel_err(dec, got, T * V);
        print_message("%s: logits vs its F32 dequantization %.2g, decode vs prefill %.2g\n",
                      recipes[i], e, pd);
        assert_true(e < (r.type == DTYPE_BF16 ? 1e-6 : 0.3)); /* Q8_0: 0.055, K types 0.11-0.17 */
        assert_true(pd < 1e-5);
        model_free(q);
        model_free(b);
        remove(path);
    }
    remove(back);
    remove(f32);
    rmdir(dir);
    model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dequantize_matches_reference),
        cmocka_unit_test(test_dot_kernels_random_blocks),
        cmocka_unit_test(test_dot_kernels_quantized_data),
        cmocka_unit_test(test_matmul_uses_kquant),
        cmocka_unit_test(test_quantize_error_within_ggml_bounds),
        cmocka_unit_test(test_quantize_relative_rmse),
        cmocka_unit_test(test_refuses_partial_blocks),
        cmocka_unit_test(test_models_in_k_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
