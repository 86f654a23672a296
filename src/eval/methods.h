/* methods.h: DiSRouter and every baseline as a function of the outcome table and alpha. Each
 * method maps a query to the agent that answers it; its correctness and cost then come from the
 * table. Everything learned (central routers, the external scorer, cascade thresholds) is fitted
 * on the table's self-awareness training split only, never on the queries it is scored on.
 *
 *   DiSRouter (SFT / +RL)  walk the chain; the first agent whose trained decision is "answer"
 *                          answers; the last agent always answers (its forced answer)
 *   Confidence cascade     untrained: agent i answers iff its answer probability >= t_i
 *   AutoMix                agent i answers iff its self-verification score >= t_i
 *   FrugalGPT              agent i answers iff an external scorer's P(correct | query, answer)
 *                          >= t_i (scorer: one small MLP per agent on hashed text features)
 *   kNN / MLP router       central: predict P_i(correct | query) for every agent from query
 *                          features, pick argmax_i P_i - alpha * c_i (RouteLLM / FORC style)
 *   Random / Smallest / Largest, and Oracle (cheapest correct agent, else the smallest)
 * Cascade thresholds t_i are fitted per alpha by coordinate ascent on training utility.
 *
 * Utility = mean(correct) - alpha * mean(cost of the answering agent); a rejected hop costs
 * nothing in the metric (its latency is still counted). */
#ifndef EVAL_METHODS_H
#define EVAL_METHODS_H

#include <stdint.h>

#include "eval/outcomes.h"

enum eval_method {
    EM_DISR_RL = 0,
    EM_DISR_SFT,
    EM_CONF,
    EM_AUTOMIX,
    EM_FRUGAL,
    EM_MLP,
    EM_KNN,
    EM_RANDOM,
    EM_SMALLEST,
    EM_LARGEST,
    EM_ORACLE,
    EM_COUNT
};

/* Display name ("DiSRouter (+RL)") and record key ("disr_rl"); eval_method_parse takes a key. */
const char *eval_method_name(enum eval_method m);
const char *eval_method_key(enum eval_method m);
int eval_method_parse(const char *key);
/* True for methods that walk the chain with a per-agent answer/reject test (DiSRouter and the
 * three threshold cascades). */
int eval_method_is_cascade(enum eval_method m);

/* One routed query. */
struct eval_pick {
    int qi;    /* index into the outcome table */
    int agent; /* the agent that answered */
    uint8_t correct;
    uint8_t hops;     /* agents asked, including the one that answered */
    float cost;       /* cost of the answering agent (the metric's cost) */
    float cost_calls; /* cost of every agent that produced a full answer (cascades pay these) */
    float latency;    /* seconds: rejects and answers along the way */
};

struct eval_fit_config {
    int feat_dim;      /* hashed feature size, a power of two (default 1024) */
    int knn_k;         /* neighbours (default 25) */
    int mlp_hidden;    /* router MLP hidden size (default 64) */
    int scorer_hidden; /* FrugalGPT scorer hidden size (default 32) */
    int epochs;        /* training epochs for both MLPs (default 30) */
    float lr;          /* AdamW learning rate (default 2e-3) */
    uint64_t seed;
};
void eval_fit_config_default(struct eval_fit_config *c);

/* What the learned baselines predict, for every query of the table (train rows included). */
struct eval_fitted {
    const struct outcome_table *t; /* borrowed */
    struct eval_fit_config cfg;
    float *p_knn;    /* [n_queries x K] kNN router's P(agent correct | query) */
    float *p_mlp;    /* [n_queries x K] MLP router's P(agent correct | query) */
    float *s_frugal; /* [n_queries x K] external scorer's P(correct | query, agent's answer) */
    /* The kNN router's neighbours, so its predictions recompute from the training labels:
     * knn_n per query (min(knn_k, training queries), one fewer on a training query, which is
     * left out of its own), most similar first, as query indices and cosine similarities. */
    int knn_n;                   /* row width of knn_nb and knn_sim */
    int *knn_nb;                 /* [n_queries x knn_n], -1 past a row's count */
    float *knn_sim;              /* [n_queries x knn_n] */
    float mlp_loss, scorer_loss; /* final training losses */
};

/* Trains the learned baselines on the table's train split (which must not be empty). */
int eval_fit(struct eval_fitted *f, const struct outcome_table *t, const struct eval_fit_config *c);
void eval_fitted_free(struct eval_fitted *f);

/* The per-(query, agent) score a cascade method thresholds (conf, verify or scorer); NULL for
 * non-threshold methods. */
float eval_cascade_score(const struct eval_fitted *f, enum eval_method m, int qi, int agent);

/* Fits cascade thresholds th[K] for a threshold cascade (EM_CONF, EM_AUTOMIX, EM_FRUGAL) at
 * alpha on the train split, over the agents in `mask` (NULL = all). */
int eval_fit_thresholds(const struct eval_fitted *f, enum eval_method m, double alpha,
                        const uint8_t *mask, float *th);

/* Routes every query of `split` with method m at alpha over the agents in `mask` (NULL = all
 * agents; otherwise mask[i] != 0 keeps agent i, and the last kept agent always answers).
 * DiSRouter needs alpha to be one of the scenarios (0.2 / 0.5 / 0.8) and the variant's decisions
 * in the table. out must hold outcome_count_split() picks; *n_out receives the count. */
int eval_route(const struct eval_fitted *f, enum eval_method m, double alpha, enum out_split split,
               const uint8_t *mask, struct eval_pick *out, int *n_out);

/* Summary of a set of picks. */
struct eval_score {
    int n;
    double accuracy, cost, utility, cost_calls, latency;
};
struct eval_score eval_score_picks(const struct eval_pick *p, int n, double alpha);

/* Index 0..2 of a scenario alpha (0.2 / 0.5 / 0.8), or -1. */
int eval_scenario_index(double alpha);

#endif
