/* The inference engine (engine.h). One forward function runs a micro-batch of tokens, each with
 * its own sequence and position, through every layer at once: a prompt's prefill (many tokens of
 * one sequence), a decode step (one token of each of several sequences) and scoring are the same
 * code. K and V of the micro-batch are written into the cache before attention reads it, so a
 * token attends to the cache of its own sequence up to its own position, which is exactly causal
 * attention for a prompt and for a decode step alike.
 *
 * Everything is allocated in engine_init; the per-token path only uses those buffers. */
#include "model/engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/matmul.h"
#include "core/ops.h"
#include "core/pool.h"
#include "model/quant.h"
#include "model/sampler.h"
#include "model/tokenizer.h"

/* Tokens per micro-batch: big enough for sgemm to reach its speed on prompts, small enough that
 * the logits of every row fit (n_ubatch * n_vocab floats). */
#define ENGINE_UBATCH 64

enum slot_state { SLOT_FREE = 0, SLOT_BUSY };

struct slot {
    enum slot_state state;
    bool done;
    int32_t *tokens;               /* [n_ctx]: prompt then generated tokens */
    int n_prompt, n_total, n_past; /* n_past tokens are in the KV cache */
    struct sampler smp;
    struct gen_params g;
    struct gen_result res;
    size_t text_len;
    int owner; /* index of the prompt in engine_generate_batch */
};

struct engine {
    struct model *m;
    struct model_config c;
    struct pool *pool;
    int max_seqs, n_ctx, n_ubatch, n_threads;

    float *key_cache, *value_cache; /* [L][max_seqs][n_ctx][kv_dim] */
    size_t kv_bytes, act_bytes;

    /* activations of one micro-batch */
    float *x, *xb, *xb2, *q, *k, *v, *hb, *hb2; /* [n_ubatch][C|Q|kv|F]; q, xb2: Q */
    float *rope_cs;                             /* [head_dim]: one position's scaled angles */
    float *logits;                              /* [n_ubatch][V] */
    float *att;                                 /* [n_threads][n_ctx] */
    void *mm_scratch;
    size_t mm_scratch_size;
    void *sample_work;
    int32_t *b_tok, *b_pos, *b_seq, *b_out; /* [n_ubatch] micro-batch being built */

    int32_t *token_store; /* [max_seqs][n_ctx] */
    struct slot *slots;
};

/* ---- the forward pass ---- */

struct attn_job {
    struct engine *e;
    int layer, n;
};

/* One (head, token): scores against the cache of the token's sequence, softmax, weighted sum.
 * Chunks run head by head, so the tokens of a prompt that one thread takes in a row read the
 * same head's keys and values while they are still in its cache. */
static void attn_chunk(void *vctx, int chunk, int thread) {
    const struct attn_job *j = vctx;
    struct engine *e = j->e;
    const struct model_config *c = &e->c;
    const int hd = model_head_dim(c), kvd = model_kv_dim(c), Q = model_q_dim(c);
    const int h = chunk / j->n, t = chunk % j->n;
    const int kvh = h / (c->n_head / c->n_head_kv);
    const size_t seq_off =
        ((size_t)j->layer * e->max_seqs + (size_t)e->b_seq[t]) * e->n_ctx * (size_t)kvd;
    /* engine_init checked the head size, so this cannot fail */
    (void)matmul_attend(e->q + (size_t)t * Q + (size_t)h * hd,
                        e->key_cache + seq_off + (size_t)kvh * hd,
                        e->value_cache + seq_off + (size_t)kvh * hd, (size_t)kvd, e->b_pos[t] + 1,
                        hd, 1.0f / sqrtf((float)hd), e->xb2 + (size_t)t * Q + (size_t)h * hd,
                        e->att + (size_t)thread * e->n_ctx);
}

struct swiglu_job {
    float *hb;
    const float *hb2;
    int F;
};

static void swiglu_chunk(void *vctx, int chunk, int thread) {
    (void)thread;
    const struct swiglu_job *j = vctx;
    float *g = j->hb + (size_t)chunk * j->F;
    swiglu_forward(g, g, j->hb2 + (size_t)chunk * j->F, j->F);
}

/* Runs the n tokens in e->b_tok/b_pos/b_seq; rows with b_out[t] >= 0 get their logits at row
 * b_out[t] of e->logits. Inputs were validated by the callers. */
