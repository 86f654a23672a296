/* Self-awareness SFT on a tiny random model, without the engine: with hand-made samples whose
 * p̂ = 4/8 the labels are "reject" under Performance First (needs 7/8) and "answer" under
 * Balance and Cost First, so after sa_sft_train the reject text must have become far likelier
 * after a "[P]" prompt than after a "[B]" one, and the answer the other way round. This checks
 * the whole path: targets, tokenization, packing, loss weights on the response only, trainer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "model/engine.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "world/scenario.h"
#include "train/sa.h"
#include "train/sa_pack.h"
#include "train/trainer.h"
#include "world/dataset.h"

static struct model *tiny_model_seeded(uint64_t seed) {
    const char corpus[] = "abcdefghijklmnopqrstuvwxyz0123456789 ?![]:'\n";
    struct tokenizer *tok = NULL;
    assert_int_equal(tokenizer_init_char(&tok, corpus, sizeof corpus - 1), DISR_OK);
    struct model_config c = {.arch = MODEL_ARCH_LLAMA,
                             .n_vocab = tokenizer_n_vocab(tok),
                             .n_embd = 32,
                             .n_layer = 2,
                             .n_head = 4,
                             .n_head_kv = 2,
                             .n_ff = 64,
                             .n_ctx = 96,
                             .norm_eps = 1e-5f,
                             .rope_base = 10000.0f,
                             .rope_style = ROPE_NORMAL,
                             .qkv_bias = false,
                             .tied_output = true};
    struct model *m = NULL;
    assert_int_equal(model_init_random(&m, &c, tok, seed), DISR_OK);
    return m;
}

static struct model *tiny_model(void) {
    return tiny_model_seeded(7);
}

/* Mean over the set of log P(response | prompt of scenario s). */
static double mean_logprob(struct model *m, const struct qa_set *d, enum scenario s,
                           const char *fixed_response) {
    struct train_config tc;
    train_config_default(&tc);
    tc.batch = 1;
    tc.seq = m->config.n_ctx;
    struct trainer *t = NULL;
    assert_int_equal(trainer_init(&t, m, &tc), DISR_OK);
    struct sa_pack p;
    assert_int_equal(sa_pack_init(&p, tc.seq, 1, tokenizer_eos(m->tokenizer)), DISR_OK);
    float *lp = malloc(sizeof(float) * (size_t)tc.seq);
    double sum = 0;
    for (int i = 0; i < d->n; i++) {
        char prompt[256], resp[64];
        assert_true(scenario_format_prompt(prompt, sizeof prompt, d->items[i].query, s) > 0);
        snprintf(resp, sizeof resp, "%s\n", fixed_response ? fixed_response : d->items[i].answer);
        int32_t ids[128];
        int n = 0, np = 0, n2 = 0;
        assert_int_equal(tokenizer_encode(m->tokenizer, prompt, strlen(prompt), ids, 128, &np),
                         DISR_OK);
        assert_int_equal(
            tokenizer_encode(m->tokenizer, resp, strlen(resp), ids + np, 128 - np, &n2), DISR_OK);
        n = np + n2;
        sa_pack_reset(&p);
        assert_int_equal(sa_pack_add(&p, ids, n, np, NULL, NULL, NULL), DISR_OK);
        assert_int_equal(trainer_token_logprobs(t, p.inputs, p.targets, lp), DISR_OK);
        for (int k = np - 1; k < n - 1; k++)
            sum += lp[k];
    }
    free(lp);
    sa_pack_free(&p);
    trainer_free(t);
    return sum / d->n;
}

