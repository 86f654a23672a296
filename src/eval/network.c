#include "eval/network.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "eval/methods.h"
#include "route/http_client.h"
#include "serve/api.h"
#include "world/dataset.h"
#include "world/grader.h"

struct net_job {
    int qi, scen, split; /* split: 0 test, 1 ood */
    int expected;        /* in-process answering agent */
    int agent;           /* network answering agent, -1 on failure */
    int correct, hops;
    double latency_ms;
    char error[128];
};

struct net_run {
    const struct outcome_table *t;
    const struct net_eval_config *c;
    struct net_job *jobs;
    int n_jobs;
    atomic_int next;
    atomic_int done;
    char endpoint[512];
    char auth[300];
};

static int agent_index(const struct net_eval_config *c, const char *name) {
    for (int i = 0; i < c->n_agents; i++)
        if (!strcmp(c->agent_names[i], name)) return i;
    return -1;
}

static char *request_body(const char *query, double alpha, int max_tokens) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", "disr");
    cJSON *msgs = cJSON_AddArrayToObject(root, "messages");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", query);
    cJSON_AddItemToArray(msgs, m);
    cJSON_AddNumberToObject(root, "max_tokens", max_tokens);
    cJSON_AddNumberToObject(root, "temperature", 0);
    cJSON *d = cJSON_AddObjectToObject(root, "disr");
    cJSON_AddNumberToObject(d, "alpha", alpha);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static void run_job(struct net_run *r, struct net_job *j) {
    const struct outcome_query *q = &r->t->q[j->qi];
    j->agent = -1;
    char *body = request_body(q->query, scenario_alpha(scenario_at(j->scen)), r->c->max_tokens);
    if (!body) {
        snprintf(j->error, sizeof j->error, "out of memory");
        return;
    }
    const char *headers[] = {r->auth[0] ? r->auth : NULL, NULL};
    struct http_options o = {.headers = headers, .timeout_ms = r->c->timeout_ms};
    struct http_response resp = {0};
    double t0 = time_now();
    int st = http_request(r->endpoint, body, strlen(body), &o, &resp);
    j->latency_ms = (time_now() - t0) * 1000.0;
    free(body);
    if (st < 0 || resp.status != 200) {
        if (st < 0)
            snprintf(j->error, sizeof j->error, "%s", disr_last_error());
        else
            snprintf(j->error, sizeof j->error, "HTTP %ld", resp.status);
        http_response_free(&resp);
        return;
    }
    char content[1024], finish[32];
    int pt = 0, ct = 0;
    struct route_trace trace;
    memset(&trace, 0, sizeof trace); /* the parser appends hops to what it is given */
    trace.answerer = -1;
    st = api_parse_reply(resp.body, content, sizeof content, finish, sizeof finish, &pt, &ct,
                         &trace);
    http_response_free(&resp);
    if (st < 0 || trace.answerer < 0) {
        snprintf(j->error, sizeof j->error, "unreadable reply: %s", disr_last_error());
        return;
    }
    j->agent = agent_index(r->c, trace.hops[trace.answerer].agent);
    if (j->agent < 0) {
        snprintf(j->error, sizeof j->error, "unknown answerer '%s'",
                 trace.hops[trace.answerer].agent);
        return;
    }
    j->hops = trace.n;
    int g = grader_parse(q->grader);
    j->correct = grader_check(g < 0 ? GRADER_EXACT : (enum grader)g, q->answer, content);
}

static void *worker(void *arg) {
    struct net_run *r = arg;
    for (;;) {
        int i = atomic_fetch_add(&r->next, 1);
        if (i >= r->n_jobs) break;
        run_job(r, &r->jobs[i]);
        atomic_fetch_add(&r->done, 1);
    }
    return NULL;
}

