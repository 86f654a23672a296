/* The wire format of an agent node. Validation is strict about types (a string where a number
 * belongs is a 400 with the field named) and lenient about fields it does not use, as OpenAI
 * clients send many (top_p, n, user...). */
#include "serve/api.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "world/scenario.h"

int api_err(struct api_error *e, int status, const char *type, const char *code, const char *fmt,
            ...) {
    e->status = status;
    e->type = type;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -status;
}

char *api_error_json(const struct api_error *e) {
    cJSON *j = cJSON_CreateObject(), *o = cJSON_AddObjectToObject(j, "error");
    cJSON_AddStringToObject(o, "message", e->message);
    cJSON_AddStringToObject(o, "type", e->type ? e->type : "server_error");
    if (e->code)
        cJSON_AddStringToObject(o, "code", e->code);
    else
        cJSON_AddNullToObject(o, "code");
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

#define BAD(code, ...) api_err(err, 400, "invalid_request_error", code, __VA_ARGS__)

/* The text of a message's content: a string, or an array of {"type":"text","text":...} parts. */
static int content_text(const cJSON *c, char **out, size_t max, struct api_error *err) {
    if (cJSON_IsString(c)) {
        size_t n = strlen(c->valuestring);
        if (n > max)
            return api_err(err, 413, "invalid_request_error", "query_too_long",
                           "message content is %zu bytes; the limit is %zu", n, max);
        *out = strdup(c->valuestring);
        return *out ? 0 : api_err(err, 500, "server_error", NULL, "out of memory");
    }
    if (!cJSON_IsArray(c))
        return BAD("invalid_type", "messages[].content must be a string or an array of text parts");
    size_t n = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, c) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(part, "type");
        if (!cJSON_IsObject(part) || !cJSON_IsString(ty) || strcmp(ty->valuestring, "text") ||
            !cJSON_IsString(t))
            return BAD("invalid_type",
                       "content parts must be {\"type\":\"text\",\"text\":\"...\"}");
        n += strlen(t->valuestring);
        if (n > max)
            return api_err(err, 413, "invalid_request_error", "query_too_long",
                           "message content exceeds %zu bytes", max);
    }
    char *s = malloc(n + 1);
    if (!s) return api_err(err, 500, "server_error", NULL, "out of memory");
    size_t at = 0;
    cJSON_ArrayForEach(part, c) {
        const char *t = cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring;
        size_t tn = strlen(t);
        memcpy(s + at, t, tn);
        at += tn;
    }
    s[at] = '\0';
    *out = s;
    return 0;
}