static void test_sft_learns_scenario_labels(void **state) {
    (void)state;
    struct model *m = tiny_model();
    struct qa_set d;
    qa_set_init(&d);
    for (int i = 0; i < 12; i++) {
        char q[64], a[16], id[16];
        snprintf(q, sizeof q, "add %d and %d?", i, 2 * i + 1);
        snprintf(a, sizeof a, "%d", 3 * i + 1);
        snprintf(id, sizeof id, "q%d", i);
        assert_int_equal(qa_set_add(&d, id, "add", q, a, GRADER_NUMBER), DISR_OK);
    }
    struct sa_samples smp = {.n_queries = d.n, .n_samples = 8};
    smp.n_correct = malloc(sizeof(int) * (size_t)d.n);
    smp.own_answer = malloc(sizeof(char *) * (size_t)d.n);
    for (int i = 0; i < d.n; i++) {
        smp.n_correct[i] = 4;
        smp.own_answer[i] = strdup(d.items[i].answer);
    }
    double rej_p0 = mean_logprob(m, &d, SCENARIO_PERFORMANCE, SCENARIO_REJECT_TEXT);
    double rej_b0 = mean_logprob(m, &d, SCENARIO_BALANCE, SCENARIO_REJECT_TEXT);
    assert_true(fabs(rej_p0 - rej_b0) < 2.0); /* untrained: the slot barely matters */

    struct sa_sft_config c;
    sa_sft_config_default(&c);
    c.steps = 150;
    c.batch = 4;
    c.lr = 1e-2f;
    c.warmup = 5;
    c.min_side = 12; /* one side is empty in every scenario: keep the other anyway */
    struct sa_sft_summary sum;
    assert_int_equal(sa_sft_train(m, &d, &smp, &c, &sum), DISR_OK);
    assert_int_equal(sum.steps_done, 150);
    assert_int_equal(sum.reject_kept[0], 12); /* P: all reject */
    assert_int_equal(sum.answer_kept[0], 0);
    assert_int_equal(sum.answer_kept[1], 12); /* B, C: all answer */
    assert_int_equal(sum.reject_kept[2], 0);

    double rej_p = mean_logprob(m, &d, SCENARIO_PERFORMANCE, SCENARIO_REJECT_TEXT);
    double rej_b = mean_logprob(m, &d, SCENARIO_BALANCE, SCENARIO_REJECT_TEXT);
    double ans_p = mean_logprob(m, &d, SCENARIO_PERFORMANCE, NULL);
    double ans_c = mean_logprob(m, &d, SCENARIO_COST, NULL);
    print_message("log P(reject): P %.2f -> %.2f, B %.2f -> %.2f; log P(answer): P %.2f, C %.2f\n",
                  rej_p0, rej_p, rej_b0, rej_b, ans_p, ans_c);
    assert_true(rej_p > rej_p0 + 5.0); /* the reject was learned under P */
    assert_true(rej_p > rej_b + 5.0);  /* ... and only under P */
    assert_true(ans_c > ans_p + 2.0);  /* the answers under C, not under P */

    sa_samples_free(&smp);
    qa_set_free(&d);
    model_free(m);
}

/* 12 target queries the agent always gets right ("7"), then 8 anchor-only queries (also in
 * `anchors`) whose replayed forced answer is "zz". */
static void anchor_only_setup(struct qa_set *d, struct qa_set *anchors, struct sa_samples *smp) {
    qa_set_init(d);
    qa_set_init(anchors);
    for (int i = 0; i < 20; i++) {
        char q[64], id[16];
        snprintf(q, sizeof q, "%s %d?", i < 12 ? "add" : "name", i);
        snprintf(id, sizeof id, "q%d", i);
        assert_int_equal(qa_set_add(d, id, "add", q, "7", GRADER_NUMBER), DISR_OK);
        if (i >= 12) assert_int_equal(qa_set_add(anchors, id, "add", q, "7", GRADER_NUMBER), 0);
    }
    *smp = (struct sa_samples){.n_queries = d->n, .n_samples = 8};
    smp->n_correct = calloc((size_t)d->n, sizeof(int));
    smp->own_answer = calloc((size_t)d->n, sizeof(char *));
    smp->first_sample = calloc((size_t)d->n, sizeof(char *));
    for (int i = 0; i < d->n; i++) {
        smp->n_correct[i] = i < 12 ? 8 : 0;
        smp->own_answer[i] = i < 12 ? strdup("7") : NULL;
        smp->first_sample[i] = strdup(i < 12 ? "7" : "zz");
    }
}

/* Anchor-only queries (n_target_queries): they get no scenario target, and their replayed
 * forced answers are what the anchors teach. */
