#include "core/ops.h"

#include <math.h>
#include <stddef.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "core/gemm.h"

#if defined(__AVX512F__) && defined(__AVX512VL__) && defined(__FMA__)
#define OPS_V512 1
/* Lanes [0, n) of 16, n >= 1: tails run through the same vector code, so an element's result
 * does not depend on where a row or a chunk begins. */
static inline __mmask16 tail_mask(int n) {
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

/* e^x to about 2 ulp (Cephes' polynomial for e^r, |r| <= ln2 / 2, scaled by 2^n). Inputs below
 * -104 give 0 and above 88.7 give inf, as expf does. */
static inline __m512 exp_v512(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
    x = _mm512_min_ps(x, _mm512_set1_ps(88.8f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}
#endif

#ifdef OPS_V512
/* sum of a[i] * b[i] in double (the norms' reductions), 8 lanes at a time. */
static inline double dot_f64(const float *a, const float *b, int n) {
    __m512d acc = _mm512_setzero_pd();
    for (int i = 0; i < n; i += 8) {
        __mmask8 m = (__mmask8)tail_mask(n - i < 8 ? n - i : 8);
        acc = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, a + i)),
                              _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, b + i)), acc);
    }
    return _mm512_reduce_add_pd(acc);
}
#endif

void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int rows, int n,
                     float eps) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (int64_t)r * n;
        float *o = out + (int64_t)r * n;
#ifdef OPS_V512
        float s = 1.0f / sqrtf((float)(dot_f64(xr, xr, n) / n) + eps);
        const __m512 vs = _mm512_set1_ps(s);
        for (int i = 0; i < n; i += 16) {
            __mmask16 m = tail_mask(n - i);
            _mm512_mask_storeu_ps(o + i, m,
                                  _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, xr + i), vs),
                                                _mm512_maskz_loadu_ps(m, w + i)));
        }
#else
        double ss = 0;
        for (int i = 0; i < n; i++)
            ss += (double)xr[i] * xr[i];
        float s = 1.0f / sqrtf((float)(ss / n) + eps);
        for (int i = 0; i < n; i++)
            o[i] = xr[i] * s * w[i];
#endif
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
#ifdef OPS_V512
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
        __m512 sig =
            _mm512_div_ps(one, _mm512_add_ps(one, exp_v512(_mm512_sub_ps(_mm512_setzero_ps(), g))));
        _mm512_mask_storeu_ps(
            out + i, m, _mm512_mul_ps(_mm512_mul_ps(g, sig), _mm512_maskz_loadu_ps(m, up + i)));
    }
    return;
#endif
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
#ifdef OPS_V512
        __m512d acc = _mm512_setzero_pd();
        for (int i = 0; i < n; i += 8) {
            __mmask8 m = (__mmask8)tail_mask(n - i < 8 ? n - i : 8);
            __m256 dwx = _mm256_mul_ps(
                _mm256_mul_ps(_mm256_maskz_loadu_ps(m, dr + i), _mm256_maskz_loadu_ps(m, w + i)),
                _mm256_maskz_loadu_ps(m, xr + i));
            acc = _mm512_add_pd(acc, _mm512_cvtps_pd(dwx));
        }
        float k = (float)(_mm512_reduce_add_pd(acc) * s * s * s / n);
        const __m512 vs = _mm512_set1_ps(s), vk = _mm512_set1_ps(k);
        for (int i = 0; i < n; i += 16) {
            __mmask16 m = tail_mask(n - i);
            __m512 d = _mm512_maskz_loadu_ps(m, dr + i), xv = _mm512_maskz_loadu_ps(m, xr + i);
            __m512 g =
                _mm512_sub_ps(_mm512_mul_ps(_mm512_mul_ps(vs, _mm512_maskz_loadu_ps(m, w + i)), d),
                              _mm512_mul_ps(vk, xv));
            _mm512_mask_storeu_ps(dxr + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, dxr + i), g));
            _mm512_mask_storeu_ps(dw + i, m,
                                  _mm512_add_ps(_mm512_maskz_loadu_ps(m, dw + i),
                                                _mm512_mul_ps(_mm512_mul_ps(d, xv), vs)));
        }
