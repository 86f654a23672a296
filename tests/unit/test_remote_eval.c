/* Unit tests for evaluating agents over HTTP: reading an OpenAI chat reply (content, finish
 * reason, usage, per-token log probabilities, and every way a reply can be malformed), the log
 * probabilities a node writes read back to the same floats, the node's `disr-forced`,
 * `disr-decide` and `logprobs` request fields, unrecorded scores (null, never 0) through the outcome file, and a
 * report that leaves out the cascades whose scores are missing. */
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
#include "eval/collect_remote.h"
#include "eval/outcomes.h"
#include "eval/report.h"
#include "route/backend.h"
#include "serve/api.h"

static int parse(const char *body, struct gen_output *out) {
    memset(out, 0, sizeof *out);
    return backend_remote_parse("http://test/v1/chat/completions", body, out);
}

static void test_reply_with_logprobs(void **state) {
    (void)state;
    struct gen_output o;
    const char *body =
        "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"42\"},"
        "\"logprobs\":{\"content\":[{\"token\":\"4\",\"logprob\":-0.25,\"bytes\":[52]},"
        "{\"token\":\"2\",\"logprob\":-0.5},{\"token\":\"\",\"logprob\":-0.125}]},"
        "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}";
    assert_int_equal(parse(body, &o), DISR_OK);
    assert_string_equal(o.text, "42");
    assert_true(o.has_logprob);
    assert_float_equal(o.sum_logprob, -0.875, 1e-9);
    assert_int_equal(o.n_token_logprob, 3);
    assert_float_equal(o.token_logprob[1], -0.5, 0);
    assert_int_equal(o.token_end[0], 1);
    assert_int_equal(o.token_end[2], 2);
    assert_int_equal(o.n_prompt_tokens, 7);
    assert_int_equal(o.n_tokens, 3);
    assert_false(o.truncated);
}

static void test_reply_without_logprobs(void **state) {
    (void)state;
    struct gen_output o;
    /* absent, null, an empty list: no probability, and the answer still counts */
    const char *bodies[] = {
        "{\"choices\":[{\"message\":{\"content\":\"Paris\"},\"finish_reason\":\"length\"}]}",
        "{\"choices\":[{\"message\":{\"content\":\"Paris\"},\"logprobs\":null}]}",
        "{\"choices\":[{\"message\":{\"content\":\"Paris\"},\"logprobs\":{\"content\":[]}}]}",
        /* one entry without a number (or an impossible one): no partial sum passed as whole */
        "{\"choices\":[{\"message\":{\"content\":\"Paris\"},\"logprobs\":{\"content\":"
        "[{\"token\":\"Par\",\"logprob\":-0.1},{\"token\":\"is\"}]}}]}",
        "{\"choices\":[{\"message\":{\"content\":\"Paris\"},\"logprobs\":{\"content\":"
        "[{\"token\":\"Par\",\"logprob\":-0.1},{\"token\":\"is\",\"logprob\":\"-0.2\"}]}}]}",
        "{\"choices\":[{\"message\":{\"content\":\"Paris\"},\"logprobs\":{\"content\":"
        "[{\"token\":\"Paris\",\"logprob\":3.5}]}}]}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        assert_int_equal(parse(bodies[i], &o), DISR_OK);
        assert_string_equal(o.text, "Paris");
        assert_false(o.has_logprob);
        assert_int_equal(o.n_token_logprob, 0);
    }
    assert_int_equal(parse(bodies[0], &o), DISR_OK);
    assert_true(o.truncated);
}

static void test_malformed_replies_fail_clearly(void **state) {
    (void)state;
    struct gen_output o;
    const char *bad[] = {
        "",
        "<html>502 Bad Gateway</html>",
        "{\"choices\":[{\"message\":{\"content\":\"4",
        "{}",
        "{\"choices\":[]}",
        "{\"choices\":{}}",
        "{\"choices\":[{\"message\":{}}]}",
        "{\"choices\":[{\"message\":{\"content\":null}}]}",
        "{\"choices\":[{\"message\":{\"content\":42}}]}",
        "{\"choices\":[{\"message\":\"hi\"}]}",
        "{\"error\":{\"message\":\"model not found\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(parse(bad[i], &o), DISR_E_FORMAT);
        assert_non_null(strstr(disr_last_error(), "http://test/v1/chat/completions"));
    }
}

/* What a node writes for a local answer reads back to the same floats: a remote evaluation of a
 * disr node records the confidence the engine computed. */
static void test_node_logprobs_round_trip(void **state) {
    (void)state;
    float lp[4] = {-1.0625f, -0.000123f, -3.3333333f, -0.75f};
    uint16_t end[4] = {1, 2, 4, 4}; /* the last token (a stop char) adds no text */
    struct route_trace tr = {.answerer = -1};
    struct chat_reply r = {.id = "x",
                           .model = API_MODEL_FORCED,
                           .content = "abcd",
                           .finish_reason = "stop",
                           .trace = &tr,
                           .n_logprob = 4,
                           .token_logprob = lp,
                           .token_end = end};
    char *json = api_chat_reply_json(&r);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"token\":\"cd\""));
    struct gen_output o;
    assert_int_equal(parse(json, &o), DISR_OK);
    free(json);
    assert_true(o.has_logprob);
    assert_int_equal(o.n_token_logprob, 4);
    float sum = 0;
    for (int i = 0; i < 4; i++) {
        assert_true(o.token_logprob[i] == lp[i]);
        sum += lp[i];
    }
    assert_true((float)o.sum_logprob == sum);
    r.n_logprob = 0; /* e.g. an answer relayed from the next agent */
    json = api_chat_reply_json(&r);
    assert_non_null(strstr(json, "\"logprobs\":null"));
    free(json);
}

