#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/err.h"
#include "core/rng.h"
#include "model/gguf.h"
#include "model/tokenizer.h"

const char *model_arch_name(enum model_arch a) {
    return a == MODEL_ARCH_QWEN3 ? "qwen3" : a == MODEL_ARCH_QWEN2 ? "qwen2" : "llama";
}

int model_config_validate(const struct model_config *c) {
    if (c->n_vocab <= 0 || c->n_vocab > (1 << 20))
        return disr_fail(DISR_E_FORMAT, "model: vocab size %d out of range", c->n_vocab);
    if (c->n_embd <= 0 || c->n_embd > 65536)
        return disr_fail(DISR_E_FORMAT, "model: embedding size %d out of range", c->n_embd);
    if (c->n_layer <= 0 || c->n_layer > MODEL_MAX_LAYERS)
        return disr_fail(DISR_E_FORMAT, "model: %d layers (1..%d supported)", c->n_layer,
                         MODEL_MAX_LAYERS);
    if (c->n_head <= 0 || (!c->head_dim && c->n_embd % c->n_head != 0))
        return disr_fail(DISR_E_FORMAT, "model: %d heads do not divide embedding size %d",
                         c->n_head, c->n_embd);
    if (c->head_dim < 0 || c->head_dim > 1024 || (int64_t)c->n_head * model_head_dim(c) > 65536)
        return disr_fail(DISR_E_FORMAT, "model: head dimension %d out of range", c->head_dim);
    if (model_head_dim(c) % 2 != 0)
        return disr_fail(DISR_E_FORMAT, "model: head dimension %d must be even for RoPE",
                         model_head_dim(c));
    if (c->n_head_kv <= 0 || c->n_head % c->n_head_kv != 0)
        return disr_fail(DISR_E_FORMAT, "model: %d kv heads do not divide %d heads", c->n_head_kv,
                         c->n_head);
    if (c->n_ff <= 0 || c->n_ff > 1 << 18)
        return disr_fail(DISR_E_FORMAT, "model: feed-forward size %d out of range", c->n_ff);
    if (c->n_ctx <= 0 || c->n_ctx > 1 << 20)
        return disr_fail(DISR_E_FORMAT, "model: context length %d out of range", c->n_ctx);
    if (!(c->norm_eps > 0 && c->norm_eps < 1))
        return disr_fail(DISR_E_FORMAT, "model: rms epsilon %g out of range", c->norm_eps);
    if (!(c->rope_base > 1))
        return disr_fail(DISR_E_FORMAT, "model: rope base %g out of range", c->rope_base);
    return DISR_OK;
}

/* Walks the canonical order once; with block == NULL it only counts. Every consumer of the
 * layout goes through here so the order cannot drift between counting and pointing. */
static size_t layout_walk(struct model_weights *w, const struct model_config *c, float *block) {
    size_t off = 0;
    const int C = c->n_embd, F = c->n_ff, V = c->n_vocab, KV = model_kv_dim(c), Q = model_q_dim(c),
              HD = model_head_dim(c);
#define TAKE_VEC(ptr, n)                                                                           \
    do {                                                                                           \
        if (block) (ptr) = block + off;                                                            \
        off += (size_t)(n);                                                                        \
    } while (0)
#define TAKE_MAT(m, r, k)                                                                          \
    do {                                                                                           \
        if (block) (m) = (struct mat){DTYPE_F32, (r), (k), block + off};                           \
        off += (size_t)(r) * (size_t)(k);                                                          \
    } while (0)
    TAKE_MAT(w->token_embd, V, C);
    for (int l = 0; l < c->n_layer; l++) {
        struct layer_weights *lw = &w->layer[l];
        TAKE_VEC(lw->attn_norm, C);
        TAKE_MAT(lw->wq, Q, C);
        if (c->qkv_bias) TAKE_VEC(lw->bq, Q);
        TAKE_MAT(lw->wk, KV, C);
        if (c->qkv_bias) TAKE_VEC(lw->bk, KV);
        TAKE_MAT(lw->wv, KV, C);
        if (c->qkv_bias) TAKE_VEC(lw->bv, KV);
        if (c->qk_norm) TAKE_VEC(lw->q_norm, HD);
        if (c->qk_norm) TAKE_VEC(lw->k_norm, HD);
        TAKE_MAT(lw->wo, C, Q);
        TAKE_VEC(lw->ffn_norm, C);
        TAKE_MAT(lw->w_gate, F, C);
        TAKE_MAT(lw->w_up, F, C);
        TAKE_MAT(lw->w_down, C, F);
        if (block && !c->qkv_bias) lw->bq = lw->bk = lw->bv = NULL;
        if (block && !c->qk_norm) lw->q_norm = lw->k_norm = NULL;
    }
    TAKE_VEC(w->output_norm, C);
    if (c->rope_freqs) TAKE_VEC(w->rope_freqs, HD / 2);
    if (c->tied_output) {
        if (block) w->output = w->token_embd;
    } else {
        TAKE_MAT(w->output, V, C);
    }
#undef TAKE_VEC
#undef TAKE_MAT
    return off;
}

