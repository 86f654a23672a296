#include "model/transformer.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/gemm.h"
#include "core/ops.h"
#include "core/pool.h"

void tf_linear_forward(struct pool *pool, float *scratch, float *out, const float *inp,
                       const float *w, const float *bias, int N, int IC, int OC) {
    gemm_run(pool, N, OC, IC, (struct gemm_view){inp, IC, 1}, (struct gemm_view){w, 1, IC}, out, OC,
             0, scratch);
    if (bias)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++)
                out[(int64_t)n * OC + o] += bias[o];
}

void tf_linear_backward(struct pool *pool, float *scratch, float *dinp, int dinp_add, float *dw,
                        float *dbias, const float *dout, const float *inp, const float *w, int N,
                        int IC, int OC) {
    if (dinp)
        gemm_run(pool, N, IC, OC, (struct gemm_view){dout, OC, 1}, (struct gemm_view){w, IC, 1},
                 dinp, IC, dinp_add ? GEMM_ACCUMULATE : 0, scratch);
    if (dw)
        gemm_run(pool, OC, IC, N, (struct gemm_view){dout, 1, OC}, (struct gemm_view){inp, IC, 1},
                 dw, IC, GEMM_ACCUMULATE, scratch);
    if (dbias)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++)
                dbias[o] += dout[(int64_t)n * OC + o];
}

size_t tf_linear_scratch_floats(int N, int IC, int OC, int n_threads) {
    size_t a = gemm_scratch_floats(OC, IC, n_threads), b = gemm_scratch_floats(IC, OC, n_threads),
           c = gemm_scratch_floats(IC, N, n_threads);
    return a > b ? (a > c ? a : c) : (b > c ? b : c);
}

double transformer_flops(const struct model_config *c, int B, int T) {
    double C = c->n_embd, F = c->n_ff, KV = model_kv_dim(c), V = c->n_vocab;
    double per_layer = C * C * 2 + C * KV * 2 + 3 * C * F;
    double mm_params = c->n_layer * per_layer + V * C; /* the output head (tied or not) */
    double tokens = (double)B * T;
    /* Attention: QK^T and AV, each 2*T*T/2*C flops per sequence forward (causal half),
     * backward twice that: 3 * 2 * 2 * (T^2/2) * C per layer. */
    double attn = (double)c->n_layer * B * 3.0 * 2.0 * 2.0 * ((double)T * T / 2.0) * C;
    return 6.0 * mm_params * tokens + attn;
}

