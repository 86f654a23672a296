/* Unit tests for eval/: the outcome table (JSONL round trip, malformed input), the utility
 * arithmetic of every method on a hand-checked 3-query table, the MLP's gradients against finite
 * differences, and properties that must hold on synthetic worlds whose answer is known (Oracle
 * bounds every method; a calibrated self-aware chain beats central routers that see noise). */
#include <cjson/cJSON.h>
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
#include "core/file.h"
#include "core/log.h"
#include "core/rng.h"
#include "eval/features.h"
#include "eval/methods.h"
#include "eval/mlp.h"
#include "eval/outcomes.h"
#include "eval/report.h"
#include "eval/seeds.h"
#include "world/dataset.h"

static void tmp_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "/tmp/disr_test_eval_%d_%s", (int)getpid(), name);
}

/* 3 agents (costs 0.1 / 0.5 / 0.9), 3 test queries:
 *   q0: all agents right; RL (balance) agent 0 answers (right)
 *   q1: only agents 1, 2 right; RL agent 0 rejects, agent 1 answers (right)
 *   q2: only agent 2 right; RL agent 0 answers (wrong)
 * SFT: agents 0 and 1 reject everything, so agent 2 (always answers) takes all. */
static void hand_table(struct outcome_table *t) {
    assert_int_equal(outcome_table_init(t, 3), DISR_OK);
    static const int correct[3][3] = {{1, 1, 1}, {0, 1, 1}, {0, 0, 1}};
    static const int rl_dec[3][2] = {{1, 1}, {0, 1}, {1, 0}};
    for (int q = 0; q < 3; q++) {
        char id[8];
        snprintf(id, sizeof id, "q%d", q);
        int qi = outcome_table_add_query(t, id, "fact", "what?", "x", "exact", OUT_SPLIT_TEST);
        assert_int_equal(qi, q);
        for (int a = 0; a < 3; a++) {
            struct outcome_cell *c = outcome_at(t, qi, a);
            c->correct = (uint8_t)correct[q][a];
            c->t_answer = 1.0f + a;
            c->t_reject = 0.1f;
            for (int s = 0; s < OUT_N_SCEN; s++) {
                c->decide[OUT_SFT][s] = a == 2 ? OUT_ANSWER : OUT_REJECT;
                c->dcorrect[OUT_SFT][s] = a == 2 ? (uint8_t)correct[q][a] : 0;
                int d = a < 2 ? rl_dec[q][a] : 1;
                c->decide[OUT_RL][s] = (int8_t)d;
                c->dcorrect[OUT_RL][s] = (uint8_t)(d && correct[q][a]);
            }
        }
    }
}

static struct eval_score route_score(const struct eval_fitted *f, enum eval_method m, double alpha,
                                     enum out_split split, const uint8_t *mask,
                                     struct eval_pick *picks) {
    int n = -1;
    assert_int_equal(eval_route(f, m, alpha, split, mask, picks, &n), DISR_OK);
    assert_int_equal(n, outcome_count_split(f->t, split));
    return eval_score_picks(picks, n, alpha);
}

