/* Golden test of the training path against an independent PyTorch reference
 * (tests/golden/make_fixtures.py, float64): logits, weighted loss, every parameter gradient,
 * and the losses of 10 AdamW steps, for a llama-style config (untied, NORMAL rope, no bias) and
 * a qwen2-style one (tied, NEOX rope, QKV bias, GQA). Any mismatch fails the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "model/model.h"
#include "model/transformer.h"
#include "train/trainer.h"

#ifndef GOLDEN_DIR
#define GOLDEN_DIR "tests/golden"
#endif

struct fix_entry {
    char name[96];
    int kind; /* 0 f32, 1 i32 */
    uint32_t n;
    void *data;
};
struct fixture {
    struct fix_entry e[256];
    int n;
};

static int fixture_load(struct fixture *f, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.bin", GOLDEN_DIR, name);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "cannot open %s (run the test from the repository root)\n", path);
        return -1;
    }
    char magic[8];
    uint32_t count;
    int ok = fread(magic, 1, 8, fp) == 8 && !memcmp(magic, "DISRFIX1", 8) &&
             fread(&count, 4, 1, fp) == 1 && count <= 256;
    f->n = 0;
    for (uint32_t i = 0; ok && i < count; i++) {
        struct fix_entry *e = &f->e[f->n];
        uint32_t len, kind;
        ok = fread(&len, 4, 1, fp) == 1 && len < sizeof e->name &&
             fread(e->name, 1, len, fp) == len && fread(&kind, 4, 1, fp) == 1 &&
             fread(&e->n, 4, 1, fp) == 1 && e->n < (1u << 24);
        if (!ok) break;
        e->name[len] = 0;
        e->kind = (int)kind;
        e->data = malloc(4 * (size_t)e->n + 4);
        ok = fread(e->data, 4, e->n, fp) == e->n;
        f->n++;
    }
    fclose(fp);
    if (!ok) fprintf(stderr, "%s: malformed fixture\n", path);
    return ok ? 0 : -1;
}

static void fixture_free(struct fixture *f) {
    for (int i = 0; i < f->n; i++)
        free(f->e[i].data);
}

static const struct fix_entry *fx(const struct fixture *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->e[i].name, name)) return &f->e[i];
    fprintf(stderr, "fixture lacks %s\n", name);
    fail();
    return NULL;
}

/* llm.c-style check, but relative to the tensor's scale: passes when
 * max|a - b| <= rtol * max|b| + atol. Prints the first offenders. Returns 1 if ok. */
static int check_tensor(const char *what, const float *a, const float *b, size_t n, double rtol,
                        double atol) {
    double maxb = 0, maxd = 0;
    for (size_t i = 0; i < n; i++)
        maxb = fmax(maxb, fabs(b[i]));
    int shown = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        maxd = fmax(maxd, d);
        if (d > rtol * maxb + atol && shown++ < 3)
            fprintf(stderr, "  %s[%zu]: ours %.7g reference %.7g\n", what, i, a[i], b[i]);
    }
    int ok = maxd <= rtol * maxb + atol;
    if (!ok) fprintf(stderr, "NOT OK %s: max diff %.3g (scale %.3g)\n", what, maxd, maxb);
    return ok;
}

struct cmp_ctx {
    const struct fixture *f;
    struct model_weights *target; /* copy into (params) or compare against (grads) */
    int mode;                     /* 0 = load params, 1 = compare grads */
    int bad;
};

static int visit(const struct model_tensor_ref *ref, void *vctx) {
    struct cmp_ctx *ctx = vctx;
    char key[128];
    snprintf(key, sizeof key, "%s%s", ctx->mode ? "grad." : "", ref->name);
    const struct fix_entry *e = fx(ctx->f, key);
    size_t n = (size_t)ref->rows * ref->cols;
    assert_int_equal(e->n, n);
    float *mine = ref->mat ? ref->mat->data : *ref->vec;
    if (ctx->mode == 0)
        memcpy(mine, e->data, n * sizeof(float));
    else
        ctx->bad += !check_tensor(ref->name, mine, e->data, n, 2e-4, 1e-7);
    return DISR_OK;
}

