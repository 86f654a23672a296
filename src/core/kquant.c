/* Super-block types and BF16 (see kquant.h).
 *
 * Every K type is read the same way here: a super-block is eight groups of 32 elements, each
 * group's quants are unsigned bytes (0..63) once unpacked, and each sub-block of 16 has a signed
 * integer scale. Then dot(block, x) = d * xd * (sum_k sc_k * sum(q * x over k) - offset terms)
 * - dmin * xd * (sum of mins times the activation sums), all in exact integers up to the last
 * two float products: the unpacking differs per type, the arithmetic does not, and the scalar,
 * AVX2 and AVX-512 kernels agree bit for bit. */
#include "core/kquant.h"

#include <math.h>
#include <string.h>

/* The levels' bit-identity and the dequantization's needs every product rounded on its own: GCC
 * does not contract a*b - c into an FMA in ISO C mode, clang would where FMA is enabled. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define KQ_X86 1
#include <cpuid.h>
#include <immintrin.h>
#define KQ_AVX2   __attribute__((target("avx2,fma,f16c")))
#define KQ_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#else
#define KQ_X86 0
#endif

int kquant_is_ktype(int t) {
    return t >= DTYPE_Q2_K && t <= DTYPE_Q6_K;
}

size_t kquant_block_bytes(enum dtype t) {
    switch ((int)t) {
    case DTYPE_Q2_K:
        return sizeof(struct block_q2_K);
    case DTYPE_Q3_K:
        return sizeof(struct block_q3_K);
    case DTYPE_Q4_K:
        return sizeof(struct block_q4_K);
    case DTYPE_Q5_K:
        return sizeof(struct block_q5_K);
    case DTYPE_Q6_K:
        return sizeof(struct block_q6_K);
    }
    return 0;
}

/* ---- BF16 ---- */

uint16_t fp32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64); /* quiet NaN */
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

float bf16_to_fp32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- unpacking shared by dequantization and the kernels ---- */

/* Sub-block j's six-bit scale and min of a Q4_K / Q5_K block. */
static inline void scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Sub-block k's six-bit scale of a Q3_K block, minus 32. */
static inline int scale_q3(int k, const uint8_t *s) {
    int lo = k < 8 ? s[k] & 0xF : s[k - 8] >> 4;
    int hi = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
    return (lo | (hi << 4)) - 32;
}

/* Quant l (0..31) of group g (0..7), as an unsigned value. */
static inline int quant_q2(const struct block_q2_K *b, int g, int l) {
    return (b->qs[32 * (g / 4) + l] >> (2 * (g % 4))) & 3;
}
static inline int quant_q3(const struct block_q3_K *b, int g, int l) { /* q + 4 */
    return ((b->qs[32 * (g / 4) + l] >> (2 * (g % 4))) & 3) | (((b->hmask[l] >> g) & 1) << 2);
}
static inline int quant_q4(const struct block_q4_K *b, int g, int l) {
    return (b->qs[32 * (g / 2) + l] >> (4 * (g % 2))) & 0xF;
}
static inline int quant_q5(const struct block_q5_K *b, int g, int l) {
    return ((b->qs[32 * (g / 2) + l] >> (4 * (g % 2))) & 0xF) | (((b->qh[l] >> g) & 1) << 4);
}
static inline int quant_q6(const struct block_q6_K *b, int g, int l) { /* q + 32 */
    int h = g / 4, c = g % 4;
    return ((b->ql[64 * h + 32 * (c & 1) + l] >> (4 * (c >> 1))) & 0xF) |
           (((b->qh[32 * h + l] >> (2 * c)) & 3) << 4);
}

/* The per-super-block terms of a dot product: the 16 sub-block scales of the unsigned quants,
 * the integer to subtract from sum_k sc_k * dot_k (offset * sum_k sc_k * bsum_k), the mins'
 * integer sum and the two fp16 scales (converted by the kernel: F16C where it can). */
struct kq_terms {
    int16_t sc[16];
    int32_t sub, summ;
    uint16_t d, dmin;
};