static int forward(struct engine *e, int n, unsigned mm_flags) {
    const struct model_config *c = &e->c;
    const struct model_weights *w = &e->m->weights;
    const int C = c->n_embd, F = c->n_ff, kvd = model_kv_dim(c), hd = model_head_dim(c),
              Q = model_q_dim(c);
    for (int t = 0; t < n; t++)
        DISR_TRY(matmul_row_f32(&w->token_embd, e->b_tok[t], e->x + (size_t)t * C));
    for (int l = 0; l < c->n_layer; l++) {
        const struct layer_weights *lw = &w->layer[l];
        rmsnorm_forward(e->xb, NULL, e->x, lw->attn_norm, n, C, c->norm_eps);
        struct matmul_task qkv[3] = {
            {&lw->wq, e->q, lw->bq}, {&lw->wk, e->k, lw->bk}, {&lw->wv, e->v, lw->bv}};
        DISR_TRY(matmul_tasks(e->pool, e->xb, n, C, qkv, 3, e->mm_scratch, e->mm_scratch_size,
                              mm_flags));
        for (int t = 0; t < n; t++) {
            float *kt = e->k + (size_t)t * kvd, *qt = e->q + (size_t)t * Q;
            if (lw->q_norm) { /* Qwen3: each head normalised on its own, before rope */
                rmsnorm_forward(qt, NULL, qt, lw->q_norm, c->n_head, hd, c->norm_eps);
                rmsnorm_forward(kt, NULL, kt, lw->k_norm, c->n_head_kv, hd, c->norm_eps);
            }
            if (w->rope_freqs) { /* Llama 3.1+: angles divided per pair */
                rope_angles_scaled(e->rope_cs, hd, e->b_pos[t], c->rope_base, w->rope_freqs);
                rope_forward_cached(qt, c->n_head, hd, e->rope_cs, (int)c->rope_style);
                rope_forward_cached(kt, c->n_head_kv, hd, e->rope_cs, (int)c->rope_style);
            } else {
                rope_forward(qt, c->n_head, hd, e->b_pos[t], c->rope_base, (int)c->rope_style);
                rope_forward(kt, c->n_head_kv, hd, e->b_pos[t], c->rope_base, (int)c->rope_style);
            }
            size_t off =
                (((size_t)l * e->max_seqs + (size_t)e->b_seq[t]) * e->n_ctx + (size_t)e->b_pos[t]) *
                kvd;
            memcpy(e->key_cache + off, kt, sizeof(float) * (size_t)kvd);
            memcpy(e->value_cache + off, e->v + (size_t)t * kvd, sizeof(float) * (size_t)kvd);
        }
        struct attn_job aj = {e, l, n};
        pool_run(e->pool, n * c->n_head, attn_chunk, &aj);
        struct matmul_task o = {&lw->wo, e->xb, NULL};
        DISR_TRY(matmul_tasks(e->pool, e->xb2, n, Q, &o, 1, e->mm_scratch, e->mm_scratch_size,
                              mm_flags));
        for (size_t i = 0; i < (size_t)n * C; i++)
            e->x[i] += e->xb[i];

        rmsnorm_forward(e->xb, NULL, e->x, lw->ffn_norm, n, C, c->norm_eps);
        struct matmul_task gu[2] = {{&lw->w_gate, e->hb, NULL}, {&lw->w_up, e->hb2, NULL}};
        DISR_TRY(
            matmul_tasks(e->pool, e->xb, n, C, gu, 2, e->mm_scratch, e->mm_scratch_size, mm_flags));
        struct swiglu_job sj = {e->hb, e->hb2, F};
        pool_run(e->pool, n, swiglu_chunk, &sj);
        struct matmul_task d = {&lw->w_down, e->xb, NULL};
        DISR_TRY(
            matmul_tasks(e->pool, e->hb, n, F, &d, 1, e->mm_scratch, e->mm_scratch_size, mm_flags));
        for (size_t i = 0; i < (size_t)n * C; i++)
            e->x[i] += e->xb[i];
    }
    /* Logits only for the rows asked for: a prompt needs one row, not n. */
    int n_out = 0;
    for (int t = 0; t < n; t++) {
        if (e->b_out[t] < 0) continue;
        rmsnorm_forward(e->xb + (size_t)e->b_out[t] * C, NULL, e->x + (size_t)t * C, w->output_norm,
                        1, C, c->norm_eps);
        n_out++;
    }
    if (n_out) {
        struct matmul_task lo = {&w->output, e->logits, NULL};
        DISR_TRY(matmul_tasks(e->pool, e->xb, n_out, C, &lo, 1, e->mm_scratch, e->mm_scratch_size,
                              mm_flags));
    }
    return DISR_OK;
}

