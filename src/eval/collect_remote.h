/* collect_remote.h: the collector's agents that are HTTP servers (eval/collect.h). An agent named
 * by an http(s) URL is asked through the OpenAI chat API by the remote backend (route/backend.h),
 * the request every remote agent node sends: the forced-answer system prompt and the query,
 * greedy, with logprobs asked for; then k samples at temperature 1 for self-verification. A
 * `disr serve` node is recognized by the `disr-forced` model it lists and asked for its own
 * agent's forced answer (no decision, no next hop). What a server cannot give is recorded as
 * missing (a confidence without logprobs is NAN, never 0). A checkpoint (--sft / --rl) named by
 * URL is a disr node asked `disr-decide`: its own decision under each scenario, never forwarded.
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
    uint8_t *done; /* [n_queries x n_agents x 3]: the forced pass, SFT, RL decisions of a cell
                    * are in the table already */
    int n_read;    /* lines read back */
    double reject_s[OUT_MAX_AGENTS][OUT_N_VARIANT]; /* seconds of the rejects recorded */
    int rejects[OUT_MAX_AGENTS][OUT_N_VARIANT];
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

/* Whether `url` is a `disr serve` node that gives its own decisions (model disr-decide). */
int collect_remote_check_decide(const struct collect_config *c, int a, const char *url);

/* Records agent a's trained decisions (variant v) from the disr node at `url`: every test and
 * OOD query under each scenario, asked as `disr-decide` (the node's own decision, never
 * forwarded), as the in-process trained pass records them through agent_decide. */
int collect_remote_decide_pass(struct outcome_table *t, int a, enum out_variant v, const char *url,
                               const struct collect_config *c, struct collect_resume *r);

#endif
