/* Unit tests for core/pool and core/matmul (weights quantized by model/quant, ggml's reference):
 * every chunk of a pool job runs exactly once (under many rapid jobs, as in decode); every weight
 * type and odd shape matches a naive double-precision product of the dequantized weights, within
 * the error that quantizing x to 8 bits can cause (computed per case, not a fixed slack); SIMD and
 * scalar kernels (and AVX2 / VNNI) agree with it; bad shapes are refused with a message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/matmul.h"
#include "core/pool.h"
#include "core/rng.h"
#include "model/quant.h"

/* A random matrix of `type`, as raw data; *deq receives its dequantized values. */
static void *make_mat(struct mat *m, enum dtype type, int rows, int cols, struct rng *r,
                      float **deq) {
    float *f = malloc(sizeof(float) * (size_t)rows * cols);
    for (int i = 0; i < rows * cols; i++)
        f[i] = rng_normal(r) * 0.5f;
    size_t rb = dtype_row_size(type, cols);
    assert_true(rb > 0);
    uint8_t *data = malloc(rb * (size_t)rows);
    for (int i = 0; i < rows; i++)
        assert_int_equal(quantize_row(type, f + (size_t)i * cols, data + rb * (size_t)i, cols), 0);
    *m = (struct mat){type, rows, cols, data};
    for (int i = 0; i < rows; i++)
        assert_int_equal(matmul_row_f32(m, i, f + (size_t)i * cols), 0);
    *deq = f;
    return data;
}

/* Checks out against a double-precision product; for quantized weights x is quantized to 8 bits
 * per block of 32, which moves each x_j by at most amax(block)/254, so the bound is exact. */
static void check_product(const float *out, const float *x, const float *w, const float *bias,
                          int n, int rows, int cols, int quantized) {
    for (int i = 0; i < n; i++)
        for (int r = 0; r < rows; r++) {
            const float *xr = x + (size_t)i * cols, *wr = w + (size_t)r * cols;
            double ref = bias ? bias[r] : 0, mag = 0, qerr = 0;
            for (int j = 0; j < cols; j++) {
                ref += (double)xr[j] * wr[j];
                mag += fabs((double)xr[j] * wr[j]);
            }
            if (quantized)
                for (int b = 0; b < cols / 32; b++) {
                    double amax = 0, wsum = 0;
                    for (int j = b * 32; j < b * 32 + 32; j++) {
                        amax = fmax(amax, fabs(xr[j]));
                        wsum += fabs(wr[j]);
                    }
                    qerr += amax / 254.0 * wsum * 1.01;
                }
            double tol = 1e-5 * mag + 1e-6 + qerr;
            double got = out[(size_t)i * rows + r];
            if (fabs(got - ref) > tol)
                fail_msg("n=%d rows=%d cols=%d [%d][%d]: got %.7g want %.7g (tol %.3g)", n, rows,
                         cols, i, r, got, ref, tol);
        }
}

struct ctx {
    atomic_int *hits;
    atomic_int *threads;
};

static void count_chunk(void *vctx, int chunk, int thread) {
    struct ctx *c = vctx;
    atomic_fetch_add(&c->hits[chunk], 1);
    atomic_fetch_add(&c->threads[thread], 1);
}

static void test_pool_runs_every_chunk_once(void **state) {
    (void)state;
    for (int nt = 1; nt <= 3; nt++) {
        struct pool *p;
        assert_int_equal(pool_init(&p, nt), 0);
        assert_int_equal(pool_size(p), nt);
        enum { N = 257 };
        static atomic_int hits[N];
        static atomic_int thread_seen[4];
        for (int rep = 0; rep < 3000; rep++) {
            int n = 1 + rep % N;
            for (int i = 0; i < n; i++)
                atomic_store(&hits[i], 0);
            struct ctx c = {hits, thread_seen};
            pool_run(p, n, count_chunk, &c);
            for (int i = 0; i < n; i++)
                if (atomic_load(&hits[i]) != 1)
                    fail_msg("threads %d job %d chunk %d ran %d times", nt, rep, i,
                             atomic_load(&hits[i]));
            if (rep == 1500) pool_set_spin_us(p, 0); /* the sleeping path too */
        }
        pool_free(p);
    }
}