/* Jobs for every (query, scenario) of the test and OOD splits, with the in-process answerer. */
static int build_jobs(struct net_run *r) {
    const struct outcome_table *t = r->t;
    const enum out_split splits[2] = {OUT_SPLIT_TEST, OUT_SPLIT_OOD};
    struct eval_fitted fitted = {.t = t}; /* DiSRouter needs only the table */
    enum eval_method m = r->c->variant == OUT_RL ? EM_DISR_RL : EM_DISR_SFT;
    struct eval_pick *picks = malloc(sizeof *picks * (size_t)(t->n_queries + 1));
    r->jobs = calloc((size_t)t->n_queries * OUT_N_SCEN + 1, sizeof *r->jobs);
    if (!picks || !r->jobs) {
        free(picks);
        return disr_fail(DISR_E_NOMEM, "network eval: out of memory");
    }
    for (int s = 0; s < 2; s++)
        for (int scen = 0; scen < OUT_N_SCEN; scen++) {
            int n = 0;
            int st = eval_route(&fitted, m, scenario_alpha(scenario_at(scen)), splits[s], NULL,
                                picks, &n);
            if (st < 0) {
                free(picks);
                return st;
            }
            if (r->c->limit > 0 && n > r->c->limit) n = r->c->limit;
            for (int k = 0; k < n; k++)
                r->jobs[r->n_jobs++] = (struct net_job){
                    .qi = picks[k].qi, .scen = scen, .split = s, .expected = picks[k].agent};
        }
    free(picks);
    return DISR_OK;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void summarize(const struct net_run *r, struct net_eval_summary *out) {
    memset(out, 0, sizeof *out);
    out->n_agents = r->t->n_agents;
    double *lat = malloc(sizeof *lat * (size_t)(r->n_jobs + 1));
    for (int s = 0; s < 2; s++)
        for (int scen = 0; scen < OUT_N_SCEN; scen++) {
            struct net_eval_cell *c = &out->cell[s][scen];
            int n_lat = 0;
            double correct = 0, cost = 0;
            for (int i = 0; i < r->n_jobs; i++) {
                const struct net_job *j = &r->jobs[i];
                if (j->split != s || j->scen != scen) continue;
                if (j->agent < 0) {
                    c->errors++;
                    continue;
                }
                c->n++;
                c->agree += j->agent == j->expected;
                correct += j->correct;
                cost += r->t->cost[j->agent];
                c->share[j->agent] += 1;
                if (lat) lat[n_lat++] = j->latency_ms;
            }
            if (c->n == 0) continue;
            c->accuracy = correct / c->n;
            c->cost = cost / c->n;
            c->utility = c->accuracy - scenario_alpha(scenario_at(scen)) * c->cost;
            for (int a = 0; a < r->t->n_agents; a++)
                c->share[a] /= c->n;
            if (lat && n_lat) {
                qsort(lat, (size_t)n_lat, sizeof *lat, cmp_double);
                c->latency_p50_ms = lat[n_lat / 2];
                c->latency_p90_ms = lat[(n_lat * 9) / 10];
            }
        }
    free(lat);
}

/* One JSON line per request, in job order so the file does not depend on thread timing. */
static int write_records(const struct net_run *r, const char *path) {
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf) return disr_fail(DISR_E_NOMEM, "network eval: out of memory");
    int st = DISR_OK;
    for (int i = 0; i < r->n_jobs && st == DISR_OK; i++) {
        const struct net_job *j = &r->jobs[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "qid", r->t->q[j->qi].id);
        cJSON_AddStringToObject(o, "split", j->split ? "ood" : "test");
        cJSON_AddNumberToObject(o, "alpha", scenario_alpha(scenario_at(j->scen)));
        cJSON_AddNumberToObject(o, "agent", j->agent);
        cJSON_AddNumberToObject(o, "expected_agent", j->expected);
        cJSON_AddNumberToObject(o, "correct", j->correct);
        cJSON_AddNumberToObject(o, "cost", j->agent >= 0 ? r->t->cost[j->agent] : 0.0);
        cJSON_AddNumberToObject(o, "hops", j->hops);
        cJSON_AddNumberToObject(o, "latency_ms", j->latency_ms);
        if (j->error[0]) cJSON_AddStringToObject(o, "error", j->error);
        char *line = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        size_t n = line ? strlen(line) : 0;
        while (line && len + n + 2 > cap) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) break;
            buf = grown, cap *= 2;
        }
        if (!line || len + n + 2 > cap) {
            st = disr_fail(DISR_E_NOMEM, "network eval: out of memory");
        } else {
            memcpy(buf + len, line, n);
            len += n;
            buf[len++] = '\n';
        }
        free(line);
    }
    if (st == DISR_OK) st = file_write_atomic(path, buf, len);
    free(buf);
    return st;
}