size_t model_param_count(const struct model_config *c) {
    struct model_weights scratch;
    return layout_walk(&scratch, c, NULL);
}

void model_weights_point(struct model_weights *w, const struct model_config *c, float *block) {
    memset(w, 0, sizeof *w);
    layout_walk(w, c, block);
}

int model_weights_foreach(struct model_weights *w, const struct model_config *c,
                          model_tensor_visit_fn fn, void *ctx) {
    struct model_tensor_ref ref;
#define VISIT_VEC(ptr, n, fmt, ...)                                                                \
    do {                                                                                           \
        memset(&ref, 0, sizeof ref);                                                               \
        snprintf(ref.name, sizeof ref.name, fmt, __VA_ARGS__);                                     \
        ref.vec = &(ptr);                                                                          \
        ref.rows = 1;                                                                              \
        ref.cols = (n);                                                                            \
        DISR_TRY(fn(&ref, ctx));                                                                   \
    } while (0)
#define VISIT_MAT(m, r, k, fmt, ...)                                                               \
    do {                                                                                           \
        memset(&ref, 0, sizeof ref);                                                               \
        snprintf(ref.name, sizeof ref.name, fmt, __VA_ARGS__);                                     \
        ref.mat = &(m);                                                                            \
        ref.rows = (r);                                                                            \
        ref.cols = (k);                                                                            \
        DISR_TRY(fn(&ref, ctx));                                                                   \
    } while (0)
    const int C = c->n_embd, F = c->n_ff, V = c->n_vocab, KV = model_kv_dim(c), Q = model_q_dim(c),
              HD = model_head_dim(c);
    VISIT_MAT(w->token_embd, V, C, "%s", "token_embd.weight");
    for (int l = 0; l < c->n_layer; l++) {
        struct layer_weights *lw = &w->layer[l];
        VISIT_VEC(lw->attn_norm, C, "blk.%d.attn_norm.weight", l);
        VISIT_MAT(lw->wq, Q, C, "blk.%d.attn_q.weight", l);
        if (c->qkv_bias) VISIT_VEC(lw->bq, Q, "blk.%d.attn_q.bias", l);
        VISIT_MAT(lw->wk, KV, C, "blk.%d.attn_k.weight", l);
        if (c->qkv_bias) VISIT_VEC(lw->bk, KV, "blk.%d.attn_k.bias", l);
        VISIT_MAT(lw->wv, KV, C, "blk.%d.attn_v.weight", l);
        if (c->qkv_bias) VISIT_VEC(lw->bv, KV, "blk.%d.attn_v.bias", l);
        if (c->qk_norm) VISIT_VEC(lw->q_norm, HD, "blk.%d.attn_q_norm.weight", l);
        if (c->qk_norm) VISIT_VEC(lw->k_norm, HD, "blk.%d.attn_k_norm.weight", l);
        VISIT_MAT(lw->wo, C, Q, "blk.%d.attn_output.weight", l);
        VISIT_VEC(lw->ffn_norm, C, "blk.%d.ffn_norm.weight", l);
        VISIT_MAT(lw->w_gate, F, C, "blk.%d.ffn_gate.weight", l);
        VISIT_MAT(lw->w_up, F, C, "blk.%d.ffn_up.weight", l);
        VISIT_MAT(lw->w_down, C, F, "blk.%d.ffn_down.weight", l);
    }
    VISIT_VEC(w->output_norm, C, "%s", "output_norm.weight");
    if (c->rope_freqs) VISIT_VEC(w->rope_freqs, HD / 2, "%s", "rope_freqs.weight");
    if (!c->tied_output) VISIT_MAT(w->output, V, C, "%s", "output.weight");
#undef VISIT_VEC
#undef VISIT_MAT
    return DISR_OK;
}