static void test_sft_anchor_only_queries(void **state) {
    (void)state;
    struct model *m = tiny_model();
    struct qa_set d, anchors;
    struct sa_samples smp;
    anchor_only_setup(&d, &anchors, &smp);
    double zz0 = mean_logprob(m, &anchors, SCENARIO_NONE, "zz");
    struct sa_sft_config c;
    sa_sft_config_default(&c);
    c.steps = 100, c.batch = 4, c.lr = 1e-2f, c.warmup = 5;
    c.n_target_queries = 12;
    struct sa_sft_summary sum;
    assert_int_equal(sa_sft_train(m, &d, &smp, &c, &sum), DISR_OK);
    for (int s = 0; s < 3; s++) /* targets: the 12 target queries only, all answered */
        assert_int_equal(sum.answer_pool[s] + sum.reject_pool[s], 12);
    assert_int_equal(sum.n_examples, 3 * 12 + 8); /* + one anchor per anchor-only query */
    double zz = mean_logprob(m, &anchors, SCENARIO_NONE, "zz");
    print_message("log P(zz | anchor query, forced): %.2f -> %.2f\n", zz0, zz);
    assert_true(zz > zz0 + 3.0);
    /* No anchor-only query has an answer (all cut at the length cap): the anchors fall back
     * to the target queries' samples instead of vanishing. */
    for (int i = 12; i < d.n; i++) {
        free(smp.first_sample[i]);
        smp.first_sample[i] = NULL;
    }
    c.steps = 2;
    assert_int_equal(sa_sft_train(m, &d, &smp, &c, &sum), DISR_OK);
    assert_int_equal(sum.n_examples, 3 * 12 + 12);
    sa_samples_free(&smp);
    qa_set_free(&d);
    qa_set_free(&anchors);
    model_free(m);
}

/* Distilled anchors (anchor_teacher): the anchor queries learn the teacher's whole forced
 * distribution, so replayed answers the teacher finds unlikely ("zz") are not pushed up the way
 * plain anchors push them (test_sft_anchor_only_queries), while the targets are still learned. */
static void test_sft_distilled_anchors_hold_the_teacher(void **state) {
    (void)state;
    struct model *m = tiny_model(), *teacher = tiny_model();
    struct qa_set d, anchors;
    struct sa_samples smp;
    anchor_only_setup(&d, &anchors, &smp);
    double zz0 = mean_logprob(m, &anchors, SCENARIO_NONE, "zz");
    double ans0 = mean_logprob(m, &d, SCENARIO_COST, "7");
    struct sa_sft_config c;
    sa_sft_config_default(&c);
    c.steps = 100, c.batch = 4, c.lr = 1e-2f, c.warmup = 5;
    c.n_target_queries = 12;
    c.anchor_teacher = teacher;
    struct sa_sft_summary sum;
    assert_int_equal(sa_sft_train(m, &d, &smp, &c, &sum), DISR_OK);
    double zz = mean_logprob(m, &anchors, SCENARIO_NONE, "zz");
    double ans = mean_logprob(m, &d, SCENARIO_COST, "7");
    print_message(
        "distilled: log P(zz | anchor, forced) %.2f -> %.2f, log P(7 | [C]) %.2f -> %.2f\n", zz0,
        zz, ans0, ans);
    assert_true(fabs(zz - zz0) < 1.5); /* held where the teacher has it */
    assert_true(ans > ans0 + 3.0);     /* the targets were learned all the same */
    /* A teacher of another shape is refused before any training. */
    struct model *other = tiny_model();
    other->config.n_embd = 16;
    c.anchor_teacher = other;
    assert_int_equal(sa_sft_train(m, &d, &smp, &c, &sum), DISR_E_ARG);
    other->config.n_embd = 32;
    model_free(other);
    sa_samples_free(&smp);
    qa_set_free(&d);
    qa_set_free(&anchors);
    model_free(m);
    model_free(teacher);
}

/* Teaches m, by plain cross-entropy, to give `response` to every query of d under the forced
 * prompt: a stand-in for an agent whose forced answers are known. */
