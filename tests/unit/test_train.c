/* Unit tests for src/train: the corpus packer and sampler, the schedule, gradient
 * accumulation, AdamW's decay mask, and a tiny model that must learn a repetitive corpus well
 * below its unigram entropy. */
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
#include "core/log.h"
#include "core/matmul.h"
#include "model/model.h"
#include "model/model_io.h"
#include "model/tokenizer.h"
#include "world/scenario.h"
#include "train/corpus.h"
#include "train/loop.h"
#include "train/train_run.h"
#include "train/trainer.h"

static char tmpdir[64];

static int setup_dir(void **state) {
    (void)state;
    strcpy(tmpdir, "/tmp/disr_test_train_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *write_file(const char *name, const char *text) {
    static char path[4][256];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static struct tokenizer *char_tok(const struct corpus *c) {
    struct tokenizer *t;
    assert_int_equal(tokenizer_init_char(&t, c->text, c->text_len), DISR_OK);
    return t;
}

static void test_corpus_jsonl_records_and_answer_weights(void **state) {
    (void)state;
    const char *p = write_file("a.jsonl", "{\"id\":\"1\",\"query\":\"2+2\",\"answer\":\"4\"}\n"
                                          "\n"
                                          "{\"text\":\"hello\"}\n");
    struct corpus *c;
    assert_int_equal(corpus_load(&c, p, true), DISR_OK);
    assert_int_equal(c->n_docs, 2);
    char prompt[64];
    int plen = scenario_format_prompt(prompt, sizeof prompt, "2+2", SCENARIO_NONE);
    assert_true(plen > 0);
    assert_int_equal(c->docs[0].split, (size_t)plen);
    assert_memory_equal(c->text, prompt, (size_t)plen);
    assert_memory_equal(c->text + plen, "4\n", 2);
    struct tokenizer *tok = char_tok(c);
    assert_int_equal(corpus_tokenize(c, tok), DISR_OK);
    /* prompt (weight 0) + "4\n" (weight 1) + EOS (0) + "hello" (1) + EOS (0) */
    assert_int_equal(c->n_tokens, (size_t)plen + 2 + 1 + 5 + 1);
    for (int i = 0; i < plen; i++)
        assert_true(c->weights[i] == 0.0f);
    assert_true(c->weights[plen] == 1.0f && c->weights[plen + 1] == 1.0f);
    assert_int_equal(c->tokens[plen + 2], tokenizer_eos(tok));
    assert_true(c->weights[plen + 2] == 0.0f);
    assert_int_equal(c->starts[1], (size_t)plen + 3);
    /* Without answer_only every token counts. */
    corpus_free(c);
    assert_int_equal(corpus_load(&c, p, false), DISR_OK);
    assert_int_equal(corpus_tokenize(c, tok), DISR_OK);
    for (size_t i = 0; i < c->n_tokens; i++)
        assert_true(c->weights[i] == 1.0f);
    corpus_free(c);
    tokenizer_free(tok);
}

/* A world's pretraining text under answer_only: QA blocks lose their prompts' weight, fact
 * statements (and text that only looks like a prompt) keep theirs. */
static void test_corpus_text_qa_blocks_and_answer_weights(void **state) {
    (void)state;
    const char *p = write_file("s.txt", "Bo's color is red.\n"
                                        "[-] Q: Color of Bo?\n[-] A: red\n"
                                        "[-] Q: 2+3=\n[-] A: 5\n"
                                        "[-] Q: no answer line\n"
                                        "Al's animal is cat.\n");
    struct corpus *c;
    assert_int_equal(corpus_load(&c, p, true), DISR_OK);
    assert_int_equal(c->n_docs, 4);
    const char *want[4] = {"Bo's color is red.\n", "[-] Q: Color of Bo?\n[-] A: red\n",
                           "[-] Q: 2+3=\n[-] A: 5\n",
                           "[-] Q: no answer line\nAl's animal is cat.\n"};
    const size_t split[4] = {0, strlen("[-] Q: Color of Bo?\n[-] A: "),
                             strlen("[-] Q: 2+3=\n[-] A: "), 0};
    for (int d = 0; d < 4; d++) {
        assert_int_equal(c->docs[d].len, strlen(want[d]));
        assert_memory_equal(c->text + c->docs[d].off, want[d], strlen(want[d]));
        assert_int_equal(c->docs[d].split, split[d]);
    }
    struct tokenizer *tok = char_tok(c);
    assert_int_equal(corpus_tokenize(c, tok), DISR_OK);
    float total = 0;
    for (size_t i = 0; i < c->n_tokens; i++)
        total += c->weights[i];
    /* statements and the prompt-like line count fully; answers "red\n" and "5\n" */
    assert_true(total == (float)(strlen(want[0]) + 4 + 2 + strlen(want[3])));
    /* A prompt weight adds that share of each QA prompt's tokens and of every document's EOS
     * (which weighs as a prompt token); outside 0 .. 1 is refused. */
    c->prompt_weight = 0.25f;
    assert_int_equal(corpus_tokenize(c, tok), DISR_OK);
    float weighted = 0;
    for (size_t i = 0; i < c->n_tokens; i++)
        weighted += c->weights[i];
    const int n_eos = tokenizer_eos(tok) >= 0 ? c->n_docs : 0;
    assert_float_equal(weighted - total, 0.25f * (float)(split[1] + split[2] + n_eos), 1e-4);
    c->prompt_weight = 1.5f;
    assert_true(corpus_tokenize(c, tok) < 0);
    c->prompt_weight = -0.1f;
    assert_true(corpus_tokenize(c, tok) < 0);
    corpus_free(c);
    tokenizer_free(tok);
}

static void test_corpus_rejects_bad_input(void **state) {
    (void)state;
    struct corpus *c = (void *)1;
    const char *p = write_file("bad.jsonl", "{\"text\":\"ok\"}\n{\"query\":\"x\"}\n");
    assert_int_equal(corpus_load(&c, p, false), DISR_E_FORMAT);
    assert_null(c);
    assert_non_null(strstr(disr_last_error(), "bad.jsonl:2"));
    p = write_file("bad2.jsonl", "{\"text\":\"ok\"}\nnot json\n");
    assert_int_equal(corpus_load(&c, p, false), DISR_E_FORMAT);
    assert_non_null(strstr(disr_last_error(), ":2"));
    char missing[300];
    snprintf(missing, sizeof missing, "%s/none.txt", tmpdir);
    assert_true(corpus_load(&c, missing, false) < 0);
    /* A byte outside the vocabulary is refused with the document number. */
    assert_int_equal(corpus_init(&c, false), DISR_OK);
    assert_int_equal(corpus_add(c, "abc", 3, 0), DISR_OK);
    struct tokenizer *tok = char_tok(c);
    assert_int_equal(corpus_add(c, "\x01", 1, 0), DISR_OK);
    assert_true(corpus_tokenize(c, tok) < 0);
    assert_non_null(strstr(disr_last_error(), "document 2"));
    tokenizer_free(tok);
    corpus_free(c);
}

static void test_corpus_sampling_is_deterministic(void **state) {
    (void)state;
    const char *p = write_file("t.txt", "abcdefghijklmnopqrstuvwxyz0123456789");
    struct corpus *c;
    assert_int_equal(corpus_load(&c, p, false), DISR_OK);
    assert_int_equal(c->n_docs, 1);
    struct tokenizer *tok = char_tok(c);
    assert_int_equal(corpus_tokenize(c, tok), DISR_OK);
    enum { B = 3, T = 50 }; /* T longer than the stream: reads cyclically */
    int32_t in1[B * T], tg1[B * T], in2[B * T], tg2[B * T];
    float w1[B * T], w2[B * T];
    assert_int_equal(corpus_sample(c, 9, 4, B, T, in1, tg1, w1), DISR_OK);
    assert_int_equal(corpus_sample(c, 9, 4, B, T, in2, tg2, w2), DISR_OK);
    assert_memory_equal(in1, in2, sizeof in1);
    assert_memory_equal(tg1, tg2, sizeof tg1);
    for (int i = 0; i < B * T - 1; i++)
        if (i % T != T - 1) assert_int_equal(tg1[i], in1[i + 1]); /* targets are shifted inputs */
    assert_int_equal(corpus_sample(c, 9, 5, B, T, in2, tg2, w2), DISR_OK);
    assert_true(memcmp(in1, in2, sizeof in1) != 0);
    corpus_free(c);

    /* Several documents: every window starts at a document start. */
    assert_int_equal(corpus_init(&c, false), DISR_OK);
    for (int d = 0; d < 5; d++)
        assert_int_equal(corpus_add(c, "Xyz", 3, 0), DISR_OK);
    assert_int_equal(corpus_tokenize(c, tok), DISR_OK);
    int32_t x;
    size_t xl;
    for (int idx = 0; idx < 20; idx++) {
        assert_int_equal(corpus_sample(c, 1, idx, B, T, in1, tg1, w1), DISR_OK);
        for (int b = 0; b < B; b++) {
            x = in1[b * T];
            assert_memory_equal(tokenizer_piece(tok, x, &xl), "X", 1);
        }
    }
    double h = corpus_unigram_entropy(c); /* X, y, z, EOS equally often */
    assert_float_equal(h, log(4.0), 1e-9);
    corpus_free(c);
    tokenizer_free(tok);
}

static void test_lr_schedule(void **state) {
    (void)state;
    struct train_config c;
    train_config_default(&c);
    c.steps = 100;
    c.warmup = 10;
    c.lr = 1e-3f;
    c.min_lr_frac = 0.1f;
    assert_float_equal(train_lr_at(&c, 0), 1e-4, 1e-9);
    assert_float_equal(train_lr_at(&c, 9), 1e-3, 1e-9);
    assert_float_equal(train_lr_at(&c, 10), 1e-3, 1e-9);
    assert_float_equal(train_lr_at(&c, 55), 0.55e-3, 1e-8); /* cosine midpoint */
    assert_float_equal(train_lr_at(&c, 100), 1e-4, 1e-9);
    for (int s = 11; s < 100; s++)
        assert_true(train_lr_at(&c, s) <= train_lr_at(&c, s - 1));
    c.warmup = -1; /* default: 5 % of steps */
    assert_float_equal(train_lr_at(&c, 0), 1e-3 / 5, 1e-9);
}

static struct model *tiny_model_tok(int vocab, bool tied, uint64_t seed, struct tokenizer *tok) {
    struct model_config c = {.arch = MODEL_ARCH_LLAMA,
                             .n_vocab = vocab,
                             .n_embd = 32,
                             .n_layer = 2,
                             .n_head = 4,
                             .n_head_kv = 2,
                             .n_ff = 64,
                             .n_ctx = 64,
                             .norm_eps = 1e-5f,
                             .rope_base = 10000.0f,
                             .rope_style = ROPE_NORMAL,
                             .tied_output = tied};
    struct model *m;
    assert_int_equal(model_init_random(&m, &c, tok, seed), DISR_OK);
    return m;
}

static struct model *tiny_model(int vocab, bool tied, uint64_t seed) {
    return tiny_model_tok(vocab, tied, seed, NULL);
}

/* accum = 2 micro-batches of B rows give the gradient of one batch of 2B rows. */
static void test_gradient_accumulation_equals_big_batch(void **state) {
    (void)state;
    enum { V = 20, B = 2, T = 8 };
    struct model *m1 = tiny_model(V, false, 3), *m2 = tiny_model(V, false, 3);
    struct train_config c1, c2;
    train_config_default(&c1);
    c1.batch = 2 * B, c1.seq = T, c1.steps = 10;
    c2 = c1;
    c2.batch = B, c2.accum = 2;
    struct trainer *t1, *t2;
    assert_int_equal(trainer_init(&t1, m1, &c1), DISR_OK);
    assert_int_equal(trainer_init(&t2, m2, &c2), DISR_OK);
    int32_t in[2 * B * T], tg[2 * B * T];
    for (int i = 0; i < 2 * B * T; i++)
        in[i] = (i * 7) % V, tg[i] = (i * 5 + 3) % V;
    float l1, la, lb;
    assert_int_equal(trainer_accumulate(t1, in, tg, NULL, &l1), DISR_OK);
    assert_int_equal(trainer_accumulate(t2, in, tg, NULL, &la), DISR_OK);
    assert_int_equal(trainer_accumulate(t2, in + B * T, tg + B * T, NULL, &lb), DISR_OK);
    assert_float_equal(l1, (la + lb) / 2, 1e-5);
    const float *g1 = trainer_grads(t1)->token_embd.data, *g2 = trainer_grads(t2)->token_embd.data;
    double maxg = 0, maxd = 0;
    for (size_t i = 0; i < m1->n_params; i++) {
        maxg = fmax(maxg, fabs(g1[i]));
        maxd = fmax(maxd, fabs(g1[i] - g2[i]));
    }
    assert_true(maxg > 1e-3);
    assert_true(maxd < 1e-5 * maxg);
    float n1, n2;
    assert_int_equal(trainer_update(t1, 0, &n1), DISR_OK);
    assert_int_equal(trainer_update(t2, 0, &n2), DISR_OK);
    assert_float_equal(n1, n2, 1e-5 * n1);
    trainer_free(t1), trainer_free(t2), model_free(m1), model_free(m2);
}

/* Training gives the same bytes on one thread and on two (the zoo trains one agent per core,
 * other runs use every core, and both must grow the same model): 256 rows a step, so the
 * products and attention split into several chunks. */
static void test_same_weights_on_any_thread_count(void **state) {
    (void)state;
    enum { V = 98, B = 4, T = 64, STEPS = 4 };
    struct model *m[2];
    int32_t in[B * T], tg[B * T];
    for (int i = 0; i < B * T; i++)
        in[i] = (i * 7 + i / 13) % V, tg[i] = (i * 5 + 3) % V;
    for (int k = 0; k < 2; k++) {
        m[k] = tiny_model(V, true, 5);
        struct train_config c;
        train_config_default(&c);
        c.batch = B, c.seq = T, c.steps = STEPS, c.threads = k + 1;
        matmul_set_blas_threads(k + 1); /* as `--threads N` sets it */
        struct trainer *t;
        assert_int_equal(trainer_init(&t, m[k], &c), DISR_OK);
        for (int s = 0; s < STEPS; s++) {
            float loss, norm;
            assert_int_equal(trainer_accumulate(t, in, tg, NULL, &loss), DISR_OK);
            assert_int_equal(trainer_update(t, s, &norm), DISR_OK);
        }
        trainer_free(t);
    }
    assert_int_equal(m[0]->n_params, m[1]->n_params);
    assert_memory_equal(m[0]->params, m[1]->params, m[0]->n_params * sizeof(float));
    model_free(m[0]), model_free(m[1]);
}

/* With zero gradients AdamW only decays: 2-D weights shrink by (1 - lr*wd), norms and biases
 * stay exactly as they were. */
static void test_weight_decay_only_on_matrices(void **state) {
    (void)state;
    struct model *m = tiny_model(20, true, 4);
    float *before = malloc(m->n_params * sizeof(float));
    memcpy(before, m->params, m->n_params * sizeof(float));
    struct train_config c;
    train_config_default(&c);
    c.batch = 1, c.seq = 8, c.steps = 10, c.warmup = 0, c.lr = 0.01f, c.weight_decay = 0.5f;
    struct trainer *t;
    assert_int_equal(trainer_init(&t, m, &c), DISR_OK);
    assert_int_equal(trainer_update(t, 0, NULL), DISR_OK);
    float f = 1.0f - train_lr_at(&c, 0) * 0.5f;
    const float *wq = m->weights.layer[1].wq.data, *norm = m->weights.layer[1].attn_norm;
    size_t oq = (size_t)(wq - m->params), on = (size_t)(norm - m->params);
    for (int i = 0; i < 32; i++) {
        assert_float_equal(wq[i], before[oq + i] * f, 1e-9);
        assert_true(norm[i] == before[on + i]);
    }
    trainer_free(t);
    free(before);
    /* A model without an F32 parameter block cannot be trained. */
    float *keep = m->params;
    m->params = NULL;
    assert_int_equal(trainer_init(&t, m, &c), DISR_E_STATE);
    m->params = keep;
    model_free(m);
}

/* A forward-only trainer reads the model exactly as a training one does, and refuses to learn:
 * no accumulate, update, checkpoint or resume, and the model's weights stay untouched. */
static void test_frozen_trainer_is_forward_only(void **state) {
    (void)state;
    enum { V = 20, B = 2, T = 8 };
    struct model *m = tiny_model(V, false, 5);
    struct train_config c;
    train_config_default(&c);
    c.batch = B, c.seq = T, c.steps = 10;
    struct trainer *tt, *tf;
    assert_int_equal(trainer_init(&tt, m, &c), DISR_OK);
    assert_int_equal(trainer_init_frozen(&tf, m, &c), DISR_OK);
    int32_t in[B * T], tg[B * T];
    for (int i = 0; i < B * T; i++)
        in[i] = (i * 3) % V, tg[i] = (i * 7 + 1) % V;
    float lp_t[B * T], lp_f[B * T], pt[B * T * V], pf[B * T * V];
    assert_int_equal(trainer_token_logprobs(tt, in, tg, lp_t), DISR_OK);
    assert_int_equal(trainer_token_logprobs(tf, in, tg, lp_f), DISR_OK);
    assert_memory_equal(lp_t, lp_f, sizeof lp_t);
    assert_int_equal(trainer_next_token_probs(tt, in, pt), DISR_OK);
    assert_int_equal(trainer_next_token_probs(tf, in, pf), DISR_OK);
    assert_memory_equal(pt, pf, sizeof pt);
    float *before = malloc(m->n_params * sizeof(float)), loss;
    memcpy(before, m->params, m->n_params * sizeof(float));
    assert_int_equal(trainer_accumulate(tf, in, tg, NULL, &loss), DISR_E_STATE);
    assert_int_equal(trainer_update(tf, 0, NULL), DISR_E_STATE);
    char path[] = "/tmp/disr_frozen_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(trainer_save_checkpoint(tf, path, 0), DISR_E_STATE);
    int step;
    assert_int_equal(trainer_resume(tf, path, &step), DISR_E_STATE);
    unlink(path);
    assert_memory_equal(before, m->params, m->n_params * sizeof(float));
    free(before);
    trainer_free(tt), trainer_free(tf), model_free(m);
}

/* A tempered trainer (logit_temperature T) is the model softmax(z / T) throughout: its token
 * log-probs are s log p - log sum p^s (s = 1/T, p the plain model's distribution), and its
 * gradient is the finite difference of its own loss. */
static void test_tempered_trainer(void **state) {
    (void)state;
    enum { V = 20, B = 2, T = 8 };
    struct model *m = tiny_model(V, false, 6);
    struct train_config c;
    train_config_default(&c);
    c.batch = B, c.seq = T, c.steps = 10;
    struct trainer *plain, *hot;
    assert_int_equal(trainer_init(&plain, m, &c), DISR_OK);
    c.logit_temperature = 0.5f;
    assert_int_equal(trainer_init(&hot, m, &c), DISR_OK);
    int32_t in[B * T], tg[B * T];
    for (int i = 0; i < B * T; i++)
        in[i] = (i * 3 + 2) % V, tg[i] = (i * 5 + 1) % V;
    float p[B * T * V], lp[B * T];
    assert_int_equal(trainer_next_token_probs(plain, in, p), DISR_OK);
    assert_int_equal(trainer_token_logprobs(hot, in, tg, lp), DISR_OK);
    double loss_ref = 0;
    for (int r = 0; r < B * T; r++) {
        double z = 0;
        for (int v = 0; v < V; v++)
            z += pow(p[r * V + v], 2.0);
        double want = 2.0 * log(p[r * V + tg[r]]) - log(z);
        assert_float_equal(lp[r], want, 1e-4);
        loss_ref -= lp[r] / (B * T);
    }
    /* the gradient: accumulate's loss is the tempered one, and its gradient matches the central
     * difference of that loss on a few weights of the output path */
    float loss;
    assert_int_equal(trainer_accumulate(hot, in, tg, NULL, &loss), DISR_OK);
    assert_float_equal(loss, loss_ref, 1e-4);
    const float *g = trainer_grads(hot)->token_embd.data;
    float *w = m->weights.token_embd.data;
    for (int k = 0; k < 5; k++) {
        size_t i = (size_t)(k * 37 + 3) % ((size_t)V * (size_t)m->config.n_embd);
        float keep = w[i], h = 1e-2f, l1, l0;
        w[i] = keep + h;
        assert_int_equal(trainer_token_logprobs(hot, in, tg, lp), DISR_OK);
        l1 = 0;
        for (int r = 0; r < B * T; r++)
            l1 -= lp[r] / (B * T);
        w[i] = keep - h;
        assert_int_equal(trainer_token_logprobs(hot, in, tg, lp), DISR_OK);
        l0 = 0;
        for (int r = 0; r < B * T; r++)
            l0 -= lp[r] / (B * T);
        w[i] = keep;
        assert_float_equal(g[i], (l1 - l0) / (2 * h), 2e-3 + 0.02 * fabs(g[i]));
    }
    trainer_free(plain), trainer_free(hot), model_free(m);
}

/* A tiny model learns a repetitive corpus: its loss ends far below the unigram entropy. */
static void test_tiny_model_learns_repetitive_corpus(void **state) {
    (void)state;
    const char *p = write_file("rep.txt", "the cat sat on the mat. the dog sat on the log. "
                                          "the cat sat on the mat. the dog sat on the log. "
                                          "a bird sang in the tree. the cat sat on the mat. ");
    struct corpus *c;
    assert_int_equal(corpus_load(&c, p, false), DISR_OK);
    struct tokenizer *tok = char_tok(c);
    assert_int_equal(corpus_tokenize(c, tok), DISR_OK);
    double h = corpus_unigram_entropy(c);
    struct model *m = tiny_model(tokenizer_n_vocab(tok), false, 5);
    struct train_config cfg;
    train_config_default(&cfg);
    cfg.batch = 8, cfg.seq = 32, cfg.steps = 150, cfg.lr = 1e-2f, cfg.seed = 11;
    float losses[150];
    struct train_run_opts o = {.losses = losses, .label = "test"};
    struct train_run_result r;
    log_set_level(LOG_WARN);
    assert_int_equal(train_run(m, c, &cfg, &o, &r), DISR_OK);
    log_set_level(LOG_INFO);
    fprintf(stderr, "unigram entropy %.3f nats; loss %.3f -> %.3f in %.2f s (%.0f tok/s)\n", h,
            r.first_loss, r.final_loss, r.seconds, r.tokens_per_s);
    assert_int_equal(r.steps_done, 150);
    assert_true(r.first_loss > 0.8 * log((double)tokenizer_n_vocab(tok)));
    assert_true(r.final_loss < 0.3 * h);
    assert_true(losses[149] < losses[0]);
    model_free(m);
    corpus_free(c);
    tokenizer_free(tok);
}

/* A run interrupted at step 6 and resumed from its checkpoint (into a model initialized
 * differently, so the parameters must come from the file) reproduces the uninterrupted run's
 * losses and final parameters bit for bit. */
static void test_resume_reproduces_uninterrupted_run(void **state) {
    (void)state;
    enum { STEPS = 12 };
    const char *p = write_file("res.txt", "one two three four five six seven eight nine ten. ");
    struct corpus *c;
    assert_int_equal(corpus_load(&c, p, false), DISR_OK);
    struct tokenizer *tok = char_tok(c);
    assert_int_equal(corpus_tokenize(c, tok), DISR_OK);
    int V = tokenizer_n_vocab(tok);
    struct train_config cfg;
    train_config_default(&cfg);
    cfg.batch = 4, cfg.seq = 16, cfg.steps = STEPS, cfg.accum = 2, cfg.lr = 5e-3f, cfg.warmup = 3;
    float full[STEPS], part[STEPS];
    memset(part, 0, sizeof part);
    log_set_level(LOG_WARN);

    struct model *a = tiny_model(V, true, 21);
    struct train_run_opts oa = {.losses = full};
    assert_int_equal(train_run(a, c, &cfg, &oa, NULL), DISR_OK);

    char ckpt[300];
    snprintf(ckpt, sizeof ckpt, "%s/run.ckpt.gguf", tmpdir);
    struct tokenizer *tok2 = char_tok(c);
    struct model *b = tiny_model_tok(V, true, 21, tok2);
    struct train_run_opts ob = {
        .losses = part, .checkpoint = ckpt, .checkpoint_every = 4, .stop_after = 6};
    struct train_run_result r;
    assert_int_equal(train_run(b, c, &cfg, &ob, &r), DISR_OK);
    assert_int_equal(r.steps_done, 6);
    model_free(b);

    tok2 = char_tok(c);
    b = tiny_model_tok(V, true, 999, tok2); /* different weights: the checkpoint must win */
    ob.stop_after = 0;
    ob.resume = true;
    assert_int_equal(train_run(b, c, &cfg, &ob, &r), DISR_OK);
    log_set_level(LOG_INFO);
    assert_int_equal(r.first_step, 6);
    assert_int_equal(r.steps_done, STEPS - 6);
    for (int s = 0; s < STEPS; s++) {
        fprintf(stderr, "step %2d: uninterrupted %.7f resumed %.7f\n", s, full[s], part[s]);
        assert_true(full[s] == part[s]);
    }
    assert_memory_equal(a->params, b->params, a->n_params * sizeof(float));

    /* A checkpoint of another shape is refused, and a plain model is not a checkpoint. */
    struct model *other = tiny_model_tok(V + 1, true, 1, char_tok(c));
    struct trainer *t;
    int step;
    assert_int_equal(trainer_init(&t, other, &cfg), DISR_OK);
    assert_int_equal(trainer_resume(t, ckpt, &step), DISR_E_STATE);
    trainer_free(t);
    model_free(other);
    char plain[300];
    snprintf(plain, sizeof plain, "%s/plain.gguf", tmpdir);
    assert_int_equal(model_save(b, plain, NULL), DISR_OK);
    assert_int_equal(trainer_init(&t, b, &cfg), DISR_OK);
    assert_int_equal(trainer_resume(t, plain, &step), DISR_E_NOTFOUND);
    trainer_free(t);
    model_free(a);
    model_free(b);
    corpus_free(c);
    tokenizer_free(tok);
}

/* The loop's stops without a trainer (no checkpoint): stop_after counts this call's steps,
 * stop_at the steps in all; begin sees the start, describe's last call is final; a failing step
 * stops the loop with its status. */
struct loop_log {
    int begun, steps[16], n, finals, fail_at;
};
static int ll_begin(void *ctx, int start) {
    ((struct loop_log *)ctx)->begun = start;
    return DISR_OK;
}
static int ll_step(void *ctx, int step) {
    struct loop_log *x = ctx;
    if (step == x->fail_at) return disr_fail(DISR_E_IO, "step %d", step);
    x->steps[x->n++] = step;
    return DISR_OK;
}
static void ll_describe(void *ctx, int step, bool final, char *buf, size_t cap) {
    ((struct loop_log *)ctx)->finals += final;
    snprintf(buf, cap, "step %d", step);
}

static void test_training_loop_stops(void **state) {
    (void)state;
    static const struct {
        int steps, stop_after, stop_at, fail_at, status, n;
    } cases[] = {
        {5, 0, 0, -1, DISR_OK, 5},  {5, 2, 0, -1, DISR_OK, 2}, {5, 0, 3, -1, DISR_OK, 3},
        {5, 9, 0, -1, DISR_OK, 5},  {5, 0, 5, -1, DISR_OK, 5}, {5, 4, 2, -1, DISR_OK, 2},
        {5, 0, 0, 3, DISR_E_IO, 3},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct loop_log x = {.begun = -1, .fail_at = cases[k].fail_at};
        struct train_loop l = {.steps = cases[k].steps,
                               .label = "loop",
                               .stop_after = cases[k].stop_after,
                               .stop_at = cases[k].stop_at,
                               .begin = ll_begin,
                               .step = ll_step,
                               .describe = ll_describe};
        struct train_loop_result r;
        int st = train_loop_run(&l, &x, &r);
        if (st != cases[k].status || x.n != cases[k].n || x.begun != 0)
            fail_msg("case %zu: status %d, %d steps, begun at %d", k, st, x.n, x.begun);
        for (int i = 0; i < x.n; i++)
            assert_int_equal(x.steps[i], i);
        if (st == DISR_OK) {
            assert_int_equal(r.steps_done, cases[k].n);
            assert_int_equal(r.end_step, cases[k].n);
            assert_int_equal(x.finals, 1);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_jsonl_records_and_answer_weights),
        cmocka_unit_test(test_corpus_text_qa_blocks_and_answer_weights),
        cmocka_unit_test(test_corpus_rejects_bad_input),
        cmocka_unit_test(test_corpus_sampling_is_deterministic),
        cmocka_unit_test(test_lr_schedule),
        cmocka_unit_test(test_gradient_accumulation_equals_big_batch),
        cmocka_unit_test(test_same_weights_on_any_thread_count),
        cmocka_unit_test(test_weight_decay_only_on_matrices),
        cmocka_unit_test(test_frozen_trainer_is_forward_only),
        cmocka_unit_test(test_tempered_trainer),
        cmocka_unit_test(test_tiny_model_learns_repetitive_corpus),
        cmocka_unit_test(test_resume_reproduces_uninterrupted_run),
        cmocka_unit_test(test_training_loop_stops),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