int transformer_init(struct transformer **out, const struct model_config *c, int B, int T,
                     int n_threads) {
    *out = NULL;
    DISR_TRY(model_config_validate(c));
    if (c->qk_norm || c->rope_freqs || model_q_dim(c) != c->n_embd)
        return disr_fail(DISR_E_UNSUPPORTED,
                         "transformer: training covers llama/qwen2 shapes (no per-head q/k norm or "
                         "rope scaling, heads x head size = embedding size); this model runs for "
                         "inference only");
    if (B <= 0 || T <= 0 || T > c->n_ctx)
        return disr_fail(DISR_E_ARG, "transformer: batch %d x %d tokens (context is %d)", B, T,
                         c->n_ctx);
    struct transformer *tf = calloc(1, sizeof *tf);
    if (!tf) return disr_fail(DISR_E_NOMEM, "transformer: out of memory");
    tf->c = *c;
    tf->B = B;
    tf->T = T;
    if (pool_init(&tf->pool, n_threads) < 0) {
        free(tf);
        return disr_fail(DISR_E_NOMEM, "transformer: cannot start threads");
    }
    const int pool_threads = pool_size(tf->pool);
    const size_t BT = (size_t)B * T, C = c->n_embd, KV = model_kv_dim(c), F = c->n_ff,
                 V = c->n_vocab, H = c->n_head, L = c->n_layer;
    /* Every product's packing room: (rows, in, out) of each linear layer. */
    const int shapes[][2] = {{c->n_embd, c->n_embd},
                             {c->n_embd, (int)KV},
                             {c->n_embd, c->n_ff},
                             {c->n_ff, c->n_embd},
                             {c->n_embd, c->n_vocab}};
    size_t gemm_floats = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        size_t n = tf_linear_scratch_floats(B * T, shapes[i][0], shapes[i][1], pool_threads);
        if (n > gemm_floats) gemm_floats = n;
    }
    /* Two passes over one list: count, then point (the layout cannot drift between them). */
    for (int pass = 0; pass < 2; pass++) {
        size_t off = 0;
        float *base = tf->acts;
#define TAKE(ptr, n)                                                                               \
    do {                                                                                           \
        if (pass) (ptr) = base + off;                                                              \
        off += (size_t)(n);                                                                        \
    } while (0)
        for (size_t l = 0; l <= L; l++)
            TAKE(tf->res[l], BT * C);
        for (size_t l = 0; l < L; l++) {
            struct tf_layer_acts *a = &tf->layer[l];
            TAKE(a->ln1, BT * C);
            TAKE(a->ln1_rstd, BT);
            TAKE(a->q, BT * C);
            TAKE(a->k, BT * KV);
            TAKE(a->v, BT * KV);
            TAKE(a->att, (size_t)B * H * T * T);
            TAKE(a->atty, BT * C);
            TAKE(a->res_mid, BT * C);
            TAKE(a->ln2, BT * C);
            TAKE(a->ln2_rstd, BT);
            TAKE(a->gate, BT * F);
            TAKE(a->up, BT * F);
            TAKE(a->act, BT * F);
        }
        TAKE(tf->lnf, BT * C);
        TAKE(tf->lnf_rstd, BT);
        TAKE(tf->logits, BT * V);
        TAKE(tf->losses, BT);
        TAKE(tf->dres, BT * C);
        TAKE(tf->dln, BT * C);
        TAKE(tf->dq, BT * C);
        TAKE(tf->dk, BT * KV);
        TAKE(tf->dv, BT * KV);
        TAKE(tf->datty, BT * C);
        TAKE(tf->dgate, BT * F);
        TAKE(tf->dup, BT * F);
        TAKE(tf->dact, BT * F);
        TAKE(tf->attn_scratch, attention_scratch_floats(T, model_head_dim(c)) * pool_threads);
        TAKE(tf->gemm_scratch, gemm_floats);
        TAKE(tf->rope_cs, (size_t)T * (size_t)model_head_dim(c));
#undef TAKE
        if (!pass) {
            tf->n_acts = off;
            tf->acts = calloc(off, sizeof(float));
            if (!tf->acts) {
                pool_free(tf->pool);
                free(tf);
                return disr_fail(DISR_E_NOMEM, "transformer: cannot allocate %zu MB of activations",
                                 off * sizeof(float) >> 20);
            }
        }
    }
    for (int t = 0; t < T; t++)
        rope_angles(tf->rope_cs + (size_t)t * model_head_dim(c), model_head_dim(c), t,
                    c->rope_base);
    *out = tf;
    return DISR_OK;
}

void transformer_free(struct transformer *tf) {
    if (!tf) return;
    pool_free(tf->pool);
    free(tf->acts);
    free(tf);
}

/* ---- parallel pieces. Chunks have fixed boundaries, so results do not depend on which
 * thread runs which chunk (a resumed run reproduces an uninterrupted one bit for bit). ---- */

#define TF_ROW_CHUNKS 16

static int chunk_begin(int n, int chunk, int n_chunks) {
    return (int)((int64_t)n * chunk / n_chunks);
}

struct attn_job {
    struct transformer *tf;
    struct tf_layer_acts *a;
    int backward;
};

/* One chunk = one sequence b and one key/value head g with its group of query heads, so the
 * backward's dk/dv writes never overlap between chunks. */
static void attn_chunk(void *vctx, int chunk, int thread) {
    struct attn_job *j = vctx;
    struct transformer *tf = j->tf;
    const struct model_config *c = &tf->c;
    const int T = tf->T, C = c->n_embd, KV = model_kv_dim(c), H = c->n_head, HKV = c->n_head_kv,
              hd = model_head_dim(c), group = H / HKV;
    const int b = chunk / HKV, g = chunk % HKV;
    const int64_t r0 = (int64_t)b * T, qo = r0 * C + (int64_t)g * group * hd,
                  ko = r0 * KV + (int64_t)g * hd;
    float *att = j->a->att + ((int64_t)b * H + (int64_t)g * group) * T * T;
    float *scratch = tf->attn_scratch + (int64_t)thread * attention_scratch_floats(T, hd);
    if (!j->backward)
        attention_forward(j->a->atty + qo, att, j->a->q + qo, j->a->k + ko, j->a->v + ko, T, group,
                          1, hd, C, KV, scratch);
    else
        attention_backward(tf->dq + qo, tf->dk + ko, tf->dv + ko, tf->datty + qo, att, j->a->q + qo,
                           j->a->k + ko, j->a->v + ko, T, group, 1, hd, C, KV, scratch);
}