/* ---- init / free ---- */

static int check_mat(const struct mat *m, int rows, int cols, const char *what) {
    if (!m->data || m->rows != rows || m->cols != cols)
        return disr_fail(DISR_E_FORMAT, "engine: %s is %dx%d, expected %dx%d", what, m->rows,
                         m->cols, rows, cols);
    if (!dtype_row_size(m->type, cols))
        return disr_fail(DISR_E_UNSUPPORTED, "engine: %s has type %d with %d columns", what,
                         m->type, cols);
    return DISR_OK;
}

static int check_weights(const struct model *m) {
    const struct model_config *c = &m->config;
    const struct model_weights *w = &m->weights;
    const int C = c->n_embd, F = c->n_ff, V = c->n_vocab, KV = model_kv_dim(c), Q = model_q_dim(c);
    DISR_TRY(check_mat(&w->token_embd, V, C, "token_embd"));
    DISR_TRY(check_mat(&w->output, V, C, "output"));
    if (!w->output_norm) return disr_fail(DISR_E_FORMAT, "engine: output_norm missing");
    for (int l = 0; l < c->n_layer; l++) {
        const struct layer_weights *lw = &w->layer[l];
        DISR_TRY(check_mat(&lw->wq, Q, C, "attn_q"));
        DISR_TRY(check_mat(&lw->wk, KV, C, "attn_k"));
        DISR_TRY(check_mat(&lw->wv, KV, C, "attn_v"));
        DISR_TRY(check_mat(&lw->wo, C, Q, "attn_output"));
        DISR_TRY(check_mat(&lw->w_gate, F, C, "ffn_gate"));
        DISR_TRY(check_mat(&lw->w_up, F, C, "ffn_up"));
        DISR_TRY(check_mat(&lw->w_down, C, F, "ffn_down"));
        if (!lw->attn_norm || !lw->ffn_norm)
            return disr_fail(DISR_E_FORMAT, "engine: layer %d norm missing", l);
        if (c->qkv_bias && (!lw->bq || !lw->bk || !lw->bv))
            return disr_fail(DISR_E_FORMAT, "engine: layer %d qkv bias missing", l);
        if (c->qk_norm && (!lw->q_norm || !lw->k_norm))
            return disr_fail(DISR_E_FORMAT, "engine: layer %d q/k norm missing", l);
    }
    if (c->rope_freqs && !w->rope_freqs)
        return disr_fail(DISR_E_FORMAT, "engine: rope_freqs missing");
    return DISR_OK;
}

static size_t mat_bytes(const struct mat *m) {
    return dtype_row_size(m->type, m->cols) * (size_t)m->rows;
}

static size_t weight_bytes(const struct model *m) {
    const struct model_config *c = &m->config;
    const struct model_weights *w = &m->weights;
    size_t b = mat_bytes(&w->token_embd) + (c->tied_output ? 0 : mat_bytes(&w->output));
    b += sizeof(float) * (size_t)c->n_embd;
    for (int l = 0; l < c->n_layer; l++) {
        const struct layer_weights *lw = &w->layer[l];
        b += mat_bytes(&lw->wq) + mat_bytes(&lw->wk) + mat_bytes(&lw->wv) + mat_bytes(&lw->wo);
        b += mat_bytes(&lw->w_gate) + mat_bytes(&lw->w_up) + mat_bytes(&lw->w_down);
        b += sizeof(float) * (2 * (size_t)c->n_embd +
                              (c->qkv_bias ? (size_t)model_q_dim(c) + 2 * model_kv_dim(c) : 0) +
                              (c->qk_norm ? 2 * (size_t)model_head_dim(c) : 0));
    }
    return b;
}

void engine_free(struct engine *e) {
    if (!e) return;
    pool_free(e->pool);
    free(e->key_cache);
    free(e->value_cache);
    free(e->x);
    free(e->xb);
    free(e->xb2);
    free(e->rope_cs);
    free(e->q);
    free(e->k);
    free(e->v);
    free(e->hb);
    free(e->hb2);
    free(e->logits);
    free(e->att);
    free(e->mm_scratch);
    free(e->sample_work);
    free(e->b_tok);
    free(e->b_pos);
    free(e->b_seq);
    free(e->b_out);
    free(e->token_store);
    free(e->slots);
    free(e);
}