static int parse_fields(const cJSON *j, const struct api_limits *lim, struct chat_request *r,
                        struct api_error *err) {
    if (!cJSON_IsObject(j)) return BAD("invalid_type", "the request body must be a JSON object");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "model");
    bool alias = false;
    if (v) {
        if (!cJSON_IsString(v)) return BAD("invalid_type", "\"model\" must be a string");
        snprintf(r->model, sizeof r->model, "%s", v->valuestring);
        if (!strcmp(v->valuestring, API_MODEL_FORCED)) {
            r->forced = true;
        } else if (!strcmp(v->valuestring, API_MODEL_DECIDE)) {
            r->decide = true;
        } else if (!strncmp(v->valuestring, "disr-", 5)) {
            int s = scenario_parse(v->valuestring);
            if (s <= SCENARIO_NONE)
                return api_err(err, 404, "invalid_request_error", "model_not_found",
                               "model '%.60s' does not exist; use disr-performance, disr-balance, "
                               "disr-cost, disr-forced or disr-decide",
                               v->valuestring);
            r->alpha = scenario_alpha((enum scenario)s);
            alias = true;
        }
    } else {
        snprintf(r->model, sizeof r->model, "disr-balance");
    }
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "disr");
    if (d && !cJSON_IsNull(d)) {
        if (!cJSON_IsObject(d)) return BAD("invalid_type", "\"disr\" must be an object");
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(d, "alpha");
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(d, "scenario");
        if (a) {
            if (!cJSON_IsNumber(a) || !(a->valuedouble >= 0 && a->valuedouble <= 1))
                return BAD("invalid_value", "\"disr.alpha\" must be a number in [0, 1]");
            r->alpha = a->valuedouble;
        } else if (sc) {
            int s = cJSON_IsString(sc) ? scenario_parse(sc->valuestring) : -1;
            if (s <= SCENARIO_NONE)
                return BAD("invalid_value",
                           "\"disr.scenario\" must be performance, balance or cost");
            r->alpha = scenario_alpha((enum scenario)s);
        }
    } else if (!alias) {
        r->alpha = 0.5;
    }
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
        return BAD(msgs ? "invalid_type" : "missing_field",
                   "\"messages\" must be a non-empty array");
    const cJSON *m, *last_user = NULL;
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role))
            return BAD("invalid_type", "each message must be an object with a string \"role\"");
        if (!strcmp(role->valuestring, "user")) last_user = m;
    }
    if (!last_user) return BAD("missing_field", "no message with role \"user\"");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(last_user, "content");
    if (!c) return BAD("missing_field", "the user message has no \"content\"");
    size_t max_q = lim && lim->max_query ? lim->max_query : 16384;
    int st = content_text(c, &r->query, max_q, err);
    if (st) return st;
    if (!r->query[0]) return BAD("invalid_value", "the user message is empty");

    int max_tokens = lim && lim->max_tokens ? lim->max_tokens : 1024;
    r->max_tokens = lim && lim->default_tokens ? lim->default_tokens : 64;
    if (r->max_tokens > max_tokens) r->max_tokens = max_tokens;
    v = cJSON_GetObjectItemCaseSensitive(j, "max_completion_tokens");
    if (!v || cJSON_IsNull(v)) v = cJSON_GetObjectItemCaseSensitive(j, "max_tokens");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 1)
            return BAD("invalid_value", "\"max_tokens\" must be a positive integer");
        if (v->valuedouble > max_tokens)
            return BAD("invalid_value", "\"max_tokens\" is %.0f; this node allows at most %d",
                       v->valuedouble, max_tokens);
        r->max_tokens = (int)v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(j, "temperature");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 2))
            return BAD("invalid_value", "\"temperature\" must be a number in [0, 2]");
        r->temperature = v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(j, "seed");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || !(fabs(v->valuedouble) < 9.007199254740992e15))
            return BAD("invalid_value", "\"seed\" must be an integer");
        r->seed = (uint64_t)(int64_t)v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(j, "stream");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsBool(v)) return BAD("invalid_type", "\"stream\" must be true or false");
        r->stream = cJSON_IsTrue(v);
    }
    v = cJSON_GetObjectItemCaseSensitive(j, "stream_options");
    if (v && cJSON_IsObject(v))
        r->include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "include_usage"));
    v = cJSON_GetObjectItemCaseSensitive(j, "logprobs");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsBool(v)) return BAD("invalid_type", "\"logprobs\" must be true or false");
        r->logprobs = cJSON_IsTrue(v);
    }
    v = cJSON_GetObjectItemCaseSensitive(j, "top_logprobs");
    if (v && !cJSON_IsNull(v) && !(cJSON_IsNumber(v) && v->valuedouble == 0))
        return BAD("invalid_value", "only \"top_logprobs\": 0 is supported");
    v = cJSON_GetObjectItemCaseSensitive(j, "n");
    if (v && !cJSON_IsNull(v) && !(cJSON_IsNumber(v) && v->valuedouble == 1))
        return BAD("invalid_value", "only \"n\": 1 is supported");
    return 0;
}