static void test_utility_by_hand(void **state) {
    (void)state;
    struct outcome_table t;
    hand_table(&t);
    struct eval_fitted f = {.t = &t};
    struct eval_pick p[3];
    /* DiSRouter (+RL): q0 -> a0 right (0.1), q1 -> a1 right (0.5), q2 -> a0 wrong (0.1) */
    struct eval_score s = route_score(&f, EM_DISR_RL, 0.5, OUT_SPLIT_TEST, NULL, p);
    assert_int_equal(p[0].agent, 0);
    assert_int_equal(p[1].agent, 1);
    assert_int_equal(p[2].agent, 0);
    assert_float_equal(s.accuracy, 2.0 / 3, 1e-9);
    assert_float_equal(s.cost, 0.7 / 3, 1e-6);
    assert_float_equal(s.utility, 2.0 / 3 - 0.5 * 0.7 / 3, 1e-6);
    assert_float_equal(p[1].latency, 0.1 + 2.0, 1e-6); /* a reject of agent 0, then agent 1 */
    assert_int_equal(p[1].hops, 2);
    /* SFT: everyone passes to the last agent, which always answers = Largest */
    s = route_score(&f, EM_DISR_SFT, 0.2, OUT_SPLIT_TEST, NULL, p);
    assert_float_equal(s.accuracy, 1.0, 1e-9);
    assert_float_equal(s.utility, 1.0 - 0.2 * 0.9, 1e-6);
    assert_float_equal(p[0].latency, 0.1 + 0.1 + 3.0, 1e-6);
    /* Oracle: cheapest right agent per query */
    s = route_score(&f, EM_ORACLE, 0.5, OUT_SPLIT_TEST, NULL, p);
    assert_float_equal(s.utility, 1.0 - 0.5 * (0.1 + 0.5 + 0.9) / 3, 1e-6);
    s = route_score(&f, EM_SMALLEST, 0.8, OUT_SPLIT_TEST, NULL, p);
    assert_float_equal(s.utility, 1.0 / 3 - 0.8 * 0.1, 1e-6);
    s = route_score(&f, EM_LARGEST, 0.8, OUT_SPLIT_TEST, NULL, p);
    assert_float_equal(s.utility, 1.0 - 0.8 * 0.9, 1e-6);
    /* Modularity: drop agent 0. RL: q0 -> a1, q1 -> a1, q2 -> a2 (a1 rejects, the last answers) */
    const uint8_t keep[3] = {0, 1, 1};
    s = route_score(&f, EM_DISR_RL, 0.5, OUT_SPLIT_TEST, keep, p);
    assert_int_equal(p[0].agent, 1);
    assert_int_equal(p[2].agent, 2);
    assert_float_equal(s.utility, 1.0 - 0.5 * (0.5 + 0.5 + 0.9) / 3, 1e-6);
    /* DiSRouter outside its trained scenarios, and learned methods without a fit, are refused */
    int n;
    assert_int_equal(eval_route(&f, EM_DISR_RL, 0.3, OUT_SPLIT_TEST, NULL, p, &n), DISR_E_ARG);
    assert_int_equal(eval_route(&f, EM_MLP, 0.5, OUT_SPLIT_TEST, NULL, p, &n), DISR_E_STATE);
    const uint8_t none[3] = {0, 0, 0};
    assert_int_equal(eval_route(&f, EM_ORACLE, 0.5, OUT_SPLIT_TEST, none, p, &n), DISR_E_ARG);
    /* A missing decision is an error, not a silent answer */
    outcome_at(&t, 1, 1)->decide[OUT_RL][1] = OUT_UNKNOWN;
    assert_int_equal(eval_route(&f, EM_DISR_RL, 0.5, OUT_SPLIT_TEST, NULL, p, &n), DISR_E_STATE);
    assert_false(outcome_has_variant(&t, OUT_RL));
    assert_true(outcome_has_variant(&t, OUT_SFT));
    outcome_table_free(&t);
}

static void small_synth(struct outcome_synth_config *c, int signal, uint64_t seed) {
    outcome_synth_defaults(c);
    c->n_train = 600, c->n_test = 300, c->n_ood = 150;
    c->feature_signal = signal;
    c->seed = seed;
}

static void small_fit(struct eval_fit_config *c) {
    eval_fit_config_default(c);
    c->feat_dim = 256;
    c->epochs = 8;
    c->knn_k = 15;
}

static void test_jsonl_round_trip(void **state) {
    (void)state;
    struct outcome_synth_config sc;
    small_synth(&sc, 1, 3);
    sc.n_train = 40, sc.n_test = 20, sc.n_ood = 10;
    struct outcome_table a, b;
    assert_int_equal(outcome_table_synth(&a, &sc), DISR_OK);
    assert_int_equal(outcome_cell_set_forced(outcome_at(&a, 5, 2), "tab\t\"quoted\" é"), DISR_OK);
    outcome_at(&a, 6, 1)->decide[OUT_RL][2] = OUT_UNKNOWN;
    outcome_at(&a, 6, 1)->dcorrect[OUT_RL][2] = 0;
    a.q[7].difficulty = 0; /* a query without a level stays without one */
    char path[256];
    tmp_path(path, sizeof path, "rt.jsonl");
    assert_int_equal(outcome_table_save(&a, path), DISR_OK);
    assert_int_equal(outcome_table_load(&b, path), DISR_OK);
    assert_int_equal(b.n_agents, a.n_agents);
    assert_int_equal(b.n_queries, a.n_queries);
    for (int i = 0; i < a.n_agents; i++)
        assert_float_equal(b.cost[i], a.cost[i], 1e-12);
    for (int qi = 0; qi < a.n_queries; qi++) {
        assert_string_equal(a.q[qi].id, b.q[qi].id);
        assert_string_equal(a.q[qi].query, b.q[qi].query);
        assert_int_equal(a.q[qi].split, b.q[qi].split);
        assert_int_equal(a.q[qi].difficulty, b.q[qi].difficulty);
        assert_true(qi == 7 || (a.q[qi].difficulty >= 1 && a.q[qi].difficulty <= 4));
        for (int k = 0; k < a.n_agents; k++) {
            const struct outcome_cell *x = outcome_at(&a, qi, k), *y = outcome_at(&b, qi, k);
            assert_string_equal(x->forced, y->forced);
            assert_int_equal(x->correct, y->correct);
            assert_float_equal(x->conf, y->conf, 1e-6);
            assert_float_equal(x->verify, y->verify, 1e-6);
            assert_float_equal(x->t_answer, y->t_answer, 1e-6);
            assert_memory_equal(x->decide, y->decide, sizeof x->decide);
            assert_memory_equal(x->dcorrect, y->dcorrect, sizeof x->dcorrect);
        }
    }
    outcome_table_free(&a);
    outcome_table_free(&b);
    unlink(path);
}

