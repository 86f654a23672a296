/* gemm.h: C = A·B or C += A·B in float for the trainer (its linear layers and the per-head
 * products of attention), on the thread pool, with operands read through strides so the
 * transposes the backward pass needs cost no copies.
 *
 * Sized for the agent shapes (widths 32 to a few hundred, 1 K rows), where a general BLAS spends
 * as long packing as multiplying: A is read in place, B is packed into panels only when its rows
 * are not contiguous, and the register kernels (AVX-512, AVX2, portable; chosen at run time)
 * keep a tile of C in registers over the whole of K.
 *
 * Every element of C is one chain of multiply-adds over k in order, computed by one call of the
 * kernel whatever the thread count: results do not depend on the number of threads (training
 * relies on it) nor on which thread runs which tile. */
#ifndef CORE_GEMM_H
#define CORE_GEMM_H

#include <stddef.h>
#include <stdint.h>

struct pool;

/* Element (i, j) of a matrix is p[i * rs + j * cs]. */
struct gemm_view {
    const float *p;
    int64_t rs, cs;
};

enum gemm_flags {
    GEMM_ACCUMULATE = 1, /* C += A·B (default: C = A·B) */
    GEMM_A_LOWER = 2,    /* A[i][k] is 0 for k > i (a causal attention matrix): not read */
    GEMM_A_UPPER = 4,    /* A[i][k] is 0 for k < i (its transpose) */
    GEMM_C_LOWER = 8,    /* only C[i][j] with j <= i is wanted; others may or may not be written */
};

/* Floats of scratch gemm_run needs for an M x N x K product on a pool of n_threads (B's packed
 * panels: all of them, or one column block per thread when B is large). */
size_t gemm_scratch_floats(int N, int K, int n_threads);

/* C[M][N] (row stride ldc) = or += A[M][K] · B[K][N]. With GEMM_A_LOWER / GEMM_A_UPPER the
 * skipped elements must hold 0 all the same (a tile reads a few across the diagonal). pool may
 * be NULL (runs inline). scratch holds gemm_scratch_floats(N, K, pool's size) floats. */
void gemm_run(struct pool *pool, int M, int N, int K, struct gemm_view a, struct gemm_view b,
              float *c, int64_t ldc, unsigned flags, float *scratch);

/* "avx512", "avx2" or "scalar": the kernels gemm_run uses (matmul_force_kernels restricts
 * them, for tests). */
const char *gemm_kernel_name(void);

#endif
