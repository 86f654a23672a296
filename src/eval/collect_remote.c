#include "eval/collect_remote.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "route/backend.h"
#include "route/http_client.h"
#include "serve/api.h"
#include "world/grader.h"
#include "world/scenario.h"

bool collect_is_remote(const char *agent) {
    return agent && (!strncmp(agent, "http://", 7) || !strncmp(agent, "https://", 8));
}

/* ---------------------------------------------------------------- probe */

/* ".../v1/<path>" for a base URL given as the remote backend takes it (host, .../v1 or the
 * full .../v1/chat/completions). */
static void api_url(const char *url, const char *path, char *out, size_t cap) {
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    const char *cc = "/chat/completions";
    if (n >= strlen(cc) && !strncmp(url + n - strlen(cc), cc, strlen(cc))) n -= strlen(cc);
    bool v1 = n >= 3 && !strncmp(url + n - 3, "/v1", 3);
    snprintf(out, cap, "%.*s%s/%s", (int)n, url, v1 ? "" : "/v1", path);
}

static void models_url(const char *url, char *out, size_t cap) {
    api_url(url, "models", out, cap);
}

static void chat_url(const char *url, char *out, size_t cap) {
    api_url(url, "chat/completions", out, cap);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A failure that may pass: no connection, a timeout, a server fault or overload (the remote
 * backend maps 5xx/429/408 to DISR_E_NET), a reply cut or garbled on the way. */
static bool transient(int st) {
    return st == DISR_E_NET || st == DISR_E_TIMEOUT || st == DISR_E_FORMAT;
}

static int backoff_ms(int attempt) {
    return 250 << (attempt < 5 ? attempt : 5);
}

/* GET .../v1/models of `base` (agent a's server or checkpoint node), with retries. */
static int get_models(const struct collect_config *c, int a, const char *base,
                      struct http_response *resp) {
    char url[1024], auth[600];
    models_url(base, url, sizeof url);
    const char *hdr[2] = {NULL, NULL};
    if (c->api_key[a]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->api_key[a]);
        hdr[0] = auth;
    }
    struct http_options o = {.headers = hdr[0] ? hdr : NULL, .timeout_ms = 10000};
    int st = DISR_OK;
    for (int attempt = 0;; attempt++) {
        st = http_request(url, NULL, 0, &o, resp);
        if (st == DISR_OK && (resp->status >= 500 || resp->status == 429)) {
            st = disr_fail(DISR_E_NET, "%s: HTTP %ld", url, resp->status);
            http_response_free(resp);
        }
        if (st == DISR_OK || attempt >= c->retries) break;
        log_warn("collect: agent %d (%s): %s; retrying", a, base, disr_last_error());
        sleep_ms(backoff_ms(attempt));
    }
    if (st != DISR_OK) {
        char why[512]; /* disr_fail writes over the message it would read */
        snprintf(why, sizeof why, "%s", disr_last_error());
        return disr_fail(st, "agent %d (%s) is unreachable after %d attempts: %s", a, base,
                         c->retries + 1, why);
    }
    return DISR_OK;
}

/* The host:port part of a URL, as a name for an agent that has none. */
static void url_host(const char *url, char *out, size_t cap) {
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    size_t n = strcspn(h, "/");
    snprintf(out, cap, "%.*s", (int)n, h);
}

