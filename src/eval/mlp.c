#include "eval/mlp.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/rng.h"

int mlp_init(struct mlp *n, int n_in, int n_hidden, int n_out, int max_batch, uint64_t seed) {
    memset(n, 0, sizeof *n);
    if (n_in < 1 || n_hidden < 1 || n_out < 1 || max_batch < 1 || n_in > (1 << 20) ||
        n_hidden > 4096 || n_out > 4096 || max_batch > 65536)
        return disr_fail(DISR_E_ARG, "mlp: bad shape %d-%d-%d (batch %d)", n_in, n_hidden, n_out,
                         max_batch);
    n->n_in = n_in, n->n_hidden = n_hidden, n->n_out = n_out, n->max_batch = max_batch;
    n->n_params = (int64_t)n_in * n_hidden + n_hidden + (int64_t)n_hidden * n_out + n_out;
    n->params = calloc((size_t)n->n_params * 4, sizeof(float));
    size_t act = (size_t)max_batch * (2 * (size_t)n_hidden + (size_t)n_out);
    n->hidden = calloc(act, sizeof(float));
    if (!n->params || !n->hidden) {
        mlp_free(n);
        return disr_fail(DISR_E_NOMEM, "mlp: %lld parameters", (long long)n->n_params);
    }
    n->grads = n->params + n->n_params;
    n->m = n->grads + n->n_params;
    n->v = n->m + n->n_params;
    n->dhidden = n->hidden + (size_t)max_batch * n_hidden;
    n->dlogits = n->dhidden + (size_t)max_batch * n_hidden;
    float *p = n->params, *g = n->grads;
    n->w1 = p, n->gw1 = g;
    p += (int64_t)n_in * n_hidden, g += (int64_t)n_in * n_hidden;
    n->b1 = p, n->gb1 = g;
    p += n_hidden, g += n_hidden;
    n->w2 = p, n->gw2 = g;
    p += (int64_t)n_hidden * n_out, g += (int64_t)n_hidden * n_out;
    n->b2 = p, n->gb2 = g;
    /* He init for the ReLU layer, Xavier-ish for the output */
    struct rng r;
    rng_init(&r, seed);
    float s1 = sqrtf(2.0f / (float)n_in), s2 = sqrtf(1.0f / (float)n_hidden);
    for (int64_t i = 0; i < (int64_t)n_in * n_hidden; i++)
        n->w1[i] = s1 * rng_normal(&r);
    for (int64_t i = 0; i < (int64_t)n_hidden * n_out; i++)
        n->w2[i] = s2 * rng_normal(&r);
    return DISR_OK;
}

void mlp_free(struct mlp *n) {
    free(n->params);
    free(n->hidden);
    memset(n, 0, sizeof *n);
}

int mlp_forward(struct mlp *n, const float *x, int b, float *logits) {
    if (b < 1 || b > n->max_batch)
        return disr_fail(DISR_E_RANGE, "mlp: batch %d > %d", b, n->max_batch);
    int H = n->n_hidden, O = n->n_out;
    for (int i = 0; i < b; i++)
        memcpy(n->hidden + (size_t)i * H, n->b1, (size_t)H * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, H, n->n_in, 1.0f, x, n->n_in, n->w1,
                H, 1.0f, n->hidden, H);
    for (size_t i = 0; i < (size_t)b * H; i++)
        if (n->hidden[i] < 0) n->hidden[i] = 0;
    for (int i = 0; i < b; i++)
        memcpy(logits + (size_t)i * O, n->b2, (size_t)O * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, O, H, 1.0f, n->hidden, H, n->w2, O,
                1.0f, logits, O);
    return DISR_OK;
}

float mlp_bce_loss(struct mlp *n, const float *logits, const float *y, const float *mask, int b) {
    double loss = 0, count = 0;
    size_t total = (size_t)b * n->n_out;
    for (size_t i = 0; i < total; i++)
        count += mask ? mask[i] : 1.0f;
    if (count <= 0) count = 1;
    for (size_t i = 0; i < total; i++) {
        float w = mask ? mask[i] : 1.0f;
        float z = logits[i];
        /* log(1 + e^-|z|) form: stable for large |z| */
        double l = (z > 0 ? z : 0) - z * y[i] + log1p(exp(-fabs(z)));
        loss += w * l;
        float p = 1.0f / (1.0f + expf(-z));
        n->dlogits[i] = (float)(w * (p - y[i]) / count);
    }
    return (float)(loss / count);
}