static void terms_q2(const struct block_q2_K *b, const struct block_q8_K *x, struct kq_terms *t) {
    t->sub = t->summ = 0;
    for (int k = 0; k < 16; k++) {
        t->sc[k] = b->scales[k] & 0xF;
        t->summ += (b->scales[k] >> 4) * x->bsums[k];
    }
    t->d = b->d;
    t->dmin = b->dmin;
}
static void terms_q3(const struct block_q3_K *b, const struct block_q8_K *x, struct kq_terms *t) {
    t->sub = t->summ = 0;
    const uint8_t *s = b->scales;
    for (int k = 0; k < 8; k++) /* two loops: no branch on k in either */
        t->sc[k] = (int16_t)(((s[k] & 0xF) | (((s[8 + k % 4] >> (2 * (k / 4))) & 3) << 4)) - 32);
    for (int k = 8; k < 16; k++)
        t->sc[k] = (int16_t)(((s[k - 8] >> 4) | (((s[8 + k % 4] >> (2 * (k / 4))) & 3) << 4)) - 32);
    for (int k = 0; k < 16; k++)
        t->sub += 4 * t->sc[k] * x->bsums[k];
    t->d = b->d;
    t->dmin = 0;
}
static void terms_q45(uint16_t d, uint16_t dmin, const uint8_t *scales, const struct block_q8_K *x,
                      struct kq_terms *t) {
    t->sub = t->summ = 0;
    const uint8_t *q = scales;
    int m[8];
    for (int j = 0; j < 4; j++) { /* scale_min_k4, its two branches as two loops */
        t->sc[2 * j] = t->sc[2 * j + 1] = (int16_t)(q[j] & 63);
        m[j] = q[j + 4] & 63;
    }
    for (int j = 4; j < 8; j++) {
        t->sc[2 * j] = t->sc[2 * j + 1] = (int16_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        m[j] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
    for (int j = 0; j < 8; j++)
        t->summ += m[j] * (x->bsums[2 * j] + x->bsums[2 * j + 1]);
    t->d = d;
    t->dmin = dmin;
}
static void terms_q4(const struct block_q4_K *b, const struct block_q8_K *x, struct kq_terms *t) {
    terms_q45(b->d, b->dmin, b->scales, x, t);
}
static void terms_q5(const struct block_q5_K *b, const struct block_q8_K *x, struct kq_terms *t) {
    terms_q45(b->d, b->dmin, b->scales, x, t);
}
static void terms_q6(const struct block_q6_K *b, const struct block_q8_K *x, struct kq_terms *t) {
    t->sub = t->summ = 0;
    for (int k = 0; k < 16; k++) {
        t->sc[k] = b->scales[k];
        t->sub += 32 * t->sc[k] * x->bsums[k];
    }
    t->d = b->d;
    t->dmin = 0;
}

/* One super-block's contribution, from its exact integer sum (the same expression at every
 * kernel level, so the levels agree bit for bit); H2F converts the fp16 scales. */
#define KQ_FINISH(t, xd, sumi, H2F)                                                                \
    (H2F((t).d) * (xd) * (float)((sumi) - (t).sub) -                                               \
     ((t).summ ? H2F((t).dmin) * (xd) * (float)(t).summ : 0.0f))

/* ---- dequantization (ggml's reference order of float operations) ---- */

static void dequant_q2(const struct block_q2_K *b, float *y) {
    const float d = fp16_to_fp32(b->d), dmin = fp16_to_fp32(b->dmin);
    for (int e = 0; e < QK_K; e++) {
        const int sc = b->scales[e / 16];
        const float dl = d * (float)(sc & 0xF), ml = dmin * (float)(sc >> 4);
        const float p = dl * (float)quant_q2(b, e / 32, e % 32);
        y[e] = p - ml;
    }
}
static void dequant_q3(const struct block_q3_K *b, float *y) {
    const float d = fp16_to_fp32(b->d);
    for (int e = 0; e < QK_K; e++) {
        const float dl = d * (float)scale_q3(e / 16, b->scales);
        y[e] = dl * (float)(quant_q3(b, e / 32, e % 32) - 4);
    }
}
static void dequant_q45(uint16_t dh, uint16_t mh, const uint8_t *scales, int g, int q, float *y) {
    int sc, m;
    scale_min_k4(g, scales, &sc, &m);
    const float d = fp16_to_fp32(dh) * (float)sc, mn = fp16_to_fp32(mh) * (float)m;
    const float p = d * (float)q;
    *y = p - mn;
}
static void dequant_q4(const struct block_q4_K *b, float *y) {
    for (int e = 0; e < QK_K; e++)
        dequant_q45(b->d, b->dmin, b->scales, e / 32, quant_q4(b, e / 32, e % 32), &y[e]);
}
static void dequant_q5(const struct block_q5_K *b, float *y) {
    for (int e = 0; e < QK_K; e++)
        dequant_q45(b->d, b->dmin, b->scales, e / 32, quant_q5(b, e / 32, e % 32), &y[e]);
}
static void dequant_q6(const struct block_q6_K *b, float *y) {
    const float d = fp16_to_fp32(b->d);
    for (int e = 0; e < QK_K; e++) {
        const float ds = d * (float)b->scales[e / 16];
        y[e] = ds * (float)(quant_q6(b, e / 32, e % 32) - 32);
    }
}

void kquant_dequantize(enum dtype t, const void *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += QK_K) {
        switch ((int)t) {
        case DTYPE_Q2_K:
            dequant_q2((const struct block_q2_K *)x + i, y);
            break;
        case DTYPE_Q3_K:
            dequant_q3((const struct block_q3_K *)x + i, y);
            break;
        case DTYPE_Q4_K:
            dequant_q4((const struct block_q4_K *)x + i, y);
            break;
        case DTYPE_Q5_K:
            dequant_q5((const struct block_q5_K *)x + i, y);
            break;
        case DTYPE_Q6_K:
            dequant_q6((const struct block_q6_K *)x + i, y);
            break;
        }
    }
}

/* ---- activations ---- */

/* ggml's rounding trick (exact for |v| < 2^22, defined for any input). */
static inline int nearest_int(float v) {
    float f = v + 12582912.f;
    int32_t i;
    memcpy(&i, &f, 4);
    return (i & 0x007fffff) - 0x00400000;
}

void kquant_quantize_q8_K(const float *x, struct block_q8_K *y, int n) {
    for (int b = 0; b < n / QK_K; b++, x += QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        if (!amax) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = nearest_int(iscale * x[j]);
            y[b].qs[j] = (int8_t)(v < 127 ? (v > -127 ? v : -127) : 127);
        }
        for (int k = 0; k < QK_K / 16; k++) {
            int s = 0;
            for (int l = 0; l < 16; l++)
                s += y[b].qs[16 * k + l];
            y[b].bsums[k] = (int16_t)s;
        }
        y[b].d = 1 / iscale;
    }
}