static void *alloc_counted(struct engine *e, size_t n, size_t size) {
    e->act_bytes += n * size;
    return calloc(n, size);
}

int engine_init(struct engine **out, struct model *m, const struct engine_params *p) {
    *out = NULL;
    if (!m) return disr_fail(DISR_E_ARG, "engine: no model");
    DISR_TRY(model_config_validate(&m->config));
    DISR_TRY(check_weights(m));
    const struct model_config *c = &m->config;
    if (model_head_dim(c) > MATMUL_MAX_HEAD_DIM)
        return disr_fail(DISR_E_UNSUPPORTED, "engine: head size %d (at most %d)", model_head_dim(c),
                         MATMUL_MAX_HEAD_DIM);
    int max_seqs = p && p->max_seqs > 0 ? p->max_seqs : 1;
    int n_ctx = p && p->n_ctx > 0 ? p->n_ctx : c->n_ctx;
    if (max_seqs > 4096) return disr_fail(DISR_E_ARG, "engine: %d sequences is too many", max_seqs);
    if (n_ctx > c->n_ctx)
        return disr_fail(DISR_E_ARG, "engine: context %d exceeds the model's %d", n_ctx, c->n_ctx);
    struct engine *e = calloc(1, sizeof *e);
    if (!e) return disr_fail(DISR_E_NOMEM, "engine: out of memory");
    e->m = m;
    e->c = *c;
    e->max_seqs = max_seqs;
    e->n_ctx = n_ctx;
    e->n_ubatch = ENGINE_UBATCH > max_seqs ? ENGINE_UBATCH : max_seqs;
    int st = pool_init(&e->pool, p ? p->n_threads : 0);
    if (st < 0) {
        free(e);
        return st;
    }
    e->n_threads = pool_size(e->pool);
    /* Prefill's F32 products run in OpenBLAS, whose own threads must keep to the engine's
     * budget: `-t 1` beside another job means one core, not OpenBLAS's default of all. */
    matmul_set_blas_threads(e->n_threads);
    const size_t C = (size_t)c->n_embd, F = (size_t)c->n_ff, V = (size_t)c->n_vocab;
    const size_t KV = (size_t)model_kv_dim(c), U = (size_t)e->n_ubatch, Q = (size_t)model_q_dim(c);
    size_t kv_floats = (size_t)c->n_layer * (size_t)max_seqs * (size_t)n_ctx * KV;
    e->kv_bytes = 2 * kv_floats * sizeof(float);
    e->key_cache = calloc(kv_floats, sizeof(float));
    e->value_cache = calloc(kv_floats, sizeof(float));
    e->x = alloc_counted(e, U * C, sizeof(float));
    e->xb = alloc_counted(e, U * C, sizeof(float));
    e->xb2 = alloc_counted(e, U * Q, sizeof(float));
    e->q = alloc_counted(e, U * Q, sizeof(float));
    e->rope_cs = alloc_counted(e, (size_t)model_head_dim(c), sizeof(float));
    e->k = alloc_counted(e, U * KV, sizeof(float));
    e->v = alloc_counted(e, U * KV, sizeof(float));
    e->hb = alloc_counted(e, U * F, sizeof(float));
    e->hb2 = alloc_counted(e, U * F, sizeof(float));
    e->logits = alloc_counted(e, U * V, sizeof(float));
    e->att = alloc_counted(e, (size_t)e->n_threads * (size_t)n_ctx, sizeof(float));
    const size_t widest = C > F ? (C > Q ? C : Q) : (F > Q ? F : Q); /* a product's input */
    e->mm_scratch_size = matmul_scratch_size(e->n_ubatch, (int)widest);
    e->mm_scratch = alloc_counted(e, e->mm_scratch_size, 1);
    e->sample_work = alloc_counted(e, sampler_work_size((int)V), 1);
    e->b_tok = alloc_counted(e, U, sizeof(int32_t));
    e->b_pos = alloc_counted(e, U, sizeof(int32_t));
    e->b_seq = alloc_counted(e, U, sizeof(int32_t));
    e->b_out = alloc_counted(e, U, sizeof(int32_t));
    e->token_store = alloc_counted(e, (size_t)max_seqs * (size_t)n_ctx, sizeof(int32_t));
    e->slots = alloc_counted(e, (size_t)max_seqs, sizeof(struct slot));
    if (!e->key_cache || !e->value_cache || !e->x || !e->xb || !e->xb2 || !e->rope_cs || !e->q ||
        !e->k || !e->v || !e->hb || !e->hb2 || !e->logits || !e->att || !e->mm_scratch ||
        !e->sample_work || !e->b_tok || !e->b_pos || !e->b_seq || !e->b_out || !e->token_store ||
        !e->slots) {
        engine_free(e);
        return disr_fail(DISR_E_NOMEM, "engine: cannot allocate %zu MiB of KV cache and buffers",
                         (size_t)(e->kv_bytes >> 20));
    }
    for (int s = 0; s < max_seqs; s++)
        e->slots[s].tokens = e->token_store + (size_t)s * n_ctx;
    *out = e;
    return DISR_OK;
}