int api_parse_chat(const char *body, size_t len, const struct api_limits *lim,
                   struct chat_request *out, struct api_error *err) {
    memset(out, 0, sizeof *out);
    if (!body || len == 0) return BAD("invalid_json", "empty request body; expected JSON");
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!j) return BAD("invalid_json", "the request body is not valid JSON");
    int st = parse_fields(j, lim, out, err);
    cJSON_Delete(j);
    if (st) chat_request_free(out);
    return st;
}

void chat_request_free(struct chat_request *r) {
    free(r->query);
    r->query = NULL;
}

char *api_chat_request_json(const struct chat_request *r) {
    cJSON *j = cJSON_CreateObject(), *msgs = cJSON_AddArrayToObject(j, "messages");
    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "role", "user");
    cJSON_AddStringToObject(u, "content", r->query);
    cJSON_AddItemToArray(msgs, u);
    cJSON_AddStringToObject(j, "model", r->model);
    cJSON_AddNumberToObject(j, "max_tokens", r->max_tokens);
    cJSON_AddNumberToObject(j, "temperature", r->temperature);
    cJSON_AddNumberToObject(j, "seed", (double)(int64_t)r->seed);
    cJSON_AddBoolToObject(j, "stream", 0);
    cJSON *d = cJSON_AddObjectToObject(j, "disr");
    cJSON_AddNumberToObject(d, "alpha", r->alpha);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

void *api_trace_json(const struct route_trace *t, double alpha) {
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "alpha", alpha);
    cJSON_AddStringToObject(d, "scenario", scenario_name(scenario_from_alpha(alpha)));
    cJSON *route = cJSON_AddArrayToObject(d, "route");
    for (int i = 0; i < t->n; i++) {
        const struct hop *h = &t->hops[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "agent", h->agent);
        cJSON_AddStringToObject(o, "decision", hop_decision_name(h->decision));
        cJSON_AddNumberToObject(o, "latency_ms", round(h->latency_ms * 1000) / 1000);
        cJSON_AddNumberToObject(o, "cost", h->cost);
        if (h->note[0]) cJSON_AddStringToObject(o, "note", h->note);
        cJSON_AddItemToArray(route, o);
    }
    if (t->answerer >= 0 && t->answerer < t->n) {
        cJSON_AddStringToObject(d, "answerer", t->hops[t->answerer].agent);
        cJSON_AddNumberToObject(d, "cost", t->hops[t->answerer].cost);
    } else {
        cJSON_AddNullToObject(d, "answerer");
    }
    cJSON_AddNumberToObject(d, "hops", t->n);
    return d;
}

int api_trace_parse(const void *disr_json, struct route_trace *t) {
    const cJSON *d = disr_json;
    const cJSON *route = cJSON_GetObjectItemCaseSensitive(d, "route");
    if (!cJSON_IsArray(route)) return disr_fail(DISR_E_FORMAT, "disr object has no route array");
    const cJSON *o, *ans = cJSON_GetObjectItemCaseSensitive(d, "answerer");
    cJSON_ArrayForEach(o, route) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "agent");
        const cJSON *dec = cJSON_GetObjectItemCaseSensitive(o, "decision");
        const cJSON *lat = cJSON_GetObjectItemCaseSensitive(o, "latency_ms");
        const cJSON *cost = cJSON_GetObjectItemCaseSensitive(o, "cost");
        const cJSON *note = cJSON_GetObjectItemCaseSensitive(o, "note");
        int dd = cJSON_IsString(dec) ? hop_decision_parse(dec->valuestring) : -1;
        if (!cJSON_IsString(a) || dd < 0 || !cJSON_IsNumber(lat) || !cJSON_IsNumber(cost))
            return disr_fail(DISR_E_FORMAT, "malformed hop in the route");
        int idx = route_trace_add(t, a->valuestring, (enum hop_decision)dd, lat->valuedouble,
                                  cost->valuedouble, cJSON_IsString(note) ? note->valuestring : "");
        if (idx < 0) return disr_fail(DISR_E_RANGE, "route longer than %d hops", ROUTE_MAX_HOPS);
        if ((dd == HOP_ANSWER || dd == HOP_FALLBACK) && cJSON_IsString(ans) &&
            !strcmp(ans->valuestring, a->valuestring))
            t->answerer = idx;
    }
    return DISR_OK;
}

