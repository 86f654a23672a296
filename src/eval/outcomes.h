/* outcomes.h: the outcome table, the raw material of every evaluation. For each query (of the
 * self-awareness training split, the in-domain test split or the OOD split) and each agent of
 * the chain it records what that agent did when asked: its forced greedy answer and whether it
 * is correct, its confidence (probability of that greedy answer), a self-verification score
 * (agreement of sampled answers with the greedy one), the time each call took, and for each
 * trained variant (SFT, RL) and scenario the agent's decision (answer / reject) and whether its
 * answer was correct.
 *
 * Every method of eval/methods.h is a pure function of this table, so an evaluation is
 * reproducible from one JSONL file (one line per query x agent) and the report recomputes from
 * raw records. The table is filled either by the collector (running real agents) or by
 * outcome_table_synth() (a known synthetic world, for tests and for the docs). */
#ifndef EVAL_OUTCOMES_H
#define EVAL_OUTCOMES_H

#include <stdint.h>

#include "world/scenario.h"

#define OUT_N_SCEN     SCENARIO_COUNT /* alpha 0.2 / 0.5 / 0.8, indexed by scenario_index */
#define OUT_N_VARIANT  2
#define OUT_MAX_AGENTS 16

enum out_split { OUT_SPLIT_TRAIN = 0, OUT_SPLIT_TEST = 1, OUT_SPLIT_OOD = 2 };
#define OUT_N_SPLIT 3
enum out_variant { OUT_SFT = 0, OUT_RL = 1 };

/* Decision codes of a trained agent (decide[][]). */
#define OUT_REJECT  0
#define OUT_ANSWER  1
#define OUT_UNKNOWN (-1) /* not recorded (e.g. no RL checkpoint for this agent) */

/* One query x one agent. */
struct outcome_cell {
    char *forced;    /* the forced greedy answer ("" if not recorded); owned */
    uint8_t correct; /* forced answer is correct */
    float conf;      /* P(greedy answer) under the agent, in [0, 1]; NAN = not recorded (a
                      * server that returns no log probabilities) */
    float verify;    /* self-verification score in [0, 1]; NAN = not recorded (no samples) */
    float t_answer;  /* seconds for a full answer from this agent (0 if unknown) */
    float t_reject;  /* seconds for a reject from this agent (0 if unknown) */
    int8_t decide[OUT_N_VARIANT][OUT_N_SCEN];    /* OUT_ANSWER, OUT_REJECT or OUT_UNKNOWN */
    uint8_t dcorrect[OUT_N_VARIANT][OUT_N_SCEN]; /* the trained answer was correct */
};

struct outcome_query {
    char *id, *family, *query, *answer, *grader; /* owned */
    enum out_split split;
    int difficulty; /* the query's level, 1 .. QA_MAX_DIFFICULTY (world/dataset.h); 0 = none */
};

struct outcome_table {
    int n_agents;
    double cost[OUT_MAX_AGENTS];      /* per agent, normalized 0.1 .. 0.9 */
    char *agent_name[OUT_MAX_AGENTS]; /* owned; may be NULL */
    int n_queries, cap_queries;
    struct outcome_query *q;
    struct outcome_cell *cell; /* n_queries x n_agents, row-major: cell[qi * n_agents + agent] */
};

static inline struct outcome_cell *outcome_at(const struct outcome_table *t, int qi, int agent) {
    return &t->cell[(int64_t)qi * t->n_agents + agent];
}

/* The paper's cost spacing: agent i of K costs 0.1 + 0.8 * i / (K - 1) (0.1 when K == 1). */
double outcome_default_cost(int agent, int n_agents);

const char *outcome_split_name(enum out_split s);
/* "train" / "test" / "ood"; returns -1 if unknown. */
int outcome_split_parse(const char *name);

/* An empty table for `n_agents` agents with default costs. */
int outcome_table_init(struct outcome_table *t, int n_agents);
void outcome_table_free(struct outcome_table *t);

/* Appends a query (strings are copied; NULL is stored as ""); its cells start as "unknown
 * decisions, wrong, zero scores" and it has no difficulty level (set q[i].difficulty after).
 * Returns its index, or a negative status. */
int outcome_table_add_query(struct outcome_table *t, const char *id, const char *family,
                            const char *query, const char *answer, const char *grader,
                            enum out_split split);
/* Sets the forced answer text of a cell (copied). */
int outcome_cell_set_forced(struct outcome_cell *c, const char *forced);

/* Number of queries in a split. */
int outcome_count_split(const struct outcome_table *t, enum out_split split);
/* True if every test and OOD query has a recorded decision for this variant and scenario, for
 * every agent but the last (the last always answers). SA-train queries need none: they only fit
 * the baselines, on forced answers. */
int outcome_has_variant(const struct outcome_table *t, enum out_variant v);

/* Whether every cell of agent `a` on the train, test and OOD splits has a recorded confidence
 * (`verify` 0) or self-verification score (`verify` 1). */
int outcome_agent_has_score(const struct outcome_table *t, int a, int verify);

/* JSONL, one line per query x agent:
 * {"qid","split","family","query","answer","grader","difficulty","agent","name","cost","forced",
 *  "correct","conf","verify","t_answer","t_reject","sft_answer":[a,a,a],"sft_correct":[c,c,c],
 *  "rl_answer":[...],"rl_correct":[...]}  (the arrays are indexed by scenario alpha 0.2/0.5/0.8;
 * a null entry or a missing array means "not recorded", and so does a null "conf" or "verify";
 * "difficulty" is written only for a query
 * that has a level). Lines may come in any order; loading checks that every query has exactly one
 * line per agent and that costs and a query's difficulty agree across its lines. */
int outcome_table_save(const struct outcome_table *t, const char *path);
int outcome_table_load(struct outcome_table *t, const char *path);

/* A synthetic world with known structure, for tests and demonstrations. Each query has a latent
 * difficulty d in [0, 1] (its level is 1 + floor(4d), capped at 4); agent i has skill s_i; it is
 * correct with probability p = sigmoid(sharpness * (s_i - d) + idio), where idio is a per-(query,
 * agent) "memorized fact" term that no query feature reveals. The agent's own signals are noisy
 * views of p: confidence (conf_noise), self-verification (k = 8 samples of Bernoulli(p)), and the
 * trained decisions answer iff p + noise > (1 - alpha)^0.5 (noise sd sft_noise / rl_noise). The
 * query text holds the family and, if feature_signal, a token correlated with d; otherwise it is
 * random. */
struct outcome_synth_config {
    int n_agents;
    int n_train, n_test, n_ood;
    double sharpness;  /* e.g. 8 */
    double idio_sd;    /* sd of the per-(query, agent) term, e.g. 1.5 */
    double conf_noise; /* sd of the confidence noise, e.g. 0.15 */
    double sft_noise, rl_noise;
    double ood_shift; /* added to d on the OOD split, e.g. 0.2 */
    int feature_signal;
    uint64_t seed;
};
void outcome_synth_defaults(struct outcome_synth_config *c);
int outcome_table_synth(struct outcome_table *t, const struct outcome_synth_config *c);

#endif
