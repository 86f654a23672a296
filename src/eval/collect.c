#include "eval/collect.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "eval/collect_remote.h"
#include "model/engine.h"
#include "model/model_io.h"
#include "route/agent.h"
#include "route/backend_engine.h"
#include "world/scenario.h"
#include "world/dataset.h"
#include "world/grader.h"
#include "world/score.h"

#define COLLECT_CHUNK 32 /* queries per batch of the forced pass */
#define PROMPT_CAP    4096

void collect_config_default(struct collect_config *c) {
    memset(c, 0, sizeof *c);
    c->verify_samples = 8;
    c->max_tokens = SCORE_MAX_TOKENS;
    c->max_seqs = 32;
    c->seed = 1234;
    c->concurrency = 4;
    c->timeout_ms = 120000;
    c->retries = 3;
}

uint64_t collect_sample_seed(const struct collect_config *c, int a, int qi, int k, int j) {
    int q0 = qi - qi % COLLECT_CHUNK; /* the forced pass seeds a chunk, the engine each sample */
    return c->seed + 7919u * (uint64_t)(q0 + 1) + (uint64_t)a * 104729u +
           (uint64_t)((qi - q0) * k + j);
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
    /* The last agent's verification samples are never read: a cascade (AutoMix) stops at the
     * last agent of a chain without asking whether to escalate, and a chain with the last agent
     * removed never reaches it. Skipping them saves 8/9 of the largest agent's forced pass. */
    int k = a == t->n_agents - 1 ? 0 : c->verify_samples;
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
            /* the prompt a node of this model is asked with (a chat model's template) */
            int n = backend_engine_prompt(m, t->q[q0 + i].query, SCENARIO_NONE, buf, PROMPT_CAP,
                                          &greedy.stop_char);
            if (n < 0) st = n;
            prompts[i] = buf;
        }
        if (st != DISR_OK) break;
        sample.stop_char = greedy.stop_char;
        double t0 = time_now();
        st = engine_generate_batch(e, nq, prompts, &greedy, res);
        double per_answer = (time_now() - t0) / nq;
        if (st == DISR_OK && k > 0) {
            /* The k samples of a query share its prompt: prefilled once, its cache copied (the
             * same samples as k separate prompts, at a fraction of the work). */
            sample.seed = collect_sample_seed(c, a, q0, k, 0);
            if (k <= engine_max_seqs(e)) {
                st = engine_generate_groups(e, nq, prompts, k, &sample, smp);
            } else { /* a group larger than the batch: each sample as its own prompt */
                for (int i = nq * k - 1; i >= 0; i--)
                    prompts[i] = prompt_buf + (size_t)(i / k) * PROMPT_CAP;
                st = engine_generate_batch(e, nq * k, prompts, &sample, smp);
            }
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
            cell->verify = k > 0 ? (float)agree / (float)k : NAN; /* not sampled: not recorded */
            cell->t_answer = (float)per_answer;
        }
        progress_update(&pr, q0 + nq, NULL);
    }
    if (st == DISR_OK) progress_finish(&pr, t->n_queries, NULL);
    free(prompt_buf), free(prompts), free(res), free(smp);
    engine_free(e);
    return st;
}

/* The trained decisions of one checkpoint: every (query, scenario) goes through agent_decide,
 * the decision code of every agent node, from `workers` requester threads so the engine backend
 * batches them (continuous batching). */
struct decide_run {
    const struct outcome_table *t;
    const struct agent *agent;
    const int *qis; /* the queries decided: test and OOD */
    int n_jobs;     /* their count x OUT_N_SCEN */
    int max_tokens;
    uint64_t seed;
    atomic_int next, done;
    int8_t *answer;   /* [n_jobs] */
    uint8_t *correct; /* [n_jobs] */
    int *tokens;      /* [n_jobs] generated tokens */
    struct progress *progress;
    pthread_mutex_t mu;
    int status; /* first failure (guarded by mu) */
    char error[256];
};

