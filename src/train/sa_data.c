/* sa_data.c: the self-awareness results that need no model: the sampling pass's record (and its
 * cache file), the per-agent evaluation summary (answer rate, precision, F1) and the in-process
 * chain over several agents' evaluations. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/file.h"
#include "core/stats.h"
#include "world/scenario.h"
#include "train/sa.h"
#include "train/sa_grpo.h"
#include "train/sa_internal.h"
#include "world/score.h"

void sa_gen_config_default(struct sa_gen_config *g) {
    *g = (struct sa_gen_config){.temperature = 1.0f,
                                .max_tokens = SCORE_MAX_TOKENS,
                                .n_threads = 1,
                                .max_seqs = 32,
                                .seed = 1234};
}

void sa_samples_free(struct sa_samples *s) {
    for (int i = 0; i < s->n_queries; i++) {
        if (s->own_answer) free(s->own_answer[i]);
        if (s->first_sample) free(s->first_sample[i]);
    }
    free(s->own_answer);
    free(s->first_sample);
    free(s->n_correct);
    *s = (struct sa_samples){0};
}

int sa_samples_alloc(struct sa_samples *s, int n_queries, int n_samples) {
    *s = (struct sa_samples){.n_queries = n_queries, .n_samples = n_samples};
    s->n_correct = calloc((size_t)n_queries + 1, sizeof(int));
    s->own_answer = calloc((size_t)n_queries + 1, sizeof(char *));
    s->first_sample = calloc((size_t)n_queries + 1, sizeof(char *));
    if (!s->n_correct || !s->own_answer || !s->first_sample) {
        sa_samples_free(s);
        return disr_fail(DISR_E_NOMEM, "samples for %d queries", n_queries);
    }
    return DISR_OK;
}

int sa_samples_save(const struct sa_samples *s, uint64_t seed, const char *path) {
    size_t cap = 128, len = 0;
    for (int i = 0; i < s->n_queries; i++)
        cap += 64 + (s->own_answer[i] ? 6 * strlen(s->own_answer[i]) : 0) +
               (s->first_sample[i] ? 6 * strlen(s->first_sample[i]) : 0);
    char *buf = malloc(cap);
    if (!buf) return disr_fail(DISR_E_NOMEM, "samples file of %zu bytes", cap);
    len += (size_t)snprintf(buf + len, cap - len,
                            "{\"queries\":%d,\"samples\":%d,\"seed\":\"%llu\"}\n", s->n_queries,
                            s->n_samples, (unsigned long long)seed);
    int st = DISR_OK;
    for (int i = 0; st >= 0 && i < s->n_queries; i++) {
        cJSON *o = cJSON_CreateObject();
        char *line = NULL;
        if (o && cJSON_AddNumberToObject(o, "correct", s->n_correct[i]) &&
            (!s->own_answer[i] || cJSON_AddStringToObject(o, "answer", s->own_answer[i])) &&
            (!s->first_sample[i] || cJSON_AddStringToObject(o, "sample", s->first_sample[i])))
            line = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!line || len + strlen(line) + 2 > cap) {
            st = disr_fail(DISR_E_NOMEM, "samples file line %d", i + 1);
        } else {
            len += (size_t)snprintf(buf + len, cap - len, "%s\n", line);
        }
        free(line);
    }
    if (st >= 0) st = file_write_atomic(path, buf, len);
    free(buf);
    return st;
}

int sa_samples_load(struct sa_samples *s, int n_queries, int n_samples, uint64_t seed,
                    const char *path) {
    char *text = NULL;
    size_t len = 0;
    DISR_TRY(file_read_all(path, &text, &len));
    int st = sa_samples_alloc(s, n_queries, n_samples);
    char *line = text, *next;
    int lineno = 0, q = 0;
    for (; st >= 0 && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        lineno++;
        cJSON *o = cJSON_Parse(line);
        if (!o) {
            st = disr_fail(DISR_E_FORMAT, "%s:%d: not JSON", path, lineno);
            break;
        }
        if (lineno == 1) {
            cJSON *nq = cJSON_GetObjectItem(o, "queries"), *ns = cJSON_GetObjectItem(o, "samples");
            cJSON *sd = cJSON_GetObjectItem(o, "seed");
            char want[32];
            snprintf(want, sizeof want, "%llu", (unsigned long long)seed);
            if (!cJSON_IsNumber(nq) || !cJSON_IsNumber(ns) || !cJSON_IsString(sd) ||
                nq->valueint != n_queries || ns->valueint != n_samples ||
                strcmp(sd->valuestring, want))
                st = disr_fail(DISR_E_STATE, "%s: made for another data set, N or seed", path);
        } else if (q >= n_queries) {
            st = disr_fail(DISR_E_FORMAT, "%s:%d: more lines than queries", path, lineno);
        } else {
            cJSON *c = cJSON_GetObjectItem(o, "correct"), *a = cJSON_GetObjectItem(o, "answer");
            cJSON *f = cJSON_GetObjectItem(o, "sample");
            if (!cJSON_IsNumber(c) || c->valueint < 0 || c->valueint > n_samples ||
                (a && !cJSON_IsString(a)) || (f && !cJSON_IsString(f)) ||
                (c->valueint > 0) != (a != NULL)) {
                st = disr_fail(DISR_E_FORMAT, "%s:%d: bad sample record", path, lineno);
            } else {
                s->n_correct[q] = c->valueint;
                if ((a && !(s->own_answer[q] = strdup(a->valuestring))) ||
                    (f && !(s->first_sample[q] = strdup(f->valuestring))))
                    st = disr_fail(DISR_E_NOMEM, "sample text");
                q++;
            }
        }
        cJSON_Delete(o);
    }
    if (st >= 0 && q != n_queries)
        st = disr_fail(DISR_E_FORMAT, "%s: %d records for %d queries", path, q, n_queries);
    free(text);
    if (st < 0) sa_samples_free(s);
    return st;
}

void sa_eval_free(struct sa_agent_eval *e) {
    for (int s = 0; s < SCENARIO_COUNT; s++) {
        free(e->answered[s]);
        free(e->correct[s]);
    }
    free(e->forced_correct);
    *e = (struct sa_agent_eval){0};
}

void sa_eval_summarize(struct sa_agent_eval *e) {
    sa_eval_summarize_against(e, e->forced_correct);
}

void sa_eval_summarize_against(struct sa_agent_eval *e, const bool *would_be_right) {
    int forced = 0;
    for (int i = 0; i < e->n; i++)
        forced += e->forced_correct[i];
    e->forced_acc = e->n ? (double)forced / e->n : 0;
    for (int s = 0; s < SCENARIO_COUNT; s++) {
        int ans = 0, ans_ok = 0, tp = 0, fp = 0, fn = 0;
        double alpha = scenario_alpha(scenario_at(s)), reward = 0;
        for (int i = 0; i < e->n; i++) {
            bool rej = !e->answered[s][i], wrong = !would_be_right[i];
            ans += !rej;
            ans_ok += !rej && e->correct[s][i];
            tp += rej && wrong;
            fp += rej && !wrong;
            fn += !rej && wrong;
            reward += sa_reward(rej, e->correct[s][i], alpha);
        }
        e->answer_rate[s] = e->n ? (double)ans / e->n : 0;
        e->precision[s] = ans ? (double)ans_ok / ans : 0;
        e->n_answered[s] = ans, e->n_answered_right[s] = ans_ok;
        stats_wilson95(ans_ok, ans, &e->precision_lo[s], &e->precision_hi[s]);
        e->f1[s] = tp ? 2.0 * tp / (2.0 * tp + fp + fn) : 0;
        e->reward[s] = e->n ? reward / e->n : 0;
    }
}

void sa_chain_eval(const struct sa_agent_eval *agents, int k, const double *costs, int scenario,
                   struct sa_chain_result *r) {
    int s = scenario - 1, n = agents[0].n;
    double correct = 0, cost = 0;
    for (int a = 0; a < k; a++)
        r->share[a] = 0;
    for (int i = 0; i < n; i++) {
        int a = 0;
        while (a < k - 1 && !agents[a].answered[s][i])
            a++;
        bool ok = agents[a].answered[s][i] ? agents[a].correct[s][i] : agents[a].forced_correct[i];
        correct += ok;
        cost += costs[a];
        r->share[a] += 1.0 / (n ? n : 1);
    }
    r->accuracy = n ? correct / n : 0;
    r->cost = n ? cost / n : 0;
    r->utility = r->accuracy - scenario_alpha((enum scenario)scenario) * r->cost;
}