/* Writes `text` to a file and expects loading it to fail with `status` and a message naming
 * `needle`. */
static void expect_load_error(const char *text, int status, const char *needle) {
    char path[256];
    tmp_path(path, sizeof path, "bad.jsonl");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    struct outcome_table t;
    disr_clear_error();
    int st = outcome_table_load(&t, path);
    if (st == DISR_OK) outcome_table_free(&t);
    if (st != status || !strstr(disr_last_error(), needle))
        fail_msg("loading %s: status %d, message '%s' (wanted %d, '%s')", text, st,
                 disr_last_error(), status, needle);
    unlink(path);
}

#define L0 "{\"qid\":\"a\",\"split\":\"test\",\"agent\":0,\"correct\":1"
#define L1 "{\"qid\":\"a\",\"split\":\"test\",\"agent\":1,\"correct\":0"

static void test_jsonl_malformed(void **state) {
    (void)state;
    expect_load_error("", DISR_E_FORMAT, "no records");
    expect_load_error(L0 "}\n{not json\n", DISR_E_FORMAT, ":2: not a JSON object");
    expect_load_error(L0 "}\n" L0 "}\n" L1 "}\n", DISR_E_FORMAT, "two lines for agent 0");
    expect_load_error(L1 "}\n", DISR_E_FORMAT, "no line for agent 0");
    expect_load_error(L0 ",\"conf\":1.5}\n", DISR_E_FORMAT, "\"conf\" = 1.5");
    expect_load_error("{\"qid\":\"a\",\"split\":\"dev\",\"agent\":0,\"correct\":1}\n",
                      DISR_E_FORMAT, "split \"dev\"");
    expect_load_error("{\"split\":\"test\",\"agent\":0,\"correct\":1}\n", DISR_E_FORMAT,
                      "missing \"qid\"");
    expect_load_error(L0
                      ",\"cost\":0.1}\n" L1 ",\"cost\":0.9}\n"
                      "{\"qid\":\"b\",\"split\":\"test\",\"agent\":0,\"correct\":1,\"cost\":0.2}\n"
                      "{\"qid\":\"b\",\"split\":\"test\",\"agent\":1,\"correct\":1,\"cost\":0.9}\n",
                      DISR_E_FORMAT, "agent 0 has costs");
    expect_load_error(L0 ",\"rl_answer\":[1,0]}\n", DISR_E_FORMAT, "array of 3");
    expect_load_error(L0 ",\"rl_answer\":[1,0,1],\"rl_correct\":[1,null,null]}\n", DISR_E_FORMAT,
                      "answers but");
    expect_load_error("{\"qid\":\"a\",\"split\":\"test\",\"agent\":2.5,\"correct\":1}\n",
                      DISR_E_FORMAT, "whole number");
    expect_load_error(L0 ",\"difficulty\":17}\n", DISR_E_FORMAT, "\"difficulty\" = 17");
    expect_load_error(L0 ",\"difficulty\":1.5}\n", DISR_E_FORMAT, "\"difficulty\" must be a whole");
    expect_load_error(L0 ",\"difficulty\":2}\n" L1 ",\"difficulty\":1}\n", DISR_E_FORMAT,
                      "difficulty 1 here and 2 before");
    expect_load_error(L0 ",\"difficulty\":2}\n" L1 "}\n", DISR_E_FORMAT,
                      "difficulty 0 here and 2 before");
    struct outcome_table t;
    assert_int_equal(outcome_table_load(&t, "/nonexistent/x.jsonl"), DISR_E_IO);
}

