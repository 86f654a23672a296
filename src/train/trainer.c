#include "train/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ops.h"
#include "model/transformer.h"
#include "train/trainer_internal.h"

void train_config_default(struct train_config *c) {
    *c = (struct train_config){
        .batch = 16,
        .seq = 64,
        .accum = 1,
        .steps = 1000,
        .lr = 1e-3f,
        .min_lr_frac = 0.1f,
        .warmup = -1, /* 5 % of steps */
        .weight_decay = 0.1f,
        .beta1 = 0.9f,
        .beta2 = 0.95f,
        .eps = 1e-8f,
        .grad_clip = 1.0f,
        .seed = 1,
    };
}

static int warmup_steps(const struct train_config *c) {
    return c->warmup >= 0 ? c->warmup : c->steps / 20;
}

float train_lr_at(const struct train_config *c, int step) {
    int warm = warmup_steps(c);
    if (warm > 0 && step < warm) return c->lr * (float)(step + 1) / (float)warm;
    if (c->steps <= warm) return c->lr;
    double prog = (double)(step - warm) / (double)(c->steps - warm > 1 ? c->steps - warm : 1);
    if (prog > 1) prog = 1;
    double lo = (double)c->lr * c->min_lr_frac;
    return (float)(lo + 0.5 * ((double)c->lr - lo) * (1.0 + cos(M_PI * prog)));
}

struct seg_ctx {
    struct trainer *t;
    const float *base;
};

/* Records each tensor's span in the flat block and whether AdamW decays it (2-D only). */
static int add_segment(const struct model_tensor_ref *ref, void *vctx) {
    struct seg_ctx *ctx = vctx;
    struct trainer *t = ctx->t;
    const float *p = ref->mat ? ref->mat->data : *ref->vec;
    t->segs[t->n_segs++] = (struct train_segment){
        .off = (size_t)(p - ctx->base),
        .n = (size_t)ref->rows * (size_t)ref->cols,
        .decay = ref->mat != NULL,
    };
    return DISR_OK;
}

int trainer_init(struct trainer **out, struct model *m, const struct train_config *c) {
    *out = NULL;
    if (!m->params)
        return disr_fail(DISR_E_STATE, "trainer: the model is not all-F32 (quantized models "
                                       "cannot be trained)");
    if (c->batch <= 0 || c->seq <= 0 || c->accum <= 0 || c->steps < 0)
        return disr_fail(DISR_E_ARG, "trainer: batch %d, seq %d, accum %d, steps %d", c->batch,
                         c->seq, c->accum, c->steps);
    if (c->seq > m->config.n_ctx)
        return disr_fail(DISR_E_ARG, "trainer: sequence length %d exceeds the model context %d",
                         c->seq, m->config.n_ctx);
    if (!(c->lr >= 0) || !(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1) ||
        !(c->eps > 0) || !(c->grad_clip >= 0) || !(c->weight_decay >= 0))
        return disr_fail(DISR_E_ARG, "trainer: optimizer settings out of range");
    struct trainer *t = calloc(1, sizeof *t);
    if (!t) return disr_fail(DISR_E_NOMEM, "trainer: out of memory");
    t->m = m;
    t->cfg = *c;
    size_t n = m->n_params;
    int st = transformer_init(&t->tf, &m->config, c->batch, c->seq);
    if (st < 0) {
        free(t);
        return st;
    }
    /* One allocation for grads, first and second moments (same canonical layout). */
    t->grads = calloc(3 * n, sizeof(float));
    t->dlosses = calloc((size_t)c->batch * c->seq, sizeof(float));
    t->segs = calloc(4 + 16 * (size_t)m->config.n_layer, sizeof *t->segs);
    if (!t->grads || !t->dlosses || !t->segs) {
        trainer_free(t);
        return disr_fail(DISR_E_NOMEM,
                         "trainer: cannot allocate optimizer state for %zu "
                         "parameters",
                         n);
    }
    t->mom_m = t->grads + n;
    t->mom_v = t->grads + 2 * n;
    model_weights_point(&t->gw, &m->config, t->grads);
    struct seg_ctx sc = {t, m->params};
    model_weights_foreach(&m->weights, &m->config, add_segment, &sc);
    *out = t;
    return DISR_OK;
}

