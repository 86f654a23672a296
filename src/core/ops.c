#include "core/ops.h"

#include <math.h>
#include <stddef.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int rows, int n,
                     float eps) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (int64_t)r * n;
        float *o = out + (int64_t)r * n;
        double ss = 0;
        for (int i = 0; i < n; i++)
            ss += (double)xr[i] * xr[i];
        float s = 1.0f / sqrtf((float)(ss / n) + eps);
        for (int i = 0; i < n; i++)
            o[i] = xr[i] * s * w[i];
        if (rstd) rstd[r] = s;
    }
}

/* cos and sin of pair i's angle at `pos`. Pair i rotates with frequency base^(-2i/d) in both
 * styles (divided by a scaling factor, 1 without one); only which two lanes form the pair
 * differs. */
static inline void rope_pair(float *cs, int head_dim, int pos, float base, int i, float factor) {
    float theta = (float)pos * powf(base, -2.0f * (float)i / (float)head_dim) / factor;
    cs[0] = cosf(theta);
    cs[1] = sinf(theta);
}

void rope_angles(float *cs, int head_dim, int pos, float base) {
    for (int i = 0; i < head_dim / 2; i++)
        rope_pair(cs + 2 * i, head_dim, pos, base, i, 1.0f);
}

void rope_angles_scaled(float *cs, int head_dim, int pos, float base, const float *factors) {
    for (int i = 0; i < head_dim / 2; i++)
        rope_pair(cs + 2 * i, head_dim, pos, base, i, factors[i]);
}

/* Rotates pair i of every head by sign * angle i, from the table row `cs` or, when cs is NULL,
 * computed on the spot by the same expressions. Forward and backward share this so they use
 * bit-identical angles: a rotation's Jacobian is the rotation itself, so the backward is the
 * same map with the angle negated. */
static void rope_rotate(float *x, int n_heads, int head_dim, int pos, float base, const float *cs,
                        int style, float sign) {
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) {
        float pair[2];
        if (!cs) rope_pair(pair, head_dim, pos, base, i, 1.0f);
        const float *p = cs ? cs + 2 * i : pair;
        float c = p[0], s = sign * p[1];
        int a = style == 2 ? i : 2 * i;
        int b = style == 2 ? i + half : 2 * i + 1;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (int64_t)h * head_dim;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

void rope_forward(float *x, int n_heads, int head_dim, int pos, float base, int style) {
    rope_rotate(x, n_heads, head_dim, pos, base, NULL, style, 1.0f);
}

void rope_forward_cached(float *x, int n_heads, int head_dim, const float *cs, int style) {
    rope_rotate(x, n_heads, head_dim, 0, 0, cs, style, 1.0f);
}

void softmax_forward(float *x, int n) {
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max) max = x[i];
    float sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}

void swiglu_forward(float *out, const float *gate, const float *up, int n) {
    for (int i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

float logsumexp(const float *x, int n) {
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max) max = x[i];
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp((double)(x[i] - max));
    return max + (float)log(sum);
}

/* ---- backward ---- */

void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                      const float *rstd, int rows, int n) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (int64_t)r * n, *dr = dout + (int64_t)r * n;
        float *dxr = dx + (int64_t)r * n;
        float s = rstd[r];
        /* y_i = x_i s w_i with s = (mean(x^2) + eps)^-1/2, so ds/dx_j = -s^3 x_j / n and
         * dx_j = s w_j dy_j - x_j s^3 / n * sum_i dy_i w_i x_i. */
        double dot = 0;
        for (int i = 0; i < n; i++)
            dot += (double)dr[i] * w[i] * xr[i];
        float k = (float)(dot * s * s * s / n);
        for (int i = 0; i < n; i++) {
            dxr[i] += s * w[i] * dr[i] - k * xr[i];
            dw[i] += dr[i] * xr[i] * s;
        }
    }
}

void rope_backward(float *dx, int n_heads, int head_dim, int pos, float base, int style) {
    rope_rotate(dx, n_heads, head_dim, pos, base, NULL, style, -1.0f);
}

void rope_backward_cached(float *dx, int n_heads, int head_dim, const float *cs, int style) {
    rope_rotate(dx, n_heads, head_dim, 0, 0, cs, style, -1.0f);
}

void softmax_backward(float *dx, const float *dy, const float *y, int n) {
    double dot = 0;
    for (int i = 0; i < n; i++)
        dot += (double)dy[i] * y[i];
    for (int i = 0; i < n; i++)
        dx[i] += y[i] * (dy[i] - (float)dot);
}

void swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                     const float *up, int n) {
    for (int i = 0; i < n; i++) {
        float g = gate[i];
        float sig = 1.0f / (1.0f + expf(-g));
        float silu = g * sig;
        /* silu'(g) = sig + g sig (1 - sig) */
        dgate[i] += dout[i] * up[i] * (sig + silu * (1.0f - sig));
        dup[i] += dout[i] * silu;
    }
}

/* Dot product over one head (hd floats). Vectorized by hand: without -ffast-math
 * the compiler may not reorder a float reduction, so a plain loop stays scalar. */
static inline float head_dot(const float *a, const float *b, int n) {
    int i = 0;
    float s = 0;
#if defined(__AVX2__) && defined(__FMA__)
    if (n >= 8) {
        __m256 acc = _mm256_setzero_ps();
        for (; i + 8 <= n; i += 8)
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
        s = _mm_cvtss_f32(h);
    }
#endif
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* y[0..hd) += sum over i < n of w[i * ws] * (row i of x, rows xs apart). Each 32-float block of y
 * stays in registers across all n rows: adding row by row into memory chains every FMA behind a
 * store-to-load forward, which had made the attention backward the slowest op of training. */
static void head_weighted_sum(float *y, const float *w, int64_t ws, const float *x, int64_t xs,
                              int n, int hd) {
    int j = 0;
#if defined(__AVX2__) && defined(__FMA__)
    for (; j + 32 <= hd; j += 32) {
        __m256 a0 = _mm256_loadu_ps(y + j), a1 = _mm256_loadu_ps(y + j + 8),
               a2 = _mm256_loadu_ps(y + j + 16), a3 = _mm256_loadu_ps(y + j + 24);
        for (int i = 0; i < n; i++) {
            const __m256 wi = _mm256_set1_ps(w[i * ws]);
            const float *xi = x + i * xs + j;
            a0 = _mm256_fmadd_ps(wi, _mm256_loadu_ps(xi), a0);
            a1 = _mm256_fmadd_ps(wi, _mm256_loadu_ps(xi + 8), a1);
            a2 = _mm256_fmadd_ps(wi, _mm256_loadu_ps(xi + 16), a2);
            a3 = _mm256_fmadd_ps(wi, _mm256_loadu_ps(xi + 24), a3);
        }
        _mm256_storeu_ps(y + j, a0), _mm256_storeu_ps(y + j + 8, a1);
        _mm256_storeu_ps(y + j + 16, a2), _mm256_storeu_ps(y + j + 24, a3);
    }
    /* 8, 16 or 24 floats left (head sizes 16 and 24 are common). One loop over blocks of up to
     * four vectors with the counts as variables measured 25 % slower at head size 24: the
     * accumulators then live in memory. */
    const int rest = (hd - j) / 8;
    if (rest > 0) {
        const __m256 z = _mm256_setzero_ps();
        __m256 a0 = _mm256_loadu_ps(y + j), a1 = rest > 1 ? _mm256_loadu_ps(y + j + 8) : z,
               a2 = rest > 2 ? _mm256_loadu_ps(y + j + 16) : z;
        for (int i = 0; i < n; i++) {
            const __m256 wi = _mm256_set1_ps(w[i * ws]);
            const float *xi = x + i * xs + j;
            a0 = _mm256_fmadd_ps(wi, _mm256_loadu_ps(xi), a0);
            if (rest > 1) a1 = _mm256_fmadd_ps(wi, _mm256_loadu_ps(xi + 8), a1);
            if (rest > 2) a2 = _mm256_fmadd_ps(wi, _mm256_loadu_ps(xi + 16), a2);
        }
        _mm256_storeu_ps(y + j, a0);
        if (rest > 1) _mm256_storeu_ps(y + j + 8, a1);
        if (rest > 2) _mm256_storeu_ps(y + j + 16, a2);
        j += 8 * rest;
    }
#endif
    for (; j < hd; j++) {
        float a = y[j];
        for (int i = 0; i < n; i++)
            a += w[i * ws] * x[i * xs + j];
        y[j] = a;
    }
}

void attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                       int T, int n_head, int n_head_kv, int hd, int q_stride, int kv_stride) {
    const float scale = 1.0f / sqrtf((float)hd);
    const int group = n_head / n_head_kv;
    for (int h = 0; h < n_head; h++) {
        const int kvh = h / group;
        for (int t = 0; t < T; t++) {
            const float *qt = q + (int64_t)t * q_stride + h * hd;
            float *a = att + ((int64_t)h * T + t) * T;
            for (int s = 0; s <= t; s++)
                a[s] = head_dot(qt, k + (int64_t)s * kv_stride + kvh * hd, hd) * scale;
            softmax_forward(a, t + 1);
            for (int s = t + 1; s < T; s++)
                a[s] = 0;
            float *o = out + (int64_t)t * q_stride + h * hd;
            for (int i = 0; i < hd; i++)
                o[i] = 0;
            head_weighted_sum(o, a, 1, v + kvh * hd, kv_stride, t + 1, hd);
        }
    }
}