static cJSON *reply_base(const struct chat_reply *r, const char *object) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", r->id);
    cJSON_AddStringToObject(j, "object", object);
    cJSON_AddNumberToObject(j, "created", (double)r->created);
    cJSON_AddStringToObject(j, "model", r->model);
    cJSON_AddStringToObject(j, "system_fingerprint", "disr-" DISR_VERSION);
    return j;
}

static void add_usage(cJSON *j, const struct chat_reply *r) {
    cJSON *u = cJSON_AddObjectToObject(j, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", r->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", r->completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", r->prompt_tokens + r->completion_tokens);
}

/* Whether s[0..n) is whole, well-formed UTF-8 (no cut character, no overlong form). */
static bool utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        int k = p[i] < 0x80 ? 0 : (p[i] & 0xe0) == 0xc0 ? 1 : (p[i] & 0xf0) == 0xe0 ? 2
                                : (p[i] & 0xf8) == 0xf0 ? 3 : -1;
        if (k < 0 || i + (size_t)k >= n) return false;
        if (k == 1 && p[i] < 0xc2) return false;
        for (int b = 1; b <= k; b++)
            if ((p[i + b] & 0xc0) != 0x80) return false;
        i += (size_t)k + 1;
    }
    return true;
}

/* OpenAI's choices[0].logprobs: {"content":[{"token","logprob","bytes","top_logprobs":[]}]}, one
 * entry per generated token (a stop char or EOS included, with an empty piece), so the entries
 * sum to the answer's log probability. A piece that is not whole UTF-8 (a byte-level token cut
 * inside a character) has "token" "" and its bytes in "bytes". */
static void add_logprobs(cJSON *c, const struct chat_reply *r) {
    if (r->n_logprob <= 0 || !r->content) {
        cJSON_AddNullToObject(c, "logprobs");
        return;
    }
    cJSON *lp = cJSON_AddObjectToObject(c, "logprobs"), *arr = cJSON_AddArrayToObject(lp, "content");
    size_t len = strlen(r->content), start = 0;
    for (int i = 0; i < r->n_logprob; i++) {
        size_t end = r->token_end[i] < len ? r->token_end[i] : len;
        if (end < start) end = start;
        char piece[64] = "";
        size_t n = end - start;
        if (n < sizeof piece && utf8_valid(r->content + start, n))
            memcpy(piece, r->content + start, n), piece[n] = '\0';
        cJSON *e = cJSON_CreateObject(), *bytes = cJSON_CreateArray();
        cJSON_AddStringToObject(e, "token", piece);
        cJSON_AddNumberToObject(e, "logprob", r->token_logprob[i]);
        for (size_t b = start; b < end; b++)
            cJSON_AddItemToArray(bytes, cJSON_CreateNumber((unsigned char)r->content[b]));
        cJSON_AddItemToObject(e, "bytes", bytes);
        cJSON_AddArrayToObject(e, "top_logprobs");
        cJSON_AddItemToArray(arr, e);
        start = end;
    }
}

