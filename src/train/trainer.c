#include "train/trainer.h"

#include <math.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ops.h"
#include "core/pool.h"
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

/* Optimizer work is split into pieces of at most this many parameters, claimed by the
 * threads; fixed boundaries keep the result independent of the thread count. */
#define TRAIN_PIECE (1u << 18)

/* Records each tensor's span in the flat block (cut into pieces) and whether AdamW decays it
 * (2-D weights only). With segs == NULL it only counts. */
static int add_segment(const struct model_tensor_ref *ref, void *vctx) {
    struct seg_ctx *ctx = vctx;
    struct trainer *t = ctx->t;
    const float *p = ref->mat ? ref->mat->data : *ref->vec;
    size_t off = (size_t)(p - ctx->base), n = (size_t)ref->rows * (size_t)ref->cols;
    for (size_t i = 0; i < n; i += TRAIN_PIECE) {
        if (t->segs)
            t->segs[t->n_segs] = (struct train_segment){
                .off = off + i,
                .n = n - i < TRAIN_PIECE ? n - i : TRAIN_PIECE,
                .decay = ref->mat != NULL,
            };
        t->n_segs++;
    }
    return DISR_OK;
}

static int trainer_create(struct trainer **out, struct model *m, const struct train_config *c,
                          bool frozen) {
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
    int st = transformer_init(&t->tf, &m->config, c->batch, c->seq, c->threads);
    if (st < 0) {
        free(t);
        return st;
    }
    if (frozen) {
        *out = t;
        return DISR_OK;
    }
    /* One allocation for grads, first and second moments (same canonical layout). */
    t->grads = calloc(3 * n, sizeof(float));
    t->dlosses = calloc((size_t)c->batch * c->seq, sizeof(float));
    struct seg_ctx sc = {t, m->params};
    model_weights_foreach(&m->weights, &m->config, add_segment, &sc); /* count */
    t->segs = calloc((size_t)t->n_segs, sizeof *t->segs);
    t->partial = calloc((size_t)t->n_segs, sizeof *t->partial);
    t->n_segs = 0;
    if (!t->grads || !t->dlosses || !t->segs || !t->partial) {
        trainer_free(t);
        return disr_fail(DISR_E_NOMEM,
                         "trainer: cannot allocate optimizer state for %zu "
                         "parameters",
                         n);
    }
    t->mom_m = t->grads + n;
    t->mom_v = t->grads + 2 * n;
    model_weights_point(&t->gw, &m->config, t->grads);
    model_weights_foreach(&m->weights, &m->config, add_segment, &sc);
    *out = t;
    return DISR_OK;
}

int trainer_init(struct trainer **out, struct model *m, const struct train_config *c) {
    return trainer_create(out, m, c, false);
}

int trainer_init_frozen(struct trainer **out, struct model *m, const struct train_config *c) {
    return trainer_create(out, m, c, true);
}

/* DISR_E_STATE for a forward-only trainer asked to learn. */
int trainer_check_learns(const struct trainer *t, const char *what) {
    return t->grads
               ? DISR_OK
               : disr_fail(DISR_E_STATE, "trainer: %s on a forward-only (frozen) trainer", what);
}

void trainer_free(struct trainer *t) {
    if (!t) return;
    transformer_free(t->tf);
    free(t->grads);
    free(t->dlosses);
    free(t->segs);
    free(t->partial);
    free(t);
}

/* 1 / T of the tempered model, 1 when untempered. */
static float trainer_logit_scale(const struct trainer *t) {
    float temp = t->cfg.logit_temperature;
    return temp > 0 ? 1.0f / temp : 1.0f;
}

/* The forward, with the logits divided by the temperature: everything after it (loss, its
 * gradient, log-probs, distributions) is then the tempered model's. */
static int trainer_forward(struct trainer *t, const int32_t *inputs) {
    DISR_TRY(transformer_forward(t->tf, &t->m->weights, inputs));
    float scale = trainer_logit_scale(t);
    if (scale != 1.0f) {
        size_t n = (size_t)t->tf->B * (size_t)t->tf->T * (size_t)t->m->config.n_vocab;
        for (size_t i = 0; i < n; i++)
            t->tf->logits[i] *= scale;
    }
    return DISR_OK;
}

int trainer_accumulate_soft(struct trainer *t, const int32_t *inputs, const int32_t *targets,
                            const struct tf_soft_targets *soft, const float *weights, float *loss) {
    DISR_TRY(trainer_check_learns(t, "accumulate"));
    DISR_TRY(trainer_forward(t, inputs));
    /* Each micro-batch contributes 1/accum so an accumulated step equals one big batch; the
     * logit scale is the chain rule through logits / T. */
    float dscale = trainer_logit_scale(t) / (float)t->cfg.accum;
    DISR_TRY(transformer_loss(t->tf, targets, soft, weights, dscale, t->dlosses, loss));
    DISR_TRY(
        transformer_backward(t->tf, &t->m->weights, &t->gw, inputs, targets, soft, t->dlosses));
    t->n_micro++;
    return DISR_OK;
}

int trainer_accumulate(struct trainer *t, const int32_t *inputs, const int32_t *targets,
                       const float *weights, float *loss) {
    return trainer_accumulate_soft(t, inputs, targets, NULL, weights, loss);
}

