/* Unit tests for core/gemm: every operand layout the trainer uses (A·Bᵀ, A·B, Aᵀ·B), odd shapes
 * around the tile edges, the triangular flags and accumulation match a double-precision product
 * within a bound computed per element; each kernel set (portable, AVX2, best) is checked; and the
 * result is bit-identical on 1 and 2 threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/gemm.h"
#include "core/matmul.h"
#include "core/pool.h"
#include "core/rng.h"

enum layout { NT, NN, TN };

struct product {
    int M, N, K;
    enum layout lay;
    unsigned flags;
};

/* Runs one product on `pool` into c (which starts as c0) and returns the worst error / bound. */
static double run_product(struct pool *pool, const struct product *pr, float *c, uint64_t seed) {
    const int M = pr->M, N = pr->N, K = pr->K;
    struct rng r;
    rng_init(&r, seed);
    float *a = malloc(sizeof(float) * (size_t)M * K), *b = malloc(sizeof(float) * (size_t)K * N);
    for (int i = 0; i < M * K; i++)
        a[i] = rng_normal(&r);
    for (int i = 0; i < K * N; i++)
        b[i] = rng_normal(&r);
    /* A stored [M][K] for NT/NN, [K][M] for TN; B stored [N][K] for NT, [K][N] otherwise. */
    struct gemm_view va = pr->lay == TN ? (struct gemm_view){a, 1, M} : (struct gemm_view){a, K, 1};
    struct gemm_view vb = pr->lay == NT ? (struct gemm_view){b, 1, K} : (struct gemm_view){b, N, 1};
    for (int i = 0; i < M; i++)
        for (int k = 0; k < K; k++) {
            int zero =
                ((pr->flags & GEMM_A_LOWER) && k > i) || ((pr->flags & GEMM_A_UPPER) && k < i);
            if (zero) a[i * va.rs + k * va.cs] = 0;
        }
    float *c0 = malloc(sizeof(float) * (size_t)M * N);
    for (int i = 0; i < M * N; i++)
        c0[i] = c[i] = rng_normal(&r);
    float *scratch = malloc(sizeof(float) * gemm_scratch_floats(N, K, 2));
    gemm_run(pool, M, N, K, va, vb, c, N, pr->flags, scratch);
    double worst = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            if ((pr->flags & GEMM_C_LOWER) && j > i) continue;
            double s = (pr->flags & GEMM_ACCUMULATE) ? c0[i * N + j] : 0, mag = fabs(s);
            for (int k = 0; k < K; k++) {
                double p = (double)a[i * va.rs + k * va.cs] * b[k * vb.rs + j * vb.cs];
                s += p, mag += fabs(p);
            }
            double bound = (K + 2) * 1.2e-7 * mag + 1e-30, err = fabs(c[i * N + j] - s) / bound;
            if (err > worst) worst = err;
        }
    free(a), free(b), free(c0), free(scratch);
    return worst;
}

static const struct product PRODUCTS[] = {
    {1, 1, 1, NT, 0},
    {7, 5, 3, NN, 0},
    {1024, 48, 48, NT, 0},
    {1024, 98, 48, NT, 0},
    {1024, 48, 98, NN, GEMM_ACCUMULATE},
    {48, 48, 1024, TN, GEMM_ACCUMULATE},
    {98, 64, 1024, TN, GEMM_ACCUMULATE},
    {352, 128, 200, TN, 0},
    {200, 176, 64, NN, 0},
    {130, 130, 12, NT, GEMM_C_LOWER},
    {128, 12, 128, NN, GEMM_A_LOWER},
    {128, 24, 128, NN, GEMM_A_LOWER | GEMM_ACCUMULATE},
    {128, 32, 128, NN, GEMM_A_UPPER | GEMM_ACCUMULATE},
    {75, 16, 75, NN, GEMM_A_UPPER},
    {9, 33, 0, NN, 0},
    {20, 3000, 400, NT, 0}, /* B too large to pack at once: packed per chunk */
};

static void test_gemm_matches_reference(void **state) {
    (void)state;
    int kernels[] = {MATMUL_KERNELS_SCALAR, MATMUL_KERNELS_AVX2, MATMUL_KERNELS_BEST};
    for (size_t ks = 0; ks < 3; ks++) {
        int old = matmul_force_kernels(kernels[ks]);
        for (size_t p = 0; p < sizeof PRODUCTS / sizeof PRODUCTS[0]; p++) {
            const struct product *pr = &PRODUCTS[p];
            float *c = malloc(sizeof(float) * ((size_t)pr->M * pr->N + 1));
            double worst = run_product(NULL, pr, c, 10 + p);
            if (worst > 1.0)
                fail_msg("%s: %d x %d x %d layout %d flags %u: error %.2f x the bound",
                         gemm_kernel_name(), pr->M, pr->N, pr->K, pr->lay, pr->flags, worst);
            free(c);
        }
        matmul_force_kernels(old);
    }
}

static void test_gemm_same_bits_on_any_thread_count(void **state) {
    (void)state;
    struct pool *two;
    assert_int_equal(pool_init(&two, 2), 0);
    for (size_t p = 0; p < sizeof PRODUCTS / sizeof PRODUCTS[0]; p++) {
        const struct product *pr = &PRODUCTS[p];
        size_t n = (size_t)pr->M * pr->N + 1;
        float *c1 = malloc(sizeof(float) * n), *c2 = malloc(sizeof(float) * n);
        run_product(NULL, pr, c1, 99 + p);
        run_product(two, pr, c2, 99 + p);
        assert_memory_equal(c1, c2, sizeof(float) * (n - 1));
        free(c1), free(c2);
    }
    pool_free(two);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_matches_reference),
        cmocka_unit_test(test_gemm_same_bits_on_any_thread_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
