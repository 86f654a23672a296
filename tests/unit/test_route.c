/* Unit tests for route/: the three decision modes, early stopping on a reject, what streams to
 * the caller, and the in-process chain with failing agents, all on the scripted backend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "route/agent.h"
#include "route/backend.h"
#include "route/chain.h"
#include "world/scenario.h"

static struct backend *scripted(const struct script_rule *rules, int n) {
    struct backend *b = NULL;
    assert_int_equal(backend_scripted_create(&b), DISR_OK);
    for (int i = 0; i < n; i++)
        assert_int_equal(backend_scripted_add(b, &rules[i]), DISR_OK);
    return b;
}

struct sink {
    char text[512];
    int calls;
};
static int sink_text(void *ctx, const char *piece, size_t len) {
    struct sink *s = ctx;
    strncat(s->text, piece, len);
    s->calls++;
    return 0;
}

static void test_trained_mode_rejects_early_and_streams_only_answers(void **state) {
    (void)state;
    struct script_rule rules[] = {
        {.contains = "hard",
         .scenario = -1,
         .reply = "I don't know! and a lot of useless words",
         .p = 0.9},
        {.contains = "", .scenario = -1, .reply = "I do know: Paris", .p = 0.9},
    };
    struct backend *b = scripted(rules, 2);
    struct agent a = {.name = "a", .cost = 0.1, .mode = AGENT_TRAINED, .backend = b};
    struct sink s = {0};
    struct agent_query q = {.query = "a hard one",
                            .alpha = 0.5,
                            .max_tokens = 64,
                            .on_answer_text = sink_text,
                            .ctx = &s};
    struct agent_result r;
    assert_int_equal(agent_decide(&a, &q, &r), DISR_OK);
    assert_int_equal(r.decision, HOP_REJECT);
    assert_true(r.gen.stopped);          /* stopped once "I don't know!" was complete */
    assert_int_equal(r.gen.n_tokens, 3); /* "I", " don't", " know!" */
    assert_int_equal(s.calls, 0);        /* no part of a reject reaches the client */
    /* an answer that starts like the reject text ("I do...") is an answer, streamed whole */
    q.query = "easy";
    assert_int_equal(agent_decide(&a, &q, &r), DISR_OK);
    assert_int_equal(r.decision, HOP_ANSWER);
    assert_string_equal(r.gen.text, "I do know: Paris");
    assert_string_equal(s.text, "I do know: Paris");
    assert_false(r.gen.stopped);
    /* cut off inside the reject text by max_tokens: still a reject, nothing streamed */
    q.query = "hard again";
    q.max_tokens = 2;
    s.text[0] = '\0';
    assert_int_equal(agent_decide(&a, &q, &r), DISR_OK);
    assert_string_equal(r.gen.text, "I don't");
    assert_int_equal(r.decision, HOP_REJECT);
    assert_string_equal(s.text, "");
    backend_free(b);
}

static void test_confidence_mode_uses_the_paper_threshold(void **state) {
    (void)state;
    /* p = 0.8: above (1-0.5)^0.5 = 0.707 and (1-0.8)^0.5 = 0.447, below (1-0.2)^0.5 = 0.894 */
    struct script_rule rule = {
        .contains = "", .scenario = -1, .reply = "I don't know!", .answer = "42", .p = 0.8};
    struct backend *b = scripted(&rule, 1);
    struct agent a = {.name = "c", .cost = 0.3, .mode = AGENT_CONFIDENCE, .backend = b};
    struct agent_query q = {.query = "q", .max_tokens = 16};
    struct agent_result r;
    const double alphas[] = {0.2, 0.5, 0.8};
    const int expect[] = {HOP_REJECT, HOP_ANSWER, HOP_ANSWER};
    for (int i = 0; i < 3; i++) {
        q.alpha = alphas[i];
        assert_int_equal(agent_decide(&a, &q, &r), DISR_OK);
        assert_int_equal(r.decision, expect[i]);
        assert_float_equal(r.confidence, 0.8, 1e-9);
        assert_string_equal(r.gen.text, "42"); /* the forced answer, not the scenario reply */
    }
    q.alpha = 1.5;
    assert_int_equal(agent_decide(&a, &q, &r), DISR_E_ARG);
    backend_free(b);
}