static void test_matmul_all_types_and_shapes(void **state) {
    (void)state;
    struct rng r;
    rng_init(&r, 7);
    const enum dtype types[] = {DTYPE_F32, DTYPE_F16, DTYPE_Q8_0, DTYPE_Q4_0};
    const int rows_list[] = {1, 7, 33, 130};
    const int ns[] = {1, 2, 5, 17};
    struct pool *pools[2];
    assert_int_equal(pool_init(&pools[0], 1), 0);
    assert_int_equal(pool_init(&pools[1], 3), 0);
    for (int ti = 0; ti < 4; ti++) {
        int quant = types[ti] == DTYPE_Q8_0 || types[ti] == DTYPE_Q4_0;
        const int cols_list[] = {quant ? 32 : 1, quant ? 64 : 7, quant ? 96 : 37,
                                 quant ? 288 : 300};
        for (int ci = 0; ci < 4; ci++)
            for (int ri = 0; ri < 4; ri++)
                for (int ni = 0; ni < 4; ni++)
                    for (int kern = 0; kern < 3; kern++) {
                        int cols = cols_list[ci], rows = rows_list[ri], n = ns[ni];
                        struct mat m;
                        float *w;
                        void *data = make_mat(&m, types[ti], rows, cols, &r, &w);
                        float *x = malloc(sizeof(float) * (size_t)n * cols);
                        float *bias = malloc(sizeof(float) * (size_t)rows);
                        float *out = malloc(sizeof(float) * (size_t)n * rows);
                        for (int i = 0; i < n * cols; i++)
                            x[i] = rng_normal(&r);
                        for (int i = 0; i < rows; i++)
                            bias[i] = rng_normal(&r);
                        size_t ss = matmul_scratch_size(n, cols);
                        void *scratch = malloc(ss);
                        int old = matmul_force_kernels(kern);
                        struct matmul_task t = {&m, out, (ri & 1) ? bias : NULL};
                        assert_int_equal(matmul_tasks(pools[(ci + ni) & 1], x, n, cols, &t, 1,
                                                      scratch, ss, (unsigned)(ri >> 1)),
                                         0);
                        matmul_force_kernels(old);
                        check_product(out, x, w, t.bias, n, rows, cols, quant);
                        free(scratch);
                        free(out);
                        free(bias);
                        free(x);
                        free(w);
                        free(data);
                    }
    }
    pool_free(pools[0]);
    pool_free(pools[1]);
}

/* Several matrices of different types sharing one input in one job (Q, K, V). */
static void test_matmul_tasks_share_input(void **state) {
    (void)state;
    struct rng r;
    rng_init(&r, 11);
    struct pool *p;
    assert_int_equal(pool_init(&p, 2), 0);
    const int cols = 128, n = 3;
    const enum dtype types[3] = {DTYPE_Q8_0, DTYPE_F32, DTYPE_Q4_0};
    const int rows[3] = {128, 32, 64};
    struct mat m[3];
    float *w[3], *out[3];
    void *data[3];
    struct matmul_task t[3];
    float x[3 * 128];
    for (int i = 0; i < n * cols; i++)
        x[i] = rng_normal(&r);
    for (int k = 0; k < 3; k++) {
        data[k] = make_mat(&m[k], types[k], rows[k], cols, &r, &w[k]);
        out[k] = calloc((size_t)n * rows[k], sizeof(float));
        t[k] = (struct matmul_task){&m[k], out[k], NULL};
    }
    char scratch[4096];
    assert_true(matmul_scratch_size(n, cols) <= sizeof scratch);
    assert_int_equal(matmul_tasks(p, x, n, cols, t, 3, scratch, sizeof scratch, 0), 0);
    for (int k = 0; k < 3; k++) {
        check_product(out[k], x, w[k], NULL, n, rows[k], cols, types[k] != DTYPE_F32);
        free(out[k]);
        free(w[k]);
        free(data[k]);
    }
    pool_free(p);
}

/* With MATMUL_NO_BLAS, row i of a batched product is bit-identical to the product of row i
 * alone, for every type: the property batched decoding relies on. */
static void test_matmul_batch_invariant(void **state) {
    (void)state;
    struct rng r;
    rng_init(&r, 5);
    struct pool *p;
    assert_int_equal(pool_init(&p, 2), 0);
    const enum dtype types[] = {DTYPE_F32, DTYPE_F16, DTYPE_Q8_0, DTYPE_Q4_0};
    enum { N = 20, COLS = 160, ROWS = 70 };
    static float x[N * COLS], big[N * ROWS], one[ROWS];
    static char scratch[N * COLS * 2];
    for (int i = 0; i < N * COLS; i++)
        x[i] = rng_normal(&r);
    for (int ti = 0; ti < 4; ti++) {
        struct mat m;
        float *w;
        void *data = make_mat(&m, types[ti], ROWS, COLS, &r, &w);
        struct matmul_task t = {&m, big, NULL};
        assert_int_equal(
            matmul_tasks(p, x, N, COLS, &t, 1, scratch, sizeof scratch, MATMUL_NO_BLAS), 0);
        for (int i = 0; i < N; i++) {
            t.out = one;
            assert_int_equal(matmul_tasks(p, x + i * COLS, 1, COLS, &t, 1, scratch, sizeof scratch,
                                          MATMUL_NO_BLAS),
                             0);
            assert_memory_equal(one, big + i * ROWS, sizeof one);
        }
        /* three inputs: the F32 decode path (four weight rows a pass) agrees bit for bit too */
        static float three[3 * ROWS];
        t.out = three;
        assert_int_equal(
            matmul_tasks(p, x, 3, COLS, &t, 1, scratch, sizeof scratch, MATMUL_NO_BLAS), 0);
        assert_memory_equal(three, big, sizeof three);
        free(w);
        free(data);
    }
    pool_free(p);
}