/* ---- scalar kernels ---- */

#define DEFINE_DOT_SCALAR(T, BLOCK)                                                                \
    static float dot_##T##_scalar(const void *wv, const struct block_q8_K *x, int nb) {            \
        const struct BLOCK *w = wv;                                                                \
        float s = 0;                                                                               \
        for (int b = 0; b < nb; b++) {                                                             \
            struct kq_terms t;                                                                     \
            terms_##T(&w[b], &x[b], &t);                                                           \
            int32_t sumi = 0;                                                                      \
            for (int g = 0; g < 8; g++)                                                            \
                for (int h = 0; h < 2; h++) {                                                      \
                    int32_t acc = 0;                                                               \
                    for (int l = 16 * h; l < 16 * h + 16; l++)                                     \
                        acc += quant_##T(&w[b], g, l) * x[b].qs[32 * g + l];                       \
                    sumi += t.sc[2 * g + h] * acc;                                                 \
                }                                                                                  \
            s += KQ_FINISH(t, x[b].d, sumi, fp16_to_fp32);                                         \
        }                                                                                          \
        return s;                                                                                  \
    }
DEFINE_DOT_SCALAR(q2, block_q2_K)
DEFINE_DOT_SCALAR(q3, block_q3_K)
DEFINE_DOT_SCALAR(q4, block_q4_K)
DEFINE_DOT_SCALAR(q5, block_q5_K)
DEFINE_DOT_SCALAR(q6, block_q6_K)