static void test_always_mode_never_rejects(void **state) {
    (void)state;
    struct script_rule rule = {
        .contains = "", .scenario = -1, .reply = "I don't know!", .answer = "best guess", .p = 0.1};
    struct backend *b = scripted(&rule, 1);
    struct agent a = {.name = "z", .cost = 0.9, .mode = AGENT_ALWAYS, .backend = b};
    struct agent_query q = {.query = "anything", .alpha = 0.2, .max_tokens = 16};
    struct agent_result r;
    assert_int_equal(agent_decide(&a, &q, &r), DISR_OK);
    assert_int_equal(r.decision, HOP_ANSWER);
    assert_string_equal(r.gen.text, "best guess");
    backend_free(b);
}

/* The reject rule shared by nodes, evaluation and SA training. */
static void test_reject_rule_counts_a_cut_off_reject(void **state) {
    (void)state;
    assert_true(scenario_output_rejects("I don't know!", false));
    assert_true(scenario_output_rejects("  I don't know!\n", false));
    assert_true(scenario_output_rejects("I don't kn", true));   /* cut off while declining */
    assert_false(scenario_output_rejects("I don't kn", false)); /* finished: a (wrong) answer */
    assert_false(scenario_output_rejects("I d", false));
    assert_true(scenario_output_rejects(" I d", true));
    assert_false(scenario_output_rejects("I ", true));    /* too short to tell */
    assert_false(scenario_output_rejects("Idaho", true)); /* left the reject text */
    assert_false(scenario_output_rejects("", true));
    /* The streaming view of the same rule. */
    assert_int_equal(scenario_reject_state(""), REJECT_STATE_PENDING);
    assert_int_equal(scenario_reject_state("\n I don"), REJECT_STATE_PENDING);
    assert_int_equal(scenario_reject_state("I don't know! Sorry"), REJECT_STATE_REJECT);
    assert_int_equal(scenario_reject_state("I do know"), REJECT_STATE_ANSWER);
    assert_int_equal(scenario_reject_state("Paris"), REJECT_STATE_ANSWER);
    /* A reject that lost the thread is an answer, and the diagnostic names it. */
    assert_true(scenario_is_broken_reject("IIIIt s in alphabetical order."));
    assert_true(scenario_is_broken_reject(" I d I!!!!IIt i."));
    assert_false(scenario_is_broken_reject("I don't know!"));
    assert_false(scenario_is_broken_reject("I don")); /* still a prefix: nothing broken yet */
    assert_false(scenario_is_broken_reject("acirstv"));
    assert_false(scenario_is_broken_reject(""));
    /* where it departed: the first character that is not the reject's, leading spaces counted */
    assert_int_equal(scenario_broken_reject_departure("I d don't know!"), 3);
    assert_int_equal(scenario_broken_reject_departure("  IIIIt"), 3);
    assert_int_equal(scenario_broken_reject_departure("I don't know?"), 12);
    assert_int_equal(scenario_broken_reject_departure("I don't know!"), -1);
    assert_int_equal(scenario_broken_reject_departure("I don"), -1);
    assert_int_equal(scenario_broken_reject_departure("acirstv"), -1);
}

static void test_scenario_specific_rules(void **state) {
    (void)state;
    /* rejects under Performance First only: the scenario reaches the backend */
    struct script_rule rules[] = {
        {.contains = "", .scenario = SCENARIO_PERFORMANCE, .reply = "I don't know!", .p = 0.5},
        {.contains = "", .scenario = -1, .reply = "yes", .p = 0.5},
    };
    struct backend *b = scripted(rules, 2);
    struct agent a = {.name = "s", .cost = 0.1, .mode = AGENT_TRAINED, .backend = b};
    struct agent_query q = {.query = "q", .alpha = 0.2, .max_tokens = 16};
    struct agent_result r;
    assert_int_equal(agent_decide(&a, &q, &r), DISR_OK);
    assert_int_equal(r.decision, HOP_REJECT);
    q.alpha = 0.55;
    assert_int_equal(agent_decide(&a, &q, &r), DISR_OK);
    assert_int_equal(r.decision, HOP_ANSWER);
    backend_free(b);
}

