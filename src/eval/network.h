/* network.h: DiSRouter evaluated through a live network of agent nodes (`disr up`), next to
 * the same chain run in process. Every test query is sent, at each scenario, to the entry node's
 * OpenAI-compatible endpoint by a pool of concurrent clients; the reply's route says which agent
 * answered. The result is scored with the project's graders and compared, query by query, with
 * the answering agent the outcome table predicts for DiSRouter (+RL) (or SFT), so the report can
 * state that the network and the in-process chain make the same decisions, and what the network
 * adds in latency. */
#ifndef EVAL_NETWORK_H
#define EVAL_NETWORK_H

#include "eval/outcomes.h"

struct net_eval_config {
    const char *url;                /* entry node, e.g. http://127.0.0.1:9200 */
    const char *api_key;            /* bearer key, or NULL */
    const char *const *agent_names; /* chain order names as the nodes report them */
    int n_agents;
    enum out_variant variant; /* which trained decisions the network runs (RL normally) */
    int concurrency;          /* client threads (default 8) */
    int max_tokens;           /* answer limit per request (default 32) */
    int timeout_ms;           /* per request (default 60000) */
    int limit;                /* at most this many queries per split (0 = all) */
};

struct net_eval_cell {
    int n;      /* requests that got an answer */
    int errors; /* requests that failed (no reply, bad reply) */
    int agree;  /* answering agent equals the in-process prediction */
    double accuracy, cost, utility;
    double latency_p50_ms, latency_p90_ms;
    double share[OUT_MAX_AGENTS]; /* fraction answered by each agent */
};

/* Summary indexed [split: 0 test, 1 ood][scenario 0..2]. */
struct net_eval_summary {
    int n_agents;
    struct net_eval_cell cell[2][OUT_N_SCEN];
};

/* Sends every test and OOD query of `t` at alpha 0.2 / 0.5 / 0.8 through the network, writes one
 * JSONL record per request to `records_path` (may be NULL) and fills `out`. Fails only if the
 * entry node cannot be reached at all; individual failures are counted in `errors`. */
int eval_network_run(const struct outcome_table *t, const struct net_eval_config *c,
                     const char *records_path, struct net_eval_summary *out);

/* Requests that failed or were answered by another agent than the in-process chain's: a
 * network that makes the same decisions has none. */
int eval_network_mismatches(const struct net_eval_summary *s);

/* The summary as a Markdown section (tables per split); agreement counts failed requests as
 * disagreeing (they are in its denominator). */
int eval_network_write_md(const struct net_eval_summary *s, const struct net_eval_config *c,
                          const char *path);

#endif
