#include "core/matmul.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/kquant.h"
#include "core/pool.h"
#include "core/tensor.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MATMUL_X86 1
#include <cpuid.h>
#include <immintrin.h>
#define TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
/* The per-row loops of the tiled kernels must unroll so the accumulators live in registers. */
#define UNROLL_R _Pragma("GCC unroll 4")
/* ...and the R = 1 and R = 4 instances must be separate code with R a constant. */
#define ALWAYS_INLINE __attribute__((always_inline))
#define MM_ROUND      (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#else
#define MATMUL_X86 0
#endif

#define QK QK8_0

/* The activation side: like Q8_0 but with a float scale (x is quantized on the fly, never
 * stored, so there is no reason to lose precision on the scale). */
struct block_q8x {
    float d;
    int8_t qs[QK];
};

/* Below this many input rows an F32 product runs on our kernels, above it on sgemm, whose
 * packing only pays for itself on a real matrix. */
#define SGEMM_MIN_N      16
#define MATMUL_MAX_TASKS 8

/* ---- scalar kernels: the portable definition of every product ---- */

static float dot_f32_scalar(const float *a, const float *b, int n) {
    float s[4] = {0, 0, 0, 0};
    int i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++)
            s[j] += a[i + j] * b[i + j];
    for (; i < n; i++)
        s[0] += a[i] * b[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

static float dot_f16_scalar(const uint16_t *a, const float *b, int n) {
    float s = 0;
    for (int i = 0; i < n; i++)
        s += fp16_to_fp32(a[i]) * b[i];
    return s;
}

static void quantize_q8x_scalar(const float *x, struct block_q8x *y, int n) {
    for (int b = 0; b < n / QK; b++) {
        const float *v = x + b * QK;
        float amax = 0;
        for (int j = 0; j < QK; j++)
            amax = fmaxf(amax, fabsf(v[j]));
        float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
        y[b].d = d;
        for (int j = 0; j < QK; j++)
            y[b].qs[j] = (int8_t)nearbyintf(v[j] * id);
    }
}

static float dot_q8_scalar(const void *wv, const struct block_q8x *x, int nb) {
    const struct block_q8_0 *w = wv;
    float s = 0;
    for (int b = 0; b < nb; b++) {
        int32_t acc = 0;
        for (int j = 0; j < QK; j++)
            acc += (int32_t)w[b].qs[j] * x[b].qs[j];
        s += fp16_to_fp32(w[b].d) * x[b].d * (float)acc;
    }
    return s;
}

static float dot_q4_scalar(const void *wv, const struct block_q8x *x, int nb) {
    const struct block_q4_0 *w = wv;
    float s = 0;
    for (int b = 0; b < nb; b++) {
        int32_t acc = 0;
        for (int j = 0; j < QK / 2; j++) {
            acc += ((w[b].qs[j] & 0x0f) - 8) * x[b].qs[j];
            acc += ((w[b].qs[j] >> 4) - 8) * x[b].qs[j + QK / 2];
        }
        s += fp16_to_fp32(w[b].d) * x[b].d * (float)acc;
    }
    return s;
}

/* ---- AVX2 / FMA / F16C kernels ---- */
#if MATMUL_X86
TARGET_AVX2 static inline float hsum_ps(__m256 v) {
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    __m128 sh = _mm_movehdup_ps(lo);
    lo = _mm_add_ps(lo, sh);
    sh = _mm_movehl_ps(sh, lo);
    return _mm_cvtss_f32(_mm_add_ss(lo, sh));
}

/* R input rows against one weight row, R a compile-time 1 or 4: the weight loads are shared,
 * and each row's arithmetic is exactly the single-row kernel's, so a row's result does not
 * depend on how many rows are processed with it (batch invariance). */
TARGET_AVX2 ALWAYS_INLINE static inline void
dotr_f32_avx2(const float *w, const float *x, size_t xs, int n, float *out, const int R) {
    __m256 a0[4], a1[4];
    UNROLL_R for (int r = 0; r < R; r++) a0[r] = a1[r] = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = _mm256_loadu_ps(w + i), w1 = _mm256_loadu_ps(w + i + 8);
        UNROLL_R for (int r = 0; r < R; r++) {
            a0[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + r * xs + i), a0[r]);
            a1[r] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + r * xs + i + 8), a1[r]);
        }
    }
    for (; i + 8 <= n; i += 8) {
        __m256 w0 = _mm256_loadu_ps(w + i);
        UNROLL_R for (int r = 0; r < R; r++) a0[r] =
            _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + r * xs + i), a0[r]);
    }
    UNROLL_R for (int r = 0; r < R; r++) {
        float s = hsum_ps(_mm256_add_ps(a0[r], a1[r]));
        for (int k = i; k < n; k++)
            s += w[k] * x[r * xs + k];
        out[r] = s;
    }
}

/* The one-row and four-row entry points of an F32 row kernel (the R = 1 and R = 4 instances). */
#define DEFINE_F32_ROWS(ISA, TGT)                                                                  \
    TGT static float dot_f32_##ISA(const float *a, const float *b, int n) {                        \
        float o;                                                                                   \
        dotr_f32_##ISA(a, b, 0, n, &o, 1);                                                         \
        return o;                                                                                  \
    }                                                                                              \
    TGT static void dot4_f32_##ISA(const float *w, const float *x, size_t xs, int n, float *out) { \
        dotr_f32_##ISA(w, x, xs, n, out, 4);                                                       \
    }

DEFINE_F32_ROWS(avx2, TARGET_AVX2)

TARGET_AVX2 static float dot_f16_avx2(const uint16_t *a, const float *b, int n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256 a1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i + 8)));
        s0 = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 a0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i)));
        s0 = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b + i), s0);
    }
    float s = hsum_ps(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += _cvtsh_ss(a[i]) * b[i];
    return s;
}

