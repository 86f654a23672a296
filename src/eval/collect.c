#include "eval/collect.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "model/engine.h"
#include "model/model_io.h"
#include "route/scenario.h"
#include "train/sa.h"
#include "world/dataset.h"
#include "world/grader.h"

#define COLLECT_CHUNK 32 /* queries per batch of the forced pass */
#define PROMPT_CAP    4096

void collect_config_default(struct collect_config *c) {
    memset(c, 0, sizeof *c);
    c->verify_samples = 8;
    c->max_tokens = 32;
    c->max_seqs = 32;
    c->seed = 1234;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The forced pass of one agent's base model over the table: greedy answer, correctness,
 * confidence, and agreement of k samples with the greedy answer. */
static int forced_pass(struct outcome_table *t, int a, struct model *m,
                       const struct collect_config *c) {
    struct engine_params ep = {.max_seqs = c->max_seqs, .n_ctx = 0, .n_threads = c->n_threads};
    struct engine *e = NULL;
    DISR_TRY(engine_init(&e, m, &ep));
    int k = c->verify_samples;
    int per = COLLECT_CHUNK * (k > 0 ? k : 1);
    char *prompt_buf = malloc((size_t)COLLECT_CHUNK * PROMPT_CAP);
    const char **prompts = malloc((size_t)per * sizeof *prompts);
    struct gen_result *res = malloc((size_t)COLLECT_CHUNK * sizeof *res);
    struct gen_result *smp = malloc((size_t)per * sizeof *smp);
    int st = (prompt_buf && prompts && res && smp) ? DISR_OK
                                                   : disr_fail(DISR_E_NOMEM, "collect buffers");
    char label[64];
    snprintf(label, sizeof label, "collect: agent %d forced + verify", a);
    struct progress pr;
    progress_init(&pr, label, t->n_queries);
    struct gen_params greedy = {.temperature = 0,
                                .top_k = 0,
                                .top_p = 1,
                                .seed = c->seed,
                                .max_tokens = c->max_tokens,
                                .stop_char = '\n'};
    struct gen_params sample = greedy;
    sample.temperature = 1.0f;
    for (int q0 = 0; st == DISR_OK && q0 < t->n_queries; q0 += COLLECT_CHUNK) {
        int nq = t->n_queries - q0 < COLLECT_CHUNK ? t->n_queries - q0 : COLLECT_CHUNK;
        for (int i = 0; i < nq && st == DISR_OK; i++) {
            char *buf = prompt_buf + (size_t)i * PROMPT_CAP;
            int n = scenario_format_prompt(buf, PROMPT_CAP, t->q[q0 + i].query, SCENARIO_NONE);
            if (n < 0) st = n;
            prompts[i] = buf;
        }
        if (st != DISR_OK) break;
        double t0 = time_now();
        st = engine_generate_batch(e, nq, prompts, &greedy, res);
        double per_answer = (time_now() - t0) / nq;
        if (st == DISR_OK && k > 0) {
            for (int i = 0; i < nq * k; i++)
                prompts[i] = prompt_buf + (size_t)(i / k) * PROMPT_CAP;
            sample.seed = c->seed + 7919u * (uint64_t)(q0 + 1) + (uint64_t)a * 104729u;
            st = engine_generate_batch(e, nq * k, prompts, &sample, smp);
        }
        for (int i = 0; i < nq && st == DISR_OK; i++) {
            int qi = q0 + i;
            const struct outcome_query *q = &t->q[qi];
            struct outcome_cell *cell = outcome_at(t, qi, a);
            int g = grader_parse(q->grader);
            st = outcome_cell_set_forced(cell, res[i].text);
            cell->correct =
                !res[i].truncated && g >= 0 && grader_check((enum grader)g, q->answer, res[i].text);
            cell->conf = (float)exp(res[i].sum_logprob);
            int agree = 0;
            for (int j = 0; j < k; j++)
                agree += grader_check(GRADER_EXACT, res[i].text, smp[i * k + j].text);
            cell->verify = k > 0 ? (float)agree / (float)k : 0.0f;
            cell->t_answer = (float)per_answer;
        }
        progress_update(&pr, q0 + nq, NULL);
    }
    if (st == DISR_OK) progress_finish(&pr, t->n_queries, NULL);
    free(prompt_buf), free(prompts), free(res), free(smp);
    engine_free(e);
    return st;
}

/* The trained decisions of agent a's SFT or RL checkpoint, split by split. */
static int trained_pass(struct outcome_table *t, int a, enum out_variant v, const char *path,
                        const struct qa_set *const *sets, const int *first,
                        const struct collect_config *c) {
    struct model *m = NULL;
    DISR_TRY(model_load(&m, path));
    struct sa_gen_config g;
    sa_gen_config_default(&g);
    g.max_tokens = c->max_tokens;
    g.max_seqs = c->max_seqs;
    g.n_threads = c->n_threads;
    g.seed = c->seed;
    int st = DISR_OK;
    for (int s = 0; s < OUT_N_SPLIT && st == DISR_OK; s++) {
        if (!sets[s] || sets[s]->n == 0) continue;
        struct sa_agent_eval ev;
        log_info("collect: agent %d %s decisions on %s (%d queries)", a, v == OUT_RL ? "RL" : "SFT",
                 outcome_split_name((enum out_split)s), sets[s]->n);
        double t0 = time_now();
        st = sa_eval_agent(m, sets[s], &g, &ev);
        if (st != DISR_OK) break;
        /* sa_eval_agent runs 4 prompts per query; a reject is a short run of these */
        float per_call = (float)((time_now() - t0) / (4.0 * sets[s]->n));
        for (int i = 0; i < sets[s]->n; i++) {
            struct outcome_cell *cell = outcome_at(t, first[s] + i, a);
            for (int sc = 0; sc < OUT_N_SCEN; sc++) {
                cell->decide[v][sc] = (int8_t)(ev.answered[sc][i] ? OUT_ANSWER : OUT_REJECT);
                cell->dcorrect[v][sc] = (uint8_t)(ev.answered[sc][i] && ev.correct[sc][i]);
            }
            if (v == OUT_RL || cell->t_reject == 0) cell->t_reject = per_call;
        }
        sa_eval_free(&ev);
    }
    model_free(m);
    return st;
}

static int cmp_id(const void *x, const void *y) {
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* A query id names one query of one split (the outcome file is keyed by it). */
static int check_unique_ids(const struct outcome_table *t) {
    char **ids = malloc((size_t)t->n_queries * sizeof *ids);
    if (!ids) return disr_fail(DISR_E_NOMEM, "query ids");
    for (int i = 0; i < t->n_queries; i++)
        ids[i] = t->q[i].id;
    qsort(ids, (size_t)t->n_queries, sizeof *ids, cmp_id);
    int st = DISR_OK;
    for (int i = 1; i < t->n_queries && st == DISR_OK; i++)
        if (!strcmp(ids[i - 1], ids[i]))
            st = disr_fail(DISR_E_FORMAT,
                           "query id \"%s\" appears twice in the query files "
                           "(ids must be unique across SA-train, test and OOD)",
                           ids[i]);
    free(ids);
    return st;
}

int collect_outcomes(struct outcome_table *t, const struct collect_config *c) {
    memset(t, 0, sizeof *t);
    if (c->n_agents < 1 || c->n_agents > OUT_MAX_AGENTS)
        return disr_fail(DISR_E_ARG, "collect: %d agents (1..%d)", c->n_agents, OUT_MAX_AGENTS);
    if (c->verify_samples < 0 || c->verify_samples > 64 || c->max_tokens < 1 || c->max_seqs < 1)
        return disr_fail(DISR_E_ARG, "collect: verify samples 0..64, max tokens and seqs >= 1");
    for (int a = 0; a < c->n_agents; a++)
        if (!c->agent[a]) return disr_fail(DISR_E_ARG, "collect: agent %d has no model", a);
    struct qa_set sets_store[OUT_N_SPLIT];
    const struct qa_set *sets[OUT_N_SPLIT] = {NULL, NULL, NULL};
    int first[OUT_N_SPLIT] = {0}, full_n[OUT_N_SPLIT] = {0};
    int st = outcome_table_init(t, c->n_agents);
    for (int s = 0; s < OUT_N_SPLIT; s++)
        qa_set_init(&sets_store[s]);
    for (int s = 0; s < OUT_N_SPLIT && st == DISR_OK; s++) {
        if (!c->split_path[s]) continue;
        st = qa_set_load(&sets_store[s], c->split_path[s]);
        if (st != DISR_OK) break;
        full_n[s] = sets_store[s].n;
        if (c->limit > 0 && sets_store[s].n > c->limit) sets_store[s].n = c->limit; /* prefix */
        sets[s] = &sets_store[s];
        first[s] = t->n_queries;
        for (int i = 0; i < sets_store[s].n && st == DISR_OK; i++) {
            const struct qa_item *it = &sets_store[s].items[i];
            int qi = outcome_table_add_query(t, it->id, it->family, it->query, it->answer,
                                             grader_name(it->grader), (enum out_split)s);
            if (qi < 0) st = qi;
        }
    }
    if (st == DISR_OK && t->n_queries == 0)
        st = disr_fail(DISR_E_ARG, "collect: no queries (give the SA-train, test or OOD set)");
    if (st == DISR_OK) st = check_unique_ids(t);
    for (int a = 0; a < c->n_agents && st == DISR_OK; a++) {
        t->cost[a] = c->cost[a] > 0 ? c->cost[a] : outcome_default_cost(a, c->n_agents);
        t->agent_name[a] = strdup(base_name(c->agent[a]));
        struct model *m = NULL;
        log_info("collect: agent %d = %s (cost %.2f)", a, c->agent[a], t->cost[a]);
        st = model_load(&m, c->agent[a]);
        if (st == DISR_OK) st = forced_pass(t, a, m, c);
        model_free(m);
        if (st == DISR_OK && c->sft[a]) st = trained_pass(t, a, OUT_SFT, c->sft[a], sets, first, c);
        if (st == DISR_OK && c->rl[a]) st = trained_pass(t, a, OUT_RL, c->rl[a], sets, first, c);
    }
    /* qa_set_free frees n items: restore the real count of a limited set first */
    for (int s = 0; s < OUT_N_SPLIT; s++) {
        if (full_n[s] > sets_store[s].n) sets_store[s].n = full_n[s];
        qa_set_free(&sets_store[s]);
    }
    if (st != DISR_OK) outcome_table_free(t);
    return st;
}