int collect_remote_probe(const struct collect_config *c, int a, struct remote_agent *out) {
    memset(out, 0, sizeof *out);
    struct http_response resp;
    DISR_TRY(get_models(c, a, c->agent[a], &resp));
    const char *want = c->remote_model[a];
    cJSON *j = resp.status == 200 ? cJSON_Parse(resp.body) : NULL;
    const cJSON *data = j ? cJSON_GetObjectItemCaseSensitive(j, "data") : NULL;
    int st = DISR_OK;
    char listed[256] = "";
    const cJSON *only = NULL, *forced = NULL, *match = NULL, *m;
    int n = 0;
    const cJSON *list = cJSON_IsArray(data) ? data : NULL;
    cJSON_ArrayForEach(m, list) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "id");
        if (!cJSON_IsString(id)) continue;
        n++, only = m;
        if (!strcmp(id->valuestring, API_MODEL_FORCED)) forced = m;
        if (want && !strcmp(id->valuestring, want)) match = m;
        size_t at = strlen(listed);
        if (at + 2 < sizeof listed)
            snprintf(listed + at, sizeof listed - at, "%s%s", at ? ", " : "", id->valuestring);
    }
    if (resp.status != 200 && (resp.status == 401 || resp.status == 403)) {
        st = disr_fail(DISR_E_ARG, "agent %d (%s): HTTP %ld: the server refuses the key", a,
                       c->agent[a], resp.status);
    } else if (want && n > 0 && !match) {
        st = disr_fail(DISR_E_ARG, "agent %d (%s) does not serve model '%s' (it lists: %s)", a,
                       c->agent[a], want, listed);
    } else if (want) { /* listed, or a server without a model list: taken as given */
        snprintf(out->model, sizeof out->model, "%s", want);
        out->disr_node = !strcmp(want, API_MODEL_FORCED);
    } else if (forced) {
        snprintf(out->model, sizeof out->model, "%s", API_MODEL_FORCED);
        out->disr_node = true;
    } else if (n == 1) {
        snprintf(out->model, sizeof out->model, "%s",
                 cJSON_GetObjectItemCaseSensitive(only, "id")->valuestring);
    } else {
        st = disr_fail(DISR_E_ARG,
                       "agent %d (%s): %s; name the model (--remote-models, or remote_model in "
                       "the network file)",
                       a, c->agent[a],
                       n ? "the server lists several models" : "the server lists no model");
    }
    if (st == DISR_OK) {
        const cJSON *owner = out->disr_node && forced
                                 ? cJSON_GetObjectItemCaseSensitive(forced, "owned_by")
                                 : NULL;
        if (cJSON_IsString(owner) && owner->valuestring[0])
            snprintf(out->name, sizeof out->name, "%s", owner->valuestring);
        else if (!out->disr_node)
            snprintf(out->name, sizeof out->name, "%s", out->model);
        else
            url_host(c->agent[a], out->name, sizeof out->name);
    }
    cJSON_Delete(j);
    http_response_free(&resp);
    return st;
}

int collect_remote_check_decide(const struct collect_config *c, int a, const char *url) {
    struct http_response resp;
    DISR_TRY(get_models(c, a, url, &resp));
    cJSON *j = resp.status == 200 ? cJSON_Parse(resp.body) : NULL;
    const cJSON *data = j ? cJSON_GetObjectItemCaseSensitive(j, "data") : NULL, *m;
    bool found = false;
    const cJSON *list = cJSON_IsArray(data) ? data : NULL;
    cJSON_ArrayForEach(m, list) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "id");
        found = found || (cJSON_IsString(id) && !strcmp(id->valuestring, API_MODEL_DECIDE));
    }
    cJSON_Delete(j);
    http_response_free(&resp);
    if (!found)
        return disr_fail(DISR_E_ARG,
                         "agent %d: %s is not a disr serve node (no %s model): trained decisions "
                         "are recorded only from one",
                         a, url, API_MODEL_DECIDE);
    return DISR_OK;
}

/* ---------------------------------------------------------------- resume file */

/* The resume state of (query, agent, kind): kind 0 the forced pass, 1 + variant a decisions. */
#define N_KIND 3
static size_t done_at(const struct outcome_table *t, int qi, int a, int kind) {
    return ((size_t)qi * t->n_agents + a) * N_KIND + kind;
}

/* The header that names a run: a file written for other agents, models, settings or queries
 * must not be mixed into this one. */