void mlp_backward(struct mlp *n, const float *x, int b) {
    int H = n->n_hidden, O = n->n_out;
    memset(n->grads, 0, (size_t)n->n_params * sizeof(float));
    /* gw2 = hidden^T dlogits; gb2 = sum dlogits; dhidden = dlogits w2^T, masked by ReLU */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, O, b, 1.0f, n->hidden, H, n->dlogits, O,
                0.0f, n->gw2, O);
    for (int i = 0; i < b; i++)
        for (int o = 0; o < O; o++)
            n->gb2[o] += n->dlogits[(size_t)i * O + o];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, H, O, 1.0f, n->dlogits, O, n->w2, O,
                0.0f, n->dhidden, H);
    for (size_t i = 0; i < (size_t)b * H; i++)
        if (n->hidden[i] <= 0) n->dhidden[i] = 0;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n->n_in, H, b, 1.0f, x, n->n_in,
                n->dhidden, H, 0.0f, n->gw1, H);
    for (int i = 0; i < b; i++)
        for (int h = 0; h < H; h++)
            n->gb1[h] += n->dhidden[(size_t)i * H + h];
}

void mlp_adamw_step(struct mlp *n, float lr, float weight_decay) {
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    n->step++;
    float c1 = 1.0f - powf(b1, (float)n->step), c2 = 1.0f - powf(b2, (float)n->step);
    /* decay only the weight matrices, not the biases */
    int64_t w1_end = (int64_t)n->n_in * n->n_hidden, w2_start = w1_end + n->n_hidden;
    int64_t w2_end = w2_start + (int64_t)n->n_hidden * n->n_out;
    for (int64_t i = 0; i < n->n_params; i++) {
        float g = n->grads[i];
        n->m[i] = b1 * n->m[i] + (1 - b1) * g;
        n->v[i] = b2 * n->v[i] + (1 - b2) * g * g;
        float upd = (n->m[i] / c1) / (sqrtf(n->v[i] / c2) + eps);
        int is_w = i < w1_end || (i >= w2_start && i < w2_end);
        n->params[i] -= lr * (upd + (is_w ? weight_decay * n->params[i] : 0));
    }
}

int mlp_train(struct mlp *n, const float *x, const float *y, const float *mask, int rows,
              const struct mlp_train_config *c, const char *label, float *loss_out) {
    if (rows < 1) return disr_fail(DISR_E_ARG, "mlp: no training rows");
    int B = c->batch < n->max_batch ? c->batch : n->max_batch;
    int nin = n->n_in, O = n->n_out;
    int *order = malloc((size_t)rows * sizeof *order);
    float *xb = malloc((size_t)B * nin * sizeof *xb);
    float *yb = malloc((size_t)B * O * sizeof *yb);
    float *mb = malloc((size_t)B * O * sizeof *mb);
    float *lb = malloc((size_t)B * O * sizeof *lb);
    if (!order || !xb || !yb || !mb || !lb) {
        free(order), free(xb), free(yb), free(mb), free(lb);
        return disr_fail(DISR_E_NOMEM, "mlp: batch buffers");
    }
    for (int i = 0; i < rows; i++)
        order[i] = i;
    struct rng r;
    rng_init(&r, c->seed);
    struct progress pr;
    progress_init(&pr, label, c->epochs);
    double epoch_loss = 0;
    char extra[64] = "";
    for (int e = 0; e < c->epochs; e++) {
        for (int i = rows - 1; i > 0; i--) { /* Fisher-Yates */
            int j = (int)rng_below(&r, (uint64_t)i + 1), tmp = order[i];
            order[i] = order[j], order[j] = tmp;
        }
        epoch_loss = 0;
        int n_batches = 0;
        for (int s = 0; s < rows; s += B) {
            int b = rows - s < B ? rows - s : B;
            for (int i = 0; i < b; i++) {
                int row = order[s + i];
                memcpy(xb + (size_t)i * nin, x + (size_t)row * nin, (size_t)nin * sizeof(float));
                memcpy(yb + (size_t)i * O, y + (size_t)row * O, (size_t)O * sizeof(float));
                for (int o = 0; o < O; o++)
                    mb[(size_t)i * O + o] = mask ? mask[(size_t)row * O + o] : 1;
            }
            DISR_TRY(mlp_forward(n, xb, b, lb));
            epoch_loss += mlp_bce_loss(n, lb, yb, mb, b);
            n_batches++;
            mlp_backward(n, xb, b);
            mlp_adamw_step(n, c->lr, c->weight_decay);
        }
        epoch_loss /= n_batches;
        snprintf(extra, sizeof extra, "loss %.4f", epoch_loss);
        progress_update(&pr, e + 1, extra);
    }
    progress_finish(&pr, c->epochs, extra);
    if (loss_out) *loss_out = (float)epoch_loss;
    free(order), free(xb), free(yb), free(mb), free(lb);
    return DISR_OK;
}

int mlp_predict(struct mlp *n, const float *x, int rows, float *probs) {
    for (int s = 0; s < rows; s += n->max_batch) {
        int b = rows - s < n->max_batch ? rows - s : n->max_batch;
        float *out = probs + (size_t)s * n->n_out;
        DISR_TRY(mlp_forward(n, x + (size_t)s * n->n_in, b, out));
        for (size_t i = 0; i < (size_t)b * n->n_out; i++)
            out[i] = 1.0f / (1.0f + expf(-out[i]));
    }
    return DISR_OK;
}