/* The int at key path a.b.c... of a JSON object, after checking every step exists. */
static const cJSON *json_at(const cJSON *o, const char *const *keys, int n) {
    for (int i = 0; i < n; i++) {
        o = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
        if (!o) fail_msg("summary.json: no \"%s\"", keys[i]);
    }
    return o;
}

static void assert_int_array(const cJSON *arr, const int *want, int n) {
    assert_true(cJSON_IsArray(arr));
    assert_int_equal(cJSON_GetArraySize(arr), n);
    for (int i = 0; i < n; i++)
        assert_int_equal(cJSON_GetArrayItem(arr, i)->valueint, want[i]);
}

/* Forced accuracy per family and level on the hand table, counted by hand: q0 (level 1, family
 * "fact") all right, q1 (level 3, "sum") agents 1 and 2 right, q2 (no level, "fact") agent 2. */
static void test_level_table(void **state) {
    (void)state;
    log_set_level(LOG_ERROR);
    struct outcome_table t;
    hand_table(&t);
    t.q[0].difficulty = 1, t.q[1].difficulty = 3, t.q[2].difficulty = 0;
    free(t.q[1].family);
    t.q[1].family = strdup("sum");
    char dir[256], path[300];
    tmp_path(dir, sizeof dir, "report");
    struct report_config rc;
    report_config_default(&rc);
    rc.out_dir = dir, rc.plots = 0, rc.print = NULL;
    assert_int_equal(report_run(&t, &rc), DISR_OK);
    snprintf(path, sizeof path, "%s/summary.json", dir);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(file_read_all(path, &text, &len), DISR_OK);
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    const cJSON *lv = json_at(j, (const char *[]){"level_accuracy", "test"}, 2);
    assert_int_array(json_at(lv, (const char *[]){"levels"}, 1), (int[]){1, 3}, 2);
    assert_int_equal(json_at(lv, (const char *[]){"no_level"}, 1)->valueint, 1);
    const cJSON *all = json_at(lv, (const char *[]){"all"}, 1);
    assert_int_array(json_at(all, (const char *[]){"n"}, 1), (int[]){1, 1}, 2);
    assert_int_equal(json_at(all, (const char *[]){"n_all"}, 1)->valueint, 3);
    const cJSON *cor = json_at(all, (const char *[]){"correct"}, 1);
    assert_int_array(cJSON_GetArrayItem(cor, 0), (int[]){1, 0}, 2);
    assert_int_array(cJSON_GetArrayItem(cor, 1), (int[]){1, 1}, 2);
    assert_int_array(cJSON_GetArrayItem(cor, 2), (int[]){1, 1}, 2);
    assert_int_array(json_at(all, (const char *[]){"correct_all"}, 1), (int[]){1, 2, 3}, 3);
    const cJSON *fact = json_at(lv, (const char *[]){"families", "fact"}, 2);
    assert_int_array(json_at(fact, (const char *[]){"n"}, 1), (int[]){1, 0}, 2);
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(
        cJSON_GetArrayItem(json_at(fact, (const char *[]){"accuracy"}, 1), 0), 1)));
    assert_int_array(json_at(fact, (const char *[]){"correct_all"}, 1), (int[]){1, 1, 2}, 3);
    const cJSON *sum = json_at(lv, (const char *[]){"families", "sum"}, 2);
    assert_int_array(json_at(sum, (const char *[]){"n"}, 1), (int[]){0, 1}, 2);
    assert_null(
        cJSON_GetObjectItemCaseSensitive(json_at(j, (const char *[]){"level_accuracy"}, 1), "ood"));
    cJSON_Delete(j);
    free(text);
    snprintf(path, sizeof path, "%s/report.md", dir);
    assert_int_equal(file_read_all(path, &text, &len), DISR_OK);
    assert_non_null(strstr(text, "| Family | Agent | level 1 | level 3 | no level | all |"));
    assert_non_null(strstr(text, "| all families | agent 1 | 1.000 | 1.000 | 0.000 | 0.667 |"));
    assert_non_null(strstr(text, "| sum | agent 0 | – | 0.000 | – | 0.000 |"));
    free(text);

    /* No level anywhere: the section says so and summary.json has no per-level table. */
    for (int qi = 0; qi < t.n_queries; qi++)
        t.q[qi].difficulty = 0;
    assert_int_equal(report_run(&t, &rc), DISR_OK);
    assert_int_equal(file_read_all(path, &text, &len), DISR_OK);
    assert_non_null(strstr(text, "carry no difficulty level"));
    assert_null(strstr(text, "| Family | Agent |"));
    free(text);
    outcome_table_free(&t);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    log_set_level(LOG_INFO);
}