static float dot_bf16_scalar(const uint16_t *w, const float *x, int n) {
    float s[4] = {0, 0, 0, 0};
    int i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++)
            s[j] += bf16_to_fp32(w[i + j]) * x[i + j];
    for (; i < n; i++)
        s[0] += bf16_to_fp32(w[i]) * x[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

/* ---- SIMD kernels ---- */
#if KQ_X86

/* Group g's 32 quants as unsigned bytes, the vector form of quant_* above. */
KQ_AVX2 static inline __m256i bits(__m256i v, int shift, int mask) {
    return _mm256_and_si256(_mm256_srli_epi16(v, shift), _mm256_set1_epi8((char)mask));
}
KQ_AVX2 static inline __m256i ld(const uint8_t *p) {
    return _mm256_loadu_si256((const __m256i *)p);
}
KQ_AVX2 static inline __m256i group_q2(const struct block_q2_K *b, int g) {
    return bits(ld(b->qs + 32 * (g / 4)), 2 * (g % 4), 3);
}
KQ_AVX2 static inline __m256i group_q3(const struct block_q3_K *b, int g) {
    __m256i lo = bits(ld(b->qs + 32 * (g / 4)), 2 * (g % 4), 3);
    return _mm256_or_si256(lo, _mm256_slli_epi16(bits(ld(b->hmask), g, 1), 2));
}
KQ_AVX2 static inline __m256i group_q4(const struct block_q4_K *b, int g) {
    return bits(ld(b->qs + 32 * (g / 2)), 4 * (g % 2), 0xF);
}
KQ_AVX2 static inline __m256i group_q5(const struct block_q5_K *b, int g) {
    __m256i lo = bits(ld(b->qs + 32 * (g / 2)), 4 * (g % 2), 0xF);
    return _mm256_or_si256(lo, _mm256_slli_epi16(bits(ld(b->qh), g, 1), 4));
}
KQ_AVX2 static inline __m256i group_q6(const struct block_q6_K *b, int g) {
    int h = g / 4, c = g % 4;
    __m256i lo = bits(ld(b->ql + 64 * h + 32 * (c & 1)), 4 * (c >> 1), 0xF);
    return _mm256_or_si256(lo, _mm256_slli_epi16(bits(ld(b->qh + 32 * h), 2 * c, 3), 4));
}

KQ_AVX2 static inline int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* The terms with the 16 scales as int16 lanes, built in registers: filling t->sc with 16 small
 * stores and loading it back as one vector stalls store forwarding once per super-block. The
 * integers are the scalar terms_* ones. */
KQ_AVX2 static inline __m256i bsums(const struct block_q8_K *x) {
    return _mm256_loadu_si256((const __m256i *)x->bsums);
}
KQ_AVX2 static inline __m256i vterms_q2(const struct block_q2_K *b, const struct block_q8_K *x,
                                        struct kq_terms *t) {
    __m128i raw = _mm_loadu_si128((const __m128i *)b->scales), low = _mm_set1_epi8(0xF);
    __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), low));
    t->sub = 0;
    t->summ = hsum_i32(_mm256_madd_epi16(mins, bsums(x)));
    t->d = b->d;
    t->dmin = b->dmin;
    return _mm256_cvtepu8_epi16(_mm_and_si128(raw, low));
}
/* Q3_K's 12 bytes to 16 six-bit scales by whole words (scale_q3 byte by byte), minus 32. */
KQ_AVX2 static inline __m256i vterms_q3(const struct block_q3_K *b, const struct block_q8_K *x,
                                        struct kq_terms *t) {
    uint32_t u[3], w[4];
    memcpy(u, b->scales, 12);
    const uint32_t lo4 = 0x0f0f0f0f, hi2 = 0x03030303;
    w[0] = (u[0] & lo4) | (((u[2] >> 0) & hi2) << 4);        /* scales 0-3 */
    w[1] = (u[1] & lo4) | (((u[2] >> 2) & hi2) << 4);        /* 4-7 */
    w[2] = ((u[0] >> 4) & lo4) | (((u[2] >> 4) & hi2) << 4); /* 8-11 */
    w[3] = ((u[1] >> 4) & lo4) | (((u[2] >> 6) & hi2) << 4); /* 12-15 */
    __m256i sc = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)w)),
                                  _mm256_set1_epi16(32));
    t->sub = 4 * hsum_i32(_mm256_madd_epi16(sc, bsums(x)));
    t->summ = 0;
    t->d = b->d;
    t->dmin = 0;
    return sc;
}
/* Q4_K/Q5_K's 12 bytes to 8 scales (bytes 0-7) and 8 mins (8-15), by whole words: what
 * scale_min_k4 does byte by byte. */
