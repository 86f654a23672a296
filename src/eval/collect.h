/* collect.h: fills an outcome table by running real agents (GGUF files in process, or servers
 * over HTTP: eval/collect_remote.h) over the
 * self-awareness training, test and OOD query sets. Per agent it records:
 *   - from the base model: the forced greedy answer (forced-answer prompt, scenario NONE), its
 *     correctness (grader_check), its probability exp(sum log p) and the self-verification score
 *     (agreement of k answers sampled at temperature 1 with the greedy one);
 *   - from the SFT and RL checkpoints (when given): the trained decision per scenario and whether
 *     the answer was right, through agent_decide() (route/agent.h) on an engine backend: the very
 *     decision code every agent node runs, so the recorded chain is the network's chain.
 * Generation is batched through the engine (the trained pass sends its requests from
 * --max-seqs threads so the backend's continuous batching groups them); timings are
 * per-sequence costs in those batched runs. */
#ifndef EVAL_COLLECT_H
#define EVAL_COLLECT_H

#include <stdint.h>

#include "eval/outcomes.h"

struct collect_config {
    int n_agents;
    const char *agent[OUT_MAX_AGENTS];   /* base GGUF per agent, cheapest first (required), or
                                          * the http(s) URL of a server (eval/collect_remote.h) */
    const char *sft[OUT_MAX_AGENTS];     /* SFT GGUF (or disr node URL) per agent, or NULL */
    const char *rl[OUT_MAX_AGENTS];      /* RL GGUF (or disr node URL) per agent, or NULL */
    const char *split_path[OUT_N_SPLIT]; /* JSONL query sets: SA-train, test, OOD (NULL = none) */
    double cost[OUT_MAX_AGENTS];         /* 0 = the default spacing */
    int limit;                           /* at most this many queries per split (0 = all) */
    int verify_samples; /* k (default 8; 0 = no self-verification, scores 0); none for the last
                         * agent, whose score no method reads */
    int max_tokens;     /* per answer (default 32) */
    int max_seqs;       /* sequences decoded together (default 32) */
    int n_threads;      /* engine threads per agent (0 = all cores) */
    int lanes;          /* agents collected at once, each on its own engine (default 1) */
    uint64_t seed;
    /* remote agents */
    const char *remote_model[OUT_MAX_AGENTS]; /* model name to send (NULL: found by the probe) */
    const char *api_key[OUT_MAX_AGENTS];      /* bearer key, or NULL */
    int concurrency;         /* requests in flight per remote agent (default 4) */
    int timeout_ms;          /* per request (default 120000) */
    int retries;             /* retries of a request after a transient failure (default 3) */
    const char *resume_path; /* remote cells are appended here and read back on a rerun */
};
void collect_config_default(struct collect_config *c);

/* The seed of sample j (of k) of agent a on query qi: the one the engine draws it with in
 * process, which a server is sent, so both record the same samples. */
uint64_t collect_sample_seed(const struct collect_config *c, int a, int qi, int k, int j);

/* Runs every agent over every split into a new table (t is initialized here). */
int collect_outcomes(struct outcome_table *t, const struct collect_config *c);

#endif