static void teach_forced_answer(struct model *m, const struct qa_set *d, const char *response) {
    struct train_config tc;
    train_config_default(&tc);
    tc.batch = 4;
    tc.seq = m->config.n_ctx;
    tc.lr = 1e-2f;
    tc.warmup = 2;
    tc.steps = 60;
    struct trainer *t = NULL;
    assert_int_equal(trainer_init(&t, m, &tc), DISR_OK);
    struct sa_pack p;
    assert_int_equal(sa_pack_init(&p, tc.seq, tc.batch, tokenizer_eos(m->tokenizer)), DISR_OK);
    int32_t ids[128];
    for (int step = 0; step < tc.steps; step++) {
        sa_pack_reset(&p);
        for (int i = 0; i < d->n; i++) {
            char prompt[256];
            int n = 0, np = 0;
            assert_true(scenario_format_prompt(prompt, sizeof prompt, d->items[i].query,
                                               SCENARIO_NONE) > 0);
            assert_int_equal(sa_pack_encode(m->tokenizer, prompt, response, ids, 128, &n, &np),
                             DISR_OK);
            if (!sa_pack_fits(&p, n)) break;
            assert_int_equal(sa_pack_add(&p, ids, n, np, NULL, NULL, NULL), DISR_OK);
        }
        float loss = 0, gn = 0;
        assert_int_equal(trainer_accumulate(t, p.inputs, p.targets, p.weights, &loss), DISR_OK);
        assert_int_equal(trainer_update(t, step, &gn), DISR_OK);
    }
    sa_pack_free(&p);
    trainer_free(t);
}

/* RL's anchors replay the forced answers of config.anchor_model when one is given (the
 * pretrained agent, so RL holds forced accuracy where it was before SFT), of the reference
 * otherwise. Here the anchor model answers "zz" to everything, the reference does not: only
 * the run anchored on the anchor model pulls the policy's forced answers to "zz". */
static void test_rl_anchors_replay_the_anchor_model(void **state) {
    (void)state;
    struct qa_set d;
    qa_set_init(&d);
    for (int i = 0; i < 8; i++) {
        char q[64], a[16], id[16];
        snprintf(q, sizeof q, "add %d and %d?", i, i + 2);
        snprintf(a, sizeof a, "%d", 2 * i + 2);
        snprintf(id, sizeof id, "q%d", i);
        assert_int_equal(qa_set_add(&d, id, "add", q, a, GRADER_NUMBER), DISR_OK);
    }
    struct model *anchor = tiny_model_seeded(8);
    teach_forced_answer(anchor, &d, "zz\n");
    double zz_anchor = mean_logprob(anchor, &d, SCENARIO_NONE, "zz");
    assert_true(zz_anchor > -1.0); /* "zz" is the anchor model's greedy forced answer */

    double zz_after[2];
    for (int use_anchor = 0; use_anchor <= 1; use_anchor++) {
        struct model *policy = tiny_model(), *ref = tiny_model();
        double zz0 = mean_logprob(policy, &d, SCENARIO_NONE, "zz");
        struct sa_rl_config c;
        sa_rl_config_default(&c);
        c.steps = 20, c.prompts = 2, c.group = 2, c.anchors = 8, c.lr = 1e-2f, c.warmup = 2;
        c.batch = 4, c.gen.max_tokens = 8, c.gen.n_threads = 1, c.checkpoint = NULL;
        c.anchor_model = use_anchor ? anchor : NULL;
        struct sa_rl_summary sum;
        assert_int_equal(sa_rl_train(policy, ref, &d, &c, &sum), DISR_OK);
        assert_int_equal(sum.steps_done, 20);
        zz_after[use_anchor] = mean_logprob(policy, &d, SCENARIO_NONE, "zz");
        print_message("log P(zz | forced) %.2f -> %.2f with anchors from the %s\n", zz0,
                      zz_after[use_anchor], use_anchor ? "anchor model" : "reference");
        model_free(policy);
        model_free(ref);
    }
    assert_true(zz_after[1] > zz_after[0] + 5.0);
    assert_true(zz_after[1] > -4.0);

    /* An anchor model without a tokenizer cannot answer: a clear error, not a crash. */
    struct model *policy = tiny_model(), *ref = tiny_model();
    struct tokenizer *tok = anchor->tokenizer;
    anchor->tokenizer = NULL;
    struct sa_rl_config c;
    sa_rl_config_default(&c);
    c.anchor_model = anchor;
    struct sa_rl_summary sum;
    assert_int_equal(sa_rl_train(policy, ref, &d, &c, &sum), DISR_E_STATE);
    anchor->tokenizer = tok;
    model_free(policy);
    model_free(ref);
    model_free(anchor);
    qa_set_free(&d);
}

