/* chain.h: the chain rule, written once. A query walks the hops of a chain in order; the first
 * hop that answers ends it; a hop that rejects passes the query on; a hop that fails (its backend
 * errs, the next node is unreachable) is skipped; the last hop always answers (its reject turns
 * into its forced answer); and if every hop after the last one that worked fails, that one
 * answers by fallback. The in-process chain (agent.c chain_run), the HTTP node (serve/server.c,
 * whose hops are itself then its next nodes) and the evaluation (eval/methods.c, whose hops read
 * the outcome table) all route through chain_walk, so they cannot disagree on the rule. */
#ifndef ROUTE_CHAIN_H
#define ROUTE_CHAIN_H

#include <stdbool.h>

enum chain_step {
    CHAIN_ANSWER = 0, /* the hop answered */
    CHAIN_REJECT = 1, /* the hop declined: the query moves on */
    CHAIN_SKIP = 2,   /* the hop failed or could not be reached: skipped */
};

struct chain_ops {
    /* Asks hop i (`last`: no hop follows it). Returns an enum chain_step, or a negative status
     * that stops the walk (an error in the caller's data, not a failing hop). */
    int (*ask)(void *ctx, int i, bool last);
    /* Hop i answers whatever its opinion: the last hop after its reject (fallback false), or the
     * last hop that worked when every later hop failed (fallback true). Returns DISR_OK or a
     * negative status; a failing forced answer of the last hop counts as a skip. May be NULL
     * when ask never rejects on the last hop and never skips. */
    int (*force)(void *ctx, int i, bool fallback);
};

struct chain_outcome {
    int answerer;  /* the hop that answered */
    bool fallback; /* it answered because every later hop failed */
};

/* Walks hops 0..n-1 under the chain rule. Fails (DISR_E_STATE) when no hop works, with the
 * status of ask or force when they stop the walk, DISR_E_ARG when n <= 0. */
int chain_walk(int n, const struct chain_ops *ops, void *ctx, struct chain_outcome *out);

#endif
