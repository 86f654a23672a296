/* disr ask: one query to a chain's entry node; prints the answer and the route it took. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/err.h"
#include "route/http_client.h"
#include "serve/api.h"

int cmd_ask(int argc, char **argv) {
    const char *url = getenv("DISR_URL"), *key = getenv("DISR_API_KEY"), *scenario = NULL;
    double alpha = 0.5;
    int max_tokens = 64, json = 0, timeout = 60;
    const struct cli_opt opts[] = {
        {"--alpha", "-a", OPT_FLOAT, &alpha, "cost weight in [0, 1] (default 0.5)"},
        {"--scenario", "-s", OPT_STR, &scenario, "performance | balance | cost (sets alpha)"},
        {"--url", "-u", OPT_STR, &url, "entry node (default $DISR_URL or http://127.0.0.1:9100)"},
        {"--key", "-k", OPT_STR, &key, "API key (default $DISR_API_KEY)"},
        {"--max-tokens", NULL, OPT_INT, &max_tokens, "answer length limit (default 64)"},
        {"--timeout", NULL, OPT_INT, &timeout, "seconds to wait (default 60)"},
        {"--json", NULL, OPT_FLAG, &json, "print the raw JSON response"},
        {NULL, NULL, 0, NULL, NULL}};
    const char *pos[1];
    int n_pos = 0;
    int rc = cli_parse(argc, argv, opts, "\"QUERY\" [--alpha 0.5] [--url URL]", pos, 1, &n_pos);
    if (rc) return rc == 1 ? 0 : rc;
    if (n_pos != 1) {
        fprintf(stderr, "disr ask: give the query as one argument (see disr ask --help)\n");
        return 2;
    }
    if (scenario) {
        int s = scenario_parse(scenario);
        if (s <= SCENARIO_NONE) {
            fprintf(stderr, "disr ask: unknown scenario '%s'\n", scenario);
            return 2;
        }
        alpha = scenario_alpha((enum scenario)s);
    }
    if (!(alpha >= 0 && alpha <= 1)) {
        fprintf(stderr, "disr ask: --alpha must be in [0, 1]\n");
        return 2;
    }
    if (!url) url = "http://127.0.0.1:9100";
    struct chat_request rq = {.query = (char *)pos[0], .alpha = alpha, .max_tokens = max_tokens};
    snprintf(rq.model, sizeof rq.model, "disr");
    char *body = api_chat_request_json(&rq);
    char full[1024], auth[512];
    snprintf(full, sizeof full, "%s%s", url,
             strstr(url, "/chat/completions") ? "" : "/v1/chat/completions");
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key ? key : "");
    const char *hdr[2] = {key ? auth : NULL, NULL};
    struct http_options o = {.headers = hdr, .timeout_ms = timeout * 1000};
    struct http_response r;
    int st = body ? http_request(full, body, strlen(body), &o, &r) : DISR_E_NOMEM;
    free(body);
    if (st < 0) return cli_fail("ask", st);
    if (json) {
        printf("%s\n", r.body);
        rc = r.status == 200 ? 0 : 1;
        http_response_free(&r);
        return rc;
    }
    cJSON *j = cJSON_Parse(r.body);
    const cJSON *err = j ? cJSON_GetObjectItem(j, "error") : NULL;
    if (r.status != 200 || !j || err) {
        const cJSON *m = err ? cJSON_GetObjectItem(err, "message") : NULL;
        fprintf(stderr, "disr ask: HTTP %ld: %s\n", r.status,
                cJSON_IsString(m) ? m->valuestring : r.body);
        cJSON_Delete(j);
        http_response_free(&r);
        return 1;
    }
    char content[BACKEND_TEXT_CAP], finish[16];
    int pt, ct;
    struct route_trace t = {.answerer = -1};
    st = api_parse_reply(r.body, content, sizeof content, finish, sizeof finish, &pt, &ct, &t);
    cJSON_Delete(j);
    http_response_free(&r);
    if (st < 0) return cli_fail("ask", st);
    printf("%s\n", content);
    printf("route (%s, alpha %.2f):", scenario_name(scenario_from_alpha(alpha)), alpha);
    for (int i = 0; i < t.n; i++)
        printf("%s %s %s %.2f ms", i ? " ->" : "", t.hops[i].agent,
               hop_decision_name(t.hops[i].decision), t.hops[i].latency_ms);
    printf("\n");
    if (t.answerer >= 0)
        printf("answered by %s, cost %.2f\n", t.hops[t.answerer].agent, t.hops[t.answerer].cost);
    http_client_cleanup();
    return 0;
}
