/* Unit tests for world/score: per-family accuracy with a scripted answerer, batching
 * independence, per-item flags, error propagation, and the "other" family pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "model/engine.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "world/scenario.h"
#include "world/score.h"

/* Answers an item correctly iff its family is in ctx->good; finds the item by query pointer. */
struct script {
    const struct qa_set *set;
    const char *good;
    int calls, fail_at;
};

static int scripted(void *ctx, int n, const char *const *queries, char **replies) {
    struct script *sc = ctx;
    if (++sc->calls == sc->fail_at) return disr_fail(DISR_E_NET, "agent went away");
    for (int i = 0; i < n; i++)
        for (int k = 0; k < sc->set->n; k++)
            if (sc->set->items[k].query == queries[i]) {
                const struct qa_item *it = &sc->set->items[k];
                snprintf(replies[i], SCORE_REPLY_MAX, "%s",
                         strstr(sc->good, it->family) ? it->answer : "I don't know!");
            }
    return DISR_OK;
}

static void make_set(struct qa_set *s) {
    qa_set_init(s);
    char id[16], q[32], a[16];
    for (int i = 0; i < 30; i++) {
        snprintf(id, sizeof id, "t%d", i);
        snprintf(q, sizeof q, "%d+%d=", i, i);
        snprintf(a, sizeof a, "%d", 2 * i);
        assert_int_equal(qa_set_add(s, id,
                                    i % 3 == 0   ? "add"
                                    : i % 3 == 1 ? "fact"
                                                 : "mc",
                                    q, a, i % 3 == 2 ? GRADER_EXACT : GRADER_NUMBER),
                         0);
    }
}

static void test_score_per_family(void **state) {
    (void)state;
    struct qa_set s;
    make_set(&s);
    bool flags1[30], flags7[30];
    struct score_result r1, r7;
    struct script sc = {&s, "add,mc", 0, 0};
    assert_int_equal(world_score(&s, scripted, &sc, 1, &r1, flags1, NULL, NULL), 0);
    assert_int_equal(sc.calls, 30);
    sc.calls = 0;
    char *replies[30];
    assert_int_equal(world_score(&s, scripted, &sc, 7, &r7, flags7, replies, NULL), 0);
    assert_int_equal(sc.calls, 5);
    for (int i = 0; i < 30; i++) { /* each reply kept, in item order, after its batch is gone */
        assert_string_equal(replies[i], i % 3 != 1 ? s.items[i].answer : "I don't know!");
        free(replies[i]);
    }
    assert_memory_equal(flags1, flags7, sizeof flags1);
    assert_int_equal(r1.n_fam, 3);
    assert_string_equal(r1.fam[0].name, "add");
    assert_string_equal(r1.fam[1].name, "fact");
    assert_int_equal(r7.n, 30);
    assert_int_equal(r7.correct, 20);
    assert_float_equal(score_accuracy(&r7, "add"), 1.0, 1e-12);
    assert_float_equal(score_accuracy(&r7, "fact"), 0.0, 1e-12);
    assert_float_equal(score_accuracy(&r7, NULL), 20.0 / 30, 1e-12);
    assert_float_equal(score_accuracy(&r7, "sort"), -1, 1e-12);
    assert_float_equal(score_macro_accuracy(&r7), 2.0 / 3, 1e-12);
    for (int i = 0; i < 30; i++)
        assert_int_equal(flags7[i], i % 3 != 1);
    qa_set_free(&s);
}

static void test_score_stops_on_answerer_error(void **state) {
    (void)state;
    struct qa_set s;
    make_set(&s);
    struct score_result r;
    struct script sc = {&s, "add", 0, 2};
    disr_clear_error();
    char *replies[30];
    /* the first batch's replies were kept before the second failed: freed, none returned */
    assert_int_equal(world_score(&s, scripted, &sc, 4, &r, NULL, replies, NULL), DISR_E_NET);
    for (int i = 0; i < 30; i++)
        assert_null(replies[i]);
    assert_string_equal(disr_last_error(), "agent went away");
    assert_int_equal(world_score(&s, scripted, &sc, 0, &r, NULL, NULL, NULL), DISR_E_ARG);
    qa_set_free(&s);
}