/* The block layouts themselves, from hand-made blocks (independent of the test quantizers). */
static void test_block_layout_matches_ggml(void **state) {
    (void)state;
    uint8_t q8[34], q4[18];
    uint16_t half = 0x3800, one = 0x3c00; /* 0.5 and 1.0 in IEEE half */
    memcpy(q8, &half, 2);
    for (int j = 0; j < 32; j++)
        q8[2 + j] = (uint8_t)(int8_t)(j - 16);
    memcpy(q4, &one, 2);
    for (int j = 0; j < 16; j++)
        q4[2 + j] = (uint8_t)(j | ((15 - j) << 4));
    struct mat m8 = {DTYPE_Q8_0, 1, 32, q8}, m4 = {DTYPE_Q4_0, 1, 32, q4};
    float a[32], b[32];
    assert_int_equal(matmul_row_f32(&m8, 0, a), 0);
    assert_int_equal(matmul_row_f32(&m4, 0, b), 0);
    for (int j = 0; j < 32; j++)
        assert_float_equal(a[j], 0.5f * (j - 16), 0);
    for (int j = 0; j < 16; j++) {
        assert_float_equal(b[j], j - 8, 0);           /* low nibble: element j */
        assert_float_equal(b[j + 16], 15 - j - 8, 0); /* high nibble: element j + 16 */
    }
    /* and the dot kernels read the same layout */
    float x[32], out;
    char scratch[64];
    for (int j = 0; j < 32; j++)
        x[j] = (j % 3 == 0) ? 1.0f : (j % 3 == 1 ? -1.0f : 0.0f); /* exact in 8 bits */
    for (int kern = 0; kern < 3; kern++) {
        int old = matmul_force_kernels(kern);
        double ref = 0;
        for (int j = 0; j < 32; j++)
            ref += (double)b[j] * x[j];
        assert_int_equal(matmul_apply(NULL, &out, x, 1, &m4, scratch, sizeof scratch), 0);
        assert_float_equal(out, ref, 1e-4);
        ref = 0;
        for (int j = 0; j < 32; j++)
            ref += (double)a[j] * x[j];
        assert_int_equal(matmul_apply(NULL, &out, x, 1, &m8, scratch, sizeof scratch), 0);
        assert_float_equal(out, ref, 1e-4);
        matmul_force_kernels(old);
    }
}

static void test_matmul_refuses_bad_shapes(void **state) {
    (void)state;
    float w[66 * 2] = {0}, x[66] = {0}, out[2];
    char scratch[256];
    struct mat m = {DTYPE_F32, 2, 66, w};
    assert_int_equal(matmul_apply(NULL, out, x, 1, &m, NULL, 0), 0); /* F32 needs no scratch */
    struct mat q = {DTYPE_Q8_0, 2, 33, w};
    assert_int_equal(matmul_apply(NULL, out, x, 1, &q, scratch, sizeof scratch),
                     DISR_E_UNSUPPORTED);
    assert_non_null(strstr(disr_last_error(), "multiple of 32"));
    struct mat q2 = {DTYPE_Q8_0, 2, 64, w};
    assert_int_equal(matmul_apply(NULL, out, x, 1, &q2, scratch, 8), DISR_E_ARG);
    struct matmul_task t = {&m, out, NULL};
    assert_int_equal(matmul_tasks(NULL, x, 1, 65, &t, 1, NULL, 0, 0), DISR_E_RANGE);
    struct mat bad = {(enum dtype)3, 2, 64, w};
    assert_int_equal(matmul_apply(NULL, out, x, 1, &bad, scratch, sizeof scratch),
                     DISR_E_UNSUPPORTED);
    assert_int_equal(matmul_row_f32(&m, 2, out), DISR_E_RANGE);
}

/* matmul_attend against a double-precision softmax-weighted sum, for every kernel set, head
 * sizes with and without vector tails, lengths around the 16-score blocks of the exponential,
 * scores far apart (underflowing terms) and rows strided as in a KV cache. */
