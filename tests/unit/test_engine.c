/* Unit tests for model/engine: the engine's logits equal a naive double-precision forward written
 * here from the model's definition (llama-style and qwen2-style configs: GQA, QKV bias, both RoPE
 * styles, tied and untied output); a prompt prefilled at once equals it fed token by token;
 * several sequences decoded in one batch give bit-identical logits to each alone; generation is
 * deterministic (greedy) and reproducible per seed, batching does not change a sequence's text;
 * scoring a generated continuation gives back its log-probability; bad input is refused; the
 * training forward agrees; GGUF-loaded F32 is exact and Q8_0 / Q4_0 stay close. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/matmul.h"
#include "core/rng.h"
#include "model/engine.h"
#include "model/model_io.h"
#include "model/transformer.h"
#include "model/tokenizer.h"

/* ---- a tiny model with weights large enough that every part matters ---- */

static struct model *make_model(int qwen, int with_tokenizer, uint64_t seed) {
    struct tokenizer *tok = NULL;
    struct model_config c = {
        .arch = qwen ? MODEL_ARCH_QWEN2 : MODEL_ARCH_LLAMA,
        .n_vocab = 50,
        .n_embd = 64,
        .n_layer = 2,
        .n_head = 4,
        .n_head_kv = qwen ? 2 : 4,
        .n_ff = 96,
        .n_ctx = 96,
        .norm_eps = 1e-5f,
        .rope_base = qwen ? 1000000.0f : 10000.0f,
        .rope_style = qwen ? ROPE_NEOX : ROPE_NORMAL,
        .qkv_bias = qwen,
        .tied_output = qwen,
    };
    if (with_tokenizer) {
        assert_int_equal(tokenizer_init_char(&tok, "", 0), 0);
        c.n_vocab = tokenizer_n_vocab(tok);
    }
    struct model *m;
    assert_int_equal(model_init_random(&m, &c, tok, seed), 0);
    /* GPT-2 init (std 0.02) makes near-uniform logits that hide mistakes: scale the matrices up,
     * and give norms and biases non-trivial values. */
    struct rng r;
    rng_init(&r, seed + 1);
    struct model_weights *w = &m->weights;
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] *= 6.0f;
    for (int l = 0; l < c.n_layer; l++) {
        for (int i = 0; i < c.n_embd; i++) {
            w->layer[l].attn_norm[i] = 1.0f + 0.3f * rng_normal(&r);
            w->layer[l].ffn_norm[i] = 1.0f + 0.3f * rng_normal(&r);
        }
        if (c.qkv_bias) {
            for (int i = 0; i < c.n_embd; i++)
                w->layer[l].bq[i] = 0.5f * rng_normal(&r);
            for (int i = 0; i < model_kv_dim(&c); i++) {
                w->layer[l].bk[i] = 0.5f * rng_normal(&r);
                w->layer[l].bv[i] = 0.5f * rng_normal(&r);
            }
        }
    }
    for (int i = 0; i < c.n_embd; i++)
        w->output_norm[i] = 1.0f + 0.3f * rng_normal(&r);
    return m;
}

/* ---- the reference: straight from the definition in model.h, in double ---- */

static double *mat_d(const struct mat *m) {
    double *d = malloc(sizeof(double) * (size_t)m->rows * m->cols);
    float *row = malloc(sizeof(float) * (size_t)m->cols);
    for (int r = 0; r < m->rows; r++) {
        assert_int_equal(matmul_row_f32(m, r, row), 0);
        for (int j = 0; j < m->cols; j++)
            d[(size_t)r * m->cols + j] = row[j];
    }
    free(row);
    return d;
}

/* y[T][rows] = x[T][cols] W^T + b */
static void ref_linear(double *y, const double *x, const struct mat *m, const float *b, int T) {
    double *w = mat_d(m);
    for (int t = 0; t < T; t++)
        for (int r = 0; r < m->rows; r++) {
            double s = b ? b[r] : 0;
            for (int j = 0; j < m->cols; j++)
                s += x[(size_t)t * m->cols + j] * w[(size_t)r * m->cols + j];
            y[(size_t)t * m->rows + r] = s;
        }
    free(w);
}

