/* Unit tests for serve/: request validation (status, type, code per malformed input), the route
 * object round trip, and real in-process nodes on loopback: forwarding, skipping a dead agent,
 * loops, forged hops, keys, streaming. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "route/http_client.h"
#include "serve/api.h"
#include "serve/netconf.h"
#include "serve/server.h"
#include "live_node.h"

static int parse(const char *body, struct chat_request *r, struct api_error *e) {
    struct api_limits lim = {.max_query = 64, .max_tokens = 100, .default_tokens = 20};
    memset(e, 0, sizeof *e);
    return api_parse_chat(body, strlen(body), &lim, r, e);
}

static void test_parse_valid_requests(void **state) {
    (void)state;
    struct chat_request r;
    struct api_error e;
    assert_int_equal(
        parse(
            "{\"model\":\"disr-cost\",\"messages\":[{\"role\":\"system\",\"content\":\"x\"},"
            "{\"role\":\"user\",\"content\":\"first\"},{\"role\":\"assistant\",\"content\":\"a\"},"
            "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"sec\"},{\"type\":"
            "\"text\",\"text\":\"ond\"}]}],"
            "\"stream\":true,\"max_tokens\":7,\"temperature\":0.5}",
            &r, &e),
        0);
    assert_string_equal(r.query, "second"); /* the last user message, parts joined */
    assert_float_equal(r.alpha, 0.8, 1e-12);
    assert_true(r.stream);
    assert_int_equal(r.max_tokens, 7);
    chat_request_free(&r);
    /* explicit alpha beats the alias; defaults when absent */
    assert_int_equal(parse("{\"model\":\"disr-cost\",\"disr\":{\"alpha\":0.3},\"messages\":[{"
                           "\"role\":\"user\",\"content\":\"q\"}]}",
                           &r, &e),
                     0);
    assert_float_equal(r.alpha, 0.3, 1e-12);
    chat_request_free(&r);
    assert_int_equal(
        parse("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", &r,
              &e),
        0);
    assert_float_equal(r.alpha, 0.5, 1e-12);
    assert_int_equal(r.max_tokens, 20);
    assert_false(r.stream);
    chat_request_free(&r);
}

static void test_parse_rejects_malformed_requests(void **state) {
    (void)state;
    struct {
        const char *body;
        int status;
        const char *code;
    } cases[] = {
        {"", 400, "invalid_json"},
        {"{\"messages\":[", 400, "invalid_json"},
        {"[1,2]", 400, "invalid_type"},
        {"{}", 400, "missing_field"},
        {"{\"messages\":[]}", 400, "invalid_type"},
        {"{\"messages\":\"hi\"}", 400, "invalid_type"},
        {"{\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}", 400, "missing_field"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400, "invalid_type"},
        {"{\"messages\":[{\"role\":\"user\"}]}", 400, "missing_field"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"\"}]}", 400, "invalid_value"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"max_tokens\":\"5\"}", 400,
         "invalid_value"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"max_tokens\":101}", 400,
         "invalid_value"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"max_tokens\":2.5}", 400,
         "invalid_value"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"temperature\":9}", 400,
         "invalid_value"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"stream\":\"yes\"}", 400,
         "invalid_type"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"disr\":{\"alpha\":2}}", 400,
         "invalid_value"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"disr\":7}", 400, "invalid_type"},
        {"{\"model\":7,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", 400, "invalid_type"},
        {"{\"model\":\"disr-fast\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", 404,
         "model_not_found"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":"
         "\"0123456789012345678901234567890123456789012345678901234567890123456789\"}]}",
         413, "query_too_long"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"n\":3}", 400, "invalid_value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct chat_request r;
        struct api_error e;
        int st = parse(cases[i].body, &r, &e);
        if (st != -cases[i].status || strcmp(e.code, cases[i].code))
            fail_msg("case %zu (%s): got %d %s", i, cases[i].body, -st, e.code ? e.code : "-");
        assert_null(r.query);
        char *j = api_error_json(&e);
        cJSON *o = cJSON_Parse(j);
        assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "error"), "message"));
        cJSON_Delete(o);
        free(j);
    }
}