TARGET_AVX2 static void quantize_q8x_avx2(const float *x, struct block_q8x *y, int n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int b = 0; b < n / QK; b++) {
        const float *v = x + b * QK;
        __m256 v0 = _mm256_loadu_ps(v), v1 = _mm256_loadu_ps(v + 8);
        __m256 v2 = _mm256_loadu_ps(v + 16), v3 = _mm256_loadu_ps(v + 24);
        __m256 m =
            _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                          _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        y[b].d = amax / 127.0f;
        const __m256 id = _mm256_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, id), MM_ROUND));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, id), MM_ROUND));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, id), MM_ROUND));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, id), MM_ROUND));
        /* packs work within 128-bit lanes; the permute restores element order. */
        i0 = _mm256_packs_epi32(i0, i1);
        i2 = _mm256_packs_epi32(i2, i3);
        i0 = _mm256_packs_epi16(i0, i2);
        i0 = _mm256_permutevar8x32_epi32(i0, perm);
        _mm256_storeu_si256((__m256i *)y[b].qs, i0);
    }
}

/* Signed int8 · int8 over 32 lanes, as 8 float partial sums of 4 lanes each, given |w| and
 * w: maddubs needs an unsigned side, so w's sign moves onto x (|w| <= 128 and |x| <= 127 cannot
 * saturate the int16 pair sums). Both versions give the same exact integers. */
TARGET_AVX2 static inline __m256 mul_sum_i8_avx2(__m256i aw, __m256i w, __m256i x) {
    __m256i dot16 = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(x, w));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(dot16, _mm256_set1_epi16(1)));
}

/* AVX512-VNNI (256-bit, EVEX): vpdpbusd does maddubs + madd in one instruction. */
#define TARGET_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))
TARGET_VNNI static inline __m256 mul_sum_i8_vnni(__m256i aw, __m256i w, __m256i x) {
    return _mm256_cvtepi32_ps(
        _mm256_dpbusd_epi32(_mm256_setzero_si256(), aw, _mm256_sign_epi8(x, w)));
}

TARGET_AVX2 static inline __m256i load_q8(const struct block_q8_0 *b) {
    return _mm256_loadu_si256((const __m256i *)b->qs);
}

/* The 32 nibbles of a Q4_0 block as int8 in element order, minus the offset 8. */
TARGET_AVX2 static inline __m256i load_q4(const struct block_q4_0 *b) {
    const __m128i lowmask = _mm_set1_epi8(0x0f);
    __m128i bytes = _mm_loadu_si128((const __m128i *)b->qs);
    __m128i lo = _mm_and_si128(bytes, lowmask);
    __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), lowmask);
    return _mm256_sub_epi8(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(8));
}

/* Quantized decode waits on memory, not on arithmetic: without a software prefetch the VNNI
 * Q8_0 GEMV streamed 8.7 GB/s on one core of this machine (vpdpbusd stalled on the weight load),
 * with one 4 KB ahead 20 GB/s, and 110M decode went from 112 to 210 tok/s on two threads (2 KB:
 * 17.6 GB/s, 8 KB: 18.8; bench/kernels.c). Two lines per two blocks: 68 bytes of Q8_0 per
 * iteration can span two cache lines. -DQ_PREFETCH=N to tune on another machine. */
#ifndef Q_PREFETCH
#define Q_PREFETCH 4096 /* bytes ahead */
#endif
/* R activation rows (quantized, xs blocks apart) against one quantized weight row; even blocks
 * accumulate in a0, odd ones in a1, identically for every R (see dotr_f32_avx2). */
#define DEFINE_DOTR_Q(NAME, TGT, BLOCK, LOAD, MULSUM)                                              \
    TGT ALWAYS_INLINE static inline void NAME##_r(const void *wv, const struct block_q8x *x,       \
                                                  size_t xs, int nb, float *out, const int R) {    \
        const struct BLOCK *w = wv;                                                                \
        __m256 a0[4], a1[4];                                                                       \
        UNROLL_R for (int r = 0; r < R; r++) a0[r] = a1[r] = _mm256_setzero_ps();                  \
        int b = 0;                                                                                 \
        for (; b + 2 <= nb; b += 2) {                                                              \
            _mm_prefetch((const char *)&w[b] + Q_PREFETCH, _MM_HINT_T0);                           \
            _mm_prefetch((const char *)&w[b] + Q_PREFETCH + 64, _MM_HINT_T0);                      \
            __m256i w0 = LOAD(&w[b]), w1 = LOAD(&w[b + 1]);                                        \
            __m256i aw0 = _mm256_sign_epi8(w0, w0), aw1 = _mm256_sign_epi8(w1, w1);                \
            float d0 = _cvtsh_ss(w[b].d), d1 = _cvtsh_ss(w[b + 1].d);                              \
            UNROLL_R for (int r = 0; r < R; r++) {                                                 \
                const struct block_q8x *xr = x + r * xs;                                           \
                __m256 p0 = MULSUM(aw0, w0, _mm256_loadu_si256((const __m256i *)xr[b].qs));        \
                __m256 p1 = MULSUM(aw1, w1, _mm256_loadu_si256((const __m256i *)xr[b + 1].qs));    \
                a0[r] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * xr[b].d), p0, a0[r]);                  \
                a1[r] = _mm256_fmadd_ps(_mm256_set1_ps(d1 * xr[b + 1].d), p1, a1[r]);              \
            }                                                                                      \
        }                                                                                          \
        if (b < nb) {                                                                              \
            __m256i w0 = LOAD(&w[b]);                                                              \
            __m256i aw0 = _mm256_sign_epi8(w0, w0);                                                \
            float d0 = _cvtsh_ss(w[b].d);                                                          \
            UNROLL_R for (int r = 0; r < R; r++) {                                                 \
                const struct block_q8x *xr = x + r * xs;                                           \
                __m256 p0 = MULSUM(aw0, w0, _mm256_loadu_si256((const __m256i *)xr[b].qs));        \
                a0[r] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * xr[b].d), p0, a0[r]);                  \
            }                                                                                      \
        }                                                                                          \
        UNROLL_R for (int r = 0; r < R; r++) out[r] = hsum_ps(_mm256_add_ps(a0[r], a1[r]));        \
    }                                                                                              \
    TGT static float NAME(const void *w, const struct block_q8x *x, int nb) {                      \
        float o;                                                                                   \
        NAME##_r(w, x, 0, nb, &o, 1);                                                              \
        return o;                                                                                  \
    }                                                                                              \
    TGT static void NAME##4(const void *w, const struct block_q8x *x, size_t xs, int nb,           \
                            float *out) {                                                          \
        NAME##_r(w, x, xs, nb, out, 4);                                                            \
    }