void trainer_free(struct trainer *t) {
    if (!t) return;
    transformer_free(t->tf);
    free(t->grads);
    free(t->dlosses);
    free(t->segs);
    free(t);
}

int trainer_accumulate(struct trainer *t, const int32_t *inputs, const int32_t *targets,
                       const float *weights, float *loss) {
    DISR_TRY(transformer_forward(t->tf, &t->m->weights, inputs));
    /* Each micro-batch contributes 1/accum so an accumulated step equals one big batch. */
    DISR_TRY(
        transformer_loss(t->tf, targets, weights, 1.0f / (float)t->cfg.accum, t->dlosses, loss));
    DISR_TRY(transformer_backward(t->tf, &t->m->weights, &t->gw, inputs, targets, t->dlosses));
    t->n_micro++;
    return DISR_OK;
}

int trainer_update(struct trainer *t, int step, float *grad_norm) {
    if (step < 0) return disr_fail(DISR_E_ARG, "trainer: negative step %d", step);
    const struct train_config *c = &t->cfg;
    const size_t n = t->m->n_params;
    float *p = t->m->params, *g = t->grads, *mm = t->mom_m, *vv = t->mom_v;
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (double)g[i] * g[i];
    float norm = (float)sqrt(ss);
    if (grad_norm) *grad_norm = norm;
    if (!isfinite(norm)) {
        memset(g, 0, n * sizeof(float));
        t->n_micro = 0;
        return disr_fail(DISR_E_RANGE,
                         "trainer: gradient norm is %g at step %d (diverged; "
                         "lower the learning rate)",
                         norm, step);
    }
    /* As torch.nn.utils.clip_grad_norm_: scale by clip / (norm + 1e-6) when that is < 1. */
    float gscale = 1.0f;
    if (c->grad_clip > 0) {
        float coef = c->grad_clip / (norm + 1e-6f);
        if (coef < 1.0f) gscale = coef;
    }
    /* AdamW as torch.optim.AdamW: decoupled decay p *= 1 - lr*wd, then
     * p -= lr / (1 - b1^k) * m / (sqrt(v) / sqrt(1 - b2^k) + eps), k = step + 1. */
    const float lr = train_lr_at(c, step);
    const double k = (double)step + 1;
    const float bc1 = (float)(1.0 - pow(c->beta1, k)), bc2 = (float)(1.0 - pow(c->beta2, k));
    const float step_size = lr / bc1, inv_sqrt_bc2 = 1.0f / sqrtf(bc2);
    const float b1 = c->beta1, b2 = c->beta2, eps = c->eps;
    for (int s = 0; s < t->n_segs; s++) {
        const struct train_segment *sg = &t->segs[s];
        const float decay = sg->decay ? 1.0f - lr * c->weight_decay : 1.0f;
        for (size_t i = sg->off; i < sg->off + sg->n; i++) {
            float gi = g[i] * gscale;
            mm[i] = b1 * mm[i] + (1.0f - b1) * gi;
            vv[i] = b2 * vv[i] + (1.0f - b2) * gi * gi;
            p[i] = p[i] * decay - step_size * mm[i] / (sqrtf(vv[i]) * inv_sqrt_bc2 + eps);
        }
    }
    memset(g, 0, n * sizeof(float));
    t->n_micro = 0;
    return DISR_OK;
}

int trainer_token_logprobs(struct trainer *t, const int32_t *inputs, const int32_t *targets,
                           float *out) {
    DISR_TRY(transformer_forward(t->tf, &t->m->weights, inputs));
    const int BT = t->tf->B * t->tf->T, V = t->m->config.n_vocab;
    for (int r = 0; r < BT; r++) {
        if (targets[r] < 0 || targets[r] >= V)
            return disr_fail(DISR_E_RANGE, "trainer: target %d at position %d outside vocab %d",
                             targets[r], r, V);
        const float *l = t->tf->logits + (int64_t)r * V;
        out[r] = l[targets[r]] - logsumexp(l, V);
    }
    return DISR_OK;
}

const struct model_weights *trainer_grads(const struct trainer *t) {
    return &t->gw;
}