/* Finite-difference check of the MLP's backward pass on a tiny net. */
static void test_mlp_gradients(void **state) {
    (void)state;
    struct mlp n;
    const int I = 5, H = 4, O = 3, B = 6;
    assert_int_equal(mlp_init(&n, I, H, O, B, 11), DISR_OK);
    struct rng r;
    rng_init(&r, 5);
    float x[B * I], y[B * O], mask[B * O], logits[B * O];
    for (int i = 0; i < B * I; i++)
        x[i] = rng_normal(&r);
    for (int i = 0; i < B * O; i++)
        y[i] = (float)rng_below(&r, 2), mask[i] = i % 5 ? 1.0f : 0.0f;
    for (int i = 0; i < H; i++)
        n.b1[i] = 0.3f; /* keep ReLUs away from the kink */
    assert_int_equal(mlp_forward(&n, x, B, logits), DISR_OK);
    mlp_bce_loss(&n, logits, y, mask, B);
    mlp_backward(&n, x, B);
    float *grad = malloc((size_t)n.n_params * sizeof *grad);
    memcpy(grad, n.grads, (size_t)n.n_params * sizeof *grad);
    double max_err = 0;
    for (int64_t i = 0; i < n.n_params; i++) {
        float keep = n.params[i], eps = 1e-2f;
        n.params[i] = keep + eps;
        mlp_forward(&n, x, B, logits);
        double lp = mlp_bce_loss(&n, logits, y, mask, B);
        n.params[i] = keep - eps;
        mlp_forward(&n, x, B, logits);
        double lm = mlp_bce_loss(&n, logits, y, mask, B);
        n.params[i] = keep;
        double err = fabs((lp - lm) / (2 * eps) - grad[i]);
        if (err > max_err) max_err = err;
    }
    assert_true(max_err < 2e-3);
    free(grad);
    /* Training reduces the loss on a learnable target (y = x0 > 0). */
    float loss0, loss1;
    for (int i = 0; i < B * O; i++)
        y[i] = x[(i / O) * I] > 0;
    mlp_forward(&n, x, B, logits);
    loss0 = mlp_bce_loss(&n, logits, y, NULL, B);
    struct mlp_train_config tc = {.epochs = 200, .batch = B, .lr = 1e-2f, .seed = 1};
    log_set_level(LOG_WARN);
    assert_int_equal(mlp_train(&n, x, y, NULL, B, &tc, "test", &loss1), DISR_OK);
    log_set_level(LOG_INFO);
    assert_true(loss1 < 0.5 * loss0);
    assert_int_equal(mlp_forward(&n, x, B + 1, logits), DISR_E_RANGE);
    mlp_free(&n);
}

static void test_features(void **state) {
    (void)state;
    float a[64] = {0}, b[64] = {0}, c[64] = {0};
    feat_add_text(a, 64, "capital of Zorbat", 0);
    feat_add_text(b, 64, "CAPITAL of zorbat", 0);
    feat_add_text(c, 64, "capital of Zorbat", 1);
    feat_normalize(a, 64), feat_normalize(b, 64), feat_normalize(c, 64);
    double ab = 0, ac = 0, aa = 0;
    for (int i = 0; i < 64; i++)
        ab += a[i] * b[i], ac += a[i] * c[i], aa += a[i] * a[i];
    assert_float_equal(aa, 1.0, 1e-5);
    assert_float_equal(ab, 1.0, 1e-5); /* case-insensitive */
    assert_true(ac < 0.6);             /* a different salt is a different feature space */
}

/* On every synthetic world, no method beats the Oracle, and each method's utility is what its
 * accuracy and cost say; cascade thresholds do at least as well on training data as the
 * cheapest fixed policy they can express (answer at agent 0). */
