/* collect_remote.h: the collector's agents that are HTTP servers (eval/collect.h). An agent named
 * by an http(s) URL is asked through the OpenAI chat API by the remote backend (route/backend.h),
 * the request every remote agent node sends: the forced-answer system prompt and the query,
 * greedy, with logprobs asked for; then k samples at temperature 1 for self-verification. A
 * `disr serve` node is recognized by the `disr-forced` model it lists and asked for its own
 * agent's forced answer (no decision, no next hop). What a server cannot give is recorded as
 * missing (a confidence without logprobs is NAN, never 0).
 *
 * Each finished cell is appended to a resume file at once, so an interrupted run (a server that
 * stays down after the retries, a crash, Ctrl-C) loses nothing: the same command reads the file
 * back and asks only for the cells it lacks. */
#ifndef EVAL_COLLECT_REMOTE_H
#define EVAL_COLLECT_REMOTE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "eval/collect.h"

/* True for an agent given as an http:// or https:// URL. */
bool collect_is_remote(const char *agent);

/* What the probe of a remote agent found. */
struct remote_agent {
    char model[128]; /* the model name to send */
    char name[128];  /* the agent's name in the table */
    bool disr_node;  /* a `disr serve` node, asked for `disr-forced` */
};

/* Asks the server's model list (GET .../v1/models, with retries) and settles the model name:
 * the one configured (which the server must list), else `disr-forced` on a disr node, else the
 * server's only model. An unreachable server or an unknown model is a clear error. */
int collect_remote_probe(const struct collect_config *c, int a, struct remote_agent *out);

/* The resume file: a header line naming the run (agents, models, settings, queries), then one
 * line per finished cell. */
struct collect_resume {
    FILE *f; /* NULL: no resume file */
    pthread_mutex_t mu;
    uint8_t *done; /* [n_queries x n_agents]: the cell is in the table already */
    int n_read;    /* cells read back */
};

/* Opens (or creates) c->resume_path for the table's remote agents and reads back the cells it
 * holds into t. A file written for other agents, settings or queries is refused. Does nothing
 * when c->resume_path is NULL. */
int collect_resume_open(struct collect_resume *r, struct outcome_table *t,
                        const struct collect_config *c, const struct remote_agent *ra);
void collect_resume_close(struct collect_resume *r);

/* Fills agent a's column over HTTP: forced answer, correctness, confidence (NAN without
 * logprobs), self-verification (NAN when k = 0) and the request's latency. Cells already in
 * the resume file are skipped; each new one is appended to it. */
int collect_remote_pass(struct outcome_table *t, int a, const struct collect_config *c,
                        const struct remote_agent *ra, struct collect_resume *r);

#endif