DEFINE_DOTR_Q(dot_q8_avx2, TARGET_AVX2, block_q8_0, load_q8, mul_sum_i8_avx2)
DEFINE_DOTR_Q(dot_q4_avx2, TARGET_AVX2, block_q4_0, load_q4, mul_sum_i8_avx2)

/* The same products two blocks per 512-bit instruction: lanes 0-7 hold the even block and lanes
 * 8-15 the odd one, exactly the a0 and a1 accumulators above, and every lane's integer sum and
 * float operations are the same, so the results are bit-identical to the 256-bit kernels (and
 * a file decodes to the same text on a machine with or without 512-bit registers). */
#define TARGET_V512                                                                                \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni,avx512bw,avx512dq")))

TARGET_V512 static inline __m512i pair_si(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

TARGET_V512 static inline __m512 pair_scale(float lo, float hi) {
    return _mm512_insertf32x8(_mm512_set1_ps(lo), _mm256_set1_ps(hi), 1);
}

/* Weights of two Q8_0 blocks: |w| as the unsigned operand of vpdpbusd, and the lanes where w is
 * negative, where x changes sign instead. */
struct wpair {
    __m512i u;
    __mmask64 neg;
};

TARGET_V512 static inline struct wpair wpair_q8(const struct block_q8_0 *b) {
    __m512i w = pair_si(load_q8(b), load_q8(b + 1));
    return (struct wpair){_mm512_abs_epi8(w), _mm512_movepi8_mask(w)};
}

/* Q4_0: the nibbles themselves (0..15) are the unsigned operand; the offset 8 comes off as
 * 8·Σx, the same integer as Σ(q - 8)·x. */
TARGET_V512 static inline struct wpair wpair_q4(const struct block_q4_0 *b) {
    const __m256i lowmask = _mm256_set1_epi8(0x0f);
    __m256i bytes = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)b[1].qs),
                                     _mm_loadu_si128((const __m128i *)b[0].qs));
    __m256i lo = _mm256_and_si256(bytes, lowmask);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), lowmask);
    /* [lo0 lo1 hi0 hi1] -> [lo0 hi0 lo1 hi1]: each block's 32 values in element order */
    __m512i w = _mm512_shuffle_i64x2(pair_si(lo, hi), pair_si(lo, hi), _MM_SHUFFLE(3, 1, 2, 0));
    return (struct wpair){w, 0};
}

TARGET_V512 static inline __m512i dot_pair_q8(struct wpair w, __m512i x) {
    x = _mm512_mask_sub_epi8(x, w.neg, _mm512_setzero_si512(), x);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), w.u, x);
}

TARGET_V512 static inline __m512i dot_pair_q4(struct wpair w, __m512i x) {
    const __m512i zero = _mm512_setzero_si512();
    return _mm512_sub_epi32(_mm512_dpbusd_epi32(zero, w.u, x),
                            _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(8), x));
}

/* RW weight rows (ws bytes apart) against R activation rows, RW and R compile-time constants:
 * each weight pair is loaded once for the R inputs and each activation pair once for the RW
 * rows, with RW · R accumulators in registers. out[i * R + r] is weight row i with input r. */
#define DEFINE_DOTR_Q512(NAME, BLOCK, WPAIR, DOTPAIR, LOAD, MULSUM)                                \
    TARGET_V512 ALWAYS_INLINE static inline void NAME##_rw(                                        \
        const char *wb, size_t ws, const struct block_q8x *x, size_t xs, int nb, float *out,       \
        const int RW, const int R) {                                                               \
        __m512 acc[4][4];                                                                          \
        UNROLL_R for (int i = 0; i < RW; i++) UNROLL_R for (int r = 0; r < R; r++) acc[i][r] =     \
            _mm512_setzero_ps();                                                                   \
        int b = 0;                                                                                 \
        for (; b + 2 <= nb; b += 2) {                                                              \
            struct wpair wp[4];                                                                    \
            __m512 wd[4]; /* [d0 x8 | d1 x8]: the two blocks' scales */                            \
            UNROLL_R for (int i = 0; i < RW; i++) {                                                \
                const struct BLOCK *w = (const struct BLOCK *)(wb + i * ws);                       \
                _mm_prefetch((const char *)&w[b] + Q_PREFETCH, _MM_HINT_T0);                       \
                _mm_prefetch((const char *)&w[b] + Q_PREFETCH + 64, _MM_HINT_T0);                  \
                wp[i] = WPAIR(&w[b]);                                                              \
                wd[i] = pair_scale(_cvtsh_ss(w[b].d), _cvtsh_ss(w[b + 1].d));                      \
            }                                                                                      \
            UNROLL_R for (int r = 0; r < R; r++) {                                                 \
                const struct block_q8x *xr = x + r * xs;                                           \
                __m512i xv = pair_si(_mm256_loadu_si256((const __m256i *)xr[b].qs),                \
                                     _mm256_loadu_si256((const __m256i *)xr[b + 1].qs));           \
                const __m512 xd = pair_scale(xr[b].d, xr[b + 1].d);                                \
                UNROLL_R for (int i = 0; i < RW; i++) {                                            \
                    __m512 p = _mm512_cvtepi32_ps(DOTPAIR(wp[i], xv));                             \
                    acc[i][r] = _mm512_fmadd_ps(_mm512_mul_ps(wd[i], xd), p, acc[i][r]);           \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        UNROLL_R for (int i = 0; i < RW; i++) UNROLL_R for (int r = 0; r < R; r++) {               \
            __m256 a0 = _mm512_castps512_ps256(acc[i][r]);                                         \
            __m256 a1 = _mm512_extractf32x8_ps(acc[i][r], 1);                                      \
            if (b < nb) { /* an odd last block goes to the even accumulator, as above */           \
                const struct BLOCK *w = (const struct BLOCK *)(wb + i * ws);                       \
                const struct block_q8x *xr = x + r * xs;                                           \
                __m256i w0 = LOAD(&w[b]);                                                          \
                __m256 p0 = MULSUM(_mm256_sign_epi8(w0, w0), w0,                                   \
                                   _mm256_loadu_si256((const __m256i *)xr[b].qs));                 \
                a0 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(w[b].d) * xr[b].d), p0, a0);         \
            }                                                                                      \
            out[i * R + r] = hsum_ps(_mm256_add_ps(a0, a1));                                       \
        }                                                                                          \
    }                                                                                              \
    TARGET_V512 static float NAME(const void *w, const struct block_q8x *x, int nb) {              \
        float o;                                                                                   \
        NAME##_rw(w, 0, x, 0, nb, &o, 1, 1);                                                       \
        return o;                                                                                  \
    }                                                                                              \
    TARGET_V512 static void NAME##4(const void *w, const struct block_q8x *x, size_t xs, int nb,   \
                                    float *out) {                                                  \
        NAME##_rw(w, 0, x, xs, nb, out, 1, 4);                                                     \
    }                                                                                              \
    TARGET_V512 static void NAME##44(const void *w, size_t ws, const struct block_q8x *x,          \
                                     size_t xs, int nb, float *out) {                              \
        NAME##_rw(w, ws, x, xs, nb, out, 4, 4);                                                    \
    }