/* Builds the fixture's model and trainer. */
static void setup(const struct fixture *f, struct model **m, struct trainer **t) {
    const int32_t *ci = fx(f, "config")->data;
    const float *cf = fx(f, "config_f")->data;
    struct model_config c = {
        .arch = ci[8] ? MODEL_ARCH_QWEN2 : MODEL_ARCH_LLAMA,
        .n_vocab = ci[0],
        .n_embd = ci[1],
        .n_layer = ci[2],
        .n_head = ci[3],
        .n_head_kv = ci[4],
        .n_ff = ci[5],
        .n_ctx = ci[6],
        .rope_style = ci[7],
        .qkv_bias = ci[8],
        .tied_output = ci[9],
        .norm_eps = cf[0],
        .rope_base = cf[1],
    };
    assert_int_equal(model_init_random(m, &c, NULL, 1), DISR_OK);
    struct cmp_ctx ctx = {f, &(*m)->weights, 0, 0};
    assert_int_equal(model_weights_foreach(&(*m)->weights, &c, visit, &ctx), DISR_OK);
    struct train_config tc;
    train_config_default(&tc);
    tc.batch = ci[10];
    tc.seq = ci[11];
    tc.steps = ci[12];
    tc.warmup = ci[13];
    tc.lr = cf[2];
    tc.min_lr_frac = cf[3];
    tc.weight_decay = cf[4];
    tc.beta1 = cf[5];
    tc.beta2 = cf[6];
    tc.eps = cf[7];
    tc.grad_clip = cf[8];
    assert_int_equal(trainer_init(t, *m, &tc), DISR_OK);
}

static void run_golden(const char *name) {
    struct fixture f;
    assert_int_equal(fixture_load(&f, name), 0);
    struct model *m;
    struct trainer *t;
    setup(&f, &m, &t);
    const int32_t *in = fx(&f, "inputs")->data, *tg = fx(&f, "targets")->data;
    const float *w = fx(&f, "weights")->data;
    const struct fix_entry *ref_logits = fx(&f, "logits");

    /* Forward: logits and loss. */
    struct transformer *tf;
    const int32_t *ci = fx(&f, "config")->data;
    assert_int_equal(transformer_init(&tf, &m->config, ci[10], ci[11], 0), DISR_OK);
    assert_int_equal(transformer_forward(tf, &m->weights, in), DISR_OK);
    assert_true(check_tensor("logits", tf->logits, ref_logits->data, ref_logits->n, 1e-5, 1e-6));
    transformer_free(tf);

    float loss;
    assert_int_equal(trainer_accumulate(t, in, tg, w, &loss), DISR_OK);
    float ref_loss = *(float *)fx(&f, "loss")->data;
    fprintf(stderr, "%s: loss %.6f reference %.6f\n", name, loss, ref_loss);
    assert_float_equal(loss, ref_loss, 1e-5 * fabs(ref_loss) + 1e-6);

    /* Every parameter gradient. */
    struct model_weights gw = *trainer_grads(t);
    struct cmp_ctx ctx = {&f, &gw, 1, 0};
    assert_int_equal(model_weights_foreach(&gw, &m->config, visit, &ctx), DISR_OK);
    assert_int_equal(ctx.bad, 0);

    /* The checker can fail: a gradient off by 1 % in one entry is reported. */
    float *g0 = gw.layer[0].wq.data;
    const float *r0 = fx(&f, "grad.blk.0.attn_q.weight")->data;
    size_t n0 = (size_t)gw.layer[0].wq.rows * gw.layer[0].wq.cols, imax = 0;
    for (size_t i = 0; i < n0; i++)
        if (fabsf(r0[i]) > fabsf(r0[imax])) imax = i;
    float keep = g0[imax];
    g0[imax] *= 1.01f;
    assert_false(check_tensor("corrupted (expected NOT OK)", g0, r0, n0, 2e-4, 1e-7));
    g0[imax] = keep;

    /* Ten AdamW steps on the same batch track the reference's losses and gradient norms. */
    const float *ref_losses = fx(&f, "adamw_losses")->data;
    const float *ref_norms = fx(&f, "adamw_grad_norms")->data;
    int steps = (int)fx(&f, "adamw_losses")->n;
    for (int s = 0; s < steps; s++) {
        float norm;
        if (s > 0) assert_int_equal(trainer_accumulate(t, in, tg, w, &loss), DISR_OK);
        assert_int_equal(trainer_update(t, s, &norm), DISR_OK);
        fprintf(stderr, "  step %d loss %.6f ref %.6f  norm %.5f ref %.5f\n", s, loss,
                ref_losses[s], norm, ref_norms[s]);
        assert_float_equal(loss, ref_losses[s], 1e-3 + 1e-3 * fabs(ref_losses[s]));
        assert_float_equal(norm, ref_norms[s], 1e-2 * ref_norms[s] + 1e-6);
    }
    trainer_free(t);
    model_free(m);
    fixture_free(&f);
}