static void test_node_request_fields(void **state) {
    (void)state;
    struct chat_request r;
    struct api_error e;
    const char *ok = "{\"model\":\"disr-forced\",\"logprobs\":true,\"top_logprobs\":0,"
                     "\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}";
    assert_int_equal(api_parse_chat(ok, strlen(ok), NULL, &r, &e), 0);
    assert_true(r.forced);
    assert_true(r.logprobs);
    chat_request_free(&r);
    const char *dec = "{\"model\":\"disr-decide\",\"disr\":{\"alpha\":0.8},\"messages\":"
                      "[{\"role\":\"user\",\"content\":\"q\"}]}";
    assert_int_equal(api_parse_chat(dec, strlen(dec), NULL, &r, &e), 0);
    assert_true(r.decide);
    assert_false(r.forced);
    assert_float_equal(r.alpha, 0.8, 1e-12);
    chat_request_free(&r);
    const char *plain = "{\"model\":\"disr-cost\",\"messages\":[{\"role\":\"user\",\"content\":"
                        "\"q\"}]}";
    assert_int_equal(api_parse_chat(plain, strlen(plain), NULL, &r, &e), 0);
    assert_false(r.forced);
    assert_false(r.decide);
    assert_false(r.logprobs);
    chat_request_free(&r);
    const char *bad[] = {
        "{\"logprobs\":\"yes\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
        "{\"logprobs\":true,\"top_logprobs\":5,\"messages\":[{\"role\":\"user\",\"content\":"
        "\"q\"}]}",
    };
    for (int i = 0; i < 2; i++) {
        assert_true(api_parse_chat(bad[i], strlen(bad[i]), NULL, &r, &e) < 0);
        assert_int_equal(e.status, 400);
    }
    char *models = api_models_json("n0");
    assert_non_null(strstr(models, "\"id\":\"disr-forced\""));
    assert_non_null(strstr(models, "\"id\":\"disr-decide\""));
    free(models);
}

static void test_url_agents(void **state) {
    (void)state;
    assert_true(collect_is_remote("http://127.0.0.1:8080/v1"));
    assert_true(collect_is_remote("https://api.example.com/v1"));
    assert_false(collect_is_remote("models/http.gguf"));
    assert_false(collect_is_remote("httpx.gguf"));
}

/* A table whose agent 0 has no confidence and agent 1 no samples. */
static void make_table(struct outcome_table *t) {
    struct outcome_synth_config sc;
    outcome_synth_defaults(&sc);
    sc.n_agents = 3, sc.n_train = 60, sc.n_test = 30, sc.n_ood = 10, sc.seed = 5;
    assert_int_equal(outcome_table_synth(t, &sc), DISR_OK);
    for (int qi = 0; qi < t->n_queries; qi++) {
        outcome_at(t, qi, 0)->conf = NAN;
        outcome_at(t, qi, 1)->verify = NAN;
    }
}

static void test_unrecorded_scores_round_trip(void **state) {
    (void)state;
    struct outcome_table t, u;
    make_table(&t);
    assert_false(outcome_agent_has_score(&t, 0, 0));
    assert_true(outcome_agent_has_score(&t, 0, 1));
    assert_false(outcome_agent_has_score(&t, 1, 1));
    char path[64];
    snprintf(path, sizeof path, "/tmp/disr_test_remote_%d.jsonl", (int)getpid());
    assert_int_equal(outcome_table_save(&t, path), DISR_OK);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(file_read_all(path, &text, &len), DISR_OK);
    assert_non_null(strstr(text, "\"conf\":null"));
    assert_non_null(strstr(text, "\"verify\":null"));
    free(text);
    assert_int_equal(outcome_table_load(&u, path), DISR_OK);
    unlink(path);
    assert_int_equal(u.n_queries, t.n_queries);
    for (int qi = 0; qi < u.n_queries; qi++) {
        assert_true(isnan(outcome_at(&u, qi, 0)->conf));
        assert_true(isnan(outcome_at(&u, qi, 1)->verify));
        assert_false(isnan(outcome_at(&u, qi, 1)->conf));
    }
    outcome_table_free(&u);
    outcome_table_free(&t);
}

static void test_report_leaves_out_missing_scores(void **state) {
    (void)state;
    log_set_level(LOG_WARN);
    struct outcome_table t;
    make_table(&t);
    char dir[64], md[96];
    snprintf(dir, sizeof dir, "/tmp/disr_test_remote_rep_%d", (int)getpid());
    struct report_config c;
    report_config_default(&c);
    c.out_dir = dir;
    c.plots = 0;
    c.fit.feat_dim = 256, c.fit.epochs = 2, c.fit.knn_k = 5;
    assert_int_equal(report_run(&t, &c), DISR_OK);
    snprintf(md, sizeof md, "%s/report.md", dir);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(file_read_all(md, &text, &len), DISR_OK);
    assert_non_null(strstr(text, "Left out: **Confidence cascade**"));
    assert_non_null(strstr(text, "no recorded answer probabilities"));
    assert_non_null(strstr(text, "Left out: **AutoMix (self-verify)**"));
    assert_null(strstr(text, "Left out: **kNN router**"));
    free(text);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    outcome_table_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_with_logprobs),
        cmocka_unit_test(test_reply_without_logprobs),
        cmocka_unit_test(test_malformed_replies_fail_clearly),
        cmocka_unit_test(test_node_logprobs_round_trip),
        cmocka_unit_test(test_node_request_fields),
        cmocka_unit_test(test_url_agents),
        cmocka_unit_test(test_unrecorded_scores_round_trip),
        cmocka_unit_test(test_report_leaves_out_missing_scores),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