struct init_ctx {
    struct rng rng;
    float residual_scale;
};

static int init_tensor(const struct model_tensor_ref *ref, void *vctx) {
    struct init_ctx *ctx = vctx;
    size_t n = (size_t)ref->rows * (size_t)ref->cols;
    if (ref->vec) {
        /* Norm gains and rope frequency divisors start at 1 (identity), biases at 0. */
        float v = strstr(ref->name, "norm") || strstr(ref->name, "rope_freqs") ? 1.0f : 0.0f;
        for (size_t i = 0; i < n; i++)
            (*ref->vec)[i] = v;
        return DISR_OK;
    }
    /* Projections that write into the residual stream are scaled down so the stream's
     * variance does not grow with depth (GPT-2's 1/sqrt(2L)). */
    int residual = strstr(ref->name, "attn_output") || strstr(ref->name, "ffn_down");
    float std = 0.02f * (residual ? ctx->residual_scale : 1.0f);
    float *d = ref->mat->data;
    for (size_t i = 0; i < n; i++)
        d[i] = std * rng_normal(&ctx->rng);
    return DISR_OK;
}

int model_init_random(struct model **out, const struct model_config *c, struct tokenizer *tok,
                      uint64_t seed) {
    *out = NULL;
    int st = model_config_validate(c);
    if (st < 0) {
        tokenizer_free(tok);
        return st;
    }
    struct model *m = calloc(1, sizeof *m);
    size_t n = model_param_count(c);
    float *block = m ? malloc(n * sizeof(float)) : NULL;
    if (!block) {
        free(m);
        tokenizer_free(tok);
        return disr_fail(DISR_E_NOMEM, "model: cannot allocate %zu parameters", n);
    }
    m->config = *c;
    m->params = block;
    m->n_params = n;
    m->tokenizer = tok;
    model_weights_point(&m->weights, c, block);
    struct init_ctx ctx = {.residual_scale = 1.0f / sqrtf(2.0f * (float)c->n_layer)};
    rng_init(&ctx.rng, seed);
    model_weights_foreach(&m->weights, c, init_tensor, &ctx);
    *out = m;
    return DISR_OK;
}

bool model_config_equal(const struct model_config *a, const struct model_config *b) {
    return a->arch == b->arch && a->n_vocab == b->n_vocab && a->n_embd == b->n_embd &&
           a->n_layer == b->n_layer && a->n_head == b->n_head && a->n_head_kv == b->n_head_kv &&
           a->n_ff == b->n_ff && a->n_ctx == b->n_ctx && a->norm_eps == b->norm_eps &&
           a->rope_base == b->rope_base && a->rope_style == b->rope_style &&
           a->qkv_bias == b->qkv_bias && a->tied_output == b->tied_output &&
           model_head_dim(a) == model_head_dim(b) && a->qk_norm == b->qk_norm &&
           a->rope_freqs == b->rope_freqs;
}

void model_free(struct model *m) {
    if (!m) return;
    tokenizer_free(m->tokenizer);
    free(m->params);
    free(m->owned);
    gguf_writer_free(m->meta);
    if (m->mapped) munmap(m->mapped, m->mapped_size);
    free(m);
}