static void test_golden_llama_untied_normal_rope(void **state) {
    (void)state;
    run_golden("train_llama");
}

static void test_golden_qwen2_tied_neox_bias_gqa(void **state) {
    (void)state;
    run_golden("train_qwen2");
}

static void test_golden_long_window(void **state) {
    (void)state;
    run_golden("train_long");
}

/* The per-token log-probs are the log-softmax of the same forward. */
static void test_token_logprobs_match_loss(void **state) {
    (void)state;
    struct fixture f;
    assert_int_equal(fixture_load(&f, "train_llama"), 0);
    struct model *m;
    struct trainer *t;
    setup(&f, &m, &t);
    const struct fix_entry *in = fx(&f, "inputs");
    const int32_t *tg = fx(&f, "targets")->data;
    float *lp = malloc(sizeof(float) * in->n), loss;
    assert_int_equal(trainer_token_logprobs(t, in->data, tg, lp), DISR_OK);
    double s = 0;
    for (uint32_t i = 0; i < in->n; i++) {
        assert_true(lp[i] <= 0);
        s -= lp[i];
    }
    assert_int_equal(trainer_accumulate(t, in->data, tg, NULL, &loss), DISR_OK);
    assert_float_equal(loss, s / in->n, 1e-5);
    /* Bad token ids are refused with a clear error, not a crash. */
    int32_t bad[16];
    memcpy(bad, in->data, sizeof bad);
    bad[3] = m->config.n_vocab;
    assert_int_equal(trainer_token_logprobs(t, bad, tg, lp), DISR_E_RANGE);
    assert_non_null(strstr(disr_last_error(), "outside vocab"));
    free(lp);
    trainer_free(t);
    model_free(m);
    fixture_free(&f);
}

/* Distillation targets (tf_soft_targets): a teacher distribution that is one-hot on the target
 * gives exactly the hard cross-entropy's loss and gradients, whichever positions are marked;
 * trainer_next_token_probs gives distributions whose target entries are the token log-probs. */
static void test_soft_targets_match_hard_when_one_hot(void **state) {
    (void)state;
    struct fixture f;
    assert_int_equal(fixture_load(&f, "train_llama"), 0);
    struct model *m1, *m2;
    struct trainer *t1, *t2;
    setup(&f, &m1, &t1);
    setup(&f, &m2, &t2);
    const struct fix_entry *in = fx(&f, "inputs");
    const int32_t *tg = fx(&f, "targets")->data;
    const int BT = (int)in->n, V = m1->config.n_vocab;
    float *probs = malloc(sizeof(float) * (size_t)BT * V), *lp = malloc(sizeof(float) * BT);
    uint8_t *mask = calloc((size_t)BT, 1);
    assert_int_equal(trainer_next_token_probs(t1, in->data, probs), DISR_OK);
    assert_int_equal(trainer_token_logprobs(t1, in->data, tg, lp), DISR_OK);
    float *again = malloc(sizeof(float) * (size_t)BT * V); /* the same forward, not run again */
    trainer_last_forward_probs(t1, again);
    assert_memory_equal(again, probs, sizeof(float) * (size_t)BT * V);
    free(again);
    for (int r = 0; r < BT; r++) {
        double sum = 0;
        for (int v = 0; v < V; v++)
            sum += probs[(size_t)r * V + v];
        assert_float_equal(sum, 1.0, 1e-5);
        assert_float_equal(log(probs[(size_t)r * V + tg[r]]), lp[r], 1e-4);
    }
    memset(probs, 0, sizeof(float) * (size_t)BT * V);
    for (int r = 0; r < BT; r++) {
        mask[r] = r % 3 != 0; /* mixed: runs of hard rows between soft ones */
        probs[(size_t)r * V + tg[r]] = 1.0f;
    }
    struct tf_soft_targets soft = {probs, mask};
    float loss_hard = 0, loss_soft = 0;
    assert_int_equal(trainer_accumulate(t1, in->data, tg, NULL, &loss_hard), DISR_OK);
    assert_int_equal(trainer_accumulate_soft(t2, in->data, tg, &soft, NULL, &loss_soft), DISR_OK);
    assert_float_equal(loss_soft, loss_hard, 1e-5);
    const struct model_weights *g1 = trainer_grads(t1), *g2 = trainer_grads(t2);
    const float *a = g1->output.data, *b = g2->output.data, *e1 = g1->token_embd.data,
                *e2 = g2->token_embd.data;
    for (int i = 0; i < V * m1->config.n_embd; i++) {
        assert_float_equal(a[i], b[i], 1e-6);
        assert_float_equal(e1[i], e2[i], 1e-6);
    }
    free(probs);
    free(lp);
    free(mask);
    trainer_free(t1);
    trainer_free(t2);
    model_free(m1);
    model_free(m2);
    fixture_free(&f);
}

