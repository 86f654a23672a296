/* Unit tests for world/score: per-family accuracy with a scripted answerer, batching
 * independence, per-item flags, error propagation, and the "other" family pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
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
    assert_int_equal(world_score(&s, scripted, &sc, 1, &r1, flags1, NULL), 0);
    assert_int_equal(sc.calls, 30);
    sc.calls = 0;
    assert_int_equal(world_score(&s, scripted, &sc, 7, &r7, flags7, NULL), 0);
    assert_int_equal(sc.calls, 5);
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
    assert_int_equal(world_score(&s, scripted, &sc, 4, &r, NULL, NULL), DISR_E_NET);
    assert_string_equal(disr_last_error(), "agent went away");
    assert_int_equal(world_score(&s, scripted, &sc, 0, &r, NULL, NULL), DISR_E_ARG);
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
    assert_int_equal(world_score(&s, scripted, &sc, 8, &r, NULL, NULL), 0);
    assert_int_equal(r.n_fam, SCORE_MAX_FAMILIES);
    assert_string_equal(r.fam[SCORE_MAX_FAMILIES - 1].name, "other");
    assert_int_equal(r.fam[SCORE_MAX_FAMILIES - 1].n, 6);
    assert_int_equal(r.n, SCORE_MAX_FAMILIES + 5);
    qa_set_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_per_family),
        cmocka_unit_test(test_score_stops_on_answerer_error),
        cmocka_unit_test(test_score_pools_extra_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