DEFINE_DOTR_Q512(dot_q8_v512, block_q8_0, wpair_q8, dot_pair_q8, load_q8, mul_sum_i8_vnni)
DEFINE_DOTR_Q512(dot_q4_v512, block_q4_0, wpair_q4, dot_pair_q4, load_q4, mul_sum_i8_vnni)

/* F32 rows on AVX-512 (the CPUs that take the VNNI kernels). Decode of an F32 model is bound by
 * how many cache lines one core keeps in flight, not by arithmetic: 64-byte loads plus a software
 * prefetch 2 KB ahead of the loads (the hardware prefetcher stops at 4 KB pages) streamed 24-28 %
 * more GB/s than the AVX2 kernel on this machine's cores. Same R = 1 / R = 4 contract as
 * dotr_f32_avx2: a row's arithmetic does not depend on R. */
#ifndef F32_PREFETCH
#define F32_PREFETCH 512 /* floats ahead */
#endif
TARGET_VNNI ALWAYS_INLINE static inline void
dotr_f32_avx512(const float *w, const float *x, size_t xs, int n, float *out, const int R) {
    __m512 a0[4], a1[4];
    UNROLL_R for (int r = 0; r < R; r++) a0[r] = a1[r] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        _mm_prefetch((const char *)(w + i + F32_PREFETCH), _MM_HINT_T0);
        _mm_prefetch((const char *)(w + i + F32_PREFETCH + 16), _MM_HINT_T0);
        __m512 w0 = _mm512_loadu_ps(w + i), w1 = _mm512_loadu_ps(w + i + 16);
        UNROLL_R for (int r = 0; r < R; r++) {
            a0[r] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + r * xs + i), a0[r]);
            a1[r] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + r * xs + i + 16), a1[r]);
        }
    }
    for (; i < n; i += 16) { /* the tail, masked: no scalar loop */
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 w0 = _mm512_maskz_loadu_ps(m, w + i);
        UNROLL_R for (int r = 0; r < R; r++) a0[r] =
            _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, x + r * xs + i), a0[r]);
    }
    UNROLL_R for (int r = 0; r < R; r++) out[r] = _mm512_reduce_add_ps(_mm512_add_ps(a0[r], a1[r]));
}

DEFINE_F32_ROWS(avx512, TARGET_VNNI)

/* Four consecutive weight rows (ws floats apart) against one input, their loads interleaved. One
 * row at a time is one sequential stream, and a core's prefetchers ramp up again at every 4 KB
 * page; four rows keep four streams (four pages) in flight. Each row's arithmetic is exactly
 * dotr_f32_avx512's with R = 1 (same accumulators, same order), so results are bit-identical to
 * the one-row kernel. */
TARGET_VNNI static void dot_f32_w4_avx512(const float *w, size_t ws, const float *x, int n,
                                          float *out) {
    __m512 a0[4], a1[4];
    UNROLL_R for (int r = 0; r < 4; r++) a0[r] = a1[r] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);
        UNROLL_R for (int r = 0; r < 4; r++) {
            const float *wr = w + r * ws + i;
            _mm_prefetch((const char *)(wr + 4 * ws), _MM_HINT_T0); /* the next four rows */
            _mm_prefetch((const char *)(wr + 4 * ws + 16), _MM_HINT_T0);
            a0[r] = _mm512_fmadd_ps(_mm512_loadu_ps(wr), x0, a0[r]);
            a1[r] = _mm512_fmadd_ps(_mm512_loadu_ps(wr + 16), x1, a1[r]);
        }
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 x0 = _mm512_maskz_loadu_ps(m, x + i);
        UNROLL_R for (int r = 0; r < 4; r++) a0[r] =
            _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + r * ws + i), x0, a0[r]);
    }
    UNROLL_R for (int r = 0; r < 4; r++) out[r] = _mm512_reduce_add_ps(_mm512_add_ps(a0[r], a1[r]));
}
#endif

/* ---- attention of one query over cached keys and values ---- */

/* Written once with GCC vector extensions and compiled three times (AVX-512, AVX2, baseline):
 * the attention is the same arithmetic on every ISA, only the register width changes. */
