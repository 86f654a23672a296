/* Float rows to the super-block types (Q2_K .. Q6_K), following ggml's reference quantizers
 * (quantize_row_q*_K_ref in ggml-quants.c, without importance weights): per sub-block, a scale
 * (and a min) fitted by a small search that minimises the weighted squared (Q2_K: absolute)
 * error; the sub-block scales themselves quantized to 4, 6 or 8 bits against one fp16 scale per
 * super-block; then every value re-quantized with the scale it will be read back with. The
 * layouts are core/kquant.h's. */
#include <math.h>
#include <string.h>

#include "core/kquant.h"
#include "model/quant.h"

#define GROUP_MAX_EPS 1e-15f

static inline int nearest_int(float v) {
    float f = v + 12582912.f;
    int32_t i;
    memcpy(&i, &f, 4);
    return (i & 0x007fffff) - 0x00400000;
}
static inline int clampi(int v, int lo, int hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

/* The value of largest magnitude, with its sign; 0 (and L zeroed) when all are negligible. */
static float signed_max(int n, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0;
    }
    return max;
}

/* Rounds x * iscale to levels in [-nmax, nmax) (into L when it is not NULL) and returns the
 * x^2-weighted sums of l * x and l^2 that score the fit. */
static void round_symmetric(int n, int nmax, const float *x, float iscale, int8_t *L, float *sumlx,
                            float *suml2) {
    *sumlx = *suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        if (L) L[i] = (int8_t)l;
        float w = x[i] * x[i];
        *sumlx += w * x[i] * l;
        *suml2 += w * l * l;
    }
}

static void add_offset(int n, int8_t *L, int nmax) {
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(L[i] + nmax);
}

/* Symmetric: L[i] + nmax in [0, 2 nmax) with x ~= scale * (L - nmax); scale searched around
 * -nmax / max. Returns the scale. */
static float fit_symmetric(int n, int nmax, const float *x, int8_t *L) {
    float max = signed_max(n, x, L), sumlx, suml2;
    if (max == 0) return 0;
    round_symmetric(n, nmax, x, -nmax / max, L, &sumlx, &suml2);
    float scale = suml2 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        float iscale = -(nmax + 0.1f * is) / max;
        round_symmetric(n, nmax, x, iscale, NULL, &sumlx, &suml2);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            round_symmetric(n, nmax, x, iscale, L, &sumlx, &suml2);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    add_offset(n, L, nmax);
    return scale;
}

/* Symmetric with a few rounds of moving single values to a better level (Q3_K's fit). */
static float fit_symmetric_refine(int n, int nmax, const float *x, int8_t *L) {
    float max = signed_max(n, x, L), sumlx, suml2;
    if (max == 0) return 0;
    round_symmetric(n, nmax, x, -nmax / max, L, &sumlx, &suml2);
    for (int itry = 0; itry < 5; itry++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i], slx = sumlx - w * x[i] * L[i];
            if (slx <= 0) continue;
            float sl2 = suml2 - w * L[i] * L[i];
            int nl = clampi(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (nl == L[i]) continue;
            slx += w * x[i] * nl;
            sl2 += w * nl * nl;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)nl;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    add_offset(n, L, nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric: x ~= scale * L - min, L in [0, nmax], min >= 0; a least-squares fit of scale and
 * min for each of nstep + 1 candidate level spacings, keeping the best (squared or absolute
 * error, weighted). Returns the scale, *the_min the min. */
static float fit_affine(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min,
                        float rmin, float rdelta, int nstep, int use_mad) {
    uint8_t Laux[32];
    float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min), scale = 1 / iscale, best_error = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * L[i] + min - x[i];
        best_error += w[i] * (use_mad ? fabsf(diff) : diff * diff);
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D <= 0) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float err = 0;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * Laux[i] + this_min - x[i];
            err += w[i] * (use_mad ? fabsf(diff) : diff * diff);
        }
        if (err < best_error) {
            memcpy(L, Laux, (size_t)n);
            best_error = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

static void quantize_q2_K(const float *x, struct block_q2_K *y) {
    uint8_t L[QK_K];
    float w[16], mins[16], scales[16], max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; j++) {
        for (int l = 0; l < 16; l++)
            w[l] = fabsf(x[16 * j + l]);
        scales[j] = fit_affine(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, 1);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    memset(y->scales, 0, sizeof y->scales);
    if (max_scale > 0) {
        float iscale = 15.f / max_scale;
        for (int j = 0; j < 16; j++)
            y->scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
    }
    y->d = fp32_to_fp16(max_scale > 0 ? max_scale / 15.f : 0.f);
    if (max_min > 0) {
        float iscale = 15.f / max_min;
        for (int j = 0; j < 16; j++)
            y->scales[j] |= (uint8_t)((unsigned)nearest_int(iscale * mins[j]) << 4);
    }
    y->dmin = fp32_to_fp16(max_min > 0 ? max_min / 15.f : 0.f);
    for (int j = 0; j < 16; j++) {
        const float d = fp16_to_fp32(y->d) * (float)(y->scales[j] & 0xF);
        if (!d) continue;
        const float dm = fp16_to_fp32(y->dmin) * (float)(y->scales[j] >> 4);
        for (int l = 0; l < 16; l++)
            L[16 * j + l] = (uint8_t)clampi(nearest_int((x[16 * j + l] + dm) / d), 0, 3);
    }
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *q = L + 128 * h + l;
            y->qs[32 * h + l] = (uint8_t)(q[0] | (q[32] << 2) | (q[64] << 4) | (q[96] << 6));
        }
}