static char *resume_header(const struct outcome_table *t, const struct collect_config *c,
                           const struct remote_agent *ra) {
    cJSON *h = cJSON_CreateObject(), *ag = cJSON_AddArrayToObject(h, "agents");
    cJSON_AddNumberToObject(h, "disr_partial_outcomes", 1);
    for (int a = 0; a < t->n_agents; a++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "url", collect_is_remote(c->agent[a]) ? c->agent[a] : "");
        cJSON_AddStringToObject(o, "model", collect_is_remote(c->agent[a]) ? ra[a].model : "");
        cJSON_AddStringToObject(o, "sft", collect_is_remote(c->sft[a]) ? c->sft[a] : "");
        cJSON_AddStringToObject(o, "rl", collect_is_remote(c->rl[a]) ? c->rl[a] : "");
        cJSON_AddItemToArray(ag, o);
    }
    cJSON_AddNumberToObject(h, "max_tokens", c->max_tokens);
    cJSON_AddNumberToObject(h, "verify_samples", c->verify_samples);
    cJSON_AddNumberToObject(h, "seed", (double)(c->seed & 0xffffffffu));
    cJSON_AddNumberToObject(h, "queries", t->n_queries);
    cJSON_AddStringToObject(h, "first_qid", t->n_queries ? t->q[0].id : "");
    cJSON_AddStringToObject(h, "last_qid", t->n_queries ? t->q[t->n_queries - 1].id : "");
    char *s = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    return s;
}

static int qid_index(const struct outcome_table *t, const char *qid) {
    for (int i = 0; i < t->n_queries; i++) /* resume is rare: a linear scan is enough */
        if (!strcmp(t->q[i].id, qid)) return i;
    return -1;
}

static float get_score(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 1 ? (float)v->valuedouble
                                                                           : NAN;
}

/* A decisions line: {"qid","agent","variant":"sft"|"rl","answer":[3],"right":[3],"reject_s",
 * "rejects"}. */
static int resume_read_decisions(struct collect_resume *r, struct outcome_table *t,
                                 const cJSON *o, int qi, int a, const char *path, long ln) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "variant");
    const cJSON *ans = cJSON_GetObjectItemCaseSensitive(o, "answer");
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(o, "right");
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(o, "reject_s");
    const cJSON *rn = cJSON_GetObjectItemCaseSensitive(o, "rejects");
    int var = !cJSON_IsString(v) ? -1 : !strcmp(v->valuestring, "sft") ? OUT_SFT
                                       : !strcmp(v->valuestring, "rl") ? OUT_RL : -1;
    if (var < 0 || cJSON_GetArraySize(ans) != OUT_N_SCEN || cJSON_GetArraySize(ok) != OUT_N_SCEN ||
        !cJSON_IsNumber(rs) || !cJSON_IsNumber(rn))
        return disr_fail(DISR_E_FORMAT, "%s:%ld: not a decisions line of this run", path, ln);
    struct outcome_cell *cell = outcome_at(t, qi, a);
    for (int sc = 0; sc < OUT_N_SCEN; sc++) {
        cell->decide[var][sc] = (int8_t)(cJSON_IsTrue(cJSON_GetArrayItem(ans, sc)) ? OUT_ANSWER
                                                                                     : OUT_REJECT);
        cell->dcorrect[var][sc] = (uint8_t)cJSON_IsTrue(cJSON_GetArrayItem(ok, sc));
    }
    r->reject_s[a][var] += rs->valuedouble;
    r->rejects[a][var] += rn->valueint;
    if (!r->done[done_at(t, qi, a, 1 + var)]) r->n_read++;
    r->done[done_at(t, qi, a, 1 + var)] = 1;
    return DISR_OK;
}