typedef float vf16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));
typedef float vf8 __attribute__((vector_size(32)));

/* Vectors cross these helpers by pointer only: a 512-bit vector passed by value would have an
 * ABI that depends on the compiler flags (-Wpsabi), though after inlining none is passed. */
#define INLINE static inline __attribute__((always_inline))

INLINE void ld16(vf16 *v, const float *p) {
    memcpy(v, p, sizeof *v);
}

INLINE float hsum8(const vf8 *p) {
    vf8 v = *p;
    v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3);
    v += __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5);
    v += __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6);
    return v[0];
}

INLINE float hsum16(const vf16 *p) {
    vf8 h = __builtin_shufflevector(*p, *p, 0, 1, 2, 3, 4, 5, 6, 7) +
            __builtin_shufflevector(*p, *p, 8, 9, 10, 11, 12, 13, 14, 15);
    return hsum8(&h);
}

/* exp(x) for x <= 0 (scores minus their maximum), 16 at a time: 2^n · p(r) with
 * x = n·ln2 + r, |r| <= ln2/2, p of degree 6 (relative error ~2e-7); below -87 it is 0.
 * n is rounded by the 1.5·2^23 trick, so no vector select is needed but the last one. */
INLINE void exp16(vf16 *px) {
    vf16 x = *px;
    const vi16 lo = x < -87.0f; /* -1 where the result underflows */
    vi16 xb;
    memcpy(&xb, &x, sizeof x);
    const vf16 floor_v = {-87.0f, -87.0f, -87.0f, -87.0f, -87.0f, -87.0f, -87.0f, -87.0f,
                          -87.0f, -87.0f, -87.0f, -87.0f, -87.0f, -87.0f, -87.0f, -87.0f};
    vi16 fb;
    memcpy(&fb, &floor_v, sizeof fb);
    xb = (xb & ~lo) | (fb & lo);
    memcpy(&x, &xb, sizeof x);
    const vf16 t = x * 1.44269504f + 12582912.0f;
    const vf16 n = t - 12582912.0f;
    vf16 r = x - n * 0.693145752f;
    r = r - n * 1.42860677e-6f;
    vf16 p = r * (1.0f / 720) + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    vi16 tb;
    memcpy(&tb, &t, sizeof tb);
    vi16 bits = ((tb - 0x4B400000) + 127) << 23;
    vf16 two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    vf16 e = p * two_n;
    vi16 eb;
    memcpy(&eb, &e, sizeof eb);
    eb &= ~lo;
    memcpy(px, &eb, sizeof eb);
}

/* softmax(q·k_p · scale) over p < n, then Σ_p a_p v_p; k_p and v_p are rows `stride` floats
 * apart. Scores go to work[n]. Three passes (scores and their maximum, exponentials and their
 * sum, the weighted sum of values), each streaming its rows once. */
static inline __attribute__((always_inline)) void attend_generic(const float *q, const float *k,
                                                                 const float *v, size_t stride,
                                                                 int n, int hd, float scale,
                                                                 float *out, float *work) {
    const int h16 = hd & ~15, h8 = hd & ~7;
    float qs[256];
    for (int i = 0; i < hd; i++)
        qs[i] = q[i] * scale;
    float mx = -INFINITY;
    for (int p = 0; p < n; p++) {
        const float *kp = k + (size_t)p * stride;
        vf16 a = {0}, u, w;
        int i = 0;
        for (; i < h16; i += 16) {
            ld16(&u, qs + i), ld16(&w, kp + i);
            a += u * w;
        }
        float s = hsum16(&a);
        if (i < h8) {
            vf8 u8, w8;
            memcpy(&u8, qs + i, sizeof u8), memcpy(&w8, kp + i, sizeof w8);
            u8 *= w8;
            s += hsum8(&u8), i += 8;
        }
        for (; i < hd; i++)
            s += qs[i] * kp[i];
        work[p] = s;
        mx = s > mx ? s : mx;
    }
    vf16 sum16 = {0};
    int p = 0;
    for (; p + 16 <= n; p += 16) {
        vf16 e;
        ld16(&e, work + p);
        e -= mx;
        exp16(&e);
        memcpy(work + p, &e, sizeof e);
        sum16 += e;
    }
    float sum = hsum16(&sum16);
    if (p < n) { /* the last 1..15 scores, padded with -inf (exp 0) */
        float t[16];
        for (int i = 0; i < 16; i++)
            t[i] = p + i < n ? work[p + i] - mx : -INFINITY;
        vf16 e;
        ld16(&e, t);
        exp16(&e);
        for (int i = 0; p + i < n; i++)
            work[p + i] = e[i], sum += e[i];
    }
    const float inv = 1.0f / sum;
    int i = 0;
    for (; i < h16; i += 16) { /* one 16-float column of every value row at a time */
        vf16 a0 = {0}, a1 = {0};
        int r = 0;
        for (; r + 2 <= n; r += 2) {
            vf16 v0, v1;
            ld16(&v0, v + (size_t)r * stride + i), ld16(&v1, v + (size_t)(r + 1) * stride + i);
            a0 += work[r] * v0, a1 += work[r + 1] * v1;
        }
        if (r < n) {
            vf16 v0;
            ld16(&v0, v + (size_t)r * stride + i);
            a0 += work[r] * v0;
        }
        a0 = (a0 + a1) * inv;
        memcpy(out + i, &a0, sizeof a0);
    }
    for (; i < hd; i++) {
        float a = 0;
        for (int r = 0; r < n; r++)
            a += work[r] * v[(size_t)r * stride + i];
        out[i] = a * inv;
    }
}

