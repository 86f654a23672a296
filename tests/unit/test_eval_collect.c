/* Unit tests for eval/collect: real (tiny, random) GGUF agents run over small query sets. The
 * collector's forced pass and the self-awareness evaluation are two code paths over the same
 * greedy generation, so they must agree; decisions of identical checkpoints must be identical;
 * every recorded value is in range; and a report can be built from the result. */
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
#include "core/rng.h"
#include "eval/collect.h"
#include "eval/report.h"
#include "model/model.h"
#include "model/model_io.h"
#include "model/tokenizer.h"
#include "route/agent.h"
#include "route/backend_engine.h"
#include "train/sa.h"
#include "world/dataset.h"
#include "world/grader.h"

static char dir[128];

static void path_in(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
}

/* A random char-level llama with weights scaled up so greedy outputs vary between queries. */
static void write_model(const char *path, uint64_t seed) {
    struct tokenizer *tok = NULL;
    assert_int_equal(tokenizer_init_char(&tok, "", 0), DISR_OK);
    struct model_config c = {.arch = MODEL_ARCH_LLAMA,
                             .n_vocab = tokenizer_n_vocab(tok),
                             .n_embd = 32,
                             .n_layer = 1,
                             .n_head = 2,
                             .n_head_kv = 2,
                             .n_ff = 64,
                             .n_ctx = 160,
                             .norm_eps = 1e-5f,
                             .rope_base = 10000.0f,
                             .rope_style = ROPE_NORMAL};
    struct model *m = NULL;
    assert_int_equal(model_init_random(&m, &c, tok, seed), DISR_OK);
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] *= 40.0f;
    assert_int_equal(model_save(m, path, NULL), DISR_OK);
    model_free(m);
}