/* One line back into the table: a cell's forced pass, or its decisions. */
static int resume_read_line(struct collect_resume *r, struct outcome_table *t, const char *line,
                            const char *path, long ln) {
    cJSON *o = cJSON_Parse(line);
    const cJSON *qid = o ? cJSON_GetObjectItemCaseSensitive(o, "qid") : NULL;
    const cJSON *ag = o ? cJSON_GetObjectItemCaseSensitive(o, "agent") : NULL;
    const cJSON *fo = o ? cJSON_GetObjectItemCaseSensitive(o, "forced") : NULL;
    int qi = cJSON_IsString(qid) ? qid_index(t, qid->valuestring) : -1;
    int a = cJSON_IsNumber(ag) ? ag->valueint : -1;
    int st = DISR_OK;
    if (qi >= 0 && a >= 0 && a < t->n_agents && !fo) {
        st = resume_read_decisions(r, t, o, qi, a, path, ln);
    } else if (qi < 0 || a < 0 || a >= t->n_agents || !cJSON_IsString(fo)) {
        st = disr_fail(DISR_E_FORMAT, "%s:%ld: not a cell of this run", path, ln);
    } else {
        struct outcome_cell *cell = outcome_at(t, qi, a);
        st = outcome_cell_set_forced(cell, fo->valuestring);
        cell->correct = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "correct"));
        cell->conf = get_score(o, "conf");
        cell->verify = get_score(o, "verify");
        const cJSON *ta = cJSON_GetObjectItemCaseSensitive(o, "t_answer");
        cell->t_answer = cJSON_IsNumber(ta) ? (float)ta->valuedouble : 0;
        if (!r->done[done_at(t, qi, a, 0)]) r->n_read++;
        r->done[done_at(t, qi, a, 0)] = 1;
    }
    cJSON_Delete(o);
    return st;
}

static int resume_read(struct collect_resume *r, struct outcome_table *t, const char *path,
                       const char *header, char *text, size_t len) {
    char *nl = memchr(text, '\n', len);
    if (!nl || (size_t)(nl - text) != strlen(header) || memcmp(text, header, strlen(header)))
        return disr_fail(DISR_E_STATE,
                         "%s holds the cells of another run (other agents, models, settings or "
                         "query files); delete it to start over, or rerun with those",
                         path);
    long ln = 1;
    for (char *line = nl + 1; line < text + len; ln++) {
        char *end = memchr(line, '\n', (size_t)(text + len - line));
        if (!end) break; /* resume_drop_cut_line left none */
        *end = '\0';
        if (line[0]) DISR_TRY(resume_read_line(r, t, line, path, ln + 1));
        line = end + 1;
    }
    return DISR_OK;
}

/* Drops a last line cut by an interruption (it is asked again), so appends start on a line. */
static int resume_drop_cut_line(const char *path, const char *text, size_t *len) {
    if (*len == 0 || text[*len - 1] == '\n') return DISR_OK;
    size_t keep = *len;
    while (keep > 0 && text[keep - 1] != '\n')
        keep--;
    log_warn("collect: %s: an incomplete last line dropped", path);
    if (truncate(path, (off_t)keep) != 0)
        return disr_fail(DISR_E_IO, "%s: cannot drop its incomplete last line", path);
    *len = keep;
    return DISR_OK;
}

int collect_resume_open(struct collect_resume *r, struct outcome_table *t,
                        const struct collect_config *c, const struct remote_agent *ra) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    if (!c->resume_path) return DISR_OK;
    r->done = calloc((size_t)t->n_queries * t->n_agents * N_KIND, 1);
    char *header = resume_header(t, c, ra);
    if (!r->done || !header) {
        free(header);
        return disr_fail(DISR_E_NOMEM, "collect: resume state");
    }
    char *text = NULL, dir[1024];
    size_t len = 0;
    snprintf(dir, sizeof dir, "%s", c->resume_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    int st = slash && dir[0] ? file_mkdir_p(dir) : DISR_OK;
    if (st == DISR_OK && access(c->resume_path, F_OK) == 0) {
        st = file_read_all(c->resume_path, &text, &len);
        if (st == DISR_OK) st = resume_drop_cut_line(c->resume_path, text, &len);
        if (st == DISR_OK && len > 0) st = resume_read(r, t, c->resume_path, header, text, len);
    }
    if (st == DISR_OK) {
        r->f = fopen(c->resume_path, "ab");
        if (!r->f)
            st = disr_fail(DISR_E_IO, "%s: cannot open for appending", c->resume_path);
        else if (len == 0 && (fprintf(r->f, "%s\n", header) < 0 || fflush(r->f)))
            st = disr_fail(DISR_E_IO, "%s: write failed", c->resume_path);
    }
    if (st == DISR_OK && r->n_read)
        log_info("collect: %d results read back from %s; asking only for the rest", r->n_read,
                 c->resume_path);
    free(text);
    free(header);
    return st;
}