static void quantize_q3_K(const float *x, struct block_q3_K *y) {
    int8_t L[QK_K];
    float scales[16], max_scale = 0, amax = 0;
    for (int j = 0; j < 16; j++) {
        scales[j] = fit_symmetric_refine(16, 4, x + 16 * j, L + 16 * j);
        if (fabsf(scales[j]) > amax) {
            amax = fabsf(scales[j]);
            max_scale = scales[j];
        }
    }
    memset(y->scales, 0, sizeof y->scales);
    if (max_scale) {
        float iscale = -32.f / max_scale;
        for (int j = 0; j < 16; j++) {
            int l = clampi(nearest_int(iscale * scales[j]), -32, 31) + 32;
            if (j < 8)
                y->scales[j] = (uint8_t)(l & 0xF);
            else
                y->scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
            y->scales[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
        }
        y->d = fp32_to_fp16(1 / iscale);
    } else {
        y->d = fp32_to_fp16(0.f);
    }
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? y->scales[j] & 0xF : y->scales[j - 8] >> 4;
        int sc = (lo | (((y->scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
        const float d = fp16_to_fp32(y->d) * (float)sc;
        if (!d) continue;
        for (int l = 0; l < 16; l++)
            L[16 * j + l] = (int8_t)(clampi(nearest_int(x[16 * j + l] / d), -4, 3) + 4);
    }
    memset(y->hmask, 0, sizeof y->hmask);
    for (int e = 0; e < QK_K; e++)
        if (L[e] > 3) {
            y->hmask[e % 32] |= (uint8_t)(1 << (e / 32));
            L[e] -= 4;
        }
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const int8_t *q = L + 128 * h + l;
            y->qs[32 * h + l] = (uint8_t)(q[0] | (q[32] << 2) | (q[64] << 4) | (q[96] << 6));
        }
}

/* Q4_K and Q5_K share everything but nmax and the search range. */
static void quantize_q45(const float *x, int nmax, float rmin, int nstep, uint16_t *dh,
                         uint16_t *mh, uint8_t *sc12, uint8_t L[QK_K]) {
    float w[32], mins[8], scales[8], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *xj = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++)
            sum_x2 += xj[l] * xj[l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++)
            w[l] = av_x + fabsf(xj[l]);
        scales[j] = fit_affine(32, nmax, xj, w, L + 32 * j, &mins[j], rmin, 0.1f, nstep, 0);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    memset(sc12, 0, 12);
    for (int j = 0; j < 8; j++) {
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            sc12[j] = ls;
            sc12[j + 4] = lm;
        } else {
            sc12[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            sc12[j - 4] |= (uint8_t)((ls >> 4) << 6);
            sc12[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *dh = fp32_to_fp16(max_scale / 63.f);
    *mh = fp32_to_fp16(max_min / 63.f);
    for (int j = 0; j < 8; j++) {
        int sc, m;
        if (j < 4) {
            sc = sc12[j] & 63;
            m = sc12[j + 4] & 63;
        } else {
            sc = (sc12[j + 4] & 0xF) | ((sc12[j - 4] >> 6) << 4);
            m = (sc12[j + 4] >> 4) | ((sc12[j] >> 6) << 4);
        }
        const float d = fp16_to_fp32(*dh) * (float)sc;
        if (!d) continue;
        const float dm = fp16_to_fp32(*mh) * (float)m;
        for (int l = 0; l < 32; l++)
            L[32 * j + l] = (uint8_t)clampi(nearest_int((x[32 * j + l] + dm) / d), 0, nmax);
    }
}

static void quantize_q4_K(const float *x, struct block_q4_K *y) {
    uint8_t L[QK_K];
    quantize_q45(x, 15, -1.f, 20, &y->d, &y->dmin, y->scales, L);
    for (int p = 0; p < 4; p++)
        for (int l = 0; l < 32; l++)
            y->qs[32 * p + l] = (uint8_t)(L[64 * p + l] | (L[64 * p + 32 + l] << 4));
}

static void quantize_q5_K(const float *x, struct block_q5_K *y) {
    uint8_t L[QK_K];
    quantize_q45(x, 31, -0.5f, 15, &y->d, &y->dmin, y->scales, L);
    memset(y->qh, 0, sizeof y->qh);
    for (int p = 0; p < 4; p++)
        for (int l = 0; l < 32; l++) {
            int lo = L[64 * p + l], hi = L[64 * p + 32 + l];
            if (lo > 15) {
                lo -= 16;
                y->qh[l] |= (uint8_t)(1 << (2 * p));
            }
            if (hi > 15) {
                hi -= 16;
                y->qh[l] |= (uint8_t)(1 << (2 * p + 1));
            }
            y->qs[32 * p + l] = (uint8_t)(lo | (hi << 4));
        }
}

static void quantize_q6_K(const float *x, struct block_q6_K *y) {
    int8_t L[QK_K];
    float scales[16], max_scale = 0, max_abs = 0;
    for (int k = 0; k < 16; k++) {
        scales[k] = fit_symmetric(16, 32, x + 16 * k, L + 16 * k);
        if (fabsf(scales[k]) > max_abs) {
            max_abs = fabsf(scales[k]);
            max_scale = scales[k];
        }
    }
    memset(y, 0, sizeof *y);
    if (max_abs < GROUP_MAX_EPS) return; /* d = +0 */
    float iscale = -128.f / max_scale;
    y->d = fp32_to_fp16(1 / iscale);
    for (int k = 0; k < 16; k++) {
        int v = nearest_int(iscale * scales[k]);
        y->scales[k] = (int8_t)(v < 127 ? v : 127);
    }
    for (int k = 0; k < 16; k++) {
        const float d = fp16_to_fp32(y->d) * (float)y->scales[k];
        if (!d) continue;
        for (int l = 0; l < 16; l++)
            L[16 * k + l] = (int8_t)(clampi(nearest_int(x[16 * k + l] / d), -32, 31) + 32);
    }
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const int8_t *q = L + 128 * h + l;
            y->ql[64 * h + l] = (uint8_t)((q[0] & 0xF) | ((q[64] & 0xF) << 4));
            y->ql[64 * h + 32 + l] = (uint8_t)((q[32] & 0xF) | ((q[96] & 0xF) << 4));
            y->qh[32 * h + l] = (uint8_t)((q[0] >> 4) | ((q[32] >> 4) << 2) | ((q[64] >> 4) << 4) |
                                          ((q[96] >> 4) << 6));
        }
}

void quantize_row_k(enum dtype t, const float *x, void *y, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += QK_K) {
        switch ((int)t) {
        case DTYPE_Q2_K:
            quantize_q2_K(x, (struct block_q2_K *)y + b);
            break;
        case DTYPE_Q3_K:
            quantize_q3_K(x, (struct block_q3_K *)y + b);
            break;
        case DTYPE_Q4_K:
            quantize_q4_K(x, (struct block_q4_K *)y + b);
            break;
        case DTYPE_Q5_K:
            quantize_q5_K(x, (struct block_q5_K *)y + b);
            break;
        case DTYPE_Q6_K:
            quantize_q6_K(x, (struct block_q6_K *)y + b);
            break;
        }
    }
}
