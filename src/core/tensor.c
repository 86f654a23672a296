/* Element types, bit-exact with ggml's reference code paths (see tensor.h). */
#include "core/tensor.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/kquant.h"

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t fp32_to_fp16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return sign | (ax > 0x7f800000u ? 0x7e00 : 0x7c00);
    if (ax >= 0x477ff000u) return sign | 0x7c00; /* >= 65520 rounds to infinity */
    if (ax < 0x38800000u) {                      /* below 2^-14: half subnormal or zero */
        if (ax < 0x33000000u) return sign;       /* < 2^-25 (a tie at 2^-25 goes to even 0) */
        uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14..24: value / 2^-24 = m * 2^(e - 126) */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return sign | (uint16_t)r;
    }
    /* Normal: rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits to even;
     * a carry out of the mantissa correctly bumps the exponent. */
    uint32_t r = (ax - 0x38000000u) >> 13, rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1))) r++;
    return sign | (uint16_t)r;
}

float fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0x1f) return f32_from_bits(sign | 0x7f800000u | (m << 13));
    if (e == 0) {
        if (m == 0) return f32_from_bits(sign);
        /* Subnormal: value = m * 2^-24, exact in float. */
        float v = (float)m * 0x1p-24f;
        return sign ? -v : v;
    }
    return f32_from_bits(sign | ((e + 112) << 23) | (m << 13));
}

/* The types in one table: name, elements per block, bytes per block. */
static const struct {
    enum dtype t;
    const char *name;
    int block;
    size_t bytes;
} DTYPES[] = {
    {DTYPE_F32, "f32", 1, 4},
    {DTYPE_F16, "f16", 1, 2},
    {DTYPE_BF16, "bf16", 1, 2},
    {DTYPE_Q8_0, "q8_0", QK8_0, sizeof(struct block_q8_0)},
    {DTYPE_Q4_0, "q4_0", QK4_0, sizeof(struct block_q4_0)},
    {DTYPE_Q2_K, "q2_k", QK_K, sizeof(struct block_q2_K)},
    {DTYPE_Q3_K, "q3_k", QK_K, sizeof(struct block_q3_K)},
    {DTYPE_Q4_K, "q4_k", QK_K, sizeof(struct block_q4_K)},
    {DTYPE_Q5_K, "q5_k", QK_K, sizeof(struct block_q5_K)},
    {DTYPE_Q6_K, "q6_k", QK_K, sizeof(struct block_q6_K)},
};
#define N_DTYPES (sizeof DTYPES / sizeof DTYPES[0])

static int dtype_index(int t) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if ((int)DTYPES[i].t == t) return (int)i;
    return -1;
}

const char *dtype_name(enum dtype t) {
    int i = dtype_index((int)t);
    return i < 0 ? "?" : DTYPES[i].name;
}

int dtype_parse(const char *s, enum dtype *out) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (!strcasecmp(s, DTYPES[i].name)) {
            *out = DTYPES[i].t;
            return DISR_OK;
        }
    return disr_fail(DISR_E_ARG,
                     "unknown type '%s' (expected f32, f16, bf16, q8_0, q4_0, q2_k, q3_k, q4_k, "
                     "q5_k or q6_k)",
                     s);
}

int dtype_is_supported(int t) {
    return dtype_index(t) >= 0;
}

int dtype_block_size(enum dtype t) {
    int i = dtype_index((int)t);
    return i < 0 ? 0 : DTYPES[i].block;
}

size_t dtype_row_size(enum dtype t, int64_t n) {
    int i = dtype_index((int)t);
    if (i < 0 || n < 0 || n % DTYPES[i].block) return 0;
    return (size_t)(n / DTYPES[i].block) * DTYPES[i].bytes;
}

/* 16-bit floats (possibly unaligned in a file) to F32. */
static void halves_to_f32(const void *x, float *y, int64_t n, float (*conv)(uint16_t)) {
    const unsigned char *p = x;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        y[i] = conv(h);
    }
}

int dequantize_row(enum dtype t, const void *x, float *y, int64_t n) {
    if (dtype_row_size(t, n) == 0 && n != 0)
        return disr_fail(DISR_E_ARG, "dequantize: %lld elements do not fit %s blocks", (long long)n,
                         dtype_name(t));
    switch (t) {
    case DTYPE_F32:
        memcpy(y, x, (size_t)n * 4);
        break;
    case DTYPE_F16:
        halves_to_f32(x, y, n, fp16_to_fp32);
        break;
    case DTYPE_Q8_0: {
        const struct block_q8_0 *b = x;
        for (int64_t i = 0; i < n / QK8_0; i++) {
            const float d = fp16_to_fp32(b[i].d);
            for (int j = 0; j < QK8_0; j++)
                y[i * QK8_0 + j] = (float)b[i].qs[j] * d;
        }
        break;
    }
    case DTYPE_BF16:
        halves_to_f32(x, y, n, bf16_to_fp32);
        break;
    default: /* the K types */
        kquant_dequantize(t, x, y, n / QK_K);
        break;
    case DTYPE_Q4_0: {
        const struct block_q4_0 *b = x;
        for (int64_t i = 0; i < n / QK4_0; i++) {
            const float d = fp16_to_fp32(b[i].d);
            for (int j = 0; j < QK4_0 / 2; j++) {
                y[i * QK4_0 + j] = (float)((b[i].qs[j] & 0x0f) - 8) * d;
                y[i * QK4_0 + j + QK4_0 / 2] = (float)((b[i].qs[j] >> 4) - 8) * d;
            }
        }
        break;
    }
    }
    return DISR_OK;
}