char *api_chat_reply_json(const struct chat_reply *r) {
    cJSON *j = reply_base(r, "chat.completion");
    cJSON *choices = cJSON_AddArrayToObject(j, "choices"), *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON *m = cJSON_AddObjectToObject(c, "message");
    cJSON_AddStringToObject(m, "role", "assistant");
    cJSON_AddStringToObject(m, "content", r->content ? r->content : "");
    add_logprobs(c, r);
    cJSON_AddStringToObject(c, "finish_reason", r->finish_reason ? r->finish_reason : "stop");
    cJSON_AddItemToArray(choices, c);
    add_usage(j, r);
    if (r->trace) cJSON_AddItemToObject(j, "disr", api_trace_json(r->trace, r->alpha));
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

char *api_chat_chunk_sse(const struct chat_reply *r, const char *delta, bool first, bool final) {
    cJSON *j = reply_base(r, "chat.completion.chunk");
    cJSON *choices = cJSON_AddArrayToObject(j, "choices"), *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON *d = cJSON_AddObjectToObject(c, "delta");
    if (first) cJSON_AddStringToObject(d, "role", "assistant");
    if (delta) cJSON_AddStringToObject(d, "content", delta);
    cJSON_AddNullToObject(c, "logprobs");
    if (final)
        cJSON_AddStringToObject(c, "finish_reason", r->finish_reason ? r->finish_reason : "stop");
    else
        cJSON_AddNullToObject(c, "finish_reason");
    cJSON_AddItemToArray(choices, c);
    if (final) {
        add_usage(j, r);
        if (r->trace) cJSON_AddItemToObject(j, "disr", api_trace_json(r->trace, r->alpha));
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s) return NULL;
    size_t n = strlen(s);
    char *ev = malloc(n + 10);
    if (ev) {
        memcpy(ev, "data: ", 6);
        memcpy(ev + 6, s, n);
        memcpy(ev + 6 + n, "\n\n", 3);
    }
    free(s);
    return ev;
}

int api_parse_reply(const char *body, char *content, size_t cap, char *finish, size_t fcap,
                    int *prompt_tokens, int *completion_tokens, struct route_trace *t) {
    cJSON *j = cJSON_Parse(body);
    if (!j) return disr_fail(DISR_E_FORMAT, "next agent's reply is not JSON");
    int st = DISR_OK;
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
    const cJSON *c0 = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    const cJSON *msg = c0 ? cJSON_GetObjectItemCaseSensitive(c0, "message") : NULL;
    const cJSON *txt = msg ? cJSON_GetObjectItemCaseSensitive(msg, "content") : NULL;
    const cJSON *fr = c0 ? cJSON_GetObjectItemCaseSensitive(c0, "finish_reason") : NULL;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "disr");
    if (!cJSON_IsString(txt)) {
        st = disr_fail(DISR_E_FORMAT, "next agent's reply has no choices[0].message.content");
        goto done;
    }
    snprintf(content, cap, "%s", txt->valuestring);
    snprintf(finish, fcap, "%s", cJSON_IsString(fr) ? fr->valuestring : "stop");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    const cJSON *pt = u ? cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens") : NULL;
    const cJSON *ct = u ? cJSON_GetObjectItemCaseSensitive(u, "completion_tokens") : NULL;
    *prompt_tokens = cJSON_IsNumber(pt) ? pt->valueint : 0;
    *completion_tokens = cJSON_IsNumber(ct) ? ct->valueint : 0;
    if (d) st = api_trace_parse(d, t);
done:
    cJSON_Delete(j);
    return st;
}

char *api_models_json(const char *agent_name) {
    cJSON *j = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(j, "data");
    cJSON_AddStringToObject(j, "object", "list");
    static const char *const own[2] = {API_MODEL_FORCED, API_MODEL_DECIDE};
    for (int i = 0; i < 2; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "id", own[i]);
        cJSON_AddStringToObject(f, "object", "model");
        cJSON_AddNumberToObject(f, "created", 0);
        cJSON_AddStringToObject(f, "owned_by", agent_name);
        cJSON_AddItemToArray(data, f);
    }
    for (int s = SCENARIO_PERFORMANCE; s <= SCENARIO_COST; s++) {
        char id[64];
        snprintf(id, sizeof id, "disr-%s", scenario_name((enum scenario)s));
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "id", id);
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddNumberToObject(m, "created", 0);
        cJSON_AddStringToObject(m, "owned_by", agent_name);
        cJSON_AddNumberToObject(m, "alpha", scenario_alpha((enum scenario)s));
        cJSON_AddItemToArray(data, m);
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}
