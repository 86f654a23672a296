#include "core/gemm.h"

#include <string.h>

#include "core/matmul.h"
#include "core/pool.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GEMM_X86 1
#include <immintrin.h>
#define TARGET_AVX2   __attribute__((target("avx2,fma")))
#define TARGET_AVX512 __attribute__((target("avx2,fma,avx512f")))
#else
#define GEMM_X86 0
#endif
#define ALWAYS_INLINE __attribute__((always_inline))

/* The register tile is MR rows by NR = nv vectors of floats. A chunk of the pool is a block of
 * up to GEMM_MC_STRIPS strips of MR rows by GEMM_NC columns, so both threads get work even on
 * the narrow products, and a packed B panel stays in cache while the strips pass over it. */
#define GEMM_MAX_MR    8
#define GEMM_MAX_NR    32
#define GEMM_MC_STRIPS 16
#define GEMM_NC        128

/* C[MR][nr] = (load ? C : 0) + sum over k < kn of a[i * ars + k * acs] * b[k * bs + j]: the
 * tile of C lives in registers over the whole of k and is stored once (rows ldc apart). Only
 * the first mr rows and nc columns of C are read or written (the edges of C). */
typedef void (*gemm_kernel_fn)(int kn, const float *a, int64_t ars, int64_t acs, const float *b,
                               int64_t bs, float *c, int64_t ldc, int load, int mr, int nc);

struct gemm_kernels {
    const char *name;
    int mr, vec;             /* rows, floats per vector */
    gemm_kernel_fn one, two; /* NR = vec and NR = 2 vec */
};

static void kernel_scalar(int kn, const float *a, int64_t ars, int64_t acs, const float *b,
                          int64_t bs, float *c, int64_t ldc, int load, int mr, int nc) {
    enum { MR = 4, NR = 8 };
    float acc[MR][NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++)
            acc[i][j] = load && i < mr && j < nc ? c[i * ldc + j] : 0.0f;
    for (int k = 0; k < kn; k++)
        for (int i = 0; i < MR; i++) {
            const float ai = a[i * ars + k * acs];
            for (int j = 0; j < NR; j++)
                acc[i][j] += ai * b[k * bs + j];
        }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nc; j++)
            c[i * ldc + j] = acc[i][j];
}

static const struct gemm_kernels k_scalar = {"scalar", 4, 8, kernel_scalar, NULL};

#if GEMM_X86
/* Column masks of a tile's vectors: vector v holds columns [v W, v W + W) of the nc valid. */
TARGET_AVX512 static inline __mmask16 mask_avx512(int cols) {
    return cols <= 0 ? 0 : cols >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cols) - 1);
}
TARGET_AVX2 static inline __m256i mask_avx2(int cols) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#define LOADM_AVX512(p, m)     _mm512_maskz_loadu_ps(m, p)
#define STOREM_AVX512(p, m, x) _mm512_mask_storeu_ps(p, m, x)
#define LOADM_AVX2(p, m)       _mm256_maskload_ps(p, m)
#define STOREM_AVX2(p, m, x)   _mm256_maskstore_ps(p, m, x)

/* One body per ISA with MR and the vector count as constants, so the accumulators stay in
 * registers once the loops unroll. Whole tiles use plain loads and stores; edges masked ones. */