void collect_resume_close(struct collect_resume *r) {
    if (r->f) fclose(r->f);
    free(r->done);
    pthread_mutex_destroy(&r->mu);
    memset(r, 0, sizeof *r);
}

/* Appends a finished cell and flushes it (caller holds r->mu). */
static int resume_write(struct collect_resume *r, cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    int st = s && fprintf(r->f, "%s\n", s) >= 0 && fflush(r->f) == 0
                 ? DISR_OK
                 : disr_fail(DISR_E_IO, "collect: writing the resume file failed");
    free(s);
    return st;
}

static int resume_append(struct collect_resume *r, const struct outcome_table *t, int qi, int a) {
    r->done[done_at(t, qi, a, 0)] = 1;
    if (!r->f) return DISR_OK;
    const struct outcome_cell *cell = outcome_at(t, qi, a);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "qid", t->q[qi].id);
    cJSON_AddNumberToObject(o, "agent", a);
    cJSON_AddStringToObject(o, "forced", cell->forced ? cell->forced : "");
    cJSON_AddBoolToObject(o, "correct", cell->correct);
    if (isnan(cell->conf))
        cJSON_AddNullToObject(o, "conf");
    else
        cJSON_AddNumberToObject(o, "conf", cell->conf);
    if (isnan(cell->verify))
        cJSON_AddNullToObject(o, "verify");
    else
        cJSON_AddNumberToObject(o, "verify", cell->verify);
    cJSON_AddNumberToObject(o, "t_answer", cell->t_answer);
    return resume_write(r, o);
}

/* Appends the decisions of (qi, a, variant) with its reject time (caller holds r->mu). */
static int resume_append_decisions(struct collect_resume *r, const struct outcome_table *t, int qi,
                                   int a, enum out_variant v, double reject_s, int rejects) {
    r->done[done_at(t, qi, a, 1 + v)] = 1;
    r->reject_s[a][v] += reject_s;
    r->rejects[a][v] += rejects;
    if (!r->f) return DISR_OK;
    const struct outcome_cell *cell = outcome_at(t, qi, a);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "qid", t->q[qi].id);
    cJSON_AddNumberToObject(o, "agent", a);
    cJSON_AddStringToObject(o, "variant", v == OUT_RL ? "rl" : "sft");
    cJSON *ans = cJSON_AddArrayToObject(o, "answer"), *ok = cJSON_AddArrayToObject(o, "right");
    for (int sc = 0; sc < OUT_N_SCEN; sc++) {
        cJSON_AddItemToArray(ans, cJSON_CreateBool(cell->decide[v][sc] == OUT_ANSWER));
        cJSON_AddItemToArray(ok, cJSON_CreateBool(cell->dcorrect[v][sc]));
    }
    cJSON_AddNumberToObject(o, "reject_s", reject_s);
    cJSON_AddNumberToObject(o, "rejects", rejects);
    return resume_write(r, o);
}

/* ---------------------------------------------------------------- the pass */

struct remote_run {
    struct outcome_table *t;
    const struct collect_config *c;
    int a, k;
    int variant;     /* -1: the forced pass (through be); OUT_SFT / OUT_RL: decisions */
    const char *url; /* the server asked */
    char chat_url[1100];
    struct backend *be;
    struct collect_resume *r;
    const int *todo; /* query indices still to ask */
    int n_todo;
    atomic_int next;
    int done, no_logprob; /* guarded by r->mu, as are the two below */
    struct progress *pr;
    double t0;
    int status;
    char error[512];
};

