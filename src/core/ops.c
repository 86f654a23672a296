#include "core/ops.h"

#include <math.h>

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

/* Rotates pair i of every head by sign * pos * base^(-2i/d). Forward and backward share this so
 * they use bit-identical angles: a rotation's Jacobian is the rotation itself, so the backward
 * is the same map with the angle negated. */
static void rope_rotate(float *x, int n_heads, int head_dim, int pos, float base, int style,
                        float sign) {
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) {
        /* Pair i rotates with frequency base^(-2i/d) in both styles; only which two lanes form
         * the pair differs. */
        float theta = (float)pos * powf(base, -2.0f * (float)i / (float)head_dim);
        float c = cosf(theta), s = sign * sinf(theta);
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
    rope_rotate(x, n_heads, head_dim, pos, base, style, 1.0f);
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
    rope_rotate(dx, n_heads, head_dim, pos, base, style, -1.0f);
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

void attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                       int T, int n_head, int n_head_kv, int hd, int q_stride, int kv_stride) {
    const float scale = 1.0f / sqrtf((float)hd);
    const int group = n_head / n_head_kv;
    for (int h = 0; h < n_head; h++) {
        const int kvh = h / group;
        for (int t = 0; t < T; t++) {
            const float *qt = q + (int64_t)t * q_stride + h * hd;
            float *a = att + ((int64_t)h * T + t) * T;
            for (int s = 0; s <= t; s++) {
                const float *ks = k + (int64_t)s * kv_stride + kvh * hd;
                float dot = 0;
                for (int i = 0; i < hd; i++)
                    dot += qt[i] * ks[i];
                a[s] = dot * scale;
            }
            softmax_forward(a, t + 1);
            for (int s = t + 1; s < T; s++)
                a[s] = 0;
            float *o = out + (int64_t)t * q_stride + h * hd;
            for (int i = 0; i < hd; i++)
                o[i] = 0;
            for (int s = 0; s <= t; s++) {
                const float *vs = v + (int64_t)s * kv_stride + kvh * hd;
                float p = a[s];
                for (int i = 0; i < hd; i++)
                    o[i] += p * vs[i];
            }
        }
    }
}

void attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout,
                        const float *att, const float *q, const float *k, const float *v, int T,
                        int n_head, int n_head_kv, int hd, int q_stride, int kv_stride) {
    const float scale = 1.0f / sqrtf((float)hd);
    const int group = n_head / n_head_kv;
    for (int h = 0; h < n_head; h++) {
        const int kvh = h / group;
        for (int t = 0; t < T; t++) {
            const float *a = att + ((int64_t)h * T + t) * T;
            const float *dot_ = dout + (int64_t)t * q_stride + h * hd;
            /* out_t = sum_s a_s v_s: dv_s += a_s dout_t, da_s = dot(dout_t, v_s) */
            for (int s = 0; s <= t; s++) {
                const float *vs = v + (int64_t)s * kv_stride + kvh * hd;
                float *dvs = dv + (int64_t)s * kv_stride + kvh * hd;
                float p = a[s], d = 0;
                for (int i = 0; i < hd; i++) {
                    d += dot_[i] * vs[i];
                    dvs[i] += p * dot_[i];
                }
                datt[s] = d; /* scratch holds dL/da before the softmax backward */
            }
            /* Through the softmax (in place on the scratch row), then the scaled dot. */
            double sum = 0;
            for (int s = 0; s <= t; s++)
                sum += (double)datt[s] * a[s];
            const float *qt = q + (int64_t)t * q_stride + h * hd;
            float *dqt = dq + (int64_t)t * q_stride + h * hd;
            for (int s = 0; s <= t; s++) {
                float dpre = a[s] * (datt[s] - (float)sum) * scale;
                const float *ks = k + (int64_t)s * kv_stride + kvh * hd;
                float *dks = dk + (int64_t)s * kv_stride + kvh * hd;
                for (int i = 0; i < hd; i++) {
                    dqt[i] += dpre * ks[i];
                    dks[i] += dpre * qt[i];
                }
            }
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
                                   const float *dlosses, int rows, int V) {
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
        float lse = logsumexp(l, V);
        for (int i = 0; i < V; i++)
            d[i] = expf(l[i] - lse) * dl;
        d[targets[r]] -= dl;
    }
}
