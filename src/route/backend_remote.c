/* The remote backend: an OpenAI-compatible chat server stands in for the model. The scenario
 * goes in as the system prompt; logprobs are requested so `confidence` mode can work too. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "route/backend.h"
#include "route/http_client.h"

struct remote {
    struct backend base;
    char *url, *model, *auth;
    int timeout_ms;
};

/* The log probabilities of choices[0]: OpenAI's {"content":[{"token","logprob",...},...]}. Every
 * entry must carry a finite number at most 0 (1e-3 of rounding allowed), or the answer has
 * none (a partial sum would be a wrong probability). Tokens past BACKEND_MAX_TOKEN_LP still count in the sum. */
static void remote_parse_logprobs(const cJSON *c0, struct gen_output *out) {
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(c0, "logprobs");
    const cJSON *lpc = cJSON_IsObject(lp) ? cJSON_GetObjectItemCaseSensitive(lp, "content") : NULL;
    if (!cJSON_IsArray(lpc) || cJSON_GetArraySize(lpc) == 0) return;
    float sum = 0; /* in single precision, token by token, as the engine sums */
    int n = 0;
    size_t end = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, lpc) {
        const cJSON *v = cJSON_IsObject(t) ? cJSON_GetObjectItemCaseSensitive(t, "logprob") : NULL;
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble > 1e-3) {
            out->n_token_logprob = 0;
            return;
        }
        const cJSON *tok = cJSON_GetObjectItemCaseSensitive(t, "token");
        if (cJSON_IsString(tok)) end += strlen(tok->valuestring);
        if (n < BACKEND_MAX_TOKEN_LP) {
            out->token_logprob[n] = (float)v->valuedouble;
            out->token_end[n] = (uint16_t)(end < BACKEND_TEXT_CAP ? end : BACKEND_TEXT_CAP - 1);
        }
        sum += (float)v->valuedouble;
        n++;
    }
    out->has_logprob = true;
    out->sum_logprob = sum;
    out->n_token_logprob = n <= BACKEND_MAX_TOKEN_LP ? n : 0;
}

int backend_remote_parse(const char *url, const char *body, struct gen_output *out) {
    cJSON *j = cJSON_Parse(body);
    if (!j) return disr_fail(DISR_E_FORMAT, "%s: reply is not JSON: %.80s", url, body);
    int st = DISR_OK;
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
    const cJSON *c0 = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    const cJSON *msg = cJSON_IsObject(c0) ? cJSON_GetObjectItemCaseSensitive(c0, "message") : NULL;
    const cJSON *content = cJSON_IsObject(msg) ? cJSON_GetObjectItemCaseSensitive(msg, "content")
                                               : NULL;
    if (!cJSON_IsString(content)) {
        st = disr_fail(DISR_E_FORMAT, "%s: reply has no choices[0].message.content string", url);
        goto done;
    }
    gen_output_append(out, content->valuestring, strlen(content->valuestring));
    remote_parse_logprobs(c0, out);
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
    const cJSON *pt = cJSON_IsObject(usage) ? cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens")
                                            : NULL;
    const cJSON *ct = cJSON_IsObject(usage)
                          ? cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens")
                          : NULL;
    if (cJSON_IsNumber(pt) && pt->valuedouble >= 0 && pt->valuedouble < 1e9)
        out->n_prompt_tokens = pt->valueint;
    if (cJSON_IsNumber(ct) && ct->valuedouble >= 0 && ct->valuedouble < 1e9)
        out->n_tokens = ct->valueint;
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(c0, "finish_reason");
    if (cJSON_IsString(fr) && !strcmp(fr->valuestring, "length")) out->truncated = true;
done:
    cJSON_Delete(j);
    return st;
}