static void test_attend_matches_reference(void **state) {
    (void)state;
    struct rng r;
    rng_init(&r, 13);
    const int hds[] = {1, 12, 16, 24, 64, 80};
    const int ns[] = {1, 2, 15, 16, 17, 40, 130};
    enum { STRIDE = 200 };
    static float k[130 * STRIDE], v[130 * STRIDE], work[130];
    for (int i = 0; i < 130 * STRIDE; i++)
        k[i] = rng_normal(&r), v[i] = rng_normal(&r);
    for (int hi = 0; hi < 6; hi++)
        for (int ni = 0; ni < 7; ni++)
            for (int sharp = 0; sharp < 2; sharp++)
                for (int kern = 0; kern < 3; kern++) {
                    const int hd = hds[hi], n = ns[ni];
                    float q[80], out[80];
                    for (int i = 0; i < hd; i++)
                        q[i] = rng_normal(&r) * (sharp ? 8.0f : 1.0f);
                    const float scale = 1.0f / sqrtf((float)hd);
                    double s[130], mx = -1e300, sum = 0;
                    for (int p = 0; p < n; p++) {
                        double d = 0;
                        for (int i = 0; i < hd; i++)
                            d += (double)q[i] * k[p * STRIDE + i];
                        s[p] = d * scale;
                        mx = fmax(mx, s[p]);
                    }
                    for (int p = 0; p < n; p++)
                        sum += s[p] = exp(s[p] - mx);
                    int old = matmul_force_kernels(kern);
                    assert_int_equal(matmul_attend(q, k, v, STRIDE, n, hd, scale, out, work), 0);
                    matmul_force_kernels(old);
                    for (int i = 0; i < hd; i++) {
                        double want = 0;
                        for (int p = 0; p < n; p++)
                            want += s[p] / sum * v[p * STRIDE + i];
                        if (fabs(out[i] - want) > 1e-5 + 1e-5 * fabs(want))
                            fail_msg("kernels %d, hd %d, n %d: out[%d] %.7g, reference %.7g", kern,
                                     hd, n, i, out[i], want);
                    }
                }
    float q[4] = {0}, out[4];
    assert_int_equal(matmul_attend(q, k, v, STRIDE, 0, 4, 1, out, work), DISR_E_ARG);
    assert_int_equal(matmul_attend(q, k, v, 2, 1, 4, 1, out, work), DISR_E_ARG);
    assert_int_equal(matmul_attend(q, k, v, 512, 1, MATMUL_MAX_HEAD_DIM + 1, 1, out, work),
                     DISR_E_ARG);
}

/* The AVX2 (maddubs) and AVX-512 (vpdpbusd, two blocks per instruction) quantized kernels sum
 * the same integers and scale them in the same order: bit-identical products, one input row or
 * many, even and odd block counts. Where the CPU has no AVX-512 both runs are AVX2. */
static void test_quantized_kernels_agree_across_isas(void **state) {
    (void)state;
    struct rng r;
    rng_init(&r, 17);
    struct pool *p;
    assert_int_equal(pool_init(&p, 2), 0);
    const enum dtype types[] = {DTYPE_Q8_0, DTYPE_Q4_0};
    const int cols_list[] = {32, 96, 256};
    const int ns[] = {1, 3, 9};
    static float x[9 * 256], best[9 * 40], avx2[9 * 40];
    const size_t ss = matmul_scratch_size(9, 256);
    char *scratch = malloc(ss);
    for (int i = 0; i < 9 * 256; i++)
        x[i] = rng_normal(&r);
    for (int ti = 0; ti < 2; ti++)
        for (int ci = 0; ci < 3; ci++)
            for (int ni = 0; ni < 3; ni++) {
                struct mat m;
                float *w;
                void *data = make_mat(&m, types[ti], 40, cols_list[ci], &r, &w);
                struct matmul_task t = {&m, best, NULL};
                const int n = ns[ni], cols = cols_list[ci];
                assert_int_equal(matmul_tasks(p, x, n, cols, &t, 1, scratch, ss, MATMUL_NO_BLAS),
                                 0);
                int old = matmul_force_kernels(MATMUL_KERNELS_AVX2);
                t.out = avx2;
                assert_int_equal(matmul_tasks(p, x, n, cols, &t, 1, scratch, ss, MATMUL_NO_BLAS),
                                 0);
                matmul_force_kernels(old);
                assert_memory_equal(best, avx2, sizeof(float) * (size_t)n * 40);
                free(w);
                free(data);
            }
    free(scratch);
    pool_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_runs_every_chunk_once),
        cmocka_unit_test(test_matmul_all_types_and_shapes),
        cmocka_unit_test(test_matmul_tasks_share_input),
        cmocka_unit_test(test_matmul_batch_invariant),
        cmocka_unit_test(test_block_layout_matches_ggml),
        cmocka_unit_test(test_matmul_refuses_bad_shapes),
        cmocka_unit_test(test_attend_matches_reference),
        cmocka_unit_test(test_quantized_kernels_agree_across_isas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