static void ref_rmsnorm(double *y, const double *x, const float *g, int T, int n, double eps) {
    for (int t = 0; t < T; t++) {
        double ss = 0;
        for (int i = 0; i < n; i++)
            ss += x[t * n + i] * x[t * n + i];
        double s = 1.0 / sqrt(ss / n + eps);
        for (int i = 0; i < n; i++)
            y[t * n + i] = x[t * n + i] * s * g[i];
    }
}

static void ref_rope(double *v, int n_heads, int hd, int pos, double base, int neox) {
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < hd / 2; i++) {
            double th = pos * pow(base, -2.0 * i / hd);
            int a = neox ? i : 2 * i, b = neox ? i + hd / 2 : 2 * i + 1;
            double x0 = v[h * hd + a], x1 = v[h * hd + b];
            v[h * hd + a] = x0 * cos(th) - x1 * sin(th);
            v[h * hd + b] = x0 * sin(th) + x1 * cos(th);
        }
}

static void ref_forward(const struct model *m, const int32_t *tok, int T, double *logits) {
    const struct model_config *c = &m->config;
    const struct model_weights *w = &m->weights;
    const int C = c->n_embd, F = c->n_ff, V = c->n_vocab, hd = C / c->n_head;
    const int KV = c->n_head_kv * hd, grp = c->n_head / c->n_head_kv;
    double *x = calloc((size_t)T * C, sizeof(double)), *xn = calloc((size_t)T * C, sizeof(double));
    double *q = calloc((size_t)T * C, sizeof(double)), *k = calloc((size_t)T * KV, sizeof(double));
    double *v = calloc((size_t)T * KV, sizeof(double)), *o = calloc((size_t)T * C, sizeof(double));
    double *y = calloc((size_t)T * C, sizeof(double)), *g = calloc((size_t)T * F, sizeof(double));
    double *u = calloc((size_t)T * F, sizeof(double)), *att = calloc((size_t)T, sizeof(double));
    double *emb = mat_d(&w->token_embd);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < C; i++)
            x[t * C + i] = emb[(size_t)tok[t] * C + i];
    for (int l = 0; l < c->n_layer; l++) {
        const struct layer_weights *lw = &w->layer[l];
        ref_rmsnorm(xn, x, lw->attn_norm, T, C, c->norm_eps);
        ref_linear(q, xn, &lw->wq, lw->bq, T);
        ref_linear(k, xn, &lw->wk, lw->bk, T);
        ref_linear(v, xn, &lw->wv, lw->bv, T);
        for (int t = 0; t < T; t++) {
            ref_rope(q + t * C, c->n_head, hd, t, c->rope_base, c->rope_style == ROPE_NEOX);
            ref_rope(k + t * KV, c->n_head_kv, hd, t, c->rope_base, c->rope_style == ROPE_NEOX);
        }
        for (int t = 0; t < T; t++)
            for (int h = 0; h < c->n_head; h++) {
                int kh = h / grp;
                double mx = -1e300, sum = 0;
                for (int p = 0; p <= t; p++) {
                    double s = 0;
                    for (int i = 0; i < hd; i++)
                        s += q[t * C + h * hd + i] * k[p * KV + kh * hd + i];
                    att[p] = s / sqrt((double)hd);
                    mx = fmax(mx, att[p]);
                }
                for (int p = 0; p <= t; p++)
                    sum += att[p] = exp(att[p] - mx);
                for (int i = 0; i < hd; i++) {
                    double s = 0;
                    for (int p = 0; p <= t; p++)
                        s += att[p] / sum * v[p * KV + kh * hd + i];
                    o[t * C + h * hd + i] = s;
                }
            }
        ref_linear(y, o, &lw->wo, NULL, T);
        for (int i = 0; i < T * C; i++)
            x[i] += y[i];
        ref_rmsnorm(xn, x, lw->ffn_norm, T, C, c->norm_eps);
        ref_linear(g, xn, &lw->w_gate, NULL, T);
        ref_linear(u, xn, &lw->w_up, NULL, T);
        for (int i = 0; i < T * F; i++)
            g[i] = g[i] / (1 + exp(-g[i])) * u[i];
        ref_linear(y, g, &lw->w_down, NULL, T);
        for (int i = 0; i < T * C; i++)
            x[i] += y[i];
    }
    ref_rmsnorm(xn, x, w->output_norm, T, C, c->norm_eps);
    ref_linear(logits, xn, &w->output, NULL, T);
    (void)V;
    free(x), free(xn), free(q), free(k), free(v), free(o), free(y), free(g), free(u), free(att);
    free(emb);
}