/* One request, retried with backoff while the failure may pass. */
static int retried(struct remote_run *run, int (*once)(struct remote_run *, const void *, void *),
                   const void *in, void *out) {
    int st = DISR_OK;
    for (int attempt = 0;; attempt++) {
        st = once(run, in, out);
        if (st == DISR_OK || !transient(st) || attempt >= run->c->retries) break;
        log_warn("collect: agent %d (%s): %s; retry %d of %d", run->a, run->url, disr_last_error(),
                 attempt + 1, run->c->retries);
        sleep_ms(backoff_ms(attempt));
    }
    if (st != DISR_OK) {
        char why[512]; /* disr_fail writes over the message it would read */
        snprintf(why, sizeof why, "%s", disr_last_error());
        return disr_fail(st, "agent %d (%s)%s: %s", run->a, run->url,
                         transient(st) ? " still failing after the retries" : "", why);
    }
    return DISR_OK;
}

static int generate_once(struct remote_run *run, const void *rq, void *out) {
    return backend_generate(run->be, rq, out);
}

static int ask(struct remote_run *run, const struct gen_request *rq, struct gen_output *out) {
    return retried(run, generate_once, rq, out);
}

/* A node's own decision on one query under one scenario. */
struct decide_ask {
    const char *query;
    double alpha;
};
struct decide_reply {
    char content[BACKEND_TEXT_CAP], finish[16];
    bool answer;
};

static int decide_once(struct remote_run *run, const void *in, void *out) {
    const struct decide_ask *q = in;
    struct decide_reply *d = out;
    cJSON *req = cJSON_CreateObject(), *msgs = cJSON_AddArrayToObject(req, "messages");
    cJSON *user = cJSON_CreateObject(), *disr = cJSON_AddObjectToObject(req, "disr");
    cJSON_AddStringToObject(req, "model", API_MODEL_DECIDE);
    cJSON_AddStringToObject(user, "role", "user");
    cJSON_AddStringToObject(user, "content", q->query);
    cJSON_AddItemToArray(msgs, user);
    cJSON_AddNumberToObject(disr, "alpha", q->alpha);
    cJSON_AddNumberToObject(req, "max_tokens", run->c->max_tokens);
    cJSON_AddNumberToObject(req, "temperature", 0);
    cJSON_AddNumberToObject(req, "seed", (double)(run->c->seed & 0xffffffffu));
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    if (!body) return disr_fail(DISR_E_NOMEM, "collect: request");
    char auth[600];
    const char *hdr[2] = {NULL, NULL};
    if (run->c->api_key[run->a]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", run->c->api_key[run->a]);
        hdr[0] = auth;
    }
    struct http_options o = {.headers = hdr[0] ? hdr : NULL, .timeout_ms = run->c->timeout_ms};
    struct http_response resp;
    int st = http_request(run->chat_url, body, strlen(body), &o, &resp);
    free(body);
    if (st < 0) return st;
    bool again = resp.status >= 500 || resp.status == 429 || resp.status == 408;
    struct route_trace tr = {.answerer = -1};
    int pt, ct;
    if (resp.status != 200)
        st = disr_fail(again ? DISR_E_NET : DISR_E_ARG, "%s: HTTP %ld: %.200s", run->chat_url,
                       resp.status, resp.body);
    else
        st = api_parse_reply(resp.body, d->content, sizeof d->content, d->finish,
                             sizeof d->finish, &pt, &ct, &tr);
    http_response_free(&resp);
    if (st == DISR_OK && (tr.n != 1 || (tr.hops[0].decision != HOP_ANSWER &&
                                        tr.hops[0].decision != HOP_REJECT)))
        st = disr_fail(DISR_E_FORMAT, "%s: the reply's route is not one answer or reject",
                       run->chat_url);
    if (st == DISR_OK) d->answer = tr.hops[0].decision == HOP_ANSWER;
    return st;
}

/* The node's decisions on query qi under the three scenarios into its cell. */
static int decide_query(struct remote_run *run, int qi, double *reject_s, int *rejects) {
    const struct outcome_query *q = &run->t->q[qi];
    struct outcome_cell *cell = outcome_at(run->t, qi, run->a);
    struct decide_reply d;
    int g = grader_parse(q->grader);
    for (int sc = 0; sc < OUT_N_SCEN; sc++) {
        struct decide_ask in = {q->query, scenario_alpha(scenario_at(sc))};
        double t0 = time_now();
        DISR_TRY(retried(run, decide_once, &in, &d));
        if (!d.answer) *reject_s += time_now() - t0, ++*rejects;
        cell->decide[run->variant][sc] = (int8_t)(d.answer ? OUT_ANSWER : OUT_REJECT);
        cell->dcorrect[run->variant][sc] =
            (uint8_t)(d.answer && strcmp(d.finish, "length") && g >= 0 &&
                      grader_check((enum grader)g, q->answer, d.content));
    }
    return DISR_OK;
}