static void test_trace_round_trip(void **state) {
    (void)state;
    struct route_trace t = {.answerer = -1}, back = {.answerer = -1};
    route_trace_add(&t, "a1", HOP_REJECT, 1.5, 0.1, "");
    route_trace_add(&t, "http://x:1", HOP_SKIPPED, 0, 0, "refused");
    t.answerer = route_trace_add(&t, "a3", HOP_ANSWER, 7.25, 0.9, "");
    cJSON *d = api_trace_json(&t, 0.2);
    assert_string_equal(cJSON_GetObjectItem(d, "scenario")->valuestring, "performance");
    assert_int_equal(api_trace_parse(d, &back), DISR_OK);
    cJSON_Delete(d);
    assert_int_equal(back.n, 3);
    assert_int_equal(back.answerer, 2);
    assert_int_equal(back.hops[1].decision, HOP_SKIPPED);
    assert_string_equal(back.hops[1].note, "refused");
    assert_float_equal(back.hops[2].latency_ms, 7.25, 1e-9);
}

/* ---- live nodes on loopback */

static cJSON *ask(const char *base, const char *body, const char *const *hdr, long *status) {
    char url[128];
    snprintf(url, sizeof url, "%s/v1/chat/completions", base);
    struct http_options o = {.headers = hdr, .timeout_ms = 5000};
    struct http_response r;
    assert_int_equal(http_request(url, body, strlen(body), &o, &r), DISR_OK);
    *status = r.status;
    cJSON *j = cJSON_Parse(r.body);
    if (!j) j = cJSON_CreateString(r.body); /* SSE */
    http_response_free(&r);
    return j;
}

static const char *route_agent(cJSON *j, int i, const char *field) {
    cJSON *hop =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "disr"), "route"), i);
    cJSON *v = cJSON_GetObjectItem(hop, field);
    return v ? v->valuestring : "";
}

static void test_live_chain_forwards_skips_and_refuses(void **state) {
    (void)state;
    struct node n3, n2, n1;
    node_start(&n3, "n3", 0.9, AGENT_ALWAYS, NULL, NULL, 0, "s3cret", NULL);
    const char *next2[] = {n3.url};
    node_start(&n2, "n2", 0.5, AGENT_TRAINED, "harder", next2, 1, "s3cret", NULL);
    const char *next1[] = {n2.url, n3.url};
    node_start(&n1, "n1", 0.1, AGENT_TRAINED, "hard", next1, 2, "s3cret", "key1");
    const char *auth[] = {"Authorization: Bearer key1", NULL};
    long st;
    cJSON *j =
        ask(n1.url, "{\"messages\":[{\"role\":\"user\",\"content\":\"harder one\"}]}", auth, &st);
    assert_int_equal(st, 200);
    assert_string_equal(route_agent(j, 0, "decision"), "reject");
    assert_string_equal(route_agent(j, 1, "agent"), "n2");
    assert_string_equal(route_agent(j, 1, "decision"), "reject");
    assert_string_equal(route_agent(j, 2, "decision"), "answer");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "disr"), "answerer")->valuestring, "n3");
    cJSON_Delete(j);
    /* no key: 401; forged hop headers without the secret: 403; loop: 508 */
    j = ask(n1.url, "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", NULL, &st);
    assert_int_equal(st, 401);
    cJSON_Delete(j);
    const char *forged[] = {"Authorization: Bearer key1", "X-Disr-Hops: 0", NULL};
    j = ask(n1.url, "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", forged, &st);
    assert_int_equal(st, 403);
    cJSON_Delete(j);
    const char *loop[] = {"X-Disr-Hop-Secret: s3cret", "X-Disr-Hops: 1", "X-Disr-Path: n1,n2",
                          NULL};
    j = ask(n2.url, "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", loop, &st);
    assert_int_equal(st, 508);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "code")->valuestring,
                        "loop_detected");
    cJSON_Delete(j);
    /* streaming: role first, deltas, final chunk with the route, then [DONE] */
    j = ask(n1.url, "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hard\"}]}",
            auth, &st);
    assert_int_equal(st, 200);
    assert_non_null(strstr(j->valuestring, "\"role\":\"assistant\""));
    assert_non_null(strstr(j->valuestring, "\"content\":\"answer from n2\""));
    assert_non_null(strstr(j->valuestring, "\"answerer\":\"n2\""));
    assert_non_null(strstr(j->valuestring, "data: [DONE]\n\n"));
    cJSON_Delete(j);
    /* kill n2: n1 skips to n3 and says so */
    node_stop(&n2);
    j = ask(n1.url, "{\"messages\":[{\"role\":\"user\",\"content\":\"hard\"}]}", auth, &st);
    assert_int_equal(st, 200);
    assert_string_equal(route_agent(j, 1, "decision"), "skipped");
    assert_string_equal(route_agent(j, 2, "agent"), "n3");
    cJSON_Delete(j);
    /* kill n3 too: n1 answers itself (fallback) */
    node_stop(&n3);
    j = ask(n1.url, "{\"messages\":[{\"role\":\"user\",\"content\":\"hard\"}]}", auth, &st);
    assert_int_equal(st, 200);
    assert_string_equal(route_agent(j, 3, "decision"), "fallback");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "disr"), "answerer")->valuestring, "n1");
    cJSON_Delete(j);
    const struct metrics *m = server_metrics(n1.s);
    assert_int_equal(atomic_load(&m->fallbacks), 1);
    assert_int_equal(atomic_load(&m->skips), 3);
    assert_int_equal(atomic_load(&m->errors[ERR_AUTH]), 2);
    node_stop(&n1);
    http_client_cleanup();
}