static void attention_run(struct transformer *tf, struct tf_layer_acts *a, int backward) {
    struct attn_job j = {tf, a, backward};
    pool_run(tf->pool, tf->B * tf->c.n_head_kv, attn_chunk, &j);
}

enum row_op { ROW_ROPE_Q, ROW_ROPE_K, ROW_SWIGLU_FWD, ROW_SWIGLU_BWD, ROW_CE_FWD, ROW_CE_BWD };

struct row_job {
    struct transformer *tf;
    enum row_op op;
    int backward;
    float *x;
    struct tf_layer_acts *a;
    const int32_t *targets;
    const struct tf_soft_targets *soft; /* NULL: one-hot targets everywhere */
    const float *dlosses;
};

/* Cross-entropy forward or backward over rows [r0, r1): runs of one-hot rows go to the batched
 * kernel, distillation rows (soft->mask) one at a time to the soft one. */
static void ce_rows(struct transformer *tf, const struct row_job *j, int r0, int r1) {
    const int V = tf->c.n_vocab;
    for (int r = r0; r < r1;) {
        bool soft = j->soft && j->soft->mask[r];
        int e = r + 1;
        while (e < r1 && !soft && !(j->soft && j->soft->mask[e]))
            e++;
        float *l = tf->logits + (int64_t)r * V;
        const float *q = soft ? j->soft->probs + (int64_t)r * V : NULL;
        if (j->op == ROW_CE_FWD && soft)
            crossentropy_soft_forward(tf->losses + r, l, q, 1, V);
        else if (j->op == ROW_CE_FWD)
            crossentropy_forward(tf->losses + r, l, j->targets + r, e - r, V);
        else if (soft)
            crossentropy_soft_softmax_backward(l, l, q, j->dlosses + r, 1, V);
        else
            crossentropy_softmax_backward(l, l, j->targets + r, tf->losses + r, j->dlosses + r,
                                          e - r, V);
        r = e;
    }
}

static void row_chunk(void *vctx, int chunk, int thread) {
    (void)thread;
    struct row_job *j = vctx;
    struct transformer *tf = j->tf;
    const struct model_config *c = &tf->c;
    const int BT = tf->B * tf->T, F = c->n_ff, hd = model_head_dim(c);
    const int r0 = chunk_begin(BT, chunk, TF_ROW_CHUNKS),
              r1 = chunk_begin(BT, chunk + 1, TF_ROW_CHUNKS);
    switch (j->op) {
    case ROW_ROPE_Q:
    case ROW_ROPE_K: {
        /* Row r = b*T + t sits at position t. */
        int heads = j->op == ROW_ROPE_Q ? c->n_head : c->n_head_kv;
        for (int r = r0; r < r1; r++) {
            float *row = j->x + (int64_t)r * heads * hd;
            const float *cs = tf->rope_cs + (int64_t)(r % tf->T) * hd;
            if (j->backward)
                rope_backward_cached(row, heads, hd, cs, c->rope_style);
            else
                rope_forward_cached(row, heads, hd, cs, c->rope_style);
        }
        break;
    }
    case ROW_SWIGLU_FWD:
        swiglu_forward(j->a->act + (int64_t)r0 * F, j->a->gate + (int64_t)r0 * F,
                       j->a->up + (int64_t)r0 * F, (r1 - r0) * F);
        break;
    case ROW_SWIGLU_BWD:
        swiglu_backward(tf->dgate + (int64_t)r0 * F, tf->dup + (int64_t)r0 * F,
                        tf->dact + (int64_t)r0 * F, j->a->gate + (int64_t)r0 * F,
                        j->a->up + (int64_t)r0 * F, (r1 - r0) * F);
        break;
    case ROW_CE_FWD:
    case ROW_CE_BWD:
        ce_rows(tf, j, r0, r1);
        break;
    }
}

static void rows_run(struct transformer *tf, struct row_job j) {
    j.tf = tf;
    pool_run(tf->pool, TF_ROW_CHUNKS, row_chunk, &j);
}

static void linear_fwd(struct transformer *tf, float *out, const float *inp, const float *w,
                       const float *bias, int IC, int OC) {
    tf_linear_forward(tf->pool, tf->gemm_scratch, out, inp, w, bias, tf->B * tf->T, IC, OC);
}