static void test_oracle_bounds_every_method(void **state) {
    (void)state;
    log_set_level(LOG_WARN);
    struct outcome_synth_config sc;
    small_synth(&sc, 1, 21);
    struct outcome_table t;
    assert_int_equal(outcome_table_synth(&t, &sc), DISR_OK);
    struct eval_fit_config fc;
    small_fit(&fc);
    struct eval_fitted f;
    assert_int_equal(eval_fit(&f, &t, &fc), DISR_OK);
    struct eval_pick *p = malloc((size_t)t.n_queries * sizeof *p);
    static const double alphas[3] = {0.2, 0.5, 0.8};
    for (int s = OUT_SPLIT_TEST; s <= OUT_SPLIT_OOD; s++)
        for (int ai = 0; ai < 3; ai++) {
            double oracle = route_score(&f, EM_ORACLE, alphas[ai], s, NULL, p).utility;
            for (int m = 0; m < EM_COUNT; m++) {
                struct eval_score sc2 = route_score(&f, m, alphas[ai], s, NULL, p);
                if (sc2.utility > oracle + 1e-9)
                    fail_msg("%s beats the Oracle (%.4f > %.4f) at alpha %g on %s",
                             eval_method_name(m), sc2.utility, oracle, alphas[ai],
                             outcome_split_name(s));
                assert_true(fabs(sc2.utility - (sc2.accuracy - alphas[ai] * sc2.cost)) < 1e-9);
                for (int i = 0; i < sc2.n; i++) {
                    assert_true(p[i].agent >= 0 && p[i].agent < t.n_agents);
                    assert_true(p[i].cost_calls >= p[i].cost - 1e-6);
                }
            }
        }
    for (int m = EM_CONF; m <= EM_FRUGAL; m++)
        for (int ai = 0; ai < 3; ai++) {
            float th[OUT_MAX_AGENTS];
            assert_int_equal(eval_fit_thresholds(&f, m, alphas[ai], NULL, th), DISR_OK);
            double fitted = route_score(&f, m, alphas[ai], OUT_SPLIT_TRAIN, NULL, p).utility;
            double smallest =
                route_score(&f, EM_SMALLEST, alphas[ai], OUT_SPLIT_TRAIN, NULL, p).utility;
            assert_true(fitted >= smallest - 1e-9);
        }
    /* Random is reproducible and spreads over all agents */
    struct eval_pick *p2 = malloc((size_t)t.n_queries * sizeof *p2);
    int n, n2, seen[OUT_MAX_AGENTS] = {0};
    assert_int_equal(eval_route(&f, EM_RANDOM, 0.5, OUT_SPLIT_TEST, NULL, p, &n), DISR_OK);
    assert_int_equal(eval_route(&f, EM_RANDOM, 0.5, OUT_SPLIT_TEST, NULL, p2, &n2), DISR_OK);
    assert_memory_equal(p, p2, (size_t)n * sizeof *p);
    for (int i = 0; i < n; i++)
        seen[p[i].agent]++;
    for (int a = 0; a < t.n_agents; a++)
        assert_true(seen[a] > n / (2 * t.n_agents));
    /* With the query text carrying difficulty, the learned routers beat Random at balance */
    double rnd = eval_score_picks(p, n, 0.5).utility;
    assert_true(route_score(&f, EM_MLP, 0.5, OUT_SPLIT_TEST, NULL, p).utility > rnd);
    assert_true(route_score(&f, EM_KNN, 0.5, OUT_SPLIT_TEST, NULL, p).utility > rnd);
    free(p), free(p2);
    eval_fitted_free(&f);
    outcome_table_free(&t);
    log_set_level(LOG_INFO);
}

/* A calibrated self-aware chain (RL decisions are exactly "P(correct) > (1 - alpha)^0.5") beats
 * central routers whose query text is noise, at every alpha, in domain and out of domain. */