const struct model *engine_model(const struct engine *e) {
    return e->m;
}
int engine_n_ctx(const struct engine *e) {
    return e->n_ctx;
}
int engine_max_seqs(const struct engine *e) {
    return e->max_seqs;
}

void engine_memory_get(const struct engine *e, struct engine_memory *out) {
    out->weights = weight_bytes(e->m);
    out->kv_cache = e->kv_bytes;
    out->activations = e->act_bytes;
}

/* ---- token-level batches ---- */

int engine_decode(struct engine *e, const struct engine_batch *b, float *logits) {
    const int V = e->c.n_vocab;
    if (b->n < 0) return disr_fail(DISR_E_ARG, "engine: negative batch size");
    for (int i = 0; i < b->n; i++) {
        if (b->token[i] < 0 || b->token[i] >= V)
            return disr_fail(DISR_E_RANGE, "engine: token %d out of range (vocabulary %d)",
                             b->token[i], V);
        if (b->seq[i] < 0 || b->seq[i] >= e->max_seqs)
            return disr_fail(DISR_E_RANGE, "engine: sequence %d out of range (%d sequences)",
                             b->seq[i], e->max_seqs);
        if (b->pos[i] < 0 || b->pos[i] >= e->n_ctx)
            return disr_fail(DISR_E_RANGE, "engine: position %d outside the context of %d",
                             b->pos[i], e->n_ctx);
    }
    int done_out = 0;
    for (int start = 0; start < b->n; start += e->n_ubatch) {
        int n = b->n - start < e->n_ubatch ? b->n - start : e->n_ubatch, n_out = 0;
        for (int t = 0; t < n; t++) {
            e->b_tok[t] = b->token[start + t];
            e->b_pos[t] = b->pos[start + t];
            e->b_seq[t] = b->seq[start + t];
            e->b_out[t] = b->logits && b->logits[start + t] ? n_out++ : -1;
        }
        DISR_TRY(forward(e, n, 0));
        if (n_out && logits)
            memcpy(logits + (size_t)done_out * V, e->logits, sizeof(float) * (size_t)n_out * V);
        done_out += n_out;
    }
    return DISR_OK;
}

/* ---- slots ---- */

static int encode_prompt(struct engine *e, const char *prompt, int32_t *ids, int cap, int *n_out) {
    const struct tokenizer *tok = e->m->tokenizer;
    if (!tok) return disr_fail(DISR_E_STATE, "engine: the model has no tokenizer");
    int n = 0;
    DISR_TRY(tokenizer_encode(tok, prompt, strlen(prompt), ids, cap, &n));
    /* BOS where the vocabulary asks for it, once: a rendered chat template may begin with it. */
    if (tokenizer_add_bos(tok) && (n == 0 || ids[0] != tokenizer_bos(tok))) {
        if (n >= cap) return disr_fail(DISR_E_RANGE, "engine: prompt longer than %d tokens", cap);
        memmove(ids + 1, ids, (size_t)n * sizeof *ids);
        ids[0] = tokenizer_bos(tok);
        n++;
    }
    if (n == 0) {
        /* Nothing to condition on: start from BOS if the vocabulary has one. */
        int32_t bos = tokenizer_bos(tok);
        if (bos < 0) return disr_fail(DISR_E_ARG, "engine: empty prompt and no BOS token");
        ids[n++] = bos;
    }
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= e->c.n_vocab)
            return disr_fail(DISR_E_RANGE, "engine: tokenizer id %d outside the model's %d", ids[i],
                             e->c.n_vocab);
    *n_out = n;
    return DISR_OK;
}