#define DEFINE_KERNEL(NAME, TARGET, VT, MT, MASK, LOAD, STORE, LOADM, STOREM, SET1, FMA, MR, NV)   \
    TARGET static void NAME(int kn, const float *a, int64_t ars, int64_t acs, const float *b,      \
                            int64_t bs, float *c, int64_t ldc, int load, int mr, int nc) {         \
        enum { W = sizeof(VT) / sizeof(float) };                                                   \
        const int whole = mr == MR && nc == NV * W;                                                \
        MT m[NV];                                                                                  \
        for (int v = 0; v < NV; v++)                                                               \
            m[v] = MASK(nc - v * W);                                                               \
        VT acc[MR][NV];                                                                            \
        _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++)                                       \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) acc[i][v] =                       \
                !load || i >= mr ? SET1(0.0f)                                                      \
                : whole          ? LOAD(c + i * ldc + v * W)                                       \
                                 : LOADM(c + i * ldc + v * W, m[v]);                               \
        for (int k = 0; k < kn; k++) {                                                             \
            const float *bk = b + k * bs;                                                          \
            const int64_t ak = k * acs;                                                            \
            VT bv[NV];                                                                             \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) bv[v] = LOAD(bk + v * W);         \
            _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++) {                                 \
                const VT ai = SET1(a[i * ars + ak]);                                               \
                _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) acc[i][v] =                   \
                    FMA(ai, bv[v], acc[i][v]);                                                     \
            }                                                                                      \
        }                                                                                          \
        if (whole) {                                                                               \
            _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++)                                   \
                _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++)                               \
                    STORE(c + i * ldc + v * W, acc[i][v]);                                         \
            return;                                                                                \
        }                                                                                          \
        for (int i = 0; i < mr; i++)                                                               \
            for (int v = 0; v < NV; v++)                                                           \
                STOREM(c + i * ldc + v * W, m[v], acc[i][v]);                                      \
    }

DEFINE_KERNEL(kernel_avx2_1, TARGET_AVX2, __m256, __m256i, mask_avx2, _mm256_loadu_ps,
              _mm256_storeu_ps, LOADM_AVX2, STOREM_AVX2, _mm256_set1_ps, _mm256_fmadd_ps, 6, 1)
DEFINE_KERNEL(kernel_avx2_2, TARGET_AVX2, __m256, __m256i, mask_avx2, _mm256_loadu_ps,
              _mm256_storeu_ps, LOADM_AVX2, STOREM_AVX2, _mm256_set1_ps, _mm256_fmadd_ps, 6, 2)
DEFINE_KERNEL(kernel_avx512_1, TARGET_AVX512, __m512, __mmask16, mask_avx512, _mm512_loadu_ps,
              _mm512_storeu_ps, LOADM_AVX512, STOREM_AVX512, _mm512_set1_ps, _mm512_fmadd_ps, 8, 1)
DEFINE_KERNEL(kernel_avx512_2, TARGET_AVX512, __m512, __mmask16, mask_avx512, _mm512_loadu_ps,
              _mm512_storeu_ps, LOADM_AVX512, STOREM_AVX512, _mm512_set1_ps, _mm512_fmadd_ps, 8, 2)

static const struct gemm_kernels k_avx2 = {"avx2", 6, 8, kernel_avx2_1, kernel_avx2_2};
static const struct gemm_kernels k_avx512 = {"avx512", 8, 16, kernel_avx512_1, kernel_avx512_2};
#endif

static const struct gemm_kernels *kernels_get(void) {
#if GEMM_X86
    static int level = -1; /* 0 scalar, 1 AVX2, 2 AVX-512: what this CPU runs */
    if (level < 0)
        level = !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 0
                : __builtin_cpu_supports("avx512f")                                ? 2
                                                                                   : 1;
    const int forced = matmul_forced_kernels();
    if (forced == MATMUL_KERNELS_SCALAR) return &k_scalar;
    if (level >= 2 && forced != MATMUL_KERNELS_AVX2) return &k_avx512;
    if (level >= 1) return &k_avx2;
#endif
    return &k_scalar;
}

const char *gemm_kernel_name(void) {
    return kernels_get()->name;
}

/* B is packed once for all chunks when its panels take at most this many floats; a larger B
 * (a big vocabulary's output matrix) is packed by each chunk, a column block over every row. */
#define GEMM_SHARED_PACK (1 << 20)

static int64_t padded_floats(int N, int K) {
    return (int64_t)K * ((N + GEMM_MAX_NR - 1) / GEMM_MAX_NR * GEMM_MAX_NR);
}