static void *decide_worker(void *arg) {
    struct decide_run *r = arg;
    int j, first = 0;
    while ((j = atomic_fetch_add(&r->next, 1)) < r->n_jobs) {
        pthread_mutex_lock(&r->mu);
        int stop = r->status != DISR_OK;
        first = first || j == 0; /* the thread that took job 0 draws the progress line */
        pthread_mutex_unlock(&r->mu);
        if (stop) break;
        const struct outcome_query *q = &r->t->q[r->qis[j / OUT_N_SCEN]];
        struct agent_query aq = {.query = q->query,
                                 .alpha = scenario_alpha(scenario_at(j % OUT_N_SCEN)),
                                 .max_tokens = r->max_tokens,
                                 .temperature = 0,
                                 .seed = r->seed};
        struct agent_result res;
        int st = agent_decide(r->agent, &aq, &res);
        if (st != DISR_OK) {
            pthread_mutex_lock(&r->mu);
            if (r->status == DISR_OK) {
                r->status = st; /* the message is thread-local: carry it to the caller */
                snprintf(r->error, sizeof r->error, "%s", disr_last_error());
            }
            pthread_mutex_unlock(&r->mu);
            break;
        }
        int g = grader_parse(q->grader);
        r->answer[j] = (int8_t)(res.decision == HOP_ANSWER);
        r->correct[j] = (uint8_t)(res.decision == HOP_ANSWER && !res.gen.truncated && g >= 0 &&
                                  grader_check((enum grader)g, q->answer, res.gen.text));
        r->tokens[j] = res.gen.n_tokens;
        int d = atomic_fetch_add(&r->done, 1) + 1;
        if (first) progress_update(r->progress, d, NULL);
    }
    return NULL;
}