static void test_netconf_defaults_and_errors(void **state) {
    (void)state;
    static struct netconf c;
    const char *ok =
        "# chain\n[network]\nhop_secret = s ; comment\nmax_hops = 4\n"
        "[agent small]\nmodel = m/small.gguf\n[agent mid]\nscript = /abs/r.jsonl\nport = 7000\n"
        "[agent big]\nremote = http://10.0.0.9:8080/v1\ncost = 0.95\nurl = http://lb:80\n";
    assert_int_equal(netconf_parse(&c, ok, "/cfg", "net.conf"), DISR_OK);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.hop_secret, "s");
    assert_int_equal(c.max_hops, 4);
    assert_string_equal(c.agents[0].model, "/cfg/m/small.gguf"); /* relative to the file */
    assert_string_equal(c.agents[1].script, "/abs/r.jsonl");
    assert_float_equal(c.agents[0].cost, 0.1, 1e-12);
    assert_float_equal(c.agents[1].cost, 0.5, 1e-12); /* 0.1 + 0.8 i/(K-1) */
    assert_float_equal(c.agents[2].cost, 0.95, 1e-12);
    assert_string_equal(c.agents[0].mode, "trained");
    assert_string_equal(c.agents[2].mode, "always"); /* the last agent always answers */
    assert_string_equal(c.agents[0].url, "http://127.0.0.1:9100");
    assert_string_equal(c.agents[1].url, "http://127.0.0.1:7000");
    assert_string_equal(c.agents[2].url, "http://lb:80");
    struct {
        const char *text, *needle;
    } bad[] = {
        {"", "no [agent"},
        {"[agent a]\n", "exactly one of"},
        {"[agent a]\nscript = x\nscript_typo = y\n", ":3: unknown agent key"},
        {"[agent a]\nscript = x\ncost = 2\n", ":3: cost must be"},
        {"[agent a]\nscript = x\nmode = maybe\n", ":3: mode must be"},
        {"[agent a]\nscript = x\n[agent a]\nscript = y\n", "defined twice"},
        {"[agent a,b]\n", "no spaces or commas"},
        {"[agents]\n", "unknown section"},
        {"host = x\n", "outside a section"},
        {"[agent a]\nscript = x\nport = 9\n[agent b]\nscript = y\nport = 9\n", "share"},
        {"[network]\nhop_secret_env = DISR_SURELY_UNSET_VAR\n", "not set"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_true(netconf_parse(&c, bad[i].text, ".", "net.conf") < 0);
        if (!strstr(disr_last_error(), bad[i].needle))
            fail_msg("case %zu: '%s' lacks '%s'", i, disr_last_error(), bad[i].needle);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid_requests),
        cmocka_unit_test(test_parse_rejects_malformed_requests),
        cmocka_unit_test(test_trace_round_trip),
        cmocka_unit_test(test_netconf_defaults_and_errors),
        cmocka_unit_test(test_live_chain_forwards_skips_and_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