size_t gemm_scratch_floats(int N, int K, int n_threads) {
    int64_t all = padded_floats(N, K), per_chunk = (int64_t)K * GEMM_NC * n_threads;
    return (size_t)((all <= GEMM_SHARED_PACK ? all : per_chunk) + (int64_t)GEMM_MAX_MR * K);
}

struct gemm_job {
    const struct gemm_kernels *kr;
    gemm_kernel_fn fn;
    int M, N, K, nr, n_col_chunks, row_block;
    struct gemm_view a, bv;
    const float *b;      /* packed panels [N / nr][K][nr], or B itself with rows bs apart */
    int64_t bs, b_panel; /* floats between k rows, between panels (packed) or 0 (in place) */
    float *pack;         /* per-chunk packing: thread t packs at pack + t * K * GEMM_NC */
    const float *a_edge; /* the last strip when M is not a multiple of MR: [MR][K], 0-padded */
    float *c;
    int64_t ldc;
    unsigned flags;
};

/* The range of k the strip of rows [r0, r0 + mr) needs: the zeros of a triangular A skipped. */
static void strip_k_range(const struct gemm_job *j, int r0, int mr, int *k0, int *k1) {
    *k0 = 0, *k1 = j->K;
    if ((j->flags & GEMM_A_LOWER) && r0 + mr < *k1) *k1 = r0 + mr;
    if (j->flags & GEMM_A_UPPER) *k0 = r0 < j->K ? r0 : j->K;
}

/* One MR x nr tile at (r0, c0), mr x nc of it inside C; b points at column c0 of B (a panel or
 * B in place). The kernel always computes a whole tile: the last strip of A reads a zero-padded
 * copy and B's last panel is zero-padded; only the part inside C is stored. */
static void gemm_tile(const struct gemm_job *j, const float *b, int r0, int c0) {
    const int MR = j->kr->mr, nr = j->nr, load = (j->flags & GEMM_ACCUMULATE) != 0;
    const int mr = j->M - r0 < MR ? j->M - r0 : MR, nc = j->N - c0 < nr ? j->N - c0 : nr;
    int k0, k1;
    strip_k_range(j, r0, MR, &k0, &k1);
    float *c = j->c + (int64_t)r0 * j->ldc + c0;
    if (k1 <= k0) { /* A is zero across this strip */
        if (!load)
            for (int i = 0; i < mr; i++)
                memset(c + (int64_t)i * j->ldc, 0, (size_t)nc * sizeof(float));
        return;
    }
    const float *a = j->a.p + (int64_t)r0 * j->a.rs + (int64_t)k0 * j->a.cs;
    int64_t ars = j->a.rs, acs = j->a.cs;
    if (mr < MR) a = j->a_edge + k0, ars = j->K, acs = 1;
    j->fn(k1 - k0, a, ars, acs, b + k0 * j->bs, j->bs, c, j->ldc, load, mr, nc);
}

/* B's columns [c0, c0 + nr) as a panel [K][nr], zero-padded past N. */
static void pack_panel(float *dst, struct gemm_view b, int K, int N, int c0, int nr) {
    const int nc = N - c0 < nr ? N - c0 : nr;
    for (int k = 0; k < K; k++) {
        float *d = dst + (int64_t)k * nr;
        const float *s = b.p + (int64_t)k * b.rs + (int64_t)c0 * b.cs;
        if (b.cs == 1)
            memcpy(d, s, (size_t)nc * sizeof(float));
        else
            for (int x = 0; x < nc; x++)
                d[x] = s[(int64_t)x * b.cs];
        for (int x = nc; x < nr; x++)
            d[x] = 0;
    }
}

