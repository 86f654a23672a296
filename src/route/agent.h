/* agent.h: one DiSRouter agent (a backend, a cost, a decision mode), the decision it makes on a
 * query (answer or reject), and the in-process chain. The HTTP node (serve/) and the evaluation
 * harness (eval/) both decide through agent_decide(), so the network and the in-process chain
 * route every query the same way.
 *
 * Modes (the paper's self-routing, plus a training-free variant and the last agent):
 *  - trained:    the agent is asked under the scenario; its output starting with the reject text
 *                means reject. Generation stops as soon as the prefix decides.
 *  - confidence: the agent's greedy forced answer (scenario NONE) with probability
 *                p = exp(sum logprob); answer iff p > (1 - alpha)^0.5.
 *  - always:     the forced answer, never a reject (the last agent of a chain). */
#ifndef ROUTE_AGENT_H
#define ROUTE_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "route/backend.h"

#define AGENT_NAME_CAP 64
#define ROUTE_MAX_HOPS 16

enum agent_mode { AGENT_TRAINED = 0, AGENT_CONFIDENCE = 1, AGENT_ALWAYS = 2 };
/* "trained" / "confidence" / "always"; parse returns -1 if unknown. */
const char *agent_mode_name(enum agent_mode m);
int agent_mode_parse(const char *s);

struct agent {
    char name[AGENT_NAME_CAP];
    double cost;
    enum agent_mode mode;
    struct backend *backend; /* not owned */
};

struct agent_query {
    const char *query;
    double alpha;      /* scenario weight in [0, 1]; the scenario is the nearest of 0.2/0.5/0.8 */
    int max_tokens;    /* answer length limit (> 0) */
    float temperature; /* for trained mode's generation; confidence/always are greedy */
    uint64_t seed;
    /* Receives the answer text as it is produced, only once the agent has decided to answer
     * (never any part of a reject). May be NULL. Non-zero return stops generation. */
    int (*on_answer_text)(void *ctx, const char *piece, size_t len);
    void *ctx;
};

enum hop_decision {
    HOP_ANSWER = 0,   /* the agent answered */
    HOP_REJECT = 1,   /* the agent said "I don't know!" and the query moved on */
    HOP_SKIPPED = 2,  /* the agent could not be reached or failed; skipped to the next */
    HOP_FALLBACK = 3, /* the agent answered because nobody after it could be reached */
};
const char *hop_decision_name(enum hop_decision d);
int hop_decision_parse(const char *s);

struct agent_result {
    enum hop_decision decision; /* ANSWER or REJECT */
    struct gen_output gen;      /* the agent's output (the answer, or the reject prefix) */
    double confidence;          /* p of the forced answer (confidence mode), else -1 */
    double latency_ms;
};

/* Decides and (if answering) produces the answer. Fails only if the backend fails. */
int agent_decide(const struct agent *a, const struct agent_query *q, struct agent_result *out);
/* The forced answer, whatever the mode: used when no agent after this one can be reached. */
int agent_answer_forced(const struct agent *a, const struct agent_query *q,
                        struct agent_result *out);

/* One hop of a route, as reported to clients. */
struct hop {
    char agent[AGENT_NAME_CAP];
    enum hop_decision decision;
    double latency_ms;
    double cost;
    char note[128]; /* why a hop was skipped, or "" */
};

struct route_trace {
    struct hop hops[ROUTE_MAX_HOPS];
    int n;
    int answerer; /* index into hops of the answering hop, or -1 */
};
/* Appends a hop (ignored past ROUTE_MAX_HOPS); returns its index or -1. */
int route_trace_add(struct route_trace *t, const char *agent, enum hop_decision d,
                    double latency_ms, double cost, const char *note);

struct chain_result {
    struct route_trace trace;
    char answer[BACKEND_TEXT_CAP];
    double cost;  /* cost of the agent that answered */
    int answerer; /* index of that agent in the chain */
    int n_tokens; /* tokens generated over all hops */
};

/* Runs `q` along agents[0..n-1] in order. The last agent always answers (forced answer if its
 * mode would reject); a failing agent is skipped, and if every later agent fails, the last one
 * that worked answers (HOP_FALLBACK). Fails only if no agent works at all. */
int chain_run(struct agent *const *agents, int n, const struct agent_query *q,
              struct chain_result *out);

#endif