KQ_AVX2 static inline __m256i vterms_q45(uint16_t d, uint16_t dmin, const uint8_t *scales,
                                         const struct block_q8_K *x, struct kq_terms *t) {
    uint32_t u[3], w[4];
    memcpy(u, scales, 12);
    w[0] = u[0] & 0x3f3f3f3f;                                              /* scales 0-3 */
    w[1] = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);        /* scales 4-7 */
    w[2] = u[1] & 0x3f3f3f3f;                                              /* mins 0-3 */
    w[3] = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4); /* mins 4-7 */
    __m128i v = _mm_loadu_si128((const __m128i *)w);
    t->sub = 0;
    t->summ = hsum_i32(_mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_unpackhi_epi8(v, v)), bsums(x)));
    t->d = d;
    t->dmin = dmin;
    return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(v, v)); /* each scale for its two 16s */
}
KQ_AVX2 static inline __m256i vterms_q4(const struct block_q4_K *b, const struct block_q8_K *x,
                                        struct kq_terms *t) {
    return vterms_q45(b->d, b->dmin, b->scales, x, t);
}
KQ_AVX2 static inline __m256i vterms_q5(const struct block_q5_K *b, const struct block_q8_K *x,
                                        struct kq_terms *t) {
    return vterms_q45(b->d, b->dmin, b->scales, x, t);
}
KQ_AVX2 static inline __m256i vterms_q6(const struct block_q6_K *b, const struct block_q8_K *x,
                                        struct kq_terms *t) {
    __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
    t->sub = 32 * hsum_i32(_mm256_madd_epi16(sc, bsums(x)));
    t->summ = 0;
    t->d = b->d;
    t->dmin = 0;
    return sc;
}

/* Decode streams the weights once: prefetch well ahead of the loads, as matmul.c's kernels do
 * (its Q_PREFETCH comment has the measurements). */
#ifndef KQ_PREFETCH
#define KQ_PREFETCH 4096
#endif
#define PREFETCH_BLOCK(p, size)                                                                    \
    for (size_t o_ = 0; o_ < (size); o_ += 64)                                                     \
    _mm_prefetch((const char *)(p) + KQ_PREFETCH + o_, _MM_HINT_T0)

/* AVX2: per group, unsigned quants x signed activations in 16-bit pairs (<= 63*127*2, no
 * saturation), then times the sub-block scales into 32-bit lanes. */
#define DEFINE_DOT_AVX2(T, BLOCK)                                                                  \
    KQ_AVX2 static float dot_##T##_avx2(const void *wv, const struct block_q8_K *x, int nb) {      \
        const struct BLOCK *w = wv;                                                                \
        float s = 0;                                                                               \
        for (int b = 0; b < nb; b++) {                                                             \
            PREFETCH_BLOCK(&w[b], sizeof(struct BLOCK));                                           \
            struct kq_terms t;                                                                     \
            _mm256_storeu_si256((__m256i *)t.sc, vterms_##T(&w[b], &x[b], &t));                    \
            __m256i acc = _mm256_setzero_si256();                                                  \
            for (int g = 0; g < 8; g++) {                                                          \
                __m256i p = _mm256_maddubs_epi16(                                                  \
                    group_##T(&w[b], g), _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * g))); \
                __m256i sc = _mm256_set_m128i(_mm_set1_epi16(t.sc[2 * g + 1]),                     \
                                              _mm_set1_epi16(t.sc[2 * g]));                        \
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, sc));                             \
            }                                                                                      \
            s += KQ_FINISH(t, x[b].d, hsum_i32(acc), _cvtsh_ss);                                   \
        }                                                                                          \
        return s;                                                                                  \
    }
DEFINE_DOT_AVX2(q2, block_q2_K)
DEFINE_DOT_AVX2(q3, block_q3_K)
DEFINE_DOT_AVX2(q4, block_q4_K)
DEFINE_DOT_AVX2(q5, block_q5_K)
DEFINE_DOT_AVX2(q6, block_q6_K)

/* AVX-512: two groups (64 quants) per step; vpdpwssd multiplies the 16-bit pair sums by their
 * sub-block scales and accumulates in one instruction. Lane i of 32 belongs to sub-block i / 8
 * of the four the step covers. */