/* The scalar kernel set's attention: the plain definition (dot, softmax, weighted sum). */
static void attend_scalar(const float *q, const float *k, const float *v, size_t stride, int n,
                          int hd, float scale, float *out, float *work) {
    float mx = -INFINITY;
    for (int p = 0; p < n; p++) {
        work[p] = dot_f32_scalar(q, k + (size_t)p * stride, hd) * scale;
        mx = fmaxf(mx, work[p]);
    }
    float sum = 0;
    for (int p = 0; p < n; p++)
        sum += work[p] = expf(work[p] - mx);
    for (int i = 0; i < hd; i++) {
        float a = 0;
        for (int p = 0; p < n; p++)
            a += work[p] * v[(size_t)p * stride + i];
        out[i] = a / sum;
    }
}

#if MATMUL_X86
TARGET_AVX2 static void attend_avx2(const float *q, const float *k, const float *v, size_t stride,
                                    int n, int hd, float scale, float *out, float *work) {
    attend_generic(q, k, v, stride, n, hd, scale, out, work);
}

__attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512dq"))) static void
attend_avx512(const float *q, const float *k, const float *v, size_t stride, int n, int hd,
              float scale, float *out, float *work) {
    attend_generic(q, k, v, stride, n, hd, scale, out, work);
}
#endif

struct kernels {
    const char *name;
    void (*attend)(const float *q, const float *k, const float *v, size_t stride, int n, int hd,
                   float scale, float *out, float *work);
    float (*dot_f32)(const float *a, const float *b, int n);
    float (*dot_f16)(const uint16_t *a, const float *b, int n);
    void (*quantize_x)(const float *x, struct block_q8x *y, int n);
    float (*dot_q8)(const void *w, const struct block_q8x *x, int nb);
    float (*dot_q4)(const void *w, const struct block_q8x *x, int nb);
    /* four input rows (xs floats / blocks apart) at once; NULL: use the single-row kernel */
    void (*dot4_f32)(const float *w, const float *x, size_t xs, int n, float *out);
    void (*dot4_q8)(const void *w, const struct block_q8x *x, size_t xs, int nb, float *out);
    void (*dot4_q4)(const void *w, const struct block_q8x *x, size_t xs, int nb, float *out);
    /* four F32 weight rows (ws floats apart) against one input; NULL: one row at a time */
    void (*dot_f32_w4)(const float *w, size_t ws, const float *x, int n, float *out);
    /* four quantized weight rows (ws bytes apart) against four inputs, out[row * 4 + input];
     * NULL: one weight row at a time */
    void (*dot44_q8)(const void *w, size_t ws, const struct block_q8x *x, size_t xs, int nb,
                     float *out);
    void (*dot44_q4)(const void *w, size_t ws, const struct block_q8x *x, size_t xs, int nb,
                     float *out);
};

static const struct kernels k_scalar = {"scalar",
                                        attend_scalar,
                                        dot_f32_scalar,
                                        dot_f16_scalar,
                                        quantize_q8x_scalar,
                                        dot_q8_scalar,
                                        dot_q4_scalar,
                                        NULL,
                                        NULL,
                                        NULL,
                                        NULL,
                                        NULL,
                                        NULL};
#if MATMUL_X86
static const struct kernels k_vnni = {
    "avx512vnni",      attend_avx512, dot_f32_avx512,  dot_f16_avx2, quantize_q8x_avx2,
    dot_q8_v512,       dot_q4_v512,   dot4_f32_avx512, dot_q8_v5124, dot_q4_v5124,
    dot_f32_w4_avx512, dot_q8_v51244, dot_q4_v51244};
static const struct kernels k_avx2 = {
    "avx2",      attend_avx2, dot_f32_avx2,  dot_f16_avx2, quantize_q8x_avx2,
    dot_q8_avx2, dot_q4_avx2, dot4_f32_avx2, dot_q8_avx24, dot_q4_avx24,
    NULL,        NULL,        NULL};
#endif

static int forced; /* enum matmul_kernels */

static const struct kernels *kernels_get(void) {
#if MATMUL_X86
    static int level = -1; /* 0 scalar, 1 avx2, 2 avx512vnni: what this CPU can run */
    if (level < 0) {
        unsigned a, b, c, d; /* clang's __builtin_cpu_supports does not know "f16c" */
        int f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
        int avx2 = f16c && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        level = !avx2 ? 0
                : __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
                        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")
                    ? 2
                    : 1;
    }
    if (forced == MATMUL_KERNELS_SCALAR) return &k_scalar;
    if (level >= 2 && forced != MATMUL_KERNELS_AVX2) return &k_vnni;
    if (level >= 1) return &k_avx2;
#endif
    return &k_scalar;
}

int matmul_force_kernels(int which) {
    int old = forced;
    forced = which;
    return old;
}

int matmul_forced_kernels(void) {
    return forced;
}

float matmul_dot_f32(const float *a, const float *b, int n) {
    return kernels_get()->dot_f32(a, b, n);
}

int matmul_attend(const float *q, const float *k, const float *v, size_t stride, int n, int hd,
                  float scale, float *out, float *work) {
    if (n < 1 || hd < 1 || hd > MATMUL_MAX_HEAD_DIM || stride < (size_t)hd)
        return disr_fail(DISR_E_ARG, "matmul: attention over %d rows of %d (stride %zu)", n, hd,
                         stride);
    kernels_get()->attend(q, k, v, stride, n, hd, scale, out, work);
    return DISR_OK;
}

const char *matmul_kernel_name(void) {
    return kernels_get()->name;
}

const char *matmul_blas_core(void) {
    const char *name = openblas_get_corename();
    return name ? name : "unknown";
}

const char *matmul_blas_better_core(void) {
#if MATMUL_X86
    if (getenv("OPENBLAS_CORETYPE")) return NULL; /* the user chose */
    const char *want = NULL;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
        want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        want = "Haswell";
    /* Only the SSE-era fallbacks are replaced: an AVX core OpenBLAS picked itself knows this CPU
     * better than a feature check does. */
    static const char *const weak[] = {"Prescott",  "Core2",       "Penryn", "Dunnington",
                                       "Nehalem",   "Sandybridge", "Katmai", "Coppermine",
                                       "Northwood", "unknown"};
    const char *have = matmul_blas_core();
    for (size_t i = 0; want && i < sizeof weak / sizeof weak[0]; i++)
        if (!strcasecmp(have, weak[i])) return want;
#endif
    return NULL;
}