/* Two passes per head. By query row t: the score gradients ds[t][s] and dq_t = sum_s ds k_s.
 * Then by key row s: dv_s = sum_t att[t][s] dout_t and dk_s = sum_t ds[t][s] q_t, so every
 * output row is summed once in registers instead of being updated T times in memory. */
void attention_backward(float *dq, float *dk, float *dv, float *dscore, const float *dout,
                        const float *att, const float *q, const float *k, const float *v, int T,
                        int n_head, int n_head_kv, int hd, int q_stride, int kv_stride) {
    const float scale = 1.0f / sqrtf((float)hd);
    const int group = n_head / n_head_kv;
    for (int h = 0; h < n_head; h++) {
        const int kvh = h / group;
        const float *ah = att + (int64_t)h * T * T;
        const float *kh = k + kvh * hd, *vh = v + kvh * hd;
        for (int t = 0; t < T; t++) {
            const float *a = ah + (int64_t)t * T;
            const float *dot_ = dout + (int64_t)t * q_stride + h * hd;
            float *ds = dscore + (int64_t)t * T;
            /* out_t = sum_s a_s v_s, so d a_s = dot(dout_t, v_s); then through the softmax,
             * y (dy - dot(dy, y)), and the scale of the dot product. */
            double sum = 0;
            for (int s = 0; s <= t; s++) {
                ds[s] = head_dot(dot_, vh + (int64_t)s * kv_stride, hd);
                sum += (double)ds[s] * a[s];
            }
            for (int s = 0; s <= t; s++)
                ds[s] = a[s] * (ds[s] - (float)sum) * scale;
            head_weighted_sum(dq + (int64_t)t * q_stride + h * hd, ds, 1, kh, kv_stride, t + 1, hd);
        }
        for (int s = 0; s < T; s++) {
            const int64_t rows = (int64_t)s * q_stride + h * hd, col = (int64_t)s * T + s;
            const int64_t off = (int64_t)s * kv_stride + kvh * hd;
            head_weighted_sum(dv + off, ah + col, T, dout + rows, q_stride, T - s, hd);
            head_weighted_sum(dk + off, dscore + col, T, q + rows, q_stride, T - s, hd);
        }
    }
}

void crossentropy_forward(float *losses, const float *logits, const int32_t *targets, int rows,
                          int V) {
    for (int r = 0; r < rows; r++) {
        const float *l = logits + (int64_t)r * V;
        losses[r] = logsumexp(l, V) - l[targets[r]];
    }
}

void crossentropy_softmax_backward(float *dlogits, const float *logits, const int32_t *targets,
                                   const float *losses, const float *dlosses, int rows, int V) {
    for (int r = 0; r < rows; r++) {
        const float *l = logits + (int64_t)r * V;
        float *d = dlogits + (int64_t)r * V;
        float dl = dlosses[r];
        if (dl == 0) {
            for (int i = 0; i < V; i++)
                d[i] = 0;
            continue;
        }
        /* Every element is read before it is written at the same index: safe in place. */
        float lse = losses[r] + l[targets[r]];
        for (int i = 0; i < V; i++)
            d[i] = expf(l[i] - lse) * dl;
        d[targets[r]] -= dl;
    }
}

void crossentropy_soft_forward(float *losses, const float *logits, const float *probs, int rows,
                               int V) {
    for (int r = 0; r < rows; r++) {
        const float *l = logits + (int64_t)r * V, *q = probs + (int64_t)r * V;
        double dot = 0;
        for (int i = 0; i < V; i++)
            dot += (double)q[i] * l[i];
        losses[r] = logsumexp(l, V) - (float)dot;
    }
}

void crossentropy_soft_softmax_backward(float *dlogits, const float *logits, const float *probs,
                                        const float *dlosses, int rows, int V) {
    for (int r = 0; r < rows; r++) {
        const float *l = logits + (int64_t)r * V, *q = probs + (int64_t)r * V;
        float *d = dlogits + (int64_t)r * V;
        float dl = dlosses[r];
        /* The log-sum-exp reads the whole row before any element is written. */
        float lse = dl == 0 ? 0 : logsumexp(l, V);
        for (int i = 0; i < V; i++)
            d[i] = dl == 0 ? 0 : (expf(l[i] - lse) - q[i]) * dl;
    }
}
