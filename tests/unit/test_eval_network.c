/* eval/network: DiSRouter through live nodes on loopback (three scripted agents served by the
 * real HTTP server) against an outcome table whose in-process decisions are known, so the
 * agreement, accuracy, cost and routing shares it reports can be checked exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disr.h"
#include "core/file.h"
#include "eval/network.h"
#include "route/agent.h"
#include "route/backend.h"
#include "serve/server.h"
#include "world/dataset.h"
#include "live_node.h"

/* Adds a query whose in-process RL decisions are: agent 0 answers iff `a0`, agent 1 iff `a1`
 * (the last always answers); `answer` is the expected text. */
static void add_query(struct outcome_table *t, const char *id, const char *query,
                      const char *answer, enum out_split split, int a0, int a1) {
    int qi = outcome_table_add_query(t, id, "fam", query, answer, "exact", split);
    assert_true(qi >= 0);
    for (int s = 0; s < OUT_N_SCEN; s++) {
        outcome_at(t, qi, 0)->decide[OUT_RL][s] = a0 ? OUT_ANSWER : OUT_REJECT;
        outcome_at(t, qi, 1)->decide[OUT_RL][s] = a1 ? OUT_ANSWER : OUT_REJECT;
        outcome_at(t, qi, 2)->decide[OUT_RL][s] = OUT_ANSWER;
    }
}

static void test_network_matches_the_in_process_chain(void **state) {
    (void)state;
    struct node n0, n1, n2;
    node_start(&n2, "n2", 0.9, AGENT_ALWAYS, NULL, NULL, 0, NULL, NULL);
    const char *next1[] = {n2.url};
    node_start(&n1, "n1", 0.5, AGENT_TRAINED, "harder", next1, 1, NULL, NULL);
    const char *next0[] = {n1.url, n2.url};
    node_start(&n0, "n0", 0.1, AGENT_TRAINED, "hard", next0, 2, NULL, NULL);

    struct outcome_table t;
    assert_int_equal(outcome_table_init(&t, 3), 0);
    t.cost[0] = 0.1, t.cost[1] = 0.5, t.cost[2] = 0.9;
    add_query(&t, "q1", "easy one", "answer from n0", OUT_SPLIT_TEST, 1, 1);
    add_query(&t, "q2", "easy two", "wrong on purpose", OUT_SPLIT_TEST, 1, 1);
    add_query(&t, "q3", "a hard one", "answer from n1", OUT_SPLIT_TEST, 0, 1);
    add_query(&t, "q4", "a harder one", "answer from n2", OUT_SPLIT_TEST, 0, 0);
    /* the table claims agent 0 answers this one, but the live n0 rejects it */
    add_query(&t, "q5", "hard again", "answer from n1", OUT_SPLIT_OOD, 1, 1);

    const char *names[] = {"n0", "n1", "n2"};
    struct net_eval_config c = {.url = n0.url,
                                .agent_names = names,
                                .n_agents = 3,
                                .variant = OUT_RL,
                                .concurrency = 3,
                                .max_tokens = 16,
                                .timeout_ms = 5000};
    char records[] = "/tmp/disr_test_netrec_XXXXXX";
    int fd = mkstemp(records);
    assert_true(fd >= 0);
    close(fd);
    struct net_eval_summary s;
    assert_int_equal(eval_network_run(&t, &c, records, &s), 0);
    for (int scen = 0; scen < OUT_N_SCEN; scen++) {
        const struct net_eval_cell *test = &s.cell[0][scen], *ood = &s.cell[1][scen];
        assert_int_equal(test->n, 4);
        assert_int_equal(test->errors, 0);
        assert_int_equal(test->agree, 4);
        assert_float_equal(test->accuracy, 0.75, 1e-9);
        assert_float_equal(test->cost, (0.1 + 0.1 + 0.5 + 0.9) / 4, 1e-9);
        const double alpha[3] = {0.2, 0.5, 0.8};
        assert_float_equal(test->utility, 0.75 - alpha[scen] * 0.4, 1e-9);
        assert_float_equal(test->share[0], 0.5, 1e-9);
        assert_float_equal(test->share[2], 0.25, 1e-9);
        assert_int_equal(ood->n, 1);
        assert_int_equal(ood->agree, 0);
        assert_float_equal(ood->accuracy, 1.0, 1e-9);
    }
    /* the OOD query answered by another agent, at each scenario; a failed request counts too */
    assert_int_equal(eval_network_mismatches(&s), OUT_N_SCEN);
    s.cell[0][1].errors = 2;
    assert_int_equal(eval_network_mismatches(&s), OUT_N_SCEN + 2);
    s.cell[0][1].errors = 0;
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(file_read_all(records, &text, &len), 0);
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    assert_int_equal(lines, 5 * OUT_N_SCEN);
    assert_non_null(strstr(text, "\"expected_agent\":0"));
    free(text);
    unlink(records);

    char md[] = "/tmp/disr_test_netmd_XXXXXX";
    fd = mkstemp(md);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(eval_network_write_md(&s, &c, md), 0);
    assert_int_equal(file_read_all(md, &text, &len), 0);
    assert_non_null(strstr(text, "| 0.5 | 4 | 0 | 0.750 |"));
    free(text);
    unlink(md);

    /* an entry node that is gone: a clear network error, not a crash */
    node_stop(&n0);
    c.url = "http://127.0.0.1:1";
    assert_int_equal(eval_network_run(&t, &c, NULL, &s), DISR_E_NET);
    node_stop(&n1);
    node_stop(&n2);
    outcome_table_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_network_matches_the_in_process_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