/* Bytes of x quantized for the 32-element types, then for the super-block (K) types. */
static size_t q8x_bytes(int n, int cols) {
    return (size_t)n * (size_t)((cols + QK - 1) / QK) * sizeof(struct block_q8x);
}

size_t matmul_scratch_size(int n, int cols) {
    if (n <= 0 || cols <= 0) return 0;
    return q8x_bytes(n, cols) + (size_t)n * (size_t)(cols / QK_K) * sizeof(struct block_q8_K);
}

static int is_quantized(enum dtype t) {
    return t == DTYPE_Q8_0 || t == DTYPE_Q4_0;
}

int matmul_row_f32(const struct mat *w, int row, float *out) {
    size_t rb = dtype_row_size(w->type, w->cols);
    if (!rb || w->cols <= 0)
        return disr_fail(DISR_E_UNSUPPORTED, "matmul: type %d with %d columns", w->type, w->cols);
    if (row < 0 || row >= w->rows)
        return disr_fail(DISR_E_RANGE, "matmul: row %d of %d", row, w->rows);
    return dequantize_row(w->type, (const char *)w->data + (size_t)row * rb, out, w->cols);
}

/* One pool job: the concatenated rows of every task, cut into chunks of rows. */
struct mm_job {
    const struct kernels *k;
    const float *x;
    const struct block_q8x *xq;
    const struct block_q8_K *xk; /* x for the K types */
    int kq_level;                /* kquant.h's level matching k */
    int n, cols;
    const struct matmul_task *tasks;
    int task_of[MATMUL_MAX_TASKS]; /* index into tasks */
    int n_jobs;
    int chunk_start[MATMUL_MAX_TASKS + 1];
    int rows_per_chunk[MATMUL_MAX_TASKS];
};

static void mm_chunk(void *vctx, int chunk, int thread) {
    (void)thread;
    const struct mm_job *j = vctx;
    int t = 0;
    while (chunk >= j->chunk_start[t + 1])
        t++;
    const struct matmul_task *task = &j->tasks[j->task_of[t]];
    const struct mat *w = task->w;
    int r0 = (chunk - j->chunk_start[t]) * j->rows_per_chunk[t];
    int r1 = r0 + j->rows_per_chunk[t];
    if (r1 > w->rows) r1 = w->rows;
    const int n = j->n, cols = j->cols, nb = cols / QK;
    const size_t rb = dtype_row_size(w->type, cols);
    const char *base = w->data;
    float *out = task->out;
    const struct kernels *k = j->k;
    float o4[4], o16[16];
    int r = r0;
    /* Prefill: four weight rows by four inputs per pass where a 4x4 kernel exists. */
    void (*dot44)(const void *, size_t, const struct block_q8x *, size_t, int, float *) =
        w->type == DTYPE_Q8_0   ? k->dot44_q8
        : w->type == DTYPE_Q4_0 ? k->dot44_q4
                                : NULL;
    if (dot44 && n >= 4)
        for (; r + 4 <= r1; r += 4) {
            int i = 0;
            for (; i + 4 <= n; i += 4) {
                dot44(base + (size_t)r * rb, rb, j->xq + (size_t)i * nb, (size_t)nb, nb, o16);
                for (int q = 0; q < 4; q++)
                    for (int u = 0; u < 4; u++)
                        out[(size_t)(i + u) * w->rows + r + q] =
                            o16[q * 4 + u] + (task->bias ? task->bias[r + q] : 0.0f);
            }
            for (; i < n; i++)
                for (int q = 0; q < 4; q++) {
                    const void *row = base + (size_t)(r + q) * rb;
                    float s = w->type == DTYPE_Q8_0 ? k->dot_q8(row, j->xq + (size_t)i * nb, nb)
                                                    : k->dot_q4(row, j->xq + (size_t)i * nb, nb);
                    out[(size_t)i * w->rows + r + q] = s + (task->bias ? task->bias[r + q] : 0.0f);
                }
        }
    /* Decode (fewer inputs than the four-input kernel takes): four weight rows per pass. */
    if (w->type == DTYPE_F32 && n < 4 && k->dot_f32_w4)
        for (; r + 4 <= r1; r += 4)
            for (int i = 0; i < n; i++) {
                k->dot_f32_w4((const float *)(base + (size_t)r * rb), (size_t)cols,
                              j->x + (size_t)i * cols, cols, o4);
                for (int q = 0; q < 4; q++)
                    out[(size_t)i * w->rows + r + q] =
                        o4[q] + (task->bias ? task->bias[r + q] : 0.0f);
            }
    for (; r < r1; r++) {
        const void *row = base + (size_t)r * rb;
        const float bias = task->bias ? task->bias[r] : 0.0f;
        int i = 0;
        /* Four inputs per pass over the row where a tiled kernel exists (n > 1 only). */
        for (; i + 4 <= n; i += 4) {
            if (w->type == DTYPE_F32 && k->dot4_f32)
                k->dot4_f32(row, j->x + (size_t)i * cols, (size_t)cols, cols, o4);
            else if (w->type == DTYPE_Q8_0 && k->dot4_q8)
                k->dot4_q8(row, j->xq + (size_t)i * nb, (size_t)nb, nb, o4);
            else if (w->type == DTYPE_Q4_0 && k->dot4_q4)
                k->dot4_q4(row, j->xq + (size_t)i * nb, (size_t)nb, nb, o4);
            else
                break;
            for (int q = 0; q < 4; q++)
                out[(size_t)(i + q) * w->rows + r] = o4[q] + bias;
        }
        for (; i < n; i++) {
            float s;
            switch (w->type) {
            case DTYPE_F32:
                s = k->dot_f32(row, j->x + (size_t)i * cols, cols);
                break;
            case DTYPE_F16:
                s = k->dot_f16(row, j->x + (size_t)i * cols, cols);
                break;
            case DTYPE_Q8_0:
                s = k->dot_q8(row, j->xq + (size_t)i * nb, nb);
                break;
            case DTYPE_Q4_0:
                s = k->dot_q4(row, j->xq + (size_t)i * nb, nb);
                break;
            case DTYPE_BF16:
                s = kquant_dot_bf16(j->kq_level, row, j->x + (size_t)i * cols, cols);
                break;
            default: /* the K types */
                s = kquant_dot(j->kq_level, w->type, row, j->xk + (size_t)i * (cols / QK_K),
                               cols / QK_K);
                break;
            }
            out[(size_t)i * w->rows + r] = s + bias;
        }
    }
}

