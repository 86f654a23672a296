/* Unit tests for self-awareness training logic: SFT target construction (p̂ thresholds, 50/50
 * balance per scenario, the last agent, oversampling) and GRPO rewards, advantages and
 * per-token weights (checked against the KL k3 gradient by finite differences). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/stats.h"
#include "model/tokenizer.h"
#include "world/scenario.h"
#include "train/sa.h"
#include "train/sa_grpo.h"
#include "train/sa_internal.h"
#include "train/sa_pack.h"
#include "train/sa_target.h"

static void test_min_correct_matches_thresholds(void **state) {
    (void)state;
    /* delta = 1 - alpha: 0.8 / 0.5 / 0.2 of 8 samples -> 6.4 / 4 / 1.6 -> 7 / 4 / 2 */
    assert_int_equal(sa_min_correct(0.2, 8), 7);
    assert_int_equal(sa_min_correct(0.5, 8), 4);
    assert_int_equal(sa_min_correct(0.8, 8), 2);
    /* exact boundaries count as "p̂ >= delta" */
    assert_int_equal(sa_min_correct(0.2, 10), 8);
    assert_int_equal(sa_min_correct(0.8, 10), 2);
    assert_int_equal(sa_min_correct(0.5, 1), 1);
}

/* Counts examples by (scenario, reject) and checks each example's label against p̂. */
static void check_labels(const struct sa_example *ex, int n, const int *nc, int n_samples,
                         int count[4][2]) {
    memset(count, 0, sizeof(int) * 8);
    for (int i = 0; i < n; i++) {
        int s = ex[i].scenario;
        assert_true(s >= SCENARIO_PERFORMANCE && s <= SCENARIO_COST);
        double p = (double)nc[ex[i].query] / n_samples;
        double delta = 1.0 - scenario_alpha((enum scenario)s);
        if (ex[i].reject)
            assert_true(p < delta - 1e-12);
        else
            assert_true(p >= delta - 1e-12);
        count[s][ex[i].reject]++;
    }
}

static void test_targets_threshold_and_balance(void **state) {
    (void)state;
    /* 9 queries with 0..8 correct of 8 samples, repeated 3 times: 27 queries. */
    int nc[27];
    for (int i = 0; i < 27; i++)
        nc[i] = i % 9;
    struct sa_example ex[6 * 27];
    struct sa_target_stats st;
    int n = 0;
    assert_int_equal(sa_build_targets(nc, NULL, 27, 8, false, 0, 7, ex, &n, &st), DISR_OK);
    /* answer pools: PF k>=7 -> 2 of 9, B k>=4 -> 5 of 9, CF k>=2 -> 7 of 9 */
    assert_int_equal(st.answer_pool[0], 6);
    assert_int_equal(st.reject_pool[0], 21);
    assert_int_equal(st.answer_pool[1], 15);
    assert_int_equal(st.reject_pool[1], 12);
    assert_int_equal(st.answer_pool[2], 21);
    assert_int_equal(st.reject_pool[2], 6);
    int count[4][2];
    check_labels(ex, n, nc, 8, count);
    /* 50/50 per scenario, majority subsampled to the minority */
    assert_int_equal(count[1][0], 6);
    assert_int_equal(count[1][1], 6);
    assert_int_equal(count[2][0], 12);
    assert_int_equal(count[2][1], 12);
    assert_int_equal(count[3][0], 6);
    assert_int_equal(count[3][1], 6);
    assert_int_equal(n, 48);
    /* subsampling keeps distinct queries */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            assert_false(ex[i].query == ex[j].query && ex[i].scenario == ex[j].scenario);
    /* scenarios are mixed, not in blocks: the first 12 examples are not all one scenario */
    int first = ex[0].scenario, mixed = 0;
    for (int i = 1; i < 12; i++)
        mixed |= ex[i].scenario != first;
    assert_true(mixed);
}