static void test_sft_rejects_bad_input(void **state) {
    (void)state;
    struct model *m = tiny_model();
    struct qa_set d;
    qa_set_init(&d);
    assert_int_equal(qa_set_add(&d, "a", "add", "add 1 and 2?", "3", GRADER_NUMBER), DISR_OK);
    struct sa_samples smp = {.n_queries = 2, .n_samples = 8};
    struct sa_sft_config c;
    sa_sft_config_default(&c);
    struct sa_sft_summary sum;
    assert_int_equal(sa_sft_train(m, &d, &smp, &c, &sum), DISR_E_ARG); /* 2 samples, 1 query */
    qa_set_free(&d);
    model_free(m);
}

/* engine_generate_groups shares one prefill among a group's samples; it must give what
 * engine_generate_batch gives for the expanded prompt list with the same seeds (sample 0 of a
 * group exactly; the others feed their last prompt token as a decode step, whose kernels may
 * round differently from the prefill's, so a rare sample may differ). */
static void test_engine_groups_match_batch(void **state) {
    (void)state;
    struct model *m = tiny_model();
    struct engine *e = NULL;
    struct engine_params ep = {.max_seqs = 8, .n_ctx = 0, .n_threads = 1};
    assert_int_equal(engine_init(&e, m, &ep), DISR_OK);
    const char *prompts[3] = {"[-] Q: add 1 and 2?\n[-] A: ", "[B] Q: sort abc\n[B] A: ", "x"};
    enum { G = 4 };
    const char *expanded[3 * G];
    for (int i = 0; i < 3 * G; i++)
        expanded[i] = prompts[i / G];
    struct gen_result a[3 * G], b[3 * G];
    for (int temp = 0; temp <= 1; temp++) {
        struct gen_params g = {.temperature = (float)temp,
                               .top_k = 0,
                               .top_p = 1.0f,
                               .seed = 99,
                               .max_tokens = 12,
                               .stop_char = '\n'};
        assert_int_equal(engine_generate_batch(e, 3 * G, expanded, &g, a), DISR_OK);
        assert_int_equal(engine_generate_groups(e, 3, prompts, G, &g, b), DISR_OK);
        int same = 0;
        for (int i = 0; i < 3 * G; i++) {
            if (i % G == 0) assert_string_equal(a[i].text, b[i].text);
            same += !strcmp(a[i].text, b[i].text) && a[i].n_tokens == b[i].n_tokens;
        }
        assert_true(same >= 3 * G - 1);
        if (temp == 1) { /* sampling: the group's samples are not all one text */
            int distinct = 0;
            for (int j = 1; j < G; j++)
                distinct += strcmp(b[j].text, b[0].text) != 0;
            assert_true(distinct > 0);
        }
    }
    struct gen_params g = {.temperature = 1, .top_p = 1, .max_tokens = 4};
    assert_int_equal(engine_generate_groups(e, 1, prompts, 9, &g, b), DISR_E_ARG); /* > slots */
    engine_free(e);
    model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sft_learns_scenario_labels),
        cmocka_unit_test(test_sft_anchor_only_queries),
        cmocka_unit_test(test_sft_distilled_anchors_hold_the_teacher),
        cmocka_unit_test(test_rl_anchors_replay_the_anchor_model),
        cmocka_unit_test(test_sft_rejects_bad_input),
        cmocka_unit_test(test_engine_groups_match_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