static void test_chain_routes_rejects_up_and_skips_failures(void **state) {
    (void)state;
    struct script_rule r1[] = {
        {.contains = "hard", .scenario = -1, .reply = "I don't know!", .p = 0.5},
        {.contains = "", .scenario = -1, .reply = "small", .p = 0.9}};
    struct script_rule r2[] = {{.contains = "harder",
                                .scenario = -1,
                                .reply = "I don't know!",
                                .answer = "guess",
                                .p = 0.5},
                               {.contains = "boom", .scenario = -1, .reply = "x", .fail = true},
                               {.contains = "", .scenario = -1, .reply = "medium", .p = 0.9}};
    struct script_rule r3[] = {{.contains = "boom2", .scenario = -1, .reply = "x", .fail = true},
                               {.contains = "", .scenario = -1, .reply = "large", .p = 0.9}};
    struct backend *b[3] = {scripted(r1, 2), scripted(r2, 3), scripted(r3, 2)};
    struct agent a[3] = {{.name = "a1", .cost = 0.1, .mode = AGENT_TRAINED, .backend = b[0]},
                         {.name = "a2", .cost = 0.5, .mode = AGENT_TRAINED, .backend = b[1]},
                         {.name = "a3", .cost = 0.9, .mode = AGENT_ALWAYS, .backend = b[2]}};
    struct agent *chain[3] = {&a[0], &a[1], &a[2]};
    struct chain_result res;
    struct agent_query q = {.query = "easy", .alpha = 0.5, .max_tokens = 16};
    struct {
        const char *query, *answer;
        int answerer, hops;
        double cost;
    } cases[] = {{"easy", "small", 0, 1, 0.1},
                 {"hard", "medium", 1, 2, 0.5},
                 {"harder", "large", 2, 3, 0.9},
                 {"hard boom", "large", 2, 3, 0.9},     /* a2 fails: skipped */
                 {"harder boom2", "guess", 1, 4, 0.5}}; /* a3 fails: a2 falls back */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        q.query = cases[i].query;
        assert_int_equal(chain_run(chain, 3, &q, &res), DISR_OK);
        assert_string_equal(res.answer, cases[i].answer);
        assert_int_equal(res.answerer, cases[i].answerer);
        assert_int_equal(res.trace.n, cases[i].hops);
        assert_float_equal(res.cost, cases[i].cost, 1e-12);
        assert_string_equal(res.trace.hops[res.trace.answerer].agent, a[cases[i].answerer].name);
    }
    assert_int_equal(res.trace.hops[2].decision, HOP_SKIPPED);
    assert_int_equal(res.trace.hops[3].decision, HOP_FALLBACK);
    q.query = "hard boom";
    assert_int_equal(chain_run(chain, 3, &q, &res), DISR_OK);
    assert_int_equal(res.trace.hops[1].decision, HOP_SKIPPED);
    assert_non_null(strstr(res.trace.hops[1].note, "scripted failure"));
    /* a chain of one failing agent cannot answer */
    struct agent *only[1] = {&a[2]};
    q.query = "boom2";
    assert_int_equal(chain_run(only, 1, &q, &res), DISR_E_STATE);
    for (int i = 0; i < 3; i++)
        backend_free(b[i]);
}

/* The chain rule alone, on scripted hop outcomes: each case lists what every hop says when
 * asked ('a' answer, 'r' reject, 's' skip, 'e' a data error) and whether its forced answer
 * works ('y'/'n'), then the hop expected to answer (-1: the walk fails) and whether by fallback. */
struct scripted_walk {
    const char *ask, *force;
    char log[32]; /* the calls made, in order: A<i> ask, F<i>/f<i> forced (last / fallback) */
};
static int sw_ask(void *ctx, int i, bool last) {
    struct scripted_walk *w = ctx;
    snprintf(w->log + strlen(w->log), sizeof w->log - strlen(w->log), "A%d", i);
    (void)last;
    switch (w->ask[i]) {
    case 'a':
        return CHAIN_ANSWER;
    case 'r':
        return CHAIN_REJECT;
    case 's':
        return CHAIN_SKIP;
    }
    return disr_fail(DISR_E_FORMAT, "bad data at hop %d", i);
}
static int sw_force(void *ctx, int i, bool fallback) {
    struct scripted_walk *w = ctx;
    snprintf(w->log + strlen(w->log), sizeof w->log - strlen(w->log), "%c%d", fallback ? 'f' : 'F',
             i);
    return w->force[i] == 'y' ? DISR_OK : disr_fail(DISR_E_NET, "hop %d down", i);
}