struct quant_job {
    const struct kernels *k;
    const float *x;
    struct block_q8x *xq;
    int cols;
};

static void quant_chunk(void *vctx, int chunk, int thread) {
    (void)thread;
    const struct quant_job *q = vctx;
    q->k->quantize_x(q->x + (size_t)chunk * q->cols, q->xq + (size_t)chunk * (q->cols / QK),
                     q->cols);
}

struct quant_k_job {
    const float *x;
    struct block_q8_K *xk;
    int cols;
};

static void quant_k_chunk(void *vctx, int chunk, int thread) {
    (void)thread;
    const struct quant_k_job *q = vctx;
    kquant_quantize_q8_K(q->x + (size_t)chunk * q->cols, q->xk + (size_t)chunk * (q->cols / QK_K),
                         q->cols);
}

/* kquant.h's level for a kernel set of ours. */
static int kq_level_of(const struct kernels *k) {
#if MATMUL_X86
    if (k == &k_vnni) return KQUANT_AVX512;
    if (k == &k_avx2) return KQUANT_AVX2;
#endif
    (void)k;
    return KQUANT_SCALAR;
}

int matmul_tasks(struct pool *pool, const float *x, int n, int cols,
                 const struct matmul_task *tasks, int n_tasks, void *scratch, size_t scratch_size,
                 unsigned flags) {
    if (n <= 0 || cols <= 0 || n_tasks <= 0 || n_tasks > MATMUL_MAX_TASKS)
        return disr_fail(DISR_E_ARG, "matmul: bad shape (n %d, cols %d, %d tasks)", n, cols,
                         n_tasks);
    int need_q = 0, need_k = 0;
    for (int t = 0; t < n_tasks; t++) {
        const struct mat *w = tasks[t].w;
        if (w->cols != cols)
            return disr_fail(DISR_E_RANGE, "matmul: weight has %d columns, input %d", w->cols,
                             cols);
        if (w->rows <= 0 || !w->data || !tasks[t].out)
            return disr_fail(DISR_E_ARG, "matmul: empty weight or output");
        if (!dtype_row_size(w->type, cols))
            return disr_fail(DISR_E_UNSUPPORTED,
                             "matmul: weight type %s with %d columns (its rows need a multiple "
                             "of %d)",
                             dtype_name(w->type), cols, dtype_block_size(w->type));
        need_q |= is_quantized(w->type);
        need_k |= kquant_is_ktype(w->type);
    }
    const struct kernels *k = kernels_get();
    struct mm_job job = {
        .k = k, .kq_level = kq_level_of(k), .x = x, .n = n, .cols = cols, .tasks = tasks};
    if (need_q || need_k) {
        if (scratch_size < matmul_scratch_size(n, cols) || !scratch)
            return disr_fail(DISR_E_ARG, "matmul: scratch of %zu bytes, need %zu", scratch_size,
                             matmul_scratch_size(n, cols));
    }
    if (need_q) {
        struct quant_job qj = {k, x, scratch, cols};
        pool_run(pool, n, quant_chunk, &qj);
        job.xq = scratch;
    }
    if (need_k) {
        struct quant_k_job qk = {x, (struct block_q8_K *)((char *)scratch + q8x_bytes(n, cols)),
                                 cols};
        pool_run(pool, n, quant_k_chunk, &qk);
        job.xk = qk.xk;
    }
    const int n_threads = pool_size(pool);
    job.chunk_start[0] = 0;
    for (int t = 0; t < n_tasks; t++) {
        const struct mat *w = tasks[t].w;
        if (w->type == DTYPE_F32 && n >= SGEMM_MIN_N && !(flags & MATMUL_NO_BLAS)) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, w->rows, cols, 1.0f, x, cols,
                        w->data, cols, 0.0f, tasks[t].out, w->rows);
            if (tasks[t].bias)
                for (int i = 0; i < n; i++)
                    for (int r = 0; r < w->rows; r++)
                        tasks[t].out[(size_t)i * w->rows + r] += tasks[t].bias[r];
            continue;
        }
        /* Enough chunks that a slow core can hand work to a fast one, each still big enough
         * (~16K multiply-adds) that claiming it costs nothing in comparison. */
        int rpc = w->rows / (n_threads * 16);
        int min_rows = 16384 / (n * cols) + 1;
        if (rpc < min_rows) rpc = min_rows;
        rpc = (rpc + 3) & ~3; /* whole groups of four rows for the 4x4 kernels */
        int j = job.n_jobs++;
        job.task_of[j] = t;
        job.rows_per_chunk[j] = rpc;
        job.chunk_start[j + 1] = job.chunk_start[j] + (w->rows + rpc - 1) / rpc;
    }
    if (job.n_jobs) pool_run(pool, job.chunk_start[job.n_jobs], mm_chunk, &job);
    return DISR_OK;
}

int matmul_apply(struct pool *pool, float *out, const float *x, int n, const struct mat *w,
                 void *scratch, size_t scratch_size) {
    struct matmul_task t = {w, out, NULL};
    return matmul_tasks(pool, x, n, w->cols, &t, 1, scratch, scratch_size, 0);
}

void matmul_set_blas_threads(int n) {
    if (n >= 1) openblas_set_num_threads(n);
}