/* dinp = (or += with add) dout . W; dw += dout^T . inp; dbias += colsum(dout). */
static void linear_bwd(struct transformer *tf, float *dinp, int add, float *dw, float *dbias,
                       const float *dout, const float *inp, const float *w, int IC, int OC) {
    tf_linear_backward(tf->pool, tf->gemm_scratch, dinp, add, dw, dbias, dout, inp, w,
                       tf->B * tf->T, IC, OC);
}

static int check_f32(const struct model_weights *w, const struct model_config *c) {
    if (w->token_embd.type != DTYPE_F32 || w->output.type != DTYPE_F32)
        return disr_fail(DISR_E_STATE, "transformer: training needs F32 weights");
    for (int l = 0; l < c->n_layer; l++) {
        const struct layer_weights *lw = &w->layer[l];
        if (lw->wq.type || lw->wk.type || lw->wv.type || lw->wo.type || lw->w_gate.type ||
            lw->w_up.type || lw->w_down.type)
            return disr_fail(DISR_E_STATE, "transformer: layer %d is not F32", l);
    }
    return DISR_OK;
}

int transformer_forward(struct transformer *tf, const struct model_weights *w,
                        const int32_t *inputs) {
    const struct model_config *c = &tf->c;
    DISR_TRY(check_f32(w, c));
    const int BT = tf->B * tf->T, C = c->n_embd, KV = model_kv_dim(c), F = c->n_ff, V = c->n_vocab;
    for (int r = 0; r < BT; r++)
        if (inputs[r] < 0 || inputs[r] >= V)
            return disr_fail(DISR_E_RANGE, "transformer: token %d at position %d outside vocab %d",
                             inputs[r], r, V);
    const float *embd = w->token_embd.data;
    for (int r = 0; r < BT; r++)
        memcpy(tf->res[0] + (int64_t)r * C, embd + (int64_t)inputs[r] * C, C * sizeof(float));

    for (int l = 0; l < c->n_layer; l++) {
        const struct layer_weights *lw = &w->layer[l];
        struct tf_layer_acts *a = &tf->layer[l];
        const float *x = tf->res[l];
        rmsnorm_forward(a->ln1, a->ln1_rstd, x, lw->attn_norm, BT, C, c->norm_eps);
        linear_fwd(tf, a->q, a->ln1, lw->wq.data, lw->bq, C, C);
        linear_fwd(tf, a->k, a->ln1, lw->wk.data, lw->bk, C, KV);
        linear_fwd(tf, a->v, a->ln1, lw->wv.data, lw->bv, C, KV);
        rows_run(tf, (struct row_job){.op = ROW_ROPE_Q, .x = a->q});
        rows_run(tf, (struct row_job){.op = ROW_ROPE_K, .x = a->k});
        attention_run(tf, a, 0);
        /* res_mid = x + Wo . atty */
        linear_fwd(tf, a->res_mid, a->atty, lw->wo.data, NULL, C, C);
        for (int64_t i = 0; i < (int64_t)BT * C; i++)
            a->res_mid[i] += x[i];
        rmsnorm_forward(a->ln2, a->ln2_rstd, a->res_mid, lw->ffn_norm, BT, C, c->norm_eps);
        linear_fwd(tf, a->gate, a->ln2, lw->w_gate.data, NULL, C, F);
        linear_fwd(tf, a->up, a->ln2, lw->w_up.data, NULL, C, F);
        rows_run(tf, (struct row_job){.op = ROW_SWIGLU_FWD, .a = a});
        float *y = tf->res[l + 1];
        linear_fwd(tf, y, a->act, lw->w_down.data, NULL, F, C);
        for (int64_t i = 0; i < (int64_t)BT * C; i++)
            y[i] += a->res_mid[i];
    }
    rmsnorm_forward(tf->lnf, tf->lnf_rstd, tf->res[c->n_layer], w->output_norm, BT, C, c->norm_eps);
    linear_fwd(tf, tf->logits, tf->lnf, w->output.data, NULL, C, V);
    return DISR_OK;
}