static void test_targets_deterministic_under_seed(void **state) {
    (void)state;
    int nc[50];
    for (int i = 0; i < 50; i++)
        nc[i] = (i * 7) % 9;
    struct sa_example a[300], b[300], c[300];
    int na, nb, nc2;
    assert_int_equal(sa_build_targets(nc, NULL, 50, 8, false, 0, 1, a, &na, NULL), DISR_OK);
    assert_int_equal(sa_build_targets(nc, NULL, 50, 8, false, 0, 1, b, &nb, NULL), DISR_OK);
    assert_int_equal(sa_build_targets(nc, NULL, 50, 8, false, 0, 2, c, &nc2, NULL), DISR_OK);
    assert_int_equal(na, nb);
    assert_int_equal(na, nc2);
    int differ = 0;
    for (int i = 0; i < na; i++) {
        assert_int_equal(a[i].query, b[i].query);
        assert_int_equal(a[i].scenario, b[i].scenario);
        assert_int_equal(a[i].reject, b[i].reject);
        differ += a[i].query != c[i].query || a[i].scenario != c[i].scenario;
    }
    assert_true(differ > 0);
}

static void test_targets_oversample_minority(void **state) {
    (void)state;
    /* A strong agent: 40 queries all correct, 3 never correct. Balance alone keeps 3+3 per
     * scenario; min_side 10 oversamples the 3 rejects to 10, still 50/50. */
    int nc[43];
    for (int i = 0; i < 43; i++)
        nc[i] = i < 40 ? 8 : 0;
    struct sa_example ex[6 * 43];
    int n, count[4][2];
    assert_int_equal(sa_build_targets(nc, NULL, 43, 8, false, 0, 3, ex, &n, NULL), DISR_OK);
    check_labels(ex, n, nc, 8, count);
    for (int s = 1; s <= 3; s++)
        assert_int_equal(count[s][0], 3), assert_int_equal(count[s][1], 3);
    assert_int_equal(sa_build_targets(nc, NULL, 43, 8, false, 10, 3, ex, &n, NULL), DISR_OK);
    check_labels(ex, n, nc, 8, count);
    for (int s = 1; s <= 3; s++) {
        assert_int_equal(count[s][0], 10);
        assert_int_equal(count[s][1], 10);
    }
    /* every one of the 3 reject queries appears (whole passes before repeats) */
    int seen[3] = {0};
    for (int i = 0; i < n; i++)
        if (ex[i].reject && ex[i].scenario == SCENARIO_BALANCE) seen[ex[i].query - 40]++;
    for (int k = 0; k < 3; k++)
        assert_true(seen[k] >= 3 && seen[k] <= 4);
}

static void test_targets_last_agent_never_rejects(void **state) {
    (void)state;
    int nc[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 8};
    bool has[10];
    for (int i = 0; i < 10; i++)
        has[i] = nc[i] > 0;
    struct sa_example ex[60];
    int n, count[4][2];
    assert_int_equal(sa_build_targets(nc, has, 10, 8, true, 0, 5, ex, &n, NULL), DISR_OK);
    assert_int_equal(n, 27); /* 9 queries with a correct sample x 3 scenarios */
    memset(count, 0, sizeof count);
    for (int i = 0; i < n; i++) {
        assert_false(ex[i].reject);
        assert_true(nc[ex[i].query] > 0);
        count[ex[i].scenario][0]++;
    }
    for (int s = 1; s <= 3; s++)
        assert_int_equal(count[s][0], 9);
}

static void test_targets_skip_answers_without_text_and_bad_input(void **state) {
    (void)state;
    int nc[4] = {8, 8, 0, 0};
    bool has[4] = {true, false, false, false};
    struct sa_example ex[24];
    int n;
    struct sa_target_stats st;
    assert_int_equal(sa_build_targets(nc, has, 4, 8, false, 0, 5, ex, &n, &st), DISR_OK);
    for (int s = 0; s < 3; s++)
        assert_int_equal(st.answer_pool[s], 1);
    for (int i = 0; i < n; i++)
        assert_true(ex[i].reject || ex[i].query == 0);
    nc[1] = 9;
    assert_int_equal(sa_build_targets(nc, has, 4, 8, false, 0, 5, ex, &n, &st), DISR_E_ARG);
    assert_true(strstr(disr_last_error(), "query 1") != NULL);
}

/* Balance by weight: every usable query in every scenario, each side half the loss mass
 * (capped), so one query is answered under one slot and rejected under another. */