static void test_self_awareness_beats_blind_routers(void **state) {
    (void)state;
    log_set_level(LOG_WARN);
    struct outcome_synth_config sc;
    small_synth(&sc, 0, 99);
    sc.rl_noise = 0;
    struct outcome_table t;
    assert_int_equal(outcome_table_synth(&t, &sc), DISR_OK);
    struct eval_fit_config fc;
    small_fit(&fc);
    struct eval_fitted f;
    assert_int_equal(eval_fit(&f, &t, &fc), DISR_OK);
    struct eval_pick *p = malloc((size_t)t.n_queries * sizeof *p);
    static const double alphas[3] = {0.2, 0.5, 0.8};
    for (int s = OUT_SPLIT_TEST; s <= OUT_SPLIT_OOD; s++)
        for (int ai = 0; ai < 3; ai++) {
            double disr = route_score(&f, EM_DISR_RL, alphas[ai], s, NULL, p).utility;
            static const int central[] = {EM_MLP, EM_KNN, EM_RANDOM, EM_SMALLEST, EM_LARGEST};
            for (size_t k = 0; k < sizeof central / sizeof *central; k++) {
                double u = route_score(&f, central[k], alphas[ai], s, NULL, p).utility;
                if (!(disr > u))
                    fail_msg("calibrated DiSRouter %.4f <= %s %.4f at alpha %g (%s)", disr,
                             eval_method_name(central[k]), u, alphas[ai], outcome_split_name(s));
            }
        }
    free(p);
    eval_fitted_free(&f);
    outcome_table_free(&t);
    log_set_level(LOG_INFO);
}

/* A summary.json with the figures seeds_report reads: DiSRouter (+RL) utility u at every alpha,
 * the Oracle's o, a forced-accuracy row (3 of 4 and 1 of 4 right) and two claims. */
static void write_summary(const char *path, double u, double o, int second_holds) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"tables\":{\"test\":{");
    for (int m = 0; m < 2; m++) {
        fprintf(f, "%s\"%s\":{", m ? "," : "", m ? "oracle" : "disr_rl");
        const char *a[3] = {"0.2", "0.5", "0.8"};
        for (int k = 0; k < 3; k++)
            fprintf(f, "%s\"%s\":{\"utility\":%g,\"accuracy\":0.9,\"cost\":0.25}", k ? "," : "",
                    a[k], m ? o : u);
        fprintf(f, "}");
    }
    fprintf(f,
            "}},\"level_accuracy\":{\"test\":{\"all\":{\"n_all\":4,\"correct_all\":[3,1]}}},"
            "\"claims\":[{\"claim\":\"first\",\"holds\":true},"
            "{\"claim\":\"second\",\"holds\":%s}]}\n",
            second_holds ? "true" : "false");
    fclose(f);
}

/* Means, ranges, shares of the Oracle and per-seed claim verdicts over two summaries; a
 * missing summary is an error that names it. */
static void test_seeds_report(void **state) {
    (void)state;
    char dir[] = "/tmp/disr_test_seeds_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char a[128], b[128], js[128];
    snprintf(a, sizeof a, "%s/a.json", dir);
    snprintf(b, sizeof b, "%s/b.json", dir);
    snprintf(js, sizeof js, "%s/seeds.json", dir);
    write_summary(a, 0.6, 0.8, 1);
    write_summary(b, 0.4, 0.8, 0);
    const char *paths[2] = {a, b};
    const int seeds[2] = {1, 2};
    char *text = NULL;
    size_t len = 0;
    FILE *md = open_memstream(&text, &len);
    assert_int_equal(seeds_report(paths, seeds, 2, md, js), DISR_OK);
    fclose(md);
    assert_non_null(strstr(text, "| DiSRouter (+RL) utility | 0.500 (0.400 – 0.600) |"));
    assert_non_null(strstr(text, "| % of Oracle utility | 62.5 % (50.0 – 75.0) |"));
    assert_non_null(strstr(text, "agent0 75.0 % (75.0 – 75.0); agent1 25.0 %"));
    assert_non_null(strstr(text, "| second | holds | **fails** |"));
    free(text);
    const char *missing[2] = {a, "/nonexistent/summary.json"};
    md = open_memstream(&text, &len);
    assert_true(seeds_report(missing, seeds, 2, md, NULL) < 0);
    fclose(md);
    free(text);
    unlink(a), unlink(b), unlink(js), rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utility_by_hand),
        cmocka_unit_test(test_seeds_report),
        cmocka_unit_test(test_jsonl_round_trip),
        cmocka_unit_test(test_jsonl_malformed),
        cmocka_unit_test(test_level_table),
        cmocka_unit_test(test_mlp_gradients),
        cmocka_unit_test(test_features),
        cmocka_unit_test(test_oracle_bounds_every_method),
        cmocka_unit_test(test_self_awareness_beats_blind_routers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