static int remote_generate(struct backend *b, const struct gen_request *rq,
                           struct gen_output *out) {
    struct remote *r = (struct remote *)b;
    memset(out, 0, sizeof *out);
    cJSON *req = cJSON_CreateObject(), *msgs = cJSON_AddArrayToObject(req, "messages");
    cJSON_AddStringToObject(req, "model", r->model);
    cJSON *sys = cJSON_CreateObject(), *user = cJSON_CreateObject();
    cJSON_AddStringToObject(sys, "role", "system");
    cJSON_AddStringToObject(sys, "content", scenario_system_prompt(rq->scenario));
    cJSON_AddStringToObject(user, "role", "user");
    cJSON_AddStringToObject(user, "content", rq->query);
    cJSON_AddItemToArray(msgs, sys);
    cJSON_AddItemToArray(msgs, user);
    if (rq->max_tokens > 0) cJSON_AddNumberToObject(req, "max_tokens", rq->max_tokens);
    cJSON_AddNumberToObject(req, "temperature", rq->temperature);
    cJSON_AddNumberToObject(req, "seed", (double)(rq->seed & 0xffffffffu));
    cJSON_AddBoolToObject(req, "logprobs", 1);
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    if (!body) return disr_fail(DISR_E_NOMEM, "remote: out of memory");
    const char *hdr[2] = {r->auth, NULL};
    struct http_options o = {.headers = r->auth ? hdr : NULL, .timeout_ms = r->timeout_ms};
    struct http_response resp;
    int st = http_request(r->url, body, strlen(body), &o, &resp);
    free(body);
    if (st < 0) return st;
    /* Overload and server faults may pass (DISR_E_NET: worth a retry); any other refusal is
     * the request's fault (a wrong model name or key) and will not. */
    bool transient = resp.status >= 500 || resp.status == 429 || resp.status == 408;
    if (resp.status != 200)
        st = disr_fail(transient ? DISR_E_NET : DISR_E_ARG, "%s: HTTP %ld: %.200s", r->url,
                       resp.status, resp.body);
    else
        st = backend_remote_parse(r->url, resp.body, out);
    http_response_free(&resp);
    if (st < 0) return st;
    if (rq->on_text && out->text[0] && rq->on_text(rq->ctx, out->text, strlen(out->text)))
        out->stopped = true;
    return DISR_OK;
}

static void remote_free(struct backend *b) {
    struct remote *r = (struct remote *)b;
    free(r->url);
    free(r->model);
    free(r->auth);
    free(r);
}

static const struct backend_ops remote_ops = {"remote", remote_generate, remote_free};

int backend_remote_create(struct backend **out, const char *url, const char *model,
                          const char *api_key, int timeout_ms) {
    if (!url || strncmp(url, "http", 4))
        return disr_fail(DISR_E_ARG, "remote backend: URL must start with http:// or https://");
    struct remote *r = calloc(1, sizeof *r);
    if (!r) return disr_fail(DISR_E_NOMEM, "remote backend: out of memory");
    r->base.ops = &remote_ops;
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    const char *suffix = "/chat/completions";
    int full = n >= strlen(suffix) && !strncmp(url + n - strlen(suffix), suffix, strlen(suffix));
    /* "http://h:p" -> ".../v1/chat/completions"; "http://h:p/v1" -> ".../chat/completions" */
    const char *add = full                                          ? ""
                      : (n >= 3 && !strncmp(url + n - 3, "/v1", 3)) ? suffix
                                                                    : "/v1/chat/completions";
    r->url = malloc(n + 32);
    if (r->url) snprintf(r->url, n + 32, "%.*s%s", (int)n, url, add);
    r->model = strdup(model ? model : "default");
    if (api_key) {
        r->auth = malloc(strlen(api_key) + 32);
        if (r->auth) sprintf(r->auth, "Authorization: Bearer %s", api_key);
    }
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : 60000;
    if (!r->url || !r->model || (api_key && !r->auth)) {
        remote_free(&r->base);
        return disr_fail(DISR_E_NOMEM, "remote backend: out of memory");
    }
    *out = &r->base;
    return DISR_OK;
}