#define DEFINE_DOT_AVX512(T, BLOCK)                                                                \
    KQ_AVX512 static float dot_##T##_avx512(const void *wv, const struct block_q8_K *x, int nb) {  \
        const struct BLOCK *w = wv;                                                                \
        const __m512i lane_sb = _mm512_cvtepu8_epi16(                                              \
            _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2,  \
                             2, 3, 3, 3, 3, 3, 3, 3, 3));                                          \
        float s = 0;                                                                               \
        for (int b = 0; b < nb; b++) {                                                             \
            PREFETCH_BLOCK(&w[b], sizeof(struct BLOCK));                                           \
            struct kq_terms t;                                                                     \
            const __m512i scales = _mm512_castsi256_si512(vterms_##T(&w[b], &x[b], &t));           \
            __m512i acc = _mm512_setzero_si512();                                                  \
            for (int g = 0; g < 8; g += 2) {                                                       \
                __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(group_##T(&w[b], g)),        \
                                               group_##T(&w[b], g + 1), 1);                        \
                __m512i p = _mm512_maddubs_epi16(q, _mm512_loadu_si512(x[b].qs + 32 * g));         \
                __m512i sc = _mm512_permutexvar_epi16(                                             \
                    _mm512_add_epi16(lane_sb, _mm512_set1_epi16((short)(2 * g))), scales);         \
                acc = _mm512_dpwssd_epi32(acc, p, sc);                                             \
            }                                                                                      \
            s += KQ_FINISH(t, x[b].d, _mm512_reduce_add_epi32(acc), _cvtsh_ss);                    \
        }                                                                                          \
        return s;                                                                                  \
    }
DEFINE_DOT_AVX512(q2, block_q2_K)
DEFINE_DOT_AVX512(q3, block_q3_K)
DEFINE_DOT_AVX512(q4, block_q4_K)
DEFINE_DOT_AVX512(q5, block_q5_K)
DEFINE_DOT_AVX512(q6, block_q6_K)

KQ_AVX2 static float dot_bf16_avx2(const uint16_t *w, const float *x, int n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(w + i));
        __m256 w0 = _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_castsi256_si128(h)), 16));
        __m256 w1 = _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_extracti128_si256(h, 1)), 16));
        a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), a1);
    }
    __m256 a = _mm256_add_ps(a0, a1);
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    float s = _mm_cvtss_f32(lo);
    for (; i < n; i++)
        s += bf16_to_fp32(w[i]) * x[i];
    return s;
}

KQ_AVX512 static float dot_bf16_avx512(const uint16_t *w, const float *x, int n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        _mm_prefetch((const char *)(w + i) + KQ_PREFETCH, _MM_HINT_T0);
        __m512 w0 = _mm512_castsi512_ps(_mm512_slli_epi32(
            _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(w + i))), 16));
        __m512 w1 = _mm512_castsi512_ps(_mm512_slli_epi32(
            _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(w + i + 16))), 16));
        a0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + i + 16), a1);
    }
    float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    for (; i < n; i++)
        s += bf16_to_fp32(w[i]) * x[i];
    return s;
}
#endif

/* ---- dispatch ---- */

typedef float (*kdot_fn)(const void *w, const struct block_q8_K *x, int nb);
typedef float (*bdot_fn)(const uint16_t *w, const float *x, int n);

struct kq_kernels {
    kdot_fn dot[5]; /* Q2_K .. Q6_K */
    bdot_fn bf16;
};

static const struct kq_kernels KQ_LEVELS[] = {
    {{dot_q2_scalar, dot_q3_scalar, dot_q4_scalar, dot_q5_scalar, dot_q6_scalar}, dot_bf16_scalar},
#if KQ_X86
    {{dot_q2_avx2, dot_q3_avx2, dot_q4_avx2, dot_q5_avx2, dot_q6_avx2}, dot_bf16_avx2},
    {{dot_q2_avx512, dot_q3_avx512, dot_q4_avx512, dot_q5_avx512, dot_q6_avx512}, dot_bf16_avx512},
#endif
};

/* The highest level this CPU runs (the caller's choice is capped by it). */
static int cpu_level(void) {
#if KQ_X86
    static int level = -1;
    if (level < 0) {
        unsigned a, b, c, d; /* clang's __builtin_cpu_supports does not know "f16c" */
        int f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
        int avx2 = f16c && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        int avx512 = avx2 && __builtin_cpu_supports("avx512f") &&
                     __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                     __builtin_cpu_supports("avx512vnni");
        level = avx512 ? KQUANT_AVX512 : avx2 ? KQUANT_AVX2 : KQUANT_SCALAR;
    }
    return level;
#else
    return KQUANT_SCALAR;
#endif
}

static const struct kq_kernels *kernels_at(int level) {
    int top = cpu_level();
    return &KQ_LEVELS[level < 0 ? 0 : level > top ? top : level];
}

float kquant_dot(int level, enum dtype t, const void *w, const struct block_q8_K *x, int nb) {
    return kernels_at(level)->dot[(int)t - DTYPE_Q2_K](w, x, nb);
}

float kquant_dot_bf16(int level, const uint16_t *w, const float *x, int n) {
    return kernels_at(level)->bf16(w, x, n);
}