int eval_network_run(const struct outcome_table *t, const struct net_eval_config *c,
                     const char *records_path, struct net_eval_summary *out) {
    if (c->n_agents != t->n_agents)
        return disr_fail(DISR_E_ARG, "network eval: %d agent names for a table of %d agents",
                         c->n_agents, t->n_agents);
    struct net_run r = {.t = t, .c = c};
    int n = snprintf(r.endpoint, sizeof r.endpoint, "%s/v1/chat/completions", c->url);
    if (n < 0 || (size_t)n >= sizeof r.endpoint)
        return disr_fail(DISR_E_ARG, "network eval: URL too long");
    if (c->api_key && c->api_key[0])
        snprintf(r.auth, sizeof r.auth, "Authorization: Bearer %.256s", c->api_key);
    DISR_TRY(build_jobs(&r));
    int threads = c->concurrency > 0 ? c->concurrency : 8;
    if (threads > 64) threads = 64;
    pthread_t tid[64];
    int started = 0;
    for (; started < threads; started++)
        if (pthread_create(&tid[started], NULL, worker, &r)) break;
    if (started == 0) {
        free(r.jobs);
        return disr_fail(DISR_E_STATE, "network eval: cannot start client threads");
    }
    struct progress p;
    progress_init(&p, "network eval", r.n_jobs);
    while (atomic_load(&r.done) < r.n_jobs) {
        char extra[64];
        snprintf(extra, sizeof extra, "requests through %s", c->url);
        progress_update(&p, atomic_load(&r.done), extra);
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    progress_finish(&p, r.n_jobs, "done");
    summarize(&r, out);
    int st = DISR_OK;
    int answered = 0;
    for (int i = 0; i < r.n_jobs; i++)
        answered += r.jobs[i].agent >= 0;
    if (r.n_jobs > 0 && answered == 0)
        st = disr_fail(DISR_E_NET, "network eval: no request to %s got an answer (first error: %s)",
                       c->url, r.jobs[0].error);
    if (st == DISR_OK && records_path) st = write_records(&r, records_path);
    free(r.jobs);
    return st;
}

int eval_network_write_md(const struct net_eval_summary *s, const struct net_eval_config *c,
                          const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return disr_fail(DISR_E_IO, "%s: cannot write", path);
    fprintf(f,
            "## DiSRouter through the live network\n\n"
            "Every query sent to the entry node %s (separate `disr serve` processes started by "
            "`disr up`) at each scenario; *agree* is the share of queries answered by the same "
            "agent as the in-process chain of the outcome table (%s decisions).\n\n",
            c->url, c->variant == OUT_RL ? "+RL" : "SFT");
    static const char *const split_name[2] = {"in-domain test", "out-of-domain"};
    for (int sp = 0; sp < 2; sp++) {
        fprintf(f,
                "### %s\n\n| alpha | queries | errors | accuracy | cost | utility | agree | "
                "p50 ms | p90 ms | answered by agent 1..K |\n"
                "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
                split_name[sp]);
        for (int scen = 0; scen < OUT_N_SCEN; scen++) {
            const struct net_eval_cell *x = &s->cell[sp][scen];
            fprintf(f, "| %.1f | %d | %d | %.3f | %.3f | %.3f | %.1f %% | %.1f | %.1f |",
                    scenario_alpha(scenario_at(scen)), x->n, x->errors, x->accuracy, x->cost,
                    x->utility, x->n + x->errors ? 100.0 * x->agree / (x->n + x->errors) : 0.0,
                    x->latency_p50_ms, x->latency_p90_ms);
            for (int a = 0; a < s->n_agents; a++)
                fprintf(f, "%s%.0f %%", a ? " / " : " ", 100.0 * x->share[a]);
            fprintf(f, " |\n");
        }
        fprintf(f, "\n");
    }
    if (fclose(f) != 0) return disr_fail(DISR_E_IO, "%s: write failed (disk full?)", path);
    return DISR_OK;
}

int eval_network_mismatches(const struct net_eval_summary *s) {
    int bad = 0;
    for (int sp = 0; sp < 2; sp++)
        for (int scen = 0; scen < OUT_N_SCEN; scen++) {
            const struct net_eval_cell *x = &s->cell[sp][scen];
            bad += x->errors + (x->n - x->agree);
        }
    return bad;
}
