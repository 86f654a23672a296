/* The reference quantizers, bit-exact with ggml's (see quant.h). */
#include "model/quant.h"

#include <math.h>
#include <string.h>

#include "core/err.h"
#include "core/kquant.h"

/* Float -> small int as ggml's reference code does, but without undefined behaviour for the
 * non-finite inputs a damaged file can hold (finite inputs are unaffected). */
static int8_t to_i8_round(float v) {
    return v > -128.5f && v < 127.5f ? (int8_t)roundf(v) : 0;
}
static int q4_nibble(float v) {
    float t = v + 8.5f;
    int q = t >= 0.0f && t < 127.0f ? (int8_t)t : 0;
    return q < 15 ? q : 15;
}

static void quantize_q8_0(const float *x, struct block_q8_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float *xb = x + i * QK8_0;
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++)
            amax = fmaxf(amax, fabsf(xb[j]));
        const float d = amax / 127.0f;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        for (int j = 0; j < QK8_0; j++)
            y[i].qs[j] = to_i8_round(xb[j] * id);
    }
}

static void quantize_q4_0(const float *x, struct block_q4_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float *xb = x + i * QK4_0;
        /* d comes from the *signed* value of largest magnitude, so it maps to -8 exactly. */
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK4_0; j++)
            if (amax < fabsf(xb[j])) {
                amax = fabsf(xb[j]);
                max = xb[j];
            }
        const float d = max / -8.0f;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            int lo = q4_nibble(xb[j] * id), hi = q4_nibble(xb[QK4_0 / 2 + j] * id);
            y[i].qs[j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

int quantize_row(enum dtype t, const float *x, void *y, int64_t n) {
    if (dtype_row_size(t, n) == 0 && n != 0)
        return disr_fail(DISR_E_ARG, "quantize: %lld elements do not fit %s blocks", (long long)n,
                         dtype_name(t));
    switch (t) {
    case DTYPE_F32:
        memcpy(y, x, (size_t)n * 4);
        break;
    case DTYPE_F16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)y)[i] = fp32_to_fp16(x[i]);
        break;
    case DTYPE_Q8_0:
        quantize_q8_0(x, y, n / QK8_0);
        break;
    case DTYPE_Q4_0:
        quantize_q4_0(x, y, n / QK4_0);
        break;
    case DTYPE_BF16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)y)[i] = fp32_to_bf16(x[i]);
        break;
    default: /* the K types */
        quantize_row_k(t, x, y, n / QK_K);
        break;
    }
    return DISR_OK;
}