static int trained_pass(struct outcome_table *t, int a, enum out_variant v, const char *path,
                        const struct collect_config *c) {
    struct model *m = NULL;
    DISR_TRY(model_load(&m, path));
    struct backend *be = NULL;
    int cst = backend_engine_create(&be, m, true, c->max_seqs, c->n_threads);
    if (cst != DISR_OK) { /* the backend owns the model only once created */
        model_free(m);
        return cst;
    }
    struct agent ag = {.cost = t->cost[a], .mode = AGENT_TRAINED, .backend = be};
    snprintf(ag.name, sizeof ag.name, "agent%d-%s", a, v == OUT_RL ? "rl" : "sft");
    /* Only the test and OOD queries: no method reads a trained decision on the SA-train split
     * (the baselines fit on forced answers), and the agents were trained on those queries. */
    int *qis = malloc((size_t)t->n_queries * sizeof *qis), n_q = 0;
    for (int qi = 0; qis && qi < t->n_queries; qi++)
        if (t->q[qi].split != OUT_SPLIT_TRAIN) qis[n_q++] = qi;
    struct decide_run r = {.t = t,
                           .agent = &ag,
                           .qis = qis,
                           .n_jobs = n_q * OUT_N_SCEN,
                           .max_tokens = c->max_tokens,
                           .seed = c->seed,
                           .status = DISR_OK};
    atomic_init(&r.next, 0);
    atomic_init(&r.done, 0);
    pthread_mutex_init(&r.mu, NULL);
    r.answer = malloc((size_t)r.n_jobs);
    r.correct = malloc((size_t)r.n_jobs);
    r.tokens = malloc((size_t)r.n_jobs * sizeof *r.tokens);
    int workers = c->max_seqs < 64 ? c->max_seqs : 64, started = 0;
    pthread_t th[64];
    char label[64];
    snprintf(label, sizeof label, "collect: %s decisions", ag.name);
    struct progress pr;
    progress_init(&pr, label, r.n_jobs);
    r.progress = &pr;
    double t0 = time_now();
    if (!qis || !r.answer || !r.correct || !r.tokens) {
        r.status = DISR_E_NOMEM;
        snprintf(r.error, sizeof r.error, "decision buffers for %d queries", t->n_queries);
    }
    for (; r.status == DISR_OK && started < workers; started++)
        if (pthread_create(&th[started], NULL, decide_worker, &r) != 0) break;
    if (started == 0 && r.status == DISR_OK) {
        r.status = DISR_E_NOMEM;
        snprintf(r.error, sizeof r.error, "cannot start requester threads");
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    double wall = time_now() - t0;
    int st = r.status;
    if (st == DISR_OK) {
        progress_finish(&pr, r.n_jobs, NULL);
        /* a reject's cost in a batched run: its share of the pass's generated tokens */
        long tok_all = 0, tok_rej = 0, n_rej = 0;
        for (int j = 0; j < r.n_jobs; j++) {
            tok_all += r.tokens[j];
            if (!r.answer[j]) tok_rej += r.tokens[j], n_rej++;
        }
        float t_reject = n_rej && tok_all ? (float)(wall * tok_rej / tok_all / n_rej) : 0.0f;
        for (int k = 0; k < n_q; k++) {
            struct outcome_cell *cell = outcome_at(t, qis[k], a);
            for (int sc = 0; sc < OUT_N_SCEN; sc++) {
                int j = k * OUT_N_SCEN + sc;
                cell->decide[v][sc] = (int8_t)(r.answer[j] ? OUT_ANSWER : OUT_REJECT);
                cell->dcorrect[v][sc] = r.correct[j];
            }
        }
        for (int qi = 0; n_rej && qi < t->n_queries; qi++) {
            struct outcome_cell *cell = outcome_at(t, qi, a);
            if (v == OUT_RL || cell->t_reject == 0) cell->t_reject = t_reject;
        }
    } else {
        st = disr_fail(st, "%s: %s", path, r.error);
    }
    pthread_mutex_destroy(&r.mu);
    free(r.answer), free(r.correct), free(r.tokens), free(qis);
    backend_free(be);
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

/* What the agents' passes share: the remote agents' probes and the resume file. */
struct collect_run {
    const struct remote_agent *ra; /* [n_agents] */
    struct collect_resume *resume;
};

/* Every pass of agent a: forced answers (and verification samples), then the SFT and RL
 * decisions. Agent a writes only its own column of the table. */
static int collect_agent(struct outcome_table *t, int a, const struct collect_config *c,
                         const struct collect_run *run) {
    int st;
    if (collect_is_remote(c->agent[a])) {
        log_info("collect: agent %d = %s, model %s (cost %.2f)", a, c->agent[a],
                 run->ra[a].model, t->cost[a]);
        st = collect_remote_pass(t, a, c, &run->ra[a], run->resume);
    } else {
        struct model *m = NULL;
        log_info("collect: agent %d = %s (cost %.2f)", a, c->agent[a], t->cost[a]);
        st = model_load(&m, c->agent[a]);
        if (st == DISR_OK) st = forced_pass(t, a, m, c);
        model_free(m);
    }
    const char *ck[OUT_N_VARIANT] = {c->sft[a], c->rl[a]};
    for (int v = 0; v < OUT_N_VARIANT && st == DISR_OK; v++) {
        if (!ck[v]) continue;
        st = collect_is_remote(ck[v])
                 ? collect_remote_decide_pass(t, a, (enum out_variant)v, ck[v], c, run->resume)
                 : trained_pass(t, a, (enum out_variant)v, ck[v], c);
    }
    return st;
}

struct agent_lanes {
    struct outcome_table *t;
    const struct collect_config *c;
    const struct collect_run *run;
    atomic_int next; /* the next agent to claim */
    pthread_mutex_t mu;
    int status;
    char error[512];
};

static void *agent_lane(void *arg) {
    struct agent_lanes *l = arg;
    int a;
    while ((a = atomic_fetch_add(&l->next, 1)) < l->c->n_agents) {
        pthread_mutex_lock(&l->mu);
        int stop = l->status != DISR_OK;
        pthread_mutex_unlock(&l->mu);
        if (stop) break;
        int st = collect_agent(l->t, a, l->c, l->run);
        if (st != DISR_OK) {
            pthread_mutex_lock(&l->mu);
            if (l->status == DISR_OK) {
                l->status = st; /* the message is thread-local: carry it to the caller */
                snprintf(l->error, sizeof l->error, "%s", disr_last_error());
            }
            pthread_mutex_unlock(&l->mu);
            break;
        }
    }
    return NULL;
}

/* The agents' passes, `lanes` agents at a time (each on its own engine, with c->n_threads
 * threads): agents never read each other's cells, and every pass is deterministic, so the table
 * is the same whatever the lanes. */
static int collect_agents(struct outcome_table *t, const struct collect_config *c,
                          const struct collect_run *run) {
    int lanes = c->lanes < 1 ? 1 : c->lanes > c->n_agents ? c->n_agents : c->lanes;
    if (lanes == 1) {
        for (int a = 0; a < c->n_agents; a++)
            DISR_TRY(collect_agent(t, a, c, run));
        return DISR_OK;
    }
    struct agent_lanes l = {.t = t, .c = c, .run = run, .status = DISR_OK};
    atomic_init(&l.next, 0);
    pthread_mutex_init(&l.mu, NULL);
    pthread_t th[OUT_MAX_AGENTS];
    int started = 0;
    for (; started < lanes; started++)
        if (pthread_create(&th[started], NULL, agent_lane, &l) != 0) break;
    if (started == 0) agent_lane(&l); /* no thread to spare: this one does it all */
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&l.mu);
    return l.status == DISR_OK ? DISR_OK : disr_fail(l.status, "%s", l.error);
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
    int full_n[OUT_N_SPLIT] = {0};
    int st = outcome_table_init(t, c->n_agents);
    for (int s = 0; s < OUT_N_SPLIT; s++)
        qa_set_init(&sets_store[s]);
    for (int s = 0; s < OUT_N_SPLIT && st == DISR_OK; s++) {
        if (!c->split_path[s]) continue;
        st = qa_set_load(&sets_store[s], c->split_path[s]);
        if (st != DISR_OK) break;
        full_n[s] = sets_store[s].n;
        if (c->limit > 0 && sets_store[s].n > c->limit) sets_store[s].n = c->limit; /* prefix */
        for (int i = 0; i < sets_store[s].n && st == DISR_OK; i++) {
            const struct qa_item *it = &sets_store[s].items[i];
            int qi = outcome_table_add_query(t, it->id, it->family, it->query, it->answer,
                                             grader_name(it->grader), (enum out_split)s);
            if (qi < 0)
                st = qi;
            else
                t->q[qi].difficulty = it->difficulty;
        }
    }
    if (st == DISR_OK && t->n_queries == 0)
        st = disr_fail(DISR_E_ARG, "collect: no queries (give the SA-train, test or OOD set)");
    if (st == DISR_OK) st = check_unique_ids(t);
    /* every server is asked first, so one that is down fails the run before any work */
    struct remote_agent ra[OUT_MAX_AGENTS];
    memset(ra, 0, sizeof ra);
    bool any_remote = false;
    for (int a = 0; a < c->n_agents && st == DISR_OK; a++) {
        if (collect_is_remote(c->agent[a])) {
            any_remote = true;
            st = collect_remote_probe(c, a, &ra[a]);
        }
        const char *ck[OUT_N_VARIANT] = {c->sft[a], c->rl[a]};
        for (int v = 0; v < OUT_N_VARIANT && st == DISR_OK; v++)
            if (collect_is_remote(ck[v])) {
                any_remote = true;
                st = collect_remote_check_decide(c, a, ck[v]);
            }
    }
    for (int a = 0; a < c->n_agents && st == DISR_OK; a++) {
        t->cost[a] = c->cost[a] > 0 ? c->cost[a] : outcome_default_cost(a, c->n_agents);
        t->agent_name[a] = strdup(collect_is_remote(c->agent[a]) ? ra[a].name
                                                                  : base_name(c->agent[a]));
        if (!t->agent_name[a]) st = disr_fail(DISR_E_NOMEM, "collect: agent names");
    }
    struct collect_resume resume;
    struct collect_config cr = *c;
    if (!any_remote) cr.resume_path = NULL; /* in-process passes are not resumed */
    if (st == DISR_OK) {
        st = collect_resume_open(&resume, t, &cr, ra);
        struct collect_run run = {.ra = ra, .resume = &resume};
        if (st == DISR_OK) st = collect_agents(t, &cr, &run);
        collect_resume_close(&resume);
    }
    /* qa_set_free frees n items: restore the real count of a limited set first */
    for (int s = 0; s < OUT_N_SPLIT; s++) {
        if (full_n[s] > sets_store[s].n) sets_store[s].n = full_n[s];
        qa_set_free(&sets_store[s]);
    }
    if (st != DISR_OK) outcome_table_free(t);
    return st;
}