int transformer_loss(struct transformer *tf, const int32_t *targets,
                     const struct tf_soft_targets *soft, const float *weights, float scale,
                     float *dlosses, float *loss) {
    const int BT = tf->B * tf->T, V = tf->c.n_vocab;
    for (int r = 0; r < BT; r++)
        if (targets[r] < 0 || targets[r] >= V)
            return disr_fail(DISR_E_RANGE, "transformer: target %d at position %d outside vocab %d",
                             targets[r], r, V);
    rows_run(tf, (struct row_job){.op = ROW_CE_FWD, .targets = targets, .soft = soft});
    int count = 0;
    double sum = 0;
    for (int r = 0; r < BT; r++) {
        float wt = weights ? weights[r] : 1.0f;
        if (wt != 0) {
            count++;
            sum += (double)wt * tf->losses[r];
        }
    }
    float norm = 1.0f / (float)(count > 0 ? count : 1);
    if (dlosses)
        for (int r = 0; r < BT; r++)
            dlosses[r] = scale * (weights ? weights[r] : 1.0f) * norm;
    if (loss) *loss = (float)(sum * norm);
    return DISR_OK;
}

int transformer_backward(struct transformer *tf, const struct model_weights *w,
                         struct model_weights *g, const int32_t *inputs, const int32_t *targets,
                         const struct tf_soft_targets *soft, const float *dlosses) {
    const struct model_config *c = &tf->c;
    const int BT = tf->B * tf->T, C = c->n_embd, KV = model_kv_dim(c), F = c->n_ff, V = c->n_vocab;
    const size_t rowsC = (size_t)BT * C * sizeof(float), rowsKV = (size_t)BT * KV * sizeof(float);

    /* Head: dlogits in place of the logits, then through the output matrix and final norm. */
    float *dlogits = tf->logits;
    rows_run(tf, (struct row_job){
                     .op = ROW_CE_BWD, .targets = targets, .soft = soft, .dlosses = dlosses});
    linear_bwd(tf, tf->dln, 0, g->output.data, NULL, dlogits, tf->lnf, w->output.data, C, V);
    memset(tf->dres, 0, rowsC);
    rmsnorm_backward(tf->dres, g->output_norm, tf->dln, tf->res[c->n_layer], w->output_norm,
                     tf->lnf_rstd, BT, C);

    for (int l = c->n_layer - 1; l >= 0; l--) {
        const struct layer_weights *lw = &w->layer[l];
        struct layer_weights *gl = &g->layer[l];
        struct tf_layer_acts *a = &tf->layer[l];
        /* dres is dL/d res[l+1]; the skip carries it unchanged to res_mid. */
        linear_bwd(tf, tf->dact, 0, gl->w_down.data, NULL, tf->dres, a->act, lw->w_down.data, F, C);
        rows_run(tf, (struct row_job){.op = ROW_SWIGLU_BWD, .a = a});
        linear_bwd(tf, tf->dln, 0, gl->w_gate.data, NULL, tf->dgate, a->ln2, lw->w_gate.data, C, F);
        linear_bwd(tf, tf->dln, 1, gl->w_up.data, NULL, tf->dup, a->ln2, lw->w_up.data, C, F);
        rmsnorm_backward(tf->dres, gl->ffn_norm, tf->dln, a->res_mid, lw->ffn_norm, a->ln2_rstd, BT,
                         C);
        /* dres is now dL/d res_mid, which the skip carries to res[l]. */
        linear_bwd(tf, tf->datty, 0, gl->wo.data, NULL, tf->dres, a->atty, lw->wo.data, C, C);
        memset(tf->dq, 0, rowsC);
        memset(tf->dk, 0, rowsKV);
        memset(tf->dv, 0, rowsKV);
        attention_run(tf, a, 1);
        rows_run(tf, (struct row_job){.op = ROW_ROPE_Q, .backward = 1, .x = tf->dq});
        rows_run(tf, (struct row_job){.op = ROW_ROPE_K, .backward = 1, .x = tf->dk});
        linear_bwd(tf, tf->dln, 0, gl->wq.data, gl->bq, tf->dq, a->ln1, lw->wq.data, C, C);
        linear_bwd(tf, tf->dln, 1, gl->wk.data, gl->bk, tf->dk, a->ln1, lw->wk.data, C, KV);
        linear_bwd(tf, tf->dln, 1, gl->wv.data, gl->bv, tf->dv, a->ln1, lw->wv.data, C, KV);
        rmsnorm_backward(tf->dres, gl->attn_norm, tf->dln, tf->res[l], lw->attn_norm, a->ln1_rstd,
                         BT, C);
    }
    float *dembd = g->token_embd.data;
    for (int r = 0; r < BT; r++) {
        float *d = dembd + (int64_t)inputs[r] * C;
        const float *s = tf->dres + (int64_t)r * C;
        for (int i = 0; i < C; i++)
            d[i] += s[i];
    }
    return DISR_OK;
}