int engine_slot_start(struct engine *e, const char *prompt, const struct gen_params *g) {
    int id = -1;
    for (int s = 0; s < e->max_seqs && id < 0; s++)
        if (e->slots[s].state == SLOT_FREE) id = s;
    if (id < 0) return disr_fail(DISR_E_STATE, "engine: all %d slots are busy", e->max_seqs);
    if (!prompt || !g) return disr_fail(DISR_E_ARG, "engine: no prompt or parameters");
    struct slot *s = &e->slots[id];
    int n = 0;
    DISR_TRY(encode_prompt(e, prompt, s->tokens, e->n_ctx, &n));
    if (n >= e->n_ctx)
        return disr_fail(DISR_E_RANGE,
                         "engine: prompt of %d tokens leaves no room in a context "
                         "of %d",
                         n, e->n_ctx);
    s->state = SLOT_BUSY;
    s->done = g->max_tokens <= 0;
    s->n_prompt = s->n_total = n;
    s->n_past = 0;
    s->g = *g;
    sampler_init(&s->smp, g->temperature, g->top_k, g->top_p, g->seed);
    memset(&s->res, 0, sizeof s->res);
    s->text_len = 0;
    return id;
}

bool engine_slot_done(const struct engine *e, int slot) {
    return slot < 0 || slot >= e->max_seqs || e->slots[slot].state == SLOT_FREE ||
           e->slots[slot].done;
}

int engine_slot_result(const struct engine *e, int slot, struct gen_result *out) {
    if (slot < 0 || slot >= e->max_seqs || e->slots[slot].state == SLOT_FREE)
        return disr_fail(DISR_E_ARG, "engine: slot %d is not in use", slot);
    *out = e->slots[slot].res;
    return DISR_OK;
}

void engine_slot_release(struct engine *e, int slot) {
    if (slot >= 0 && slot < e->max_seqs) e->slots[slot].state = SLOT_FREE;
}

/* Samples the next token of slot s from logits row `row`, appends it, checks the stops. */
static void slot_sample_token(struct engine *e, struct slot *s, int row) {
    float lp;
    float *lg = e->logits + (size_t)row * e->c.n_vocab;
    int32_t tok = sampler_sample(&s->smp, lg, e->c.n_vocab, e->sample_work, &lp);
    struct gen_result *r = &s->res;
    if (r->n_tokens == 0) r->first_logprob = lp;
    if (r->n_tokens < GEN_MAX_TOKEN_LP) r->token_logprob[r->n_tokens] = lp;
    r->n_tokens++;
    r->sum_logprob += lp;
    s->tokens[s->n_total++] = tok;
    const struct tokenizer *tk = e->m->tokenizer;
    if (tok == tokenizer_eos(tk)) {
        s->done = true;
        return;
    }
    size_t len;
    const char *piece = tokenizer_piece(tk, tok, &len);
    for (size_t i = 0; i < len; i++) {
        if (s->g.stop_char && piece[i] == s->g.stop_char) {
            s->done = true;
            return;
        }
        if (s->text_len + 1 >= sizeof r->text) {
            r->truncated = true;
            s->done = true;
            return;
        }
        r->text[s->text_len++] = piece[i];
        r->text[s->text_len] = '\0';
    }
    if (r->n_tokens >= s->g.max_tokens || s->n_total >= e->n_ctx) {
        r->truncated = true;
        s->done = true;
    }
}

static void slot_sample(struct engine *e, struct slot *s, int row) {
    int k = s->res.n_tokens;
    slot_sample_token(e, s, row);
    if (k < GEN_MAX_TOKEN_LP) s->res.token_end[k] = (uint16_t)s->text_len;
}

/* Feeds slot s's uncached tokens (its prompt) in micro-batches and samples its first token. */
static int slot_prefill(struct engine *e, int id) {
    struct slot *s = &e->slots[id];
    const int end = s->n_total; /* sampling appends a token that the next step feeds */
    while (s->n_past < end) {
        int n = end - s->n_past;
        if (n > e->n_ubatch) n = e->n_ubatch;
        for (int t = 0; t < n; t++) {
            e->b_tok[t] = s->tokens[s->n_past + t];
            e->b_pos[t] = s->n_past + t;
            e->b_seq[t] = id;
            e->b_out[t] = -1;
        }
        bool last = s->n_past + n == end;
        if (last) e->b_out[n - 1] = 0;
        DISR_TRY(forward(e, n, 0));
        s->n_past += n;
        if (last) slot_sample(e, s, 0);
    }
    return DISR_OK;
}