/* Causality at the longest training context (T = 512): changing token 300 leaves every logit
 * before position 300 bit-identical and changes the ones from 300 on; the backward of a loss on
 * the first 300 positions gives token 300's embedding no gradient. */
static void test_causal_at_t512(void **state) {
    (void)state;
    enum { T = 512, CUT = 300 };
    struct model_config c = {.arch = MODEL_ARCH_QWEN2,
                             .n_vocab = 50,
                             .n_embd = 32,
                             .n_layer = 2,
                             .n_head = 4,
                             .n_head_kv = 2,
                             .n_ff = 48,
                             .n_ctx = T,
                             .norm_eps = 1e-5f,
                             .rope_base = 10000.0f,
                             .rope_style = ROPE_NEOX,
                             .qkv_bias = true,
                             .tied_output = false};
    struct model *m;
    assert_int_equal(model_init_random(&m, &c, NULL, 9), DISR_OK);
    struct transformer *tf;
    assert_int_equal(transformer_init(&tf, &c, 1, T, 0), DISR_OK);
    int32_t in[T], tg[T];
    for (int i = 0; i < T; i++)
        in[i] = (i * 7 + 3) % 49, tg[i] = (i * 11) % 50;
    size_t nl = (size_t)T * c.n_vocab;
    float *a = malloc(nl * sizeof(float));
    assert_int_equal(transformer_forward(tf, &m->weights, in), DISR_OK);
    memcpy(a, tf->logits, nl * sizeof(float));
    in[CUT] = 49; /* a token used nowhere else */
    assert_int_equal(transformer_forward(tf, &m->weights, in), DISR_OK);
    assert_memory_equal(a, tf->logits, (size_t)CUT * c.n_vocab * sizeof(float));
    for (int t = CUT; t < T; t++)
        assert_true(memcmp(a + (size_t)t * c.n_vocab, tf->logits + (size_t)t * c.n_vocab,
                           c.n_vocab * sizeof(float)) != 0);
    float w[T], dl[T], loss;
    for (int i = 0; i < T; i++)
        w[i] = i < CUT ? 1.0f : 0.0f;
    assert_int_equal(transformer_loss(tf, tg, NULL, w, 1.0f, dl, &loss), DISR_OK);
    float *gb = calloc(m->n_params, sizeof(float));
    struct model_weights g;
    model_weights_point(&g, &c, gb);
    assert_int_equal(transformer_backward(tf, &m->weights, &g, in, tg, NULL, dl), DISR_OK);
    const float *row49 = (const float *)g.token_embd.data + 49 * c.n_embd;
    for (int i = 0; i < c.n_embd; i++)
        assert_true(row49[i] == 0.0f);
    const float *row3 = (const float *)g.token_embd.data + 3 * c.n_embd; /* token at t = 0 */
    double s = 0;
    for (int i = 0; i < c.n_embd; i++)
        s += fabs(row3[i]);
    assert_true(s > 0);
    free(gb);
    free(a);
    transformer_free(tf);
    model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_llama_untied_normal_rope),
        cmocka_unit_test(test_golden_qwen2_tied_neox_bias_gqa),
        cmocka_unit_test(test_golden_long_window),
        cmocka_unit_test(test_token_logprobs_match_loss),
        cmocka_unit_test(test_soft_targets_match_hard_when_one_hot),
        cmocka_unit_test(test_causal_at_t512),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
