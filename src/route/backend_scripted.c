/* The scripted backend: a rule table standing in for a model, so the chain, the server and the
 * failure handling can be tested with exact, known decisions and timings. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "route/backend.h"

struct rule {
    char *contains, *reply, *answer;
    int scenario;
    double p;
    int delay_ms;
    bool fail;
};

struct scripted {
    struct backend base;
    struct rule *rules;
    int n, cap;
};

void backend_free(struct backend *b) {
    if (b) b->ops->free(b);
}

void gen_output_append(struct gen_output *out, const char *piece, size_t len) {
    size_t have = strlen(out->text);
    if (have + len >= sizeof out->text) {
        len = sizeof out->text - 1 - have;
        out->truncated = true;
    }
    memcpy(out->text + have, piece, len);
    out->text[have + len] = '\0';
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

static const struct rule *match(const struct scripted *s, const char *query, enum scenario sc) {
    for (int i = 0; i < s->n; i++) {
        const struct rule *r = &s->rules[i];
        if (r->scenario >= 0 && r->scenario != (int)sc) continue;
        if (r->contains[0] && !strstr(query, r->contains)) continue;
        return r;
    }
    return NULL;
}

static int scripted_generate(struct backend *b, const struct gen_request *rq,
                             struct gen_output *out) {
    struct scripted *s = (struct scripted *)b;
    memset(out, 0, sizeof *out);
    const struct rule *r = match(s, rq->query, rq->scenario);
    const char *text = "unknown";
    double p = 0.5;
    if (r) {
        if (r->delay_ms > 0) sleep_ms(r->delay_ms);
        if (r->fail) return disr_fail(DISR_E_STATE, "scripted failure for this query");
        p = r->p;
        if (rq->scenario != SCENARIO_NONE)
            text = r->reply;
        else if (r->answer)
            text = r->answer;
        else if (!scenario_is_reject(r->reply))
            text = r->reply;
    }
    out->n_prompt_tokens = (int)strlen(rq->query);
    out->has_logprob = true;
    out->sum_logprob = p > 0 ? log(p) : -1e30;
    /* word by word, so streaming and early stopping see several pieces */
    int max_tokens = rq->max_tokens > 0 ? rq->max_tokens : 1 << 30;
    for (const char *w = text; *w && out->n_tokens < max_tokens;) {
        const char *e = w;
        while (*e == ' ')
            e++;
        while (*e && *e != ' ')
            e++;
        gen_output_append(out, w, (size_t)(e - w));
        out->n_tokens++;
        if (rq->on_text && rq->on_text(rq->ctx, w, (size_t)(e - w))) {
            out->stopped = true;
            break;
        }
        w = e;
    }
    if (out->n_tokens >= max_tokens && strlen(out->text) < strlen(text)) out->truncated = true;
    return DISR_OK;
}

static void scripted_free(struct backend *b) {
    struct scripted *s = (struct scripted *)b;
    for (int i = 0; i < s->n; i++) {
        free(s->rules[i].contains);
        free(s->rules[i].reply);
        free(s->rules[i].answer);
    }
    free(s->rules);
    free(s);
}

static const struct backend_ops scripted_ops = {"scripted", scripted_generate, scripted_free};

int backend_scripted_create(struct backend **out) {
    struct scripted *s = calloc(1, sizeof *s);
    if (!s) return disr_fail(DISR_E_NOMEM, "scripted backend: out of memory");
    s->base.ops = &scripted_ops;
    *out = &s->base;
    return DISR_OK;
}

int backend_scripted_add(struct backend *b, const struct script_rule *r) {
    if (b->ops != &scripted_ops) return disr_fail(DISR_E_ARG, "not a scripted backend");
    struct scripted *s = (struct scripted *)b;
    if (r->p < 0 || r->p > 1 || r->delay_ms < 0)
        return disr_fail(DISR_E_RANGE, "script rule: p must be in [0,1] and delay_ms >= 0");
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 8;
        struct rule *nr = realloc(s->rules, (size_t)cap * sizeof *nr);
        if (!nr) return disr_fail(DISR_E_NOMEM, "script rules: out of memory");
        s->rules = nr;
        s->cap = cap;
    }
    struct rule *d = &s->rules[s->n];
    d->contains = strdup(r->contains ? r->contains : "");
    d->reply = strdup(r->reply ? r->reply : "unknown");
    d->answer = r->answer ? strdup(r->answer) : NULL;
    if (!d->contains || !d->reply || (r->answer && !d->answer)) {
        free(d->contains), free(d->reply), free(d->answer);
        return disr_fail(DISR_E_NOMEM, "script rules: out of memory");
    }
    d->scenario = r->scenario;
    d->p = r->p;
    d->delay_ms = r->delay_ms;
    d->fail = r->fail;
    s->n++;
    return DISR_OK;
}

static int rule_from_json(const cJSON *j, struct script_rule *r, const char *path, int line) {
    *r = (struct script_rule){.contains = "", .scenario = -1, .reply = "unknown", .p = 0.9};
    if (!cJSON_IsObject(j)) return disr_fail(DISR_E_FORMAT, "%s:%d: not a JSON object", path, line);
    const cJSON *v;
#define STR_FIELD(name, dst)                                                                       \
    if ((v = cJSON_GetObjectItemCaseSensitive(j, name))) {                                         \
        if (!cJSON_IsString(v))                                                                    \
            return disr_fail(DISR_E_FORMAT, "%s:%d: \"%s\" must be a string", path, line, name);   \
        dst = v->valuestring;                                                                      \
    }
    STR_FIELD("contains", r->contains)
    STR_FIELD("reply", r->reply)
    STR_FIELD("answer", r->answer)
#undef STR_FIELD
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "scenario"))) {
        if (!cJSON_IsString(v) || (r->scenario = scenario_parse(v->valuestring)) < 0)
            return disr_fail(DISR_E_FORMAT, "%s:%d: unknown scenario", path, line);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "p"))) {
        if (!cJSON_IsNumber(v))
            return disr_fail(DISR_E_FORMAT, "%s:%d: \"p\" must be a number", path, line);
        r->p = v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "delay_ms"))) {
        if (!cJSON_IsNumber(v) || v->valuedouble > 3600e3)
            return disr_fail(DISR_E_FORMAT, "%s:%d: bad \"delay_ms\"", path, line);
        r->delay_ms = (int)v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "fail"))) {
        if (!cJSON_IsBool(v))
            return disr_fail(DISR_E_FORMAT, "%s:%d: \"fail\" must be true/false", path, line);
        r->fail = cJSON_IsTrue(v);
    }
    return DISR_OK;
}

int backend_scripted_load(struct backend *b, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return disr_fail(DISR_E_IO, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, st = DISR_OK;
    while (st == DISR_OK && getline(&line, &cap, f) > 0) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\n' || *p == '\0' || *p == '#') continue;
        cJSON *j = cJSON_Parse(p);
        if (!j) {
            st = disr_fail(DISR_E_FORMAT, "%s:%d: invalid JSON", path, lineno);
            break;
        }
        struct script_rule r;
        st = rule_from_json(j, &r, path, lineno);
        if (st == DISR_OK) st = backend_scripted_add(b, &r);
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    return st;
}