int engine_step(struct engine *e) {
    /* One decode micro-batch over the slots that already have a pending token... */
    int n = 0;
    for (int id = 0; id < e->max_seqs; id++) {
        struct slot *s = &e->slots[id];
        if (s->state != SLOT_BUSY || s->done || s->n_past == 0) continue;
        e->b_tok[n] = s->tokens[s->n_total - 1];
        e->b_pos[n] = s->n_total - 1;
        e->b_seq[n] = id;
        e->b_out[n] = n;
        n++;
    }
    if (n) {
        /* Our kernels only: a row's result must not depend on how many slots are active. */
        DISR_TRY(forward(e, n, MATMUL_NO_BLAS));
        for (int t = 0; t < n; t++) {
            struct slot *s = &e->slots[e->b_seq[t]];
            s->n_past = s->n_total; /* the pending token is in the cache now */
            slot_sample(e, s, t);
        }
    }
    /* ...then each new slot's prompt on its own, which samples its first token. */
    for (int id = 0; id < e->max_seqs; id++) {
        struct slot *s = &e->slots[id];
        if (s->state == SLOT_BUSY && !s->done && s->n_past == 0) DISR_TRY(slot_prefill(e, id));
    }
    int running = 0;
    for (int id = 0; id < e->max_seqs; id++)
        running += e->slots[id].state == SLOT_BUSY && !e->slots[id].done;
    return running;
}

/* ---- one-shot calls ---- */

static void release_all(struct engine *e) {
    for (int s = 0; s < e->max_seqs; s++)
        e->slots[s].state = SLOT_FREE;
}

int engine_generate_batch(struct engine *e, int n, const char *const *prompts,
                          const struct gen_params *g, struct gen_result *out) {
    if (n < 0 || (n > 0 && (!prompts || !out || !g)))
        return disr_fail(DISR_E_ARG, "engine: bad batch of %d prompts", n);
    for (int s = 0; s < e->max_seqs; s++)
        if (e->slots[s].state != SLOT_FREE)
            return disr_fail(DISR_E_STATE, "engine: one-shot generation while slots are busy");
    int next = 0;
    for (;;) {
        /* Refill free slots as others finish (continuous batching); prompt i samples with seed
         * + i wherever and whenever it runs. */
        for (int s = 0; s < e->max_seqs && next < n; s++) {
            if (e->slots[s].state != SLOT_FREE) continue;
            struct gen_params gi = *g;
            gi.seed = g->seed + (uint64_t)next;
            int id = engine_slot_start(e, prompts[next], &gi);
            if (id < 0) {
                char why[256];
                snprintf(why, sizeof why, "%s", disr_last_error());
                release_all(e);
                return disr_fail(id, "prompt %d: %s", next, why);
            }
            e->slots[id].owner = next++;
        }
        int active = 0;
        for (int s = 0; s < e->max_seqs; s++)
            active += e->slots[s].state != SLOT_FREE;
        if (!active) break;
        int r = engine_step(e);
        if (r < 0) {
            release_all(e);
            return r;
        }
        for (int s = 0; s < e->max_seqs; s++) {
            struct slot *sl = &e->slots[s];
            if (sl->state == SLOT_FREE || !sl->done) continue;
            out[sl->owner] = sl->res;
            sl->state = SLOT_FREE;
        }
    }
    return DISR_OK;
}

int engine_generate(struct engine *e, const char *prompt, const struct gen_params *g,
                    struct gen_result *out) {
    return engine_generate_batch(e, 1, &prompt, g, out);
}