static void test_score_pools_extra_families(void **state) {
    (void)state;
    struct qa_set s;
    qa_set_init(&s);
    char fam[16];
    for (int i = 0; i < SCORE_MAX_FAMILIES + 5; i++) {
        snprintf(fam, sizeof fam, "f%d", i);
        assert_int_equal(qa_set_add(&s, fam, fam, "q", "a", GRADER_EXACT), 0);
    }
    struct score_result r;
    struct script sc = {&s, "", 0, 0};
    assert_int_equal(world_score(&s, scripted, &sc, 8, &r, NULL, NULL, NULL), 0);
    assert_int_equal(r.n_fam, SCORE_MAX_FAMILIES);
    assert_string_equal(r.fam[SCORE_MAX_FAMILIES - 1].name, "other");
    assert_int_equal(r.fam[SCORE_MAX_FAMILIES - 1].n, 6);
    assert_int_equal(r.n, SCORE_MAX_FAMILIES + 5);
    qa_set_free(&s);
}

/* The engine answerer grades exactly what greedy engine_generate on the forced-answer prompt
 * says, whatever the batch size (checked against single calls on a small random model). */
static void test_score_engine_matches_single_generation(void **state) {
    (void)state;
    struct qa_set s;
    qa_set_init(&s);
    static const char *const q[6] = {"1+2=", "Sort: cba", "Capital of Bavoki?", "x", "B", "7+7="};
    for (int i = 0; i < 6; i++)
        assert_int_equal(qa_set_add(&s, q[i], "f", q[i], "a", 0), 0);
    struct tokenizer *tok;
    assert_int_equal(tokenizer_init_char(&tok, "", 0), 0);
    struct model_config c = {.arch = MODEL_ARCH_LLAMA,
                             .n_vocab = tokenizer_n_vocab(tok),
                             .n_embd = 32,
                             .n_layer = 2,
                             .n_head = 4,
                             .n_head_kv = 2,
                             .n_ff = 64,
                             .n_ctx = 128,
                             .norm_eps = 1e-5f,
                             .rope_base = 10000.f,
                             .rope_style = ROPE_NORMAL,
                             .tied_output = true};
    struct model *m;
    assert_int_equal(model_init_random(&m, &c, tok, 5), 0);
    struct engine *e;
    struct engine_params ep = {.max_seqs = 4, .n_ctx = 0, .n_threads = 1};
    assert_int_equal(engine_init(&e, m, &ep), 0);
    /* Make item 3 correct: its expected answer becomes the model's own greedy reply. */
    struct gen_params g = {.temperature = 0, .top_p = 1, .max_tokens = 6, .stop_char = '\n'};
    struct gen_result res;
    char prompt[256];
    assert_true(scenario_format_prompt(prompt, sizeof prompt, q[3], SCENARIO_NONE) > 0);
    assert_int_equal(engine_generate(e, prompt, &g, &res), 0);
    free(s.items[3].answer);
    s.items[3].answer = strdup(res.text);
    s.items[3].grader = GRADER_EXACT;
    bool f1[6], f4[6];
    struct score_result r1, r4;
    assert_int_equal(world_score_engine(e, &s, 1, 6, &r1, f1, NULL, NULL), 0);
    assert_int_equal(world_score_engine(e, &s, 4, 6, &r4, f4, NULL, NULL), 0);
    assert_memory_equal(f1, f4, sizeof f1);
    assert_int_equal(r1.correct, r4.correct);
    for (int i = 0; i < 6; i++) {
        assert_true(scenario_format_prompt(prompt, sizeof prompt, q[i], SCENARIO_NONE) > 0);
        assert_int_equal(engine_generate(e, prompt, &g, &res), 0);
        assert_int_equal(f1[i], grader_check(s.items[i].grader, s.items[i].answer, res.text));
    }
    assert_true(f1[3]);
    assert_int_equal(world_score_engine(e, &s, 0, 6, &r1, f1, NULL, NULL), DISR_E_ARG);
    /* A query longer than the context (or with a byte outside the vocabulary) is graded wrong
     * instead of aborting the run. */
    char longq[300];
    memset(longq, 'x', sizeof longq - 1);
    longq[sizeof longq - 1] = '\0';
    assert_int_equal(qa_set_add(&s, "long", "f", longq, "x", GRADER_EXACT), 0);
    assert_int_equal(qa_set_add(&s, "utf8", "f", "caf\xc3\xa9?", "x", GRADER_EXACT), 0);
    bool f8[8];
    int st8 = world_score_engine(e, &s, 3, 6, &r1, f8, NULL, NULL);
    if (st8) fail_msg("%d %s", st8, disr_last_error());
    assert_int_equal(r1.n, 8);
    assert_false(f8[6]);
    assert_false(f8[7]);
    assert_memory_equal(f8, f4, sizeof f4);
    engine_free(e);
    model_free(m);
    qa_set_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_per_family),
        cmocka_unit_test(test_score_stops_on_answerer_error),
        cmocka_unit_test(test_score_pools_extra_families),
        cmocka_unit_test(test_score_engine_matches_single_generation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