struct adamw_args {
    float lr, decay, gscale, b1, b2, eps, step_size, inv_sqrt_bc2;
};

/* One AdamW update over n contiguous parameters; also zeroes their gradients (one pass over
 * memory instead of two: the update is memory-bound on big models). */
static void adamw_span(float *p, float *g, float *m, float *v, size_t n,
                       const struct adamw_args *a) {
    size_t i = 0;
#ifdef __AVX2__
    /* Vectorized by hand: sqrt under the default -fmath-errno keeps the compiler scalar. */
    const __m256 b1 = _mm256_set1_ps(a->b1), b2 = _mm256_set1_ps(a->b2),
                 nb1 = _mm256_set1_ps(1.0f - a->b1), nb2 = _mm256_set1_ps(1.0f - a->b2),
                 gs = _mm256_set1_ps(a->gscale), dec = _mm256_set1_ps(a->decay),
                 ss = _mm256_set1_ps(a->step_size), ib = _mm256_set1_ps(a->inv_sqrt_bc2),
                 eps = _mm256_set1_ps(a->eps), zero = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_mul_ps(_mm256_loadu_ps(g + i), gs);
        __m256 mi =
            _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(nb1, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)),
                                  _mm256_mul_ps(nb2, _mm256_mul_ps(gi, gi)));
        __m256 den = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vi), ib), eps);
        __m256 pi = _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(p + i), dec),
                                  _mm256_div_ps(_mm256_mul_ps(ss, mi), den));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        _mm256_storeu_ps(p + i, pi);
        _mm256_storeu_ps(g + i, zero);
    }
#endif
    for (; i < n; i++) {
        float gi = g[i] * a->gscale;
        m[i] = a->b1 * m[i] + (1.0f - a->b1) * gi;
        v[i] = a->b2 * v[i] + (1.0f - a->b2) * gi * gi;
        p[i] = p[i] * a->decay - a->step_size * m[i] / (sqrtf(v[i]) * a->inv_sqrt_bc2 + a->eps);
        g[i] = 0;
    }
}

/* Sum of squares in double (the global gradient norm over up to ~1e8 entries). */
static double sum_squares(const float *x, size_t n) {
    size_t i = 0;
    double s = 0;
#ifdef __AVX2__
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
        __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        a0 = _mm256_add_pd(a0, _mm256_mul_pd(lo, lo));
        a1 = _mm256_add_pd(a1, _mm256_mul_pd(hi, hi));
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(a0, a1));
    s = lanes[0] + lanes[1] + lanes[2] + lanes[3];
#endif
    for (; i < n; i++)
        s += (double)x[i] * x[i];
    return s;
}

struct update_job {
    struct trainer *t;
    struct adamw_args a;
    float wd;
    int adam; /* 0: sum of squares per piece, 1: AdamW */
};

static void update_chunk(void *vctx, int chunk, int thread) {
    (void)thread;
    struct update_job *j = vctx;
    struct trainer *t = j->t;
    const struct train_segment *sg = &t->segs[chunk];
    if (!j->adam) {
        t->partial[chunk] = sum_squares(t->grads + sg->off, sg->n);
        return;
    }
    struct adamw_args a = j->a;
    a.decay = sg->decay ? 1.0f - a.lr * j->wd : 1.0f;
    adamw_span(t->m->params + sg->off, t->grads + sg->off, t->mom_m + sg->off, t->mom_v + sg->off,
               sg->n, &a);
}

int trainer_update(struct trainer *t, int step, float *grad_norm) {
    if (step < 0) return disr_fail(DISR_E_ARG, "trainer: negative step %d", step);
    DISR_TRY(trainer_check_learns(t, "update"));
    const struct train_config *c = &t->cfg;
    struct update_job j = {.t = t, .wd = c->weight_decay};
    pool_run(t->tf->pool, t->n_segs, update_chunk, &j);
    double ss = 0;
    for (int s = 0; s < t->n_segs; s++)
        ss += t->partial[s];
    float norm = (float)sqrt(ss);
    if (grad_norm) *grad_norm = norm;
    if (!isfinite(norm)) {
        memset(t->grads, 0, t->m->n_params * sizeof(float));
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
    j.a = (struct adamw_args){lr,       1.0f,   gscale,   c->beta1,
                              c->beta2, c->eps, lr / bc1, 1.0f / sqrtf(bc2)};
    j.adam = 1;
    pool_run(t->tf->pool, t->n_segs, update_chunk, &j);
    t->n_micro = 0;
    return DISR_OK;
}

int trainer_token_logprobs(struct trainer *t, const int32_t *inputs, const int32_t *targets,
                           float *out) {
    DISR_TRY(trainer_forward(t, inputs));
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

int trainer_next_token_probs(struct trainer *t, const int32_t *inputs, float *probs) {
    DISR_TRY(trainer_forward(t, inputs));
    trainer_last_forward_probs(t, probs);
    return DISR_OK;
}

void trainer_last_forward_probs(const struct trainer *t, float *probs) {
    const int BT = t->tf->B * t->tf->T, V = t->m->config.n_vocab;
    memcpy(probs, t->tf->logits, sizeof(float) * (size_t)BT * (size_t)V);
    for (int r = 0; r < BT; r++)
        softmax_forward(probs + (int64_t)r * V, V);
}

const struct model_weights *trainer_grads(const struct trainer *t) {
    return &t->gw;
}