#else
        double dot = 0;
        for (int i = 0; i < n; i++)
            dot += (double)dr[i] * w[i] * xr[i];
        float k = (float)(dot * s * s * s / n);
        for (int i = 0; i < n; i++) {
            dxr[i] += s * w[i] * dr[i] - k * xr[i];
            dw[i] += dr[i] * xr[i] * s;
        }
#endif
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
#ifdef OPS_V512
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 g = _mm512_maskz_loadu_ps(m, gate + i), u = _mm512_maskz_loadu_ps(m, up + i),
               d = _mm512_maskz_loadu_ps(m, dout + i);
        __m512 sig =
            _mm512_div_ps(one, _mm512_add_ps(one, exp_v512(_mm512_sub_ps(_mm512_setzero_ps(), g))));
        __m512 silu = _mm512_mul_ps(g, sig);
        __m512 dsilu = _mm512_fmadd_ps(silu, _mm512_sub_ps(one, sig), sig);
        _mm512_mask_storeu_ps(dgate + i, m, _mm512_mul_ps(_mm512_mul_ps(d, u), dsilu));
        _mm512_mask_storeu_ps(dup + i, m, _mm512_mul_ps(d, silu));
    }
    return;
#endif
    for (int i = 0; i < n; i++) {
        float g = gate[i];
        float sig = 1.0f / (1.0f + expf(-g));
        float silu = g * sig;
        /* silu'(g) = sig + g sig (1 - sig) */
        dgate[i] = dout[i] * up[i] * (sig + silu * (1.0f - sig));
        dup[i] = dout[i] * silu;
    }
}

size_t attention_scratch_floats(int T, int hd) {
    int n = T > hd ? T : hd;
    return (size_t)T * T + gemm_scratch_floats(n, n, 1);
}

/* Row t of one head's scores, in place: a[s] = softmax over s <= t of scale * a[s]; a[s] = 0
 * for s > t (the products after it read across the diagonal and count on those zeros). */
static void softmax_causal_row(float *a, int n, int T, float scale) {
    int s = 0;
    float max = -INFINITY, sum = 0;
#ifdef OPS_V512
    __m512 vmax = _mm512_set1_ps(-INFINITY), vsum = _mm512_setzero_ps();
    const __m512 vs = _mm512_set1_ps(scale);
    for (; s < n; s += 16) {
        __mmask16 m = tail_mask(n - s);
        vmax =
            _mm512_mask_max_ps(vmax, m, vmax, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, a + s), vs));
    }
    max = _mm512_reduce_max_ps(vmax);
    const __m512 vm = _mm512_set1_ps(max);
    for (s = 0; s < n; s += 16) {
        __mmask16 m = tail_mask(n - s);
        __m512 e = exp_v512(_mm512_fmsub_ps(_mm512_maskz_loadu_ps(m, a + s), vs, vm));
        vsum = _mm512_mask_add_ps(vsum, m, vsum, e);
        _mm512_mask_storeu_ps(a + s, m, e);
    }
    sum = _mm512_reduce_add_ps(vsum);
    const __m512 inv = _mm512_set1_ps(1.0f / sum);
    for (s = 0; s < n; s += 16) {
        __mmask16 m = tail_mask(n - s);
        _mm512_mask_storeu_ps(a + s, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, a + s), inv));
    }
#else
    for (s = 0; s < n; s++)
        if (a[s] * scale > max) max = a[s] * scale;
    for (s = 0; s < n; s++) {
        a[s] = expf(a[s] * scale - max);
        sum += a[s];
    }
    float inv = 1.0f / sum;
    for (s = 0; s < n; s++)
        a[s] *= inv;
#endif
    for (s = n; s < T; s++)
        a[s] = 0;
}

/* Head h's slice of a [T][stride] array, as a T x hd matrix or (cols) its transpose. */
static struct gemm_view head_rows(const float *x, int h, int hd, int stride) {
    return (struct gemm_view){x + (int64_t)h * hd, stride, 1};
}
static struct gemm_view head_cols(const float *x, int h, int hd, int stride) {
    return (struct gemm_view){x + (int64_t)h * hd, 1, stride};
}

