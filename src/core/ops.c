#include "core/ops.h"

#include <math.h>

void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int rows, int n,
                     float eps) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (int64_t)r * n;
        float *o = out + (int64_t)r * n;
        double ss = 0;
        for (int i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        float s = 1.0f / sqrtf((float)(ss / n) + eps);
        for (int i = 0; i < n; i++) o[i] = xr[i] * s * w[i];
        if (rstd) rstd[r] = s;
    }
}

void rope_forward(float *x, int n_heads, int head_dim, int pos, float base, int style) {
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) {
        /* Pair i rotates with frequency base^(-2i/d) in both styles; only which two lanes form
         * the pair differs. */
        float theta = (float)pos * powf(base, -2.0f * (float)i / (float)head_dim);
        float c = cosf(theta), s = sinf(theta);
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
    for (int i = 0; i < n; i++) x[i] *= inv;
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
    for (int i = 0; i < n; i++) sum += exp((double)(x[i] - max));
    return max + (float)log(sum);
}