static void test_chain_walk_rule(void **state) {
    (void)state;
    static const struct {
        const char *ask, *force;
        int answerer, fallback, status;
        const char *log;
    } cases[] = {
        {"ra", "yy", 1, 0, DISR_OK, "A0A1"},           /* first answer ends the walk */
        {"rr", "yy", 1, 0, DISR_OK, "A0A1F1"},         /* the last hop's reject is forced */
        {"rs", "yy", 0, 1, DISR_OK, "A0A1f0"},         /* last unreachable: fallback */
        {"rr", "yn", 0, 1, DISR_OK, "A0A1F1f0"},       /* last's forced answer fails */
        {"srs", "yyy", 1, 1, DISR_OK, "A0A1A2f1"},     /* skip, then the last that worked */
        {"sr", "nn", -1, 0, DISR_E_STATE, "A0A1F1"},   /* nobody worked */
        {"ss", "yy", -1, 0, DISR_E_STATE, "A0A1"},     /* nobody reachable */
        {"rss", "nyy", -1, 0, DISR_E_NET, "A0A1A2f0"}, /* the fallback fails */
        {"rea", "yyy", -1, 0, DISR_E_FORMAT, "A0A1"},  /* a data error stops the walk */
        {"", "", -1, 0, DISR_E_ARG, ""},               /* no hops */
    };
    static const struct chain_ops ops = {.ask = sw_ask, .force = sw_force};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct scripted_walk w = {.ask = cases[k].ask, .force = cases[k].force};
        struct chain_outcome o;
        int st = chain_walk((int)strlen(cases[k].ask), &ops, &w, &o);
        if (st != cases[k].status || o.answerer != cases[k].answerer ||
            o.fallback != (bool)cases[k].fallback || strcmp(w.log, cases[k].log))
            fail_msg("case %zu (%s/%s): status %d answerer %d fallback %d calls %s", k,
                     cases[k].ask, cases[k].force, st, o.answerer, o.fallback, w.log);
    }
    /* a walk whose last hop rejects needs a forced answer */
    static const struct chain_ops no_force = {.ask = sw_ask};
    struct scripted_walk w = {.ask = "rr", .force = "yy"};
    struct chain_outcome o;
    assert_int_equal(chain_walk(2, &no_force, &w, &o), DISR_E_STATE);
}

static void test_script_file_errors_are_clear(void **state) {
    (void)state;
    char path[] = "/tmp/disr_test_route_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *txt =
        "# comment\n{\"contains\":\"x\",\"reply\":\"y\",\"p\":0.7}\n\n{\"p\":\"high\"}\n";
    assert_int_equal(write(fd, txt, strlen(txt)), (ssize_t)strlen(txt));
    close(fd);
    struct backend *b = NULL;
    assert_int_equal(backend_scripted_create(&b), DISR_OK);
    assert_int_equal(backend_scripted_load(b, path), DISR_E_FORMAT);
    assert_non_null(strstr(disr_last_error(), ":4:"));
    assert_int_equal(backend_scripted_load(b, "/nonexistent/rules.jsonl"), DISR_E_IO);
    unlink(path);
    backend_free(b);
    assert_int_equal(agent_mode_parse("confidence"), AGENT_CONFIDENCE);
    assert_int_equal(agent_mode_parse("sometimes"), -1);
    assert_int_equal(hop_decision_parse("skipped"), HOP_SKIPPED);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trained_mode_rejects_early_and_streams_only_answers),
        cmocka_unit_test(test_confidence_mode_uses_the_paper_threshold),
        cmocka_unit_test(test_always_mode_never_rejects),
        cmocka_unit_test(test_reject_rule_counts_a_cut_off_reject),
        cmocka_unit_test(test_scenario_specific_rules),
        cmocka_unit_test(test_chain_routes_rejects_up_and_skips_failures),
        cmocka_unit_test(test_chain_walk_rule),
        cmocka_unit_test(test_script_file_errors_are_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