static void gemm_chunk(void *vctx, int chunk, int thread) {
    const struct gemm_job *j = vctx;
    const int MR = j->kr->mr;
    const int rb = chunk / j->n_col_chunks, cb = chunk % j->n_col_chunks;
    const int r_begin = rb * j->row_block, c_begin = cb * GEMM_NC;
    const int r_end = r_begin + j->row_block < j->M ? r_begin + j->row_block : j->M;
    const int c_end = c_begin + GEMM_NC < j->N ? c_begin + GEMM_NC : j->N;
    if ((j->flags & GEMM_C_LOWER) && c_begin > r_end - 1) return;
    float *own = j->pack ? j->pack + (int64_t)thread * j->K * GEMM_NC : NULL;
    /* Panel by panel, so one panel of B serves every strip of the block from cache. */
    for (int c0 = c_begin; c0 < c_end; c0 += j->nr) {
        const float *b;
        if (own) {
            pack_panel(own, j->bv, j->K, j->N, c0, j->nr);
            b = own;
        } else {
            b = j->b + (j->b_panel ? (int64_t)(c0 / j->nr) * j->b_panel : c0);
        }
        for (int r0 = r_begin; r0 < r_end; r0 += MR) {
            if ((j->flags & GEMM_C_LOWER) && c0 > r0 + MR - 1) continue;
            gemm_tile(j, b, r0, c0);
        }
    }
}

/* Rows per chunk: up to GEMM_MC_STRIPS strips, fewer when M is short (a weight gradient has as
 * many rows as the layer has outputs), so a product still splits into about four chunks. Set by
 * the shape alone: the same tiles whatever the thread count. */
static int row_block(int M, int mr) {
    int strips = (M + mr - 1) / mr, per = (strips + 3) / 4;
    return (per < 1 ? 1 : per > GEMM_MC_STRIPS ? GEMM_MC_STRIPS : per) * mr;
}

void gemm_run(struct pool *pool, int M, int N, int K, struct gemm_view a, struct gemm_view b,
              float *c, int64_t ldc, unsigned flags, float *scratch) {
    if (M <= 0 || N <= 0) return;
    const struct gemm_kernels *kr = kernels_get();
    /* Two vectors a tile unless that pads N by more than an eighth. */
    int nr = kr->vec;
    if (kr->two) {
        int w = 2 * kr->vec, padded = (N + w - 1) / w * w;
        if ((padded - N) * 8 <= N) nr = w;
    }
    struct gemm_job j = {.kr = kr,
                         .fn = nr == kr->vec ? kr->one : kr->two,
                         .M = M,
                         .N = N,
                         .K = K,
                         .nr = nr,
                         .n_col_chunks = (N + GEMM_NC - 1) / GEMM_NC,
                         .row_block = row_block(M, kr->mr),
                         .a = a,
                         .bv = b,
                         .c = c,
                         .ldc = ldc,
                         .flags = flags};
    if (K <= 0) {
        if (!(flags & GEMM_ACCUMULATE))
            for (int r = 0; r < M; r++)
                memset(c + (int64_t)r * ldc, 0, (size_t)N * sizeof(float));
        return;
    }
    if (M % kr->mr) { /* the last, partial strip of A, copied with zero rows below */
        float *e = scratch;
        scratch += (int64_t)GEMM_MAX_MR * K;
        const int r0 = M - M % kr->mr;
        for (int i = 0; i < kr->mr; i++)
            for (int k = 0; k < K; k++)
                e[(int64_t)i * K + k] = r0 + i < M ? a.p[(int64_t)(r0 + i) * a.rs + k * a.cs] : 0;
        j.a_edge = e;
    }
    if (b.cs == 1 && N % nr == 0) { /* rows of B are contiguous: the kernel reads B in place */
        j.b = b.p, j.bs = b.rs, j.b_panel = 0;
    } else if (padded_floats(N, K) <= GEMM_SHARED_PACK) {
        for (int c0 = 0; c0 < N; c0 += nr)
            pack_panel(scratch + (int64_t)(c0 / nr) * K * nr, b, K, N, c0, nr);
        j.b = scratch, j.bs = nr, j.b_panel = (int64_t)K * nr;
    } else {
        j.pack = scratch, j.bs = nr, j.row_block = M;
    }
    const int row_blocks = (M + j.row_block - 1) / j.row_block;
    pool_run(pool, row_blocks * j.n_col_chunks, gemm_chunk, &j);
}