static void random_tokens(int32_t *tok, int T, int V, uint64_t seed) {
    struct rng r;
    rng_init(&r, seed);
    for (int t = 0; t < T; t++)
        tok[t] = (int32_t)rng_below(&r, (uint64_t)V);
}

/* Runs T tokens of sequence `seq` from position pos0, with logits for every token. */
static void decode_seq(struct engine *e, const int32_t *tok, int T, int seq, int pos0,
                       float *logits) {
    int32_t pos[128], sq[128];
    int8_t want[128];
    for (int t = 0; t < T; t++)
        pos[t] = pos0 + t, sq[t] = seq, want[t] = 1;
    struct engine_batch b = {T, tok, pos, sq, want};
    assert_int_equal(engine_decode(e, &b, logits), 0);
}

static void check_close(const float *got, const double *want, int n, double rtol,
                        const char *what) {
    double scale = 0;
    for (int i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    for (int i = 0; i < n; i++)
        if (fabs(got[i] - want[i]) > rtol * scale + 1e-6)
            fail_msg("%s: element %d is %.6g, reference %.6g (scale %.3g)", what, i, got[i],
                     want[i], scale);
}

static void test_logits_match_reference(void **state) {
    (void)state;
    for (int qwen = 0; qwen < 2; qwen++) {
        struct model *m = make_model(qwen, 0, 100 + qwen);
        const int T = 70, V = m->config.n_vocab; /* > one micro-batch of 64 */
        int32_t tok[70];
        random_tokens(tok, T, V, 3);
        double *ref = malloc(sizeof(double) * T * V);
        float *got = malloc(sizeof(float) * T * V);
        ref_forward(m, tok, T, ref);
        struct engine *e;
        struct engine_params p = {.max_seqs = 1, .n_threads = 2};
        assert_int_equal(engine_init(&e, m, &p), 0);
        decode_seq(e, tok, T, 0, 0, got);
        check_close(got, ref, T * V, 2e-4, qwen ? "qwen2-style prefill" : "llama-style prefill");
        /* the same tokens one at a time (decode path) */
        for (int t = 0; t < T; t++)
            decode_seq(e, tok + t, 1, 0, t, got + (size_t)t * V);
        check_close(got, ref, T * V, 2e-4, qwen ? "qwen2-style decode" : "llama-style decode");
        engine_free(e);
        free(ref);
        free(got);
        model_free(m);
    }
}

/* Three sequences decoded together, token by token, give the same bits as each alone. */
static void test_batched_decode_equals_single(void **state) {
    (void)state;
    struct model *m = make_model(1, 0, 7);
    const int T = 20, V = m->config.n_vocab;
    int32_t tok[3][20];
    for (int s = 0; s < 3; s++)
        random_tokens(tok[s], T, V, 50 + s);
    struct engine *e;
    struct engine_params p = {.max_seqs = 3, .n_threads = 2};
    assert_int_equal(engine_init(&e, m, &p), 0);
    float *alone = malloc(sizeof(float) * 3 * T * V), *together = malloc(sizeof(float) * 3 * T * V);
    for (int s = 0; s < 3; s++)
        for (int t = 0; t < T; t++)
            decode_seq(e, &tok[s][t], 1, s, t, alone + ((size_t)s * T + t) * V);
    for (int t = 0; t < T; t++) {
        int32_t bt[3] = {tok[0][t], tok[1][t], tok[2][t]}, pos[3] = {t, t, t}, sq[3] = {2, 0, 1};
        int32_t btp[3] = {tok[2][t], tok[0][t], tok[1][t]};
        int8_t want[3] = {1, 1, 1};
        float out[3 * 128];
        struct engine_batch b = {3, btp, pos, sq, want};
        (void)bt;
        assert_int_equal(engine_decode(e, &b, out), 0);
        for (int j = 0; j < 3; j++)
            assert_memory_equal(out + (size_t)j * V, alone + ((size_t)sq[j] * T + t) * V,
                                sizeof(float) * V);
    }
    free(alone);
    free(together);
    engine_free(e);
    model_free(m);
}

static struct gen_params params(float temp, int top_k, float top_p, uint64_t seed, int max) {
    struct gen_params g = {
        .temperature = temp, .top_k = top_k, .top_p = top_p, .seed = seed, .max_tokens = max};
    return g;
}

static void test_generation_is_reproducible(void **state) {
    (void)state;
    struct model *m = make_model(0, 1, 11);
    struct engine *e;
    struct engine_params p = {.max_seqs = 3, .n_threads = 2};
    assert_int_equal(engine_init(&e, m, &p), 0);
    struct gen_result a, b, c;
    struct gen_params greedy = params(0, 0, 1, 1, 12);
    assert_int_equal(engine_generate(e, "hello", &greedy, &a), 0);
    assert_int_equal(engine_generate(e, "hello", &greedy, &b), 0);
    assert_true(a.n_tokens > 0);
    assert_string_equal(a.text, b.text);
    assert_true(a.sum_logprob == b.sum_logprob);
    struct gen_params hot = params(1.0f, 0, 0.95f, 42, 24);
    assert_int_equal(engine_generate(e, "hello", &hot, &a), 0);
    assert_int_equal(engine_generate(e, "hello", &hot, &b), 0);
    assert_string_equal(a.text, b.text);
    hot.seed = 43;
    assert_int_equal(engine_generate(e, "hello", &hot, &c), 0);
    assert_true(strcmp(a.text, c.text) != 0 || a.sum_logprob != c.sum_logprob);
    assert_true(a.sum_logprob <= 0 && a.first_logprob <= 0 && a.first_logprob >= a.sum_logprob);

    /* five prompts through three slots (continuous refill) == each alone with seed + i */
    const char *prompts[5] = {"a", "the cat", "12+34=", "zzz", "hello world"};
    struct gen_result batch[5], one;
    struct gen_params g = params(0.8f, 20, 0.9f, 1000, 16);
    assert_int_equal(engine_generate_batch(e, 5, prompts, &g, batch), 0);
    for (int i = 0; i < 5; i++) {
        struct gen_params gi = g;
        gi.seed = g.seed + (uint64_t)i;
        assert_int_equal(engine_generate(e, prompts[i], &gi, &one), 0);
        assert_string_equal(batch[i].text, one.text);
        assert_int_equal(batch[i].n_tokens, one.n_tokens);
        assert_true(batch[i].sum_logprob == one.sum_logprob);
    }
    engine_free(e);
    model_free(m);
}

/* Slots started at different steps produce what one-shot generation produces. */
static void test_slots_continuous_batching(void **state) {
    (void)state;
    struct model *m = make_model(1, 1, 12);
    struct engine *e;
    struct engine_params p = {.max_seqs = 2, .n_threads = 2};
    assert_int_equal(engine_init(&e, m, &p), 0);
    struct gen_params g1 = params(0.7f, 0, 1, 5, 10), g2 = params(0, 0, 1, 0, 7);
    int s1 = engine_slot_start(e, "first prompt", &g1);
    assert_true(s1 >= 0);
    assert_true(engine_step(e) >= 0);
    assert_true(engine_step(e) >= 0);
    int s2 = engine_slot_start(e, "second", &g2);
    assert_true(s2 >= 0 && s2 != s1);
    assert_int_equal(engine_slot_start(e, "third", &g2), DISR_E_STATE);
    int guard = 0;
    while ((!engine_slot_done(e, s1) || !engine_slot_done(e, s2)) && guard++ < 100)
        assert_true(engine_step(e) >= 0);
    struct gen_result r1, r2, o1, o2;
    assert_int_equal(engine_slot_result(e, s1, &r1), 0);
    assert_int_equal(engine_slot_result(e, s2, &r2), 0);
    assert_int_equal(r1.n_tokens, 10);
    assert_true(r1.truncated);
    engine_slot_release(e, s1);
    engine_slot_release(e, s2);
    assert_int_equal(engine_generate(e, "first prompt", &g1, &o1), 0);
    assert_int_equal(engine_generate(e, "second", &g2, &o2), 0);
    assert_string_equal(r1.text, o1.text);
    assert_string_equal(r2.text, o2.text);
    assert_true(r1.sum_logprob == o1.sum_logprob);
    engine_free(e);
    model_free(m);
}

/* Teacher-forced scoring of a greedy continuation returns its generation log-probability. */
static void test_score_matches_generation(void **state) {
    (void)state;
    struct model *m = make_model(0, 1, 13);
    struct engine *e;
    assert_int_equal(engine_init(&e, m, NULL), 0);
    struct gen_params g = params(1, 0, 1, 0, 30);
    struct gen_result r;
    /* a sample whose text is all of its tokens (no special token, which decodes to nothing) */
    do {
        g.seed++;
        assert_int_equal(engine_generate(e, "score me: ", &g, &r), 0);
    } while ((int)strlen(r.text) != r.n_tokens && g.seed < 20);
    assert_int_equal((int)strlen(r.text), r.n_tokens);
    float lp;
    assert_int_equal(engine_score(e, "score me: ", r.text, &lp), 0);
    assert_float_equal(lp, r.sum_logprob, 1e-3 * fabs(r.sum_logprob) + 1e-3);
    /* the greedy continuation scores higher than any one-character change of its first token */
    g = params(0, 0, 1, 0, 1);
    assert_int_equal(engine_generate(e, "score me: ", &g, &r), 0);
    assert_int_equal(engine_score(e, "score me: ", r.text, &lp), 0);
    char other[2] = {r.text[0] == 'q' ? 'r' : 'q', 0};
    float lp2;
    assert_int_equal(engine_score(e, "score me: ", other, &lp2), 0);
    assert_true(lp2 < lp);
    engine_free(e);
    model_free(m);
}

static void test_bad_input_is_refused(void **state) {
    (void)state;
    struct model *m = make_model(0, 1, 14);
    struct engine *e;
    struct engine_params p = {.max_seqs = 1, .n_ctx = 32, .n_threads = 1};
    assert_int_equal(engine_init(&e, m, &p), 0);
    struct gen_params g = params(0, 0, 1, 0, 5);
    struct gen_result r;
    char long_prompt[64];
    memset(long_prompt, 'x', 40);
    long_prompt[40] = 0;
    assert_int_equal(engine_generate(e, long_prompt, &g, &r), DISR_E_RANGE);
    assert_int_equal(engine_generate(e, "\x01", &g, &r), DISR_E_RANGE); /* not in vocabulary */
    /* generation that reaches the end of the context stops cleanly */
    g.max_tokens = 1000;
    g.temperature = 1;
    int hit_end = 0;
    for (g.seed = 0; g.seed < 20 && !hit_end; g.seed++) { /* until a sample does not end in EOS */
        assert_int_equal(engine_generate(e, "abc", &g, &r), 0);
        assert_true(r.n_tokens <= 32 - 3);
        if (r.truncated) hit_end = r.n_tokens == 32 - 3;
    }
    assert_true(hit_end);
    g.temperature = 0;
    int32_t tok = 9999, pos = 0, seq = 0;
    int8_t want = 1;
    float lg[128];
    struct engine_batch b = {1, &tok, &pos, &seq, &want};
    assert_int_equal(engine_decode(e, &b, lg), DISR_E_RANGE);
    tok = 3, pos = 32;
    assert_int_equal(engine_decode(e, &b, lg), DISR_E_RANGE);
    pos = 0, seq = 1;
    assert_int_equal(engine_decode(e, &b, lg), DISR_E_RANGE);
    struct engine_memory mem;
    engine_memory_get(e, &mem);
    const struct model_config *c = &m->config;
    assert_int_equal(mem.kv_cache, 2 * (size_t)c->n_layer * 32 * model_kv_dim(c) * 4);
    assert_int_equal(mem.weights, m->n_params * 4); /* F32: exactly the parameter block */
    engine_free(e);
    struct engine_params big = {.n_ctx = 1000};
    assert_int_equal(engine_init(&e, m, &big), DISR_E_ARG);
    model_free(m);
    /* a bare model (no tokenizer) runs token-level but refuses text */
    m = make_model(0, 0, 15);
    assert_int_equal(engine_init(&e, m, NULL), 0);
    assert_int_equal(engine_generate(e, "hi", &g, &r), DISR_E_STATE);
    engine_free(e);
    model_free(m);
}

/* The engine and the training forward (model/transformer.h) are two implementations of the same
 * model: their logits agree on a batch of two sequences, for both architectures. */
static void test_engine_agrees_with_training_forward(void **state) {
    (void)state;
    for (int qwen = 0; qwen < 2; qwen++) {
        struct model *m = make_model(qwen, 0, 30 + qwen);
        enum { B = 2, T = 20 };
        const int V = m->config.n_vocab;
        int32_t tok[B * T];
        random_tokens(tok, B * T, V, 31);
        struct transformer *tf;
        assert_int_equal(transformer_init(&tf, &m->config, B, T, 0), 0);
        assert_int_equal(transformer_forward(tf, &m->weights, tok), 0);
        struct engine *e;
        struct engine_params p = {.max_seqs = B, .n_threads = 2};
        assert_int_equal(engine_init(&e, m, &p), 0);
        float *got = malloc(sizeof(float) * B * T * V);
        double *want = malloc(sizeof(double) * B * T * V);
        for (int b = 0; b < B; b++)
            decode_seq(e, tok + b * T, T, b, 0, got + (size_t)b * T * V);
        for (int i = 0; i < B * T * V; i++)
            want[i] = tf->logits[i];
        check_close(got, want, B * T * V, 1e-4,
                    qwen ? "qwen2 engine vs trainer" : "llama engine vs trainer");
        free(got);
        free(want);
        engine_free(e);
        transformer_free(tf);
        model_free(m);
    }
}

/* Saved and loaded through GGUF: F32 reproduces the in-memory model's logits exactly; Q8_0 and
 * Q4_0 files run in place (mmap) and stay close to F32, Q8_0 much closer than Q4_0. */
static void test_loaded_and_quantized_models(void **state) {
    (void)state;
    struct model *m = make_model(1, 1, 21);
    const int T = 24, V = m->config.n_vocab;
    int32_t tok[24];
    random_tokens(tok, T, V, 8);
    float *base = malloc(sizeof(float) * T * V), *got = malloc(sizeof(float) * T * V);
    struct engine *e;
    struct engine_params p = {.n_threads = 2};
    assert_int_equal(engine_init(&e, m, &p), 0);
    decode_seq(e, tok, T, 0, 0, base);
    engine_free(e);
    char path[] = "/tmp/disr_test_engine_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    const enum dtype types[3] = {DTYPE_F32, DTYPE_Q8_0, DTYPE_Q4_0};
    double err[3];
    for (int k = 0; k < 3; k++) {
        struct model_save_opts so = {.type = types[k]};
        assert_int_equal(model_save(m, path, &so), 0);
        struct model *lm;
        assert_int_equal(model_load(&lm, path), 0);
        assert_int_equal(lm->weights.layer[0].wq.type, types[k]);
        assert_int_equal(engine_init(&e, lm, &p), 0);
        struct engine_memory mem;
        engine_memory_get(e, &mem);
        if (k) assert_true(mem.weights < m->n_params * 4 / 3); /* really runs quantized */
        decode_seq(e, tok, T, 0, 0, got);
        double num = 0, den = 0;
        for (int i = 0; i < T * V; i++) {
            num += (got[i] - base[i]) * (double)(got[i] - base[i]);
            den += (double)base[i] * base[i];
        }
        err[k] = sqrt(num / den);
        engine_free(e);
        model_free(lm);
    }
    unlink(path);
    print_message("relative logit error: f32 %.2g, q8_0 %.3f, q4_0 %.3f\n", err[0], err[1], err[2]);
    assert_true(err[0] == 0);
    assert_true(err[1] > 0 && err[1] < 0.03);
    assert_true(err[2] < 0.25 && err[2] > err[1]);
    free(base);
    free(got);
    model_free(m);
}

/* Counting allocator: this binary's malloc family forwards to glibc's and counts calls, so the
 * test below sees every allocation made anywhere in the process. Not under ASan, which owns
 * malloc; the gcc build is the one that counts. */
#if defined(__SANITIZE_ADDRESS__)
#define NO_MALLOC_COUNT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_MALLOC_COUNT 1
#endif
#endif
#ifndef NO_MALLOC_COUNT
#include <stdatomic.h>
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
static atomic_long n_allocs;
void *malloc(size_t n) {
    atomic_fetch_add(&n_allocs, 1);
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t size) {
    atomic_fetch_add(&n_allocs, 1);
    return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n) {
    atomic_fetch_add(&n_allocs, 1);
    return __libc_realloc(p, n);
}
void free(void *p) {
    __libc_free(p);
}
#define ALLOCS() atomic_load(&n_allocs)
#else
#define ALLOCS() 0L
#endif

/* The per-token path allocates nothing, with every sampler option, two slots at once. */
static void test_no_allocation_per_token(void **state) {
    (void)state;
    struct model *m = make_model(1, 1, 40);
    struct engine *e;
    struct engine_params p = {.max_seqs = 2, .n_threads = 2};
    assert_int_equal(engine_init(&e, m, &p), 0);
    struct gen_params g1 = params(1.0f, 0, 0.5f, 1, 40), g2 = params(0.7f, 8, 1, 2, 40);
    int s1 = engine_slot_start(e, "allocation", &g1), s2 = engine_slot_start(e, "free", &g2);
    assert_true(s1 >= 0 && s2 >= 0);
    assert_true(engine_step(e) >= 0); /* prefill */
    long before = ALLOCS();
    int steps = 0;
    while (!engine_slot_done(e, s1) || !engine_slot_done(e, s2)) {
        assert_true(engine_step(e) >= 0);
        steps++;
    }
    long after = ALLOCS();
    assert_true(steps > 5);
    assert_int_equal(after, before);
#ifndef NO_MALLOC_COUNT
    /* the counter does count: engine_init allocates */
    struct engine *e2;
    assert_int_equal(engine_init(&e2, m, &p), 0);
    assert_true(ALLOCS() > after);
    engine_free(e2);
#endif
    engine_free(e);
    model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logits_match_reference),
        cmocka_unit_test(test_batched_decode_equals_single),
        cmocka_unit_test(test_generation_is_reproducible),
        cmocka_unit_test(test_slots_continuous_batching),
        cmocka_unit_test(test_score_matches_generation),
        cmocka_unit_test(test_bad_input_is_refused),
        cmocka_unit_test(test_loaded_and_quantized_models),
        cmocka_unit_test(test_engine_agrees_with_training_forward),
        cmocka_unit_test(test_no_allocation_per_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