/* The greedy answer and the k samples of query qi into its cell. */
static int ask_query(struct remote_run *run, int qi, struct gen_output *g, struct gen_output *s) {
    const struct collect_config *c = run->c;
    const struct outcome_query *q = &run->t->q[qi];
    struct gen_request rq = {.query = q->query,
                             .scenario = SCENARIO_NONE,
                             .max_tokens = c->max_tokens,
                             .temperature = 0,
                             .seed = c->seed};
    double t0 = time_now();
    DISR_TRY(ask(run, &rq, g));
    double latency = time_now() - t0;
    int agree = 0;
    rq.temperature = 1.0f;
    for (int j = 0; j < run->k; j++) {
        rq.seed = collect_sample_seed(c, run->a, qi, run->k, j);
        DISR_TRY(ask(run, &rq, s));
        agree += grader_check(GRADER_EXACT, g->text, s->text);
    }
    struct outcome_cell *cell = outcome_at(run->t, qi, run->a);
    int gr = grader_parse(q->grader);
    DISR_TRY(outcome_cell_set_forced(cell, g->text));
    cell->correct = !g->truncated && gr >= 0 && grader_check((enum grader)gr, q->answer, g->text);
    /* a probability above 1 by rounding of the server's numbers is 1 */
    cell->conf = g->has_logprob ? (float)exp(g->sum_logprob < 0 ? g->sum_logprob : 0) : NAN;
    cell->verify = run->k > 0 ? (float)agree / (float)run->k : NAN;
    cell->t_answer = (float)latency;
    return DISR_OK;
}

static void *remote_worker(void *arg) {
    struct remote_run *run = arg;
    struct gen_output *g = malloc(sizeof *g), *s = malloc(sizeof *s);
    int i;
    while ((i = atomic_fetch_add(&run->next, 1)) < run->n_todo) {
        pthread_mutex_lock(&run->r->mu);
        int stop = run->status != DISR_OK;
        pthread_mutex_unlock(&run->r->mu);
        if (stop) break;
        int qi = run->todo[i], rejects = 0;
        double reject_s = 0;
        int st = !g || !s           ? disr_fail(DISR_E_NOMEM, "collect: replies")
                 : run->variant < 0 ? ask_query(run, qi, g, s)
                                    : decide_query(run, qi, &reject_s, &rejects);
        pthread_mutex_lock(&run->r->mu);
        if (st == DISR_OK)
            st = run->variant < 0 ? resume_append(run->r, run->t, qi, run->a)
                                  : resume_append_decisions(run->r, run->t, qi, run->a,
                                                            (enum out_variant)run->variant,
                                                            reject_s, rejects);
        if (st == DISR_OK) {
            run->done++;
            run->no_logprob += run->variant < 0 && !g->has_logprob;
            char extra[64];
            double dt = time_now() - run->t0;
            snprintf(extra, sizeof extra, "%.2f q/s", dt > 0 ? run->done / dt : 0.0);
            progress_update(run->pr, run->done, extra);
        } else if (run->status == DISR_OK) {
            run->status = st; /* the message is thread-local: carry it to the caller */
            snprintf(run->error, sizeof run->error, "%s", disr_last_error());
        }
        pthread_mutex_unlock(&run->r->mu);
        if (st != DISR_OK) break;
    }
    free(g), free(s);
    return NULL;
}