static void test_targets_weighted_contrast_and_mass(void **state) {
    (void)state;
    int nc[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 8};
    bool has[10];
    for (int i = 0; i < 10; i++)
        has[i] = nc[i] > 0;
    struct sa_example ex[30];
    int n;
    struct sa_target_stats st;
    assert_int_equal(sa_build_targets_weighted(nc, has, 10, 8, false, 4.0f, 3, ex, &n, &st),
                     DISR_OK);
    assert_int_equal(n, 30); /* every query, every scenario */
    /* PF: 7/8 needed -> 3 answers (7, 8, 8), 7 rejects; CF: 2/8 -> 8 answers, 2 rejects */
    assert_int_equal(st.answer_pool[0], 3);
    assert_int_equal(st.reject_pool[0], 7);
    assert_int_equal(st.answer_pool[2], 8);
    assert_int_equal(st.reject_pool[2], 2);
    double mass[4][2] = {{0}};
    int label[10][4];
    for (int i = 0; i < n; i++) {
        mass[ex[i].scenario][ex[i].reject] += ex[i].weight;
        label[ex[i].query][ex[i].scenario] = ex[i].reject;
        assert_true(ex[i].weight >= 1.0f / 16 && ex[i].weight <= 4.0f);
    }
    for (int s = 1; s <= 3; s++)
        assert_float_equal(mass[s][0], mass[s][1], 1e-4);
    assert_float_equal(mass[1][0], 5.0, 1e-4); /* 10 / 2 per side */
    /* query 5 (5/8): rejected under P, answered under B and C: the contrast */
    assert_int_equal(label[5][1], 1);
    assert_int_equal(label[5][2], 0);
    assert_int_equal(label[5][3], 0);
    /* a cap: 1 answer of 10 would weigh 5 -> capped at 2 */
    int one[10] = {8, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(sa_build_targets_weighted(one, NULL, 10, 8, false, 2.0f, 3, ex, &n, &st),
                     DISR_OK);
    for (int i = 0; i < n; i++)
        if (!ex[i].reject) assert_float_equal(ex[i].weight, 2.0, 1e-6);
    /* the last agent: answers only, weight 1, queries without a correct sample left out */
    assert_int_equal(sa_build_targets_weighted(nc, has, 10, 8, true, 4.0f, 3, ex, &n, &st),
                     DISR_OK);
    assert_int_equal(n, 27);
    for (int i = 0; i < n; i++)
        assert_true(!ex[i].reject && ex[i].weight == 1.0f);
    assert_int_equal(sa_build_targets_weighted(nc, has, 10, 8, false, 0.5f, 3, ex, &n, &st),
                     DISR_E_ARG);
}

/* A reject's tail (its fixed text after the decision) weighs reject_tail_weight; its decision
 * keeps the balance weight; an answer's tokens all keep it; 0 leaves the tail as the decision. */
static void test_reject_tail_weight(void **state) {
    (void)state;
    struct sa_example rej = {.query = 0, .scenario = 1, .reject = 1, .weight = 0.52f};
    struct sa_example ans = {.query = 1, .scenario = 1, .reject = 0, .weight = 4.0f};
    assert_float_equal(sa_target_tail_weight(&rej, 4.0f), 4.0, 0);
    assert_float_equal(sa_target_tail_weight(&rej, 0.0f), 0.52, 1e-7);
    assert_float_equal(sa_target_tail_weight(&ans, 4.0f), 4.0, 0);
    ans.weight = 0.25f;
    assert_float_equal(sa_target_tail_weight(&ans, 4.0f), 0.25, 0);
}

static void test_reward_values(void **state) {
    (void)state;
    assert_float_equal(sa_reward(false, true, 0.2), 1.0, 0);
    assert_float_equal(sa_reward(false, false, 0.8), 0.0, 0);
    assert_float_equal(sa_reward(true, false, 0.2), sqrt(0.8), 1e-6);
    assert_float_equal(sa_reward(true, true, 0.5), sqrt(0.5), 1e-6);
    assert_float_equal(sa_reward(true, false, 0.8), sqrt(0.2), 1e-6);
}

static void test_grpo_advantages(void **state) {
    (void)state;
    float r[8] = {1, 0, 0, 1, 1, 0, 0, 0}, a[8];
    sa_grpo_advantages(r, 8, 1e-6f, a);
    /* mean 3/8, population std sqrt(3/8 * 5/8) */
    double sd = sqrt(3.0 / 8 * 5.0 / 8);
    assert_float_equal(a[0], (1 - 3.0 / 8) / sd, 1e-4);
    assert_float_equal(a[1], (0 - 3.0 / 8) / sd, 1e-4);
    double sum = 0, sq = 0;
    for (int i = 0; i < 8; i++)
        sum += a[i], sq += a[i] * a[i];
    assert_float_equal(sum, 0, 1e-5);
    assert_float_equal(sq / 8, 1, 1e-4);
    /* equal rewards: no signal */
    float e[4] = {0.707f, 0.707f, 0.707f, 0.707f}, ae[4];
    sa_grpo_advantages(e, 4, 1e-6f, ae);
    for (int i = 0; i < 4; i++)
        assert_float_equal(ae[i], 0, 0);
    /* reject vs wrong in Cost First: the reject is better than the mean */
    float m[2] = {sa_reward(true, false, 0.8), sa_reward(false, false, 0.8)}, am[2];
    sa_grpo_advantages(m, 2, 1e-6f, am);
    assert_true(am[0] > 0.99f && am[1] < -0.99f);
}

/* The weights must be the gradient of L = -A * sum logp + beta * sum k3 with respect to each
 * logp[t], negated (weighted CE: dL/dlogp = -w). Check by central differences. */
static void test_grpo_token_weights_are_the_loss_gradient(void **state) {
    (void)state;
    float logp[4] = {-0.1f, -2.0f, -0.7f, -3.5f}, ref[4] = {-0.3f, -1.0f, -0.7f, -5.0f}, w[4];
    float adv = 0.8f, beta = 0.25f;
    struct sa_credit all4 = {0, 4};
    float kl = sa_grpo_token_weights(adv, all4, logp, ref, 4, beta, w);
    double kl_direct = 0;
    for (int t = 0; t < 4; t++) {
        double d = ref[t] - logp[t];
        kl_direct += exp(d) - d - 1;
        double h = 1e-3, lp = logp[t];
        double d1 = ref[t] - (lp + h), d0 = ref[t] - (lp - h);
        double l1 = -adv * (lp + h) + beta * (exp(d1) - d1 - 1);
        double l0 = -adv * (lp - h) + beta * (exp(d0) - d0 - 1);
        double grad = (l1 - l0) / (2 * h);
        assert_float_equal(w[t], -grad, 1e-4);
    }
    assert_float_equal(kl, kl_direct, 1e-5);
    assert_true(kl >= 0);
    /* equal policies: the KL term vanishes and the weight is the advantage */
    sa_grpo_token_weights(adv, all4, ref, ref, 4, beta, w);
    for (int t = 0; t < 4; t++)
        assert_float_equal(w[t], adv, 1e-7);
    /* credit on the first token only: the others keep exactly the KL term, the KL is unchanged */
    float w1[4];
    assert_float_equal(sa_grpo_token_weights(adv, (struct sa_credit){0, 1}, logp, ref, 4, beta, w1),
                       kl, 1e-6);
    sa_grpo_token_weights(adv, all4, logp, ref, 4, beta, w);
    assert_float_equal(w1[0], w[0], 1e-7);
    for (int t = 1; t < 4; t++)
        assert_float_equal(w1[t], w[t] - adv, 1e-6);
}

/* A reject credits its decision (first token) only; an answer all its tokens; a broken reject
 * from its departure under the default rule, all under the decision rule; whole: everything. */
static void test_grpo_credits_a_reject_by_its_decision(void **state) {
    (void)state;
    struct sa_credit c = sa_grpo_credit(SA_CREDIT_DEPARTURE, true, -1, 14);
    assert_int_equal(c.first, 0);
    assert_int_equal(c.end, 1);
    c = sa_grpo_credit(SA_CREDIT_DECISION, true, -1, 14);
    assert_int_equal(c.end, 1);
    c = sa_grpo_credit(SA_CREDIT_WHOLE, true, -1, 14);
    assert_int_equal(c.end, 14);
    c = sa_grpo_credit(SA_CREDIT_DEPARTURE, false, -1, 5);
    assert_int_equal(c.first, 0);
    assert_int_equal(c.end, 5);
    c = sa_grpo_credit(SA_CREDIT_DEPARTURE, true, -1, 0);
    assert_int_equal(c.end, 0);
    /* "I d d..." departs at token 3: the decision and "I d" keep the KL term alone */
    c = sa_grpo_credit(SA_CREDIT_DEPARTURE, false, 3, 9);
    assert_int_equal(c.first, 3);
    assert_int_equal(c.end, 9);
    c = sa_grpo_credit(SA_CREDIT_DECISION, false, 3, 9);
    assert_int_equal(c.first, 0);
    c = sa_grpo_credit(SA_CREDIT_WHOLE, false, 3, 9);
    assert_int_equal(c.first, 0);
    /* token weights: the advantage on [first, end) only */
    float logp[6] = {-1, -1, -1, -1, -1, -1}, w[6];
    sa_grpo_token_weights(-0.5f, (struct sa_credit){2, 5}, logp, logp, 6, 0.1f, w);
    for (int t = 0; t < 6; t++)
        assert_float_equal(w[t], t >= 2 && t < 5 ? -0.5f : 0.0f, 1e-7);
}

/* The token holding a byte of the encoded text: where a broken reject's credit starts. */
static void test_pack_token_at(void **state) {
    (void)state;
    struct tokenizer *tok = NULL;
    assert_int_equal(tokenizer_init_char(&tok, "", 0), DISR_OK);
    const char *text = "I d don't know!";
    int32_t ids[32];
    int n = 0;
    assert_int_equal(tokenizer_encode(tok, text, strlen(text), ids, 32, &n), DISR_OK);
    int at = scenario_broken_reject_departure(text);
    assert_int_equal(sa_pack_token_at(tok, ids, n, at), 3);
    assert_int_equal(sa_pack_token_at(tok, ids, n, 0), 0);
    assert_int_equal(sa_pack_token_at(tok, ids, n, n - 1), n - 1);
    assert_int_equal(sa_pack_token_at(tok, ids, n, n), -1);
    assert_int_equal(sa_pack_token_at(tok, ids, n, -1), -1);
    tokenizer_free(tok);
}

/* Two sequences share a row, a third that does not fit opens the next row; weights sit exactly
 * on the predictions of response tokens, targets are inputs shifted by one. */
static void test_pack_layout(void **state) {
    (void)state;
    struct sa_pack p;
    assert_int_equal(sa_pack_init(&p, 8, 2, 99), DISR_OK);
    int32_t a[4] = {10, 11, 12, 13}; /* prompt 10 11, response 12 13 */
    int32_t b[3] = {20, 21, 22};     /* prompt 20 21, response 22 */
    int32_t c[6] = {30, 31, 32, 33, 34, 35};
    float wb[1] = {-0.5f};
    int row, off;
    assert_int_equal(sa_pack_add(&p, a, 4, 2, NULL, &row, &off), DISR_OK);
    assert_int_equal(row, 0);
    assert_int_equal(off, 0);
    assert_int_equal(sa_pack_add(&p, b, 3, 2, wb, &row, &off), DISR_OK);
    assert_int_equal(row, 0);
    assert_int_equal(off, 4);
    assert_true(sa_pack_fits(&p, 6));
    assert_int_equal(sa_pack_add(&p, c, 6, 5, NULL, &row, &off), DISR_OK);
    assert_int_equal(row, 1);
    assert_int_equal(off, 0);
    int32_t in0[8] = {10, 11, 12, 13, 20, 21, 22, 99}, tg0[8] = {11, 12, 13, 20, 21, 22, 99, 99};
    float w0[8] = {0, 1, 1, 0, 0, -0.5f, 0, 0};
    assert_memory_equal(p.inputs, in0, sizeof in0);
    assert_memory_equal(p.targets, tg0, sizeof tg0);
    for (int i = 0; i < 8; i++)
        assert_float_equal(p.weights[i], w0[i], 0);
    assert_int_equal(p.targets[8 + 4], 35);
    assert_float_equal(p.weights[8 + 4], 1, 0);
    assert_float_equal(p.weights[8 + 3], 0, 0);
    /* a 9-token sequence fills a row of T = 8 exactly (T+1 stream tokens); 10 does not fit */
    int32_t big[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    assert_false(sa_pack_fits(&p, 9)); /* both rows used */
    sa_pack_reset(&p);
    assert_int_equal(p.weights[1], 0);
    assert_int_equal(sa_pack_add(&p, big, 9, 1, NULL, &row, &off), DISR_OK);
    assert_int_equal(p.targets[7], 9);
    assert_int_equal(sa_pack_add(&p, big, 10, 1, NULL, &row, &off), DISR_E_RANGE);
    assert_int_equal(sa_pack_add(&p, big, 3, 0, NULL, &row, &off), DISR_E_RANGE);
    assert_int_equal(sa_pack_add(&p, big, 9, 1, NULL, &row, &off), DISR_OK);
    assert_int_equal(sa_pack_add(&p, big, 2, 1, NULL, &row, &off), DISR_E_NOMEM);
    sa_pack_free(&p);
}

static void test_samples_cache_roundtrip_and_mismatch(void **state) {
    (void)state;
    struct sa_samples s;
    assert_int_equal(sa_samples_alloc(&s, 3, 8), DISR_OK);
    s.n_correct[0] = 8, s.own_answer[0] = strdup("yak");
    s.n_correct[1] = 0;
    s.n_correct[2] = 3, s.own_answer[2] = strdup("a \"quoted\" \\ answer");
    s.first_sample[0] = strdup("yak"), s.first_sample[2] = strdup("wrong");
    char path[] = "/tmp/test_sa_samples_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(sa_samples_save(&s, 77, path), DISR_OK);
    struct sa_samples r;
    assert_int_equal(sa_samples_load(&r, 3, 8, 77, path), DISR_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r.n_correct[i], s.n_correct[i]);
        if (s.own_answer[i])
            assert_string_equal(r.own_answer[i], s.own_answer[i]);
        else
            assert_null(r.own_answer[i]);
        if (s.first_sample[i])
            assert_string_equal(r.first_sample[i], s.first_sample[i]);
        else
            assert_null(r.first_sample[i]);
    }
    sa_samples_free(&r);
    /* another seed, N or data size: refused, so a stale cache is never used */
    assert_int_equal(sa_samples_load(&r, 3, 8, 78, path), DISR_E_STATE);
    assert_int_equal(sa_samples_load(&r, 3, 4, 77, path), DISR_E_STATE);
    assert_int_equal(sa_samples_load(&r, 4, 8, 77, path), DISR_E_STATE);
    /* a damaged file: clear error naming the line */
    FILE *f = fopen(path, "a");
    fputs("{\"correct\": 9}\n", f);
    fclose(f);
    assert_int_equal(sa_samples_load(&r, 3, 8, 77, path), DISR_E_FORMAT);
    assert_true(strstr(disr_last_error(), ":5:") != NULL);
    f = fopen(path, "w");
    fputs("not json\n", f);
    fclose(f);
    assert_int_equal(sa_samples_load(&r, 3, 8, 77, path), DISR_E_FORMAT);
    unlink(path);
    sa_samples_free(&s);
}

/* Hand-made evaluations of 2 agents on 4 queries. */
static void eval_alloc(struct sa_agent_eval *e, int n) {
    *e = (struct sa_agent_eval){.n = n};
    e->forced_correct = calloc((size_t)n, sizeof(bool));
    for (int s = 0; s < 3; s++) {
        e->answered[s] = calloc((size_t)n, sizeof(bool));
        e->correct[s] = calloc((size_t)n, sizeof(bool));
    }
}

static void test_eval_summary_and_chain(void **state) {
    (void)state;
    struct sa_agent_eval a[2];
    eval_alloc(&a[0], 4);
    eval_alloc(&a[1], 4);
    /* small agent: forced right on q0, q1; under Balance answers q0 (right) and q2 (wrong) */
    a[0].forced_correct[0] = a[0].forced_correct[1] = true;
    a[0].answered[1][0] = a[0].correct[1][0] = true;
    a[0].answered[1][2] = true;
    /* big agent: forced right on all but q3; under Balance rejects q3 only */
    for (int i = 0; i < 3; i++) {
        a[1].forced_correct[i] = true;
        a[1].answered[1][i] = a[1].correct[1][i] = true;
    }
    sa_eval_summarize(&a[0]);
    sa_eval_summarize(&a[1]);
    assert_float_equal(a[0].forced_acc, 0.5, 1e-12);
    assert_float_equal(a[0].answer_rate[1], 0.5, 1e-12);
    assert_float_equal(a[0].precision[1], 0.5, 1e-12);
    assert_int_equal(a[0].n_answered[1], 2);
    assert_int_equal(a[0].n_answered_right[1], 1);
    double lo, hi; /* the precision's interval is Wilson's at these counts */
    stats_wilson95(1, 2, &lo, &hi);
    assert_float_equal(a[0].precision_lo[1], lo, 1e-12);
    assert_float_equal(a[0].precision_hi[1], hi, 1e-12);
    assert_int_equal(a[0].n_answered[0], 0); /* no answers: the interval says nothing */
    assert_float_equal(a[0].precision_lo[0], 0.0, 1e-12);
    assert_float_equal(a[0].precision_hi[0], 1.0, 1e-12);
    /* reject as a predictor of "would be wrong": rejects q1 (would be right: FP), q3 (TP); answers
     * q2 which is wrong (FN): F1 = 2*1 / (2*1 + 1 + 1) */
    assert_float_equal(a[0].f1[1], 0.5, 1e-12);
    assert_float_equal(a[1].f1[1], 1.0, 1e-12);
    assert_float_equal(a[0].answer_rate[0], 0.0, 1e-12); /* rejects everything under P */
    /* the paper's reward, averaged: one right answer, one wrong, two rejects at sqrt(0.5) */
    assert_float_equal(a[0].reward[1], (1.0 + 0.0 + 2 * sqrt(0.5)) / 4, 1e-6);
    assert_float_equal(a[0].reward[0], sqrt(0.8), 1e-6);
    /* F1 against another truth (a base whose forced answers were right on q0..q2): under Balance
     * the agent rejects q1 (would be right: FP) and q3 (TP), answers q2 (right: no FN) -> 2/3;
     * every other figure is its own */
    bool base_right[4] = {true, true, true, false};
    sa_eval_summarize_against(&a[0], base_right);
    assert_float_equal(a[0].f1[1], 2.0 / 3.0, 1e-12);
    assert_float_equal(a[0].forced_acc, 0.5, 1e-12);
    assert_float_equal(a[0].answer_rate[1], 0.5, 1e-12);
    sa_eval_summarize(&a[0]);
    double costs[2] = {0.1, 0.9}, share[2];
    struct sa_chain_result r = {.share = share};
    sa_chain_eval(a, 2, costs, SCENARIO_BALANCE, &r);
    /* q0: small, right; q1: big, right; q2: small, wrong; q3: big rejects -> forced, wrong */
    assert_float_equal(r.accuracy, 0.5, 1e-12);
    assert_float_equal(r.cost, 0.5, 1e-12);
    assert_float_equal(r.utility, 0.5 - 0.5 * 0.5, 1e-12);
    assert_float_equal(share[0], 0.5, 1e-12);
    assert_float_equal(share[1], 0.5, 1e-12);
    /* Performance First: the small agent rejects all, the big one answers q0..q2 */
    for (int i = 0; i < 3; i++)
        a[1].answered[0][i] = a[1].correct[0][i] = true;
    sa_chain_eval(a, 2, costs, SCENARIO_PERFORMANCE, &r);
    assert_float_equal(r.accuracy, 0.75, 1e-12);
    assert_float_equal(r.cost, 0.9, 1e-12);
    assert_float_equal(r.utility, 0.75 - 0.2 * 0.9, 1e-12);
    sa_eval_free(&a[0]);
    sa_eval_free(&a[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_min_correct_matches_thresholds),
        cmocka_unit_test(test_targets_threshold_and_balance),
        cmocka_unit_test(test_targets_deterministic_under_seed),
        cmocka_unit_test(test_targets_oversample_minority),
        cmocka_unit_test(test_targets_last_agent_never_rejects),
        cmocka_unit_test(test_targets_skip_answers_without_text_and_bad_input),
        cmocka_unit_test(test_targets_weighted_contrast_and_mass),
        cmocka_unit_test(test_reward_values),
        cmocka_unit_test(test_reject_tail_weight),
        cmocka_unit_test(test_grpo_advantages),
        cmocka_unit_test(test_grpo_token_weights_are_the_loss_gradient),
        cmocka_unit_test(test_grpo_credits_a_reject_by_its_decision),
        cmocka_unit_test(test_pack_layout),
        cmocka_unit_test(test_pack_token_at),
        cmocka_unit_test(test_samples_cache_roundtrip_and_mismatch),
        cmocka_unit_test(test_eval_summary_and_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