/* `leveled`: query i gets difficulty 1 + i % 4 (otherwise none, as in a user's data set). */
static void write_set(const char *path, const char *prefix, int n, int leveled) {
    struct qa_set s;
    qa_set_init(&s);
    for (int i = 0; i < n; i++) {
        char id[32], q[64], a[16];
        snprintf(id, sizeof id, "%s-%d", prefix, i);
        snprintf(q, sizeof q, "What is %d plus %d?", i, 3 * i + 1);
        snprintf(a, sizeof a, "%d", 4 * i + 1);
        assert_int_equal(qa_set_add(&s, id, i % 2 ? "add" : "sum", q, a, GRADER_NUMBER), DISR_OK);
        s.items[s.n - 1].difficulty = leveled ? 1 + i % 4 : 0;
    }
    assert_int_equal(qa_set_save(&s, path), DISR_OK);
    qa_set_free(&s);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/disr_test_collect_%d", (int)getpid());
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0) return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_collect_real_agents(void **state) {
    (void)state;
    log_set_level(LOG_WARN);
    char a0[256], a1[256], tr[256], te[256], od[256];
    path_in(a0, sizeof a0, "a0.gguf");
    path_in(a1, sizeof a1, "a1.gguf");
    path_in(tr, sizeof tr, "train.jsonl");
    path_in(te, sizeof te, "test.jsonl");
    path_in(od, sizeof od, "ood.jsonl");
    write_model(a0, 1);
    write_model(a1, 2);
    write_set(tr, "sa", 12, 1);
    write_set(te, "te", 9, 1);
    write_set(od, "ood", 5, 0);

    struct collect_config c;
    collect_config_default(&c);
    c.n_agents = 2;
    c.agent[0] = a0, c.agent[1] = a1;
    c.sft[0] = a0, c.sft[1] = a1; /* the base models as "trained" checkpoints: same greedy runs */
    c.rl[0] = a0;                 /* no RL checkpoint for the last agent: it always answers */
    c.split_path[OUT_SPLIT_TRAIN] = tr, c.split_path[OUT_SPLIT_TEST] = te;
    c.split_path[OUT_SPLIT_OOD] = od;
    c.limit = 8; /* the train set is cut to 8 */
    c.verify_samples = 4;
    c.max_tokens = 6;
    c.max_seqs = 8;
    c.n_threads = 1;
    struct outcome_table t;
    assert_int_equal(collect_outcomes(&t, &c), DISR_OK);
    assert_int_equal(t.n_agents, 2);
    assert_int_equal(outcome_count_split(&t, OUT_SPLIT_TRAIN), 8);
    assert_int_equal(outcome_count_split(&t, OUT_SPLIT_TEST), 8);
    assert_int_equal(outcome_count_split(&t, OUT_SPLIT_OOD), 5);
    assert_float_equal(t.cost[0], 0.1, 1e-9);
    assert_float_equal(t.cost[1], 0.9, 1e-9);
    assert_string_equal(t.agent_name[1], "a1.gguf");
    assert_true(outcome_has_variant(&t, OUT_SFT));
    assert_true(outcome_has_variant(&t, OUT_RL));
    /* every query keeps its level (queries are in split order: 8 train, 8 test, 5 OOD) */
    for (int qi = 0; qi < t.n_queries; qi++)
        assert_int_equal(t.q[qi].difficulty, qi < 16 ? 1 + qi % 8 % 4 : 0);

    /* The SFT decisions come from sa_eval_agent on the same model: its forced-answer accuracy
     * (an independent path through the engine) must equal the collector's forced correctness. */
    struct model *m = NULL;
    struct qa_set te_set;
    qa_set_init(&te_set);
    assert_int_equal(qa_set_load(&te_set, te), DISR_OK);
    te_set.n = 8;
    assert_int_equal(model_load(&m, a0), DISR_OK);
    struct sa_gen_config g;
    sa_gen_config_default(&g);
    g.max_tokens = 6, g.max_seqs = 8, g.n_threads = 1;
    struct sa_agent_eval ev;
    assert_int_equal(sa_eval_agent(m, &te_set, &g, &ev), DISR_OK);
    int first_test = 8;
    for (int i = 0; i < 8; i++) {
        const struct outcome_cell *cell = outcome_at(&t, first_test + i, 0);
        assert_int_equal(cell->correct, ev.forced_correct[i]);
        for (int s = 0; s < OUT_N_SCEN; s++) {
            assert_int_equal(cell->decide[OUT_SFT][s] == OUT_ANSWER, ev.answered[s][i]);
            /* identical checkpoints give identical decisions */
            assert_int_equal(cell->decide[OUT_SFT][s], cell->decide[OUT_RL][s]);
            assert_int_equal(cell->dcorrect[OUT_SFT][s], cell->dcorrect[OUT_RL][s]);
        }
    }
    sa_eval_free(&ev);
    model_free(m);
    te_set.n = 9;
    qa_set_free(&te_set);

    for (int qi = 0; qi < t.n_queries; qi++)
        for (int a = 0; a < 2; a++) {
            const struct outcome_cell *cell = outcome_at(&t, qi, a);
            assert_non_null(cell->forced);
            assert_true(cell->conf >= 0 && cell->conf <= 1);
            if (a == t.n_agents - 1) {
                assert_true(isnan(cell->verify)); /* never read: not sampled, not recorded */
            } else {
                assert_true(cell->verify >= 0 && cell->verify <= 1);
                assert_float_equal(cell->verify * 4, roundf(cell->verify * 4), 1e-6);
            }
            assert_true(cell->t_answer > 0);
            /* a reply cut at the cap (6 tokens of one character) is wrong whatever it holds */
            bool cut = strlen(cell->forced) >= 6;
            assert_int_equal(cell->correct,
                             !cut && grader_check(GRADER_NUMBER, t.q[qi].answer, cell->forced));
        }

    /* An agent node decides through agent_decide (route/agent.h): on the same checkpoint it must
     * reproduce the recorded trained decisions, and in confidence mode the recorded forced
     * answer and its probability. */
    struct model *nm = NULL;
    assert_int_equal(model_load(&nm, a0), DISR_OK);
    struct backend *be = NULL;
    assert_int_equal(backend_engine_create(&be, nm, true, 4, 1), DISR_OK);
    struct agent trained = {.name = "a0", .cost = 0.1, .mode = AGENT_TRAINED, .backend = be};
    struct agent conf = {.name = "a0", .cost = 0.1, .mode = AGENT_CONFIDENCE, .backend = be};
    static const double alphas[OUT_N_SCEN] = {0.2, 0.5, 0.8};
    for (int qi = 0; qi < t.n_queries; qi += 3)
        for (int s = 0; s < OUT_N_SCEN; s++) {
            const struct outcome_cell *cell = outcome_at(&t, qi, 0);
            struct agent_query q = {.query = t.q[qi].query, .alpha = alphas[s], .max_tokens = 6};
            struct agent_result r;
            assert_int_equal(agent_decide(&trained, &q, &r), DISR_OK);
            if (t.q[qi].split == OUT_SPLIT_TRAIN) /* SA-train queries are not decided */
                assert_int_equal(cell->decide[OUT_SFT][s], OUT_UNKNOWN);
            else
                assert_int_equal(r.decision == HOP_ANSWER, cell->decide[OUT_SFT][s] == OUT_ANSWER);
            assert_int_equal(agent_decide(&conf, &q, &r), DISR_OK);
            assert_string_equal(r.gen.text, cell->forced);
            assert_float_equal(r.confidence, cell->conf, 1e-4);
        }
    backend_free(be);

    /* The table round-trips and a report builds from it. */
    char out[256], saved[256];
    path_in(out, sizeof out, "report");
    path_in(saved, sizeof saved, "outcomes.jsonl");
    assert_int_equal(outcome_table_save(&t, saved), DISR_OK);
    struct report_config rc;
    report_config_default(&rc);
    rc.out_dir = out;
    rc.plots = 0;
    rc.print = NULL;
    rc.fit.feat_dim = 64, rc.fit.epochs = 2, rc.fit.knn_k = 3;
    assert_int_equal(report_run(&t, &rc), DISR_OK);
    outcome_table_free(&t);

    /* Errors: a missing model or query file is reported, and nothing leaks. */
    c.agent[1] = "/nonexistent.gguf";
    assert_true(collect_outcomes(&t, &c) < 0);
    c.agent[1] = a1;
    c.split_path[OUT_SPLIT_TEST] = "/nonexistent.jsonl";
    assert_int_equal(collect_outcomes(&t, &c), DISR_E_IO);
    c.n_agents = 0;
    assert_int_equal(collect_outcomes(&t, &c), DISR_E_ARG);
    log_set_level(LOG_INFO);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_collect_real_agents)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