/* Asks every query of `todo` from `concurrency` threads; the caller has set up `run`. */
static int remote_run_all(struct remote_run *run, const char *what, const char *name) {
    const struct collect_config *c = run->c;
    atomic_init(&run->next, 0);
    char label[400];
    snprintf(label, sizeof label, "collect: agent %d (%s, %s) %s", run->a, name, run->url, what);
    struct progress pr;
    progress_init(&pr, label, run->n_todo);
    run->pr = &pr;
    run->t0 = time_now();
    int workers = c->concurrency < 1 ? 1 : c->concurrency > 64 ? 64 : c->concurrency, started = 0;
    if (workers > run->n_todo) workers = run->n_todo;
    pthread_t th[64];
    for (; started < workers; started++)
        if (pthread_create(&th[started], NULL, remote_worker, run) != 0) break;
    if (started == 0 && run->n_todo > 0) remote_worker(run); /* no thread to spare */
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (run->status != DISR_OK) {
        if (c->resume_path)
            return disr_fail(run->status,
                             "%s (the finished cells are kept in %s: rerun the same command to "
                             "go on from there)",
                             run->error, c->resume_path);
        return disr_fail(run->status, "%s", run->error);
    }
    char extra[64];
    double dt = time_now() - run->t0;
    snprintf(extra, sizeof extra, "%.2f q/s", dt > 0 ? run->done / dt : 0.0);
    progress_finish(&pr, run->done, extra);
    return DISR_OK;
}

int collect_remote_pass(struct outcome_table *t, int a, const struct collect_config *c,
                        const struct remote_agent *ra, struct collect_resume *r) {
    struct remote_run run = {
        .t = t, .c = c, .a = a, .r = r, .variant = -1, .url = c->agent[a], .status = DISR_OK};
    /* as in process: the last agent's samples are never read */
    run.k = a == t->n_agents - 1 ? 0 : c->verify_samples;
    int *todo = malloc((size_t)t->n_queries * sizeof *todo);
    if (!todo) return disr_fail(DISR_E_NOMEM, "collect: %d queries", t->n_queries);
    int st = backend_remote_create(&run.be, c->agent[a], ra->model, c->api_key[a], c->timeout_ms);
    for (int qi = 0; qi < t->n_queries; qi++)
        if (!r->done || !r->done[done_at(t, qi, a, 0)]) todo[run.n_todo++] = qi;
    run.todo = todo;
    if (st == DISR_OK) st = remote_run_all(&run, "forced + verify", ra->name);
    free(todo);
    if (run.be) backend_free(run.be);
    if (st == DISR_OK && run.no_logprob)
        log_warn("collect: agent %d (%s) gave no log probabilities for %d of %d answers: their "
                 "confidence is not recorded, and the report leaves out what needs it",
                 a, c->agent[a], run.no_logprob, run.done);
    return st;
}

int collect_remote_decide_pass(struct outcome_table *t, int a, enum out_variant v, const char *url,
                               const struct collect_config *c, struct collect_resume *r) {
    struct remote_run run = {
        .t = t, .c = c, .a = a, .r = r, .variant = (int)v, .url = url, .status = DISR_OK};
    chat_url(url, run.chat_url, sizeof run.chat_url);
    /* only the test and OOD queries, as in process: no method reads a decision on SA-train */
    int *todo = malloc((size_t)t->n_queries * sizeof *todo);
    if (!todo) return disr_fail(DISR_E_NOMEM, "collect: %d queries", t->n_queries);
    for (int qi = 0; qi < t->n_queries; qi++)
        if (t->q[qi].split != OUT_SPLIT_TRAIN && (!r->done || !r->done[done_at(t, qi, a, 1 + v)]))
            todo[run.n_todo++] = qi;
    run.todo = todo;
    int st = remote_run_all(&run, v == OUT_RL ? "RL decisions" : "SFT decisions",
                            v == OUT_RL ? "rl" : "sft");
    free(todo);
    if (st == DISR_OK && r->rejects[a][v] > 0) { /* the mean reject, as in process */
        float t_reject = (float)(r->reject_s[a][v] / r->rejects[a][v]);
        for (int qi = 0; qi < t->n_queries; qi++) {
            struct outcome_cell *cell = outcome_at(t, qi, a);
            if (v == OUT_RL || cell->t_reject == 0) cell->t_reject = t_reject;
        }
    }
    return st;
}
