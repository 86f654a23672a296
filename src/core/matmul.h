/* matmul.h: out[n][rows] = x[n][cols] · Wᵀ (+ bias) for a row-major weight matrix W of any type
 * the engine runs (F32, F16, BF16, Q8_0, Q4_0, and the super-block types of core/kquant.h; `struct mat`
 * from core/tensor.h), on the thread pool.
 *
 * Kernels: n = 1 is decode, a memory-bound GEMV: rows are split in chunks claimed dynamically by
 * the pool; F32/F16 rows are dotted in float with FMA, and for Q8_0/Q4_0 weights x is first
 * quantized to 8-bit blocks of 32 (as ggml does) so the dot product runs on int8 SIMD. n > 1 is
 * prefill or several sequences decoded together: each weight row is loaded once and dotted with
 * all n inputs; large F32 products go to OpenBLAS sgemm. SIMD paths (AVX2/FMA/F16C) are chosen at
 * run time (AVX512-VNNI for the int8 dots when present), with portable scalar versions (used by the
 * sanitizer build, and compared in tests).
 *
 * The caller owns a scratch buffer (matmul_scratch_size) so nothing is allocated per call. */
#ifndef CORE_MATMUL_H
#define CORE_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

struct pool;

/* Bytes a product with these inputs can need (quantized x: n rows of cols / 32 blocks). */
size_t matmul_scratch_size(int n, int cols);

/* One weight matrix applied to the shared input: out[i * w->rows + r] for i < n, r < w->rows;
 * bias (may be NULL) has w->rows floats. */
struct matmul_task {
    const struct mat *w;
    float *out;
    const float *bias;
};

/* Flags. MATMUL_NO_BLAS keeps large F32 products on our kernels, whose result for one input row
 * does not depend on n (batch invariance: a sequence decodes to the same bits alone or batched). */
enum { MATMUL_NO_BLAS = 1 };

/* Runs several products that share x (e.g. Q, K, V) as one pool job, so x is quantized once
 * and the threads are woken once. All w->cols must equal cols. Errors: unsupported type, shape
 * mismatch (cols not a multiple of 32 for a quantized type), scratch too small. */
int matmul_tasks(struct pool *pool, const float *x, int n, int cols,
                 const struct matmul_task *tasks, int n_tasks, void *scratch, size_t scratch_size,
                 unsigned flags);

/* The one-matrix case: out[n][w->rows] = x[n][w->cols] · Wᵀ. */
int matmul_apply(struct pool *pool, float *out, const float *x, int n, const struct mat *w,
                 void *scratch, size_t scratch_size);

/* dot(a, b) over n floats with the best kernel (attention scores). */
float matmul_dot_f32(const float *a, const float *b, int n);

/* Attention of one query: out[hd] = Σ_p softmax_p(scale · q·k_p) v_p over the n rows k_p =
 * k + p·stride and v_p = v + p·stride (one head of a KV cache). work holds n floats. The
 * result depends only on the inputs, never on what else runs (each query of a batch alike).
 * Errors: n < 1, hd outside 1..MATMUL_MAX_HEAD_DIM, stride < hd. */
#define MATMUL_MAX_HEAD_DIM 256
int matmul_attend(const float *q, const float *k, const float *v, size_t stride, int n, int hd,
                  float scale, float *out, float *work);

/* Row `row` of w as floats (an embedding lookup on a possibly quantized table). */
int matmul_row_f32(const struct mat *w, int row, float *out);

/* Restricts the kernels (tests check each against the reference). Returns the previous
 * setting. Not thread-safe: call between products. */
enum matmul_kernels { MATMUL_KERNELS_BEST = 0, MATMUL_KERNELS_SCALAR = 1, MATMUL_KERNELS_AVX2 = 2 };
int matmul_force_kernels(int which);
/* The current setting (core/gemm.c follows it too). */
int matmul_forced_kernels(void);

/* "avx512vnni", "avx2" or "scalar": which kernels run. */
const char *matmul_kernel_name(void);

/* The OpenBLAS kernel set ("core") sgemm runs on, e.g. "SkylakeX". */
const char *matmul_blas_core(void);

/* Caps OpenBLAS's own threads for the whole process (n >= 1): a process given one core of two
 * (two agents trained side by side) must not start a BLAS thread on the other. */
void matmul_set_blas_threads(int n);

/* OpenBLAS 0.3.21 (Debian 12) does not recognise some newer and virtualised Intel CPUs and falls
 * back to its SSE3 "Prescott" kernels: sgemm, hence training and prefill, runs 4-5x slower. It
 * reads OPENBLAS_CORETYPE only while it loads, so no call in this process can fix it; this returns
 * the core name the CPU can run when it is better than the loaded one and the variable is unset
 * (NULL otherwise), for the program's entry point to re-execute itself with. */
const char *matmul_blas_better_core(void);

#endif