int engine_score(struct engine *e, const char *prompt, const char *continuation, float *logprob) {
    int id = -1;
    for (int s = 0; s < e->max_seqs && id < 0; s++)
        if (e->slots[s].state == SLOT_FREE) id = s;
    if (id < 0) return disr_fail(DISR_E_STATE, "engine: all %d slots are busy", e->max_seqs);
    if (!prompt || !continuation) return disr_fail(DISR_E_ARG, "engine: no text to score");
    /* The two parts are tokenized separately: the continuation's tokens are the ones a
     * generation after this prompt would have had to produce. */
    int32_t *tok = e->slots[id].tokens;
    int np = 0, nc = 0;
    DISR_TRY(encode_prompt(e, prompt, tok, e->n_ctx, &np));
    DISR_TRY(tokenizer_encode(e->m->tokenizer, continuation, strlen(continuation), tok + np,
                              e->n_ctx - np, &nc));
    for (int i = np; i < np + nc; i++)
        if (tok[i] < 0 || tok[i] >= e->c.n_vocab)
            return disr_fail(DISR_E_RANGE, "engine: tokenizer id %d outside the model's %d", tok[i],
                             e->c.n_vocab);
    double sum = 0;
    const int V = e->c.n_vocab, total = np + nc;
    /* Positions np-1 .. total-2 predict the continuation; the last token is never fed. */
    for (int start = 0; start < total - 1 && nc > 0; start += e->n_ubatch) {
        int n = total - 1 - start < e->n_ubatch ? total - 1 - start : e->n_ubatch, n_out = 0;
        for (int t = 0; t < n; t++) {
            int p = start + t;
            e->b_tok[t] = tok[p];
            e->b_pos[t] = p;
            e->b_seq[t] = id;
            e->b_out[t] = p >= np - 1 ? n_out++ : -1;
        }
        DISR_TRY(forward(e, n, 0));
        for (int t = 0; t < n; t++) {
            if (e->b_out[t] < 0) continue;
            const float *row = e->logits + (size_t)e->b_out[t] * V;
            sum += row[tok[start + t + 1]] - logsumexp(row, V);
        }
    }
    *logprob = (float)sum;
    return DISR_OK;
}

/* ---- groups of samples of one prompt (prefix sharing) ---- */

int engine_generate_groups(struct engine *e, int n, const char *const *prompts, int group,
                           const struct gen_params *g, struct gen_result *out) {
    if (n < 0 || group < 1 || group > e->max_seqs || (n > 0 && (!prompts || !out || !g)))
        return disr_fail(DISR_E_ARG, "engine: bad groups: %d prompts x %d (max %d sequences)", n,
                         group, e->max_seqs);
    for (int s = 0; s < e->max_seqs; s++)
        if (e->slots[s].state != SLOT_FREE)
            return disr_fail(DISR_E_STATE, "engine: one-shot generation while slots are busy");
    const int per_wave = e->max_seqs / group, kvd = model_kv_dim(&e->c);
    for (int p0 = 0; p0 < n; p0 += per_wave) {
        int np = n - p0 < per_wave ? n - p0 : per_wave;
        for (int p = p0; p < p0 + np; p++) {
            int first = -1;
            for (int j = 0; j < group; j++) {
                struct gen_params gi = *g;
                gi.seed = g->seed + (uint64_t)p * (uint64_t)group + (uint64_t)j;
                int id = engine_slot_start(e, prompts[p], &gi);
                if (id < 0) {
                    char why[256];
                    snprintf(why, sizeof why, "%s", disr_last_error());
                    release_all(e);
                    return disr_fail(id, "prompt %d: %s", p, why);
                }
                e->slots[id].owner = p * group + j;
                if (e->slots[id].done) continue; /* max_tokens <= 0 */
                if (first < 0) {
                    /* The prompt is prefilled once, by the group's first sample... */
                    first = id;
                    int st = slot_prefill(e, id);
                    if (st < 0) {
                        release_all(e);
                        return st;
                    }
                    continue;
                }
                /* ...the others copy its cache up to the last prompt token, which the next
                 * engine_step feeds for them as a decode token (their first sample). */
                struct slot *s = &e->slots[id];
                int keep = s->n_prompt - 1;
                for (int l = 0; l < e->c.n_layer; l++) {
                    size_t src = ((size_t)l * e->max_seqs + (size_t)first) * e->n_ctx * kvd;
                    size_t dst = ((size_t)l * e->max_seqs + (size_t)id) * e->n_ctx * kvd;
                    memcpy(e->key_cache + dst, e->key_cache + src,
                           sizeof(float) * (size_t)keep * kvd);
                    memcpy(e->value_cache + dst, e->value_cache + src,
                           sizeof(float) * (size_t)keep * kvd);
                }
                s->n_past = keep;
            }
        }
        int r;
        while ((r = engine_step(e)) > 0) {
        }
        if (r < 0) {
            release_all(e);
            return r;
        }
        for (int s = 0; s < e->max_seqs; s++) {
            struct slot *sl = &e->slots[s];
            if (sl->state == SLOT_FREE) continue;
            out[sl->owner] = sl->res;
            sl->state = SLOT_FREE;
        }
    }
    return DISR_OK;
}