/* Per head: scores S = Q Kᵀ on and below the diagonal, the causal softmax in place, then
 * out = P V reading P only up to the diagonal. */
void attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                       int T, int n_head, int n_head_kv, int hd, int q_stride, int kv_stride,
                       float *scratch) {
    const float scale = 1.0f / sqrtf((float)hd);
    const int group = n_head / n_head_kv;
    float *pack = scratch + (int64_t)T * T;
    for (int h = 0; h < n_head; h++) {
        const int kvh = h / group;
        float *ah = att + (int64_t)h * T * T;
        gemm_run(NULL, T, T, hd, head_rows(q, h, hd, q_stride), head_cols(k, kvh, hd, kv_stride),
                 ah, T, GEMM_C_LOWER, pack);
        for (int t = 0; t < T; t++)
            softmax_causal_row(ah + (int64_t)t * T, t + 1, T, scale);
        gemm_run(NULL, T, hd, T, (struct gemm_view){ah, T, 1}, head_rows(v, kvh, hd, kv_stride),
                 out + (int64_t)h * hd, q_stride, GEMM_A_LOWER, pack);
    }
}

/* ds[s] = a[s] (dp[s] - sum_s' dp[s'] a[s']) scale for s <= t, in place over dp; 0 beyond. */
static void softmax_causal_backward_row(float *ds, const float *a, int n, int T, float scale) {
    int s = 0;
    float dot = 0;
#ifdef OPS_V512
    __m512 acc = _mm512_setzero_ps();
    for (; s < n; s += 16) {
        __mmask16 m = tail_mask(n - s);
        acc =
            _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ds + s), _mm512_maskz_loadu_ps(m, a + s), acc);
    }
    dot = _mm512_reduce_add_ps(acc);
    const __m512 vd = _mm512_set1_ps(dot), vs = _mm512_set1_ps(scale);
    for (s = 0; s < n; s += 16) {
        __mmask16 m = tail_mask(n - s);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, ds + s), vd);
        _mm512_mask_storeu_ps(ds + s, m,
                              _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, a + s), d), vs));
    }
#else
    for (s = 0; s < n; s++)
        dot += ds[s] * a[s];
    for (s = 0; s < n; s++)
        ds[s] = a[s] * (ds[s] - dot) * scale;
#endif
    for (s = n; s < T; s++)
        ds[s] = 0;
}

/* Per head, as products: dP = dO Vᵀ (on and below the diagonal), dS through the softmax in
 * place, then dQ += dS K, dK += dSᵀ Q and dV += Pᵀ dO, each reading only the triangle that is
 * not zero. */
void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                        const float *q, const float *k, const float *v, int T, int n_head,
                        int n_head_kv, int hd, int q_stride, int kv_stride, float *scratch) {
    const float scale = 1.0f / sqrtf((float)hd);
    const int group = n_head / n_head_kv;
    float *ds = scratch, *pack = scratch + (int64_t)T * T;
    const unsigned acc = GEMM_ACCUMULATE;
    for (int h = 0; h < n_head; h++) {
        const int kvh = h / group;
        const float *ah = att + (int64_t)h * T * T;
        gemm_run(NULL, T, T, hd, head_rows(dout, h, hd, q_stride), head_cols(v, kvh, hd, kv_stride),
                 ds, T, GEMM_C_LOWER, pack);
        for (int t = 0; t < T; t++)
            softmax_causal_backward_row(ds + (int64_t)t * T, ah + (int64_t)t * T, t + 1, T, scale);
        gemm_run(NULL, T, hd, T, (struct gemm_view){ds, T, 1}, head_rows(k, kvh, hd, kv_stride),
                 dq + (int64_t)h * hd, q_stride, acc | GEMM_A_LOWER, pack);
        gemm_run(NULL, T, hd, T, (struct gemm_view){ds, 1, T}, head_rows(q, h, hd, q_stride),
                 dk + (int64_t)kvh * hd, kv_stride, acc | GEMM_A_UPPER, pack);
        gemm_run(NULL, T, hd, T, (struct gemm_view){ah, 1, T}, head_rows(dout, h, hd, q_stride),
                 dv + (int64_t)kvh * hd, kv_stride, acc | GEMM_A_UPPER, pack);
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
