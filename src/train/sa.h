/* sa.h: Self-Awareness Training (paper §3.2, DESIGN §1): each agent learns, alone, to answer
 * what it can and to reply "I don't know!" to what it cannot, with the bar set by the scenario
 * slot of its prompt ("[P]" / "[B]" / "[C]", see world/scenario.h).
 *
 *  - sa_sample:    the agent's own competence: N answers per query at temperature 1 with the
 *                  forced-answer prompt, graded; p̂ = n_correct / N.
 *  - sa_sft_train: Stage 1. Targets from p̂ (sa_target.h), one model for all three scenarios,
 *                  loss on the answer only.
 *  - sa_rl_train:  Stage 2. GRPO on the paper's reward with a KL penalty to the frozen SFT model
 *                  (sa_grpo.h), scenarios mixed, checkpointed and deterministic under a seed.
 *  - sa_eval_agent / sa_chain_eval: what the report shows: per scenario answer rate, precision,
 *                  self-assessment F1, forced-answer accuracy, and an in-process chain's utility.
 * Nothing here knows about other agents except sa_chain_eval, which only reads their results. */
#ifndef TRAIN_SA_H
#define TRAIN_SA_H

#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"
#include "world/dataset.h"

/* ---- the agent's own samples ---------------------------------------------------------- */

struct sa_samples {
    int n_queries, n_samples;
    int *n_correct;      /* [n_queries] */
    char **own_answer;   /* [n_queries]: first correct sample's text (owned), or NULL */
    char **first_sample; /* [n_queries]: sample 0's text, right or wrong (NULL if it was cut) */
    double seconds;
};

struct sa_gen_config {
    float temperature; /* sampling temperature (1 per the paper) */
    int max_tokens;    /* cap on generated answer tokens */
    int n_threads;     /* engine threads (0: all cores) */
    int max_seqs;      /* sequences decoded together */
    uint64_t seed;
};
void sa_gen_config_default(struct sa_gen_config *g);

/* Samples n_samples answers per item with the forced-answer prompt (SCENARIO_NONE) and grades
 * them. Deterministic: sample j of item i uses seed g->seed + i * n_samples + j. */
int sa_sample(struct model *m, const struct qa_set *data, int n_samples,
              const struct sa_gen_config *g, struct sa_samples *out);
void sa_samples_free(struct sa_samples *s);
/* A cache of the sampling pass as JSONL (one {"correct":k,"answer":...} per query after a header
 * naming the item count, sample count and seed) so a resumed sa-sft does not sample again.
 * sa_samples_load fails with DISR_E_STATE if the header does not match what is asked. */
int sa_samples_save(const struct sa_samples *s, uint64_t seed, const char *path);
int sa_samples_load(struct sa_samples *s, int n_queries, int n_samples, uint64_t seed,
                    const char *path);

/* ---- Stage 1: SFT ----------------------------------------------------------------------- */

struct sa_sft_config {
    int n_samples; /* N answers per query (8) */
    int min_side;  /* minority side oversampled up to this many per scenario; -1: 10 % of queries */
    bool last;     /* the chain's last agent: answer-only targets, never reject */
    int anchors;   /* forced-answer examples of the agent's own samples; -1: one per query */
    float anchor_weight;          /* loss weight of an anchor example (1) */
    float reject_tail_weight;     /* loss weight of a reject's tokens after the first (the
                                     decision keeps the balance weight; 4); 0: the
                                     example's */
    struct model *anchor_teacher; /* when set (a frozen copy of the agent), an anchor learns
                                     its whole next-token distribution at every answer
                                     position (distillation), not only the replayed tokens */
    int n_target_queries;         /* data[0, n) get scenario targets and data[n, end) serve only as
                                     anchors (e.g. queries about other entities); 0: all, and anchors
                                     come from the target queries themselves */
    bool weighted;    /* balance by loss weight, every query in every scenario (sa_target.h) */
    float max_weight; /* cap on a weighted example's weight */
    int steps;        /* optimizer steps */
    int batch;        /* rows per micro-batch */
    int seq;          /* tokens per row (0: fit the longest example, capped by n_ctx) */
    float lr;
    float weight_decay; /* AdamW decay of the 2-D weights */
    int warmup;
    uint64_t seed;
    struct sa_gen_config gen;
    const char *checkpoint; /* trainer checkpoint path (NULL: none) */
    int checkpoint_every;   /* steps between checkpoints */
    bool resume;            /* resume from `checkpoint` if it exists */
    int stop_after;         /* stop (checkpointed) once this many steps are done; 0: off */
};
void sa_sft_config_default(struct sa_sft_config *c);

struct sa_sft_summary {
    int n_examples;
    int answer_pool[3], reject_pool[3], answer_kept[3], reject_kept[3];
    int steps_done;
    float final_loss;
    double seconds;
};

/* Trains m in place on targets built from `samples` (of the same `data`). */
int sa_sft_train(struct model *m, const struct qa_set *data, const struct sa_samples *samples,
                 const struct sa_sft_config *c, struct sa_sft_summary *out);

/* ---- Stage 2: RL (GRPO) ----------------------------------------------------------------- */

/* What a reject's advantage reaches (sa_rl_config.reject_credit, sa_grpo_credit). An answer's
 * reaches all its tokens under every rule. */
enum sa_reject_credit {
    /* Every token (the first rule): each group in which a reject lost to a right answer pushed the
     * reject's fixed text down, and the tiny agents' rejects frayed into copying. */
    SA_CREDIT_WHOLE,
    /* A reject's first token only (the decision, which alone sets its reward); a broken reject
     * ("I d d") is an answer and credits all its tokens, the decision included. Why each rule
     * gave way to the next: docs/SELF_AWARENESS.md, "The reject's text and its credit". */
    SA_CREDIT_DECISION,
    /* As DECISION, but a broken reject credits its tokens from where it departed from the reject
     * text: the decision before it was the reject's, and the reward it lost was lost there. */
    SA_CREDIT_DEPARTURE,
};

struct sa_rl_config {
    int steps;   /* optimizer steps */
    int prompts; /* prompts (query x scenario) per step */
    int group;   /* rollouts per prompt (8) */
    float beta;  /* KL penalty to the reference (SFT) model */
    int anchors; /* forced-answer answers of the reference trained by cross-entropy per step */
    float anchor_weight;              /* their loss weight */
    float anchor_temperature;         /* of the reference's anchor answers (0: greedy) */
    const struct qa_set *anchor_data; /* queries the anchors draw from (NULL: the RL data) */
    struct model *anchor_model;       /* whose answers the anchors replay (NULL: the reference);
                                         the pretrained agent holds forced answers where they
                                         were before SFT, not where SFT left them */
    bool distill_anchors; /* anchors learn the anchor model's whole next-token distribution
                             at each answer position, not only its answer's tokens */
    enum sa_reject_credit reject_credit; /* which tokens of a reject its advantage reaches */
    bool tempered; /* the policy trained (and its reference and anchor teacher) is
                      softmax(logits / rollout temperature), which the rollouts sample: on-policy
                      at any temperature, same greedy answers */
    float lr;
    int warmup;
    int batch; /* rows per micro-batch */
    int seq;   /* tokens per row (0: fit the longest prompt + max_tokens, capped by n_ctx) */
    bool last; /* the last agent: a reject earns 0 (it must always answer) */
    uint64_t seed;
    struct sa_gen_config gen;
    const char *checkpoint;
    int checkpoint_every;
    bool resume;
    int stop_after; /* stop (checkpointed) once this many steps are done; 0: off */
};
void sa_rl_config_default(struct sa_rl_config *c);

struct sa_rl_summary {
    int steps_done;
    float mean_reward;    /* over the last steps */
    float answer_rate[3]; /* rollouts that answered, per scenario, over the last steps */
    float kl;             /* mean per-token k3 KL over the last steps */
    float signal;         /* share of groups whose rewards differed (the others teach nothing) */
    float broken;         /* share of rollouts that were broken rejects (began like the reject,
                             then left it), over the last steps */
    double seconds;
};

/* Trains `policy` in place; `ref` is the frozen SFT model (same config). */
int sa_rl_train(struct model *policy, struct model *ref, const struct qa_set *data,
                const struct sa_rl_config *c, struct sa_rl_summary *out);

/* ---- evaluation ------------------------------------------------------------------------- */

/* One agent's greedy behaviour on a data set: per query, per scenario (index s - 1) whether it
 * answered and whether the answer was correct, plus its forced-answer (SCENARIO_NONE) result. */
struct sa_agent_eval {
    int n;
    bool *answered[3], *correct[3]; /* [n] each */
    bool *forced_correct;           /* [n] */
    int n_broken[3]; /* answers that began like the reject and departed from it (counted among
                        the answered, graded wrong): scenario_is_broken_reject */
    double answer_rate[3], precision[3], f1[3], forced_acc;
    int n_answered[3], n_answered_right[3]; /* precision = right / answered */
    /* Wilson 95 % interval of the precision (stats_wilson95): an agent that answers a few dozen of
     * a thousand queries has a precision good to about ±0.1, and the report says so */
    double precision_lo[3], precision_hi[3];
    double reward[3]; /* mean of the paper's reward over the queries: what RL maximizes */
};

int sa_eval_agent(struct model *m, const struct qa_set *data, const struct sa_gen_config *g,
                  struct sa_agent_eval *out);
void sa_eval_free(struct sa_agent_eval *e);

/* Fills answer_rate / precision (with its counts and interval) / f1 / reward / forced_acc from
 * the per-query arrays. F1 is that of the reject decision as a predictor of "the forced answer
 * would be wrong". */
void sa_eval_summarize(struct sa_agent_eval *e);
/* The same, with F1's truth taken from another run's forced answers (would_be_right[n], e.g. the
 * untrained base agent's): trained versions of one agent then share one truth, and an F1 gap
 * between them is a difference in their decisions, not in their forced answers (an agent that
 * rejects everything scores higher the worse its own forced answers are). */
void sa_eval_summarize_against(struct sa_agent_eval *e, const bool *would_be_right);

struct sa_chain_result {
    double accuracy, cost, utility;
    double *share; /* [k] fraction of queries answered by each agent (caller-allocated) */
};

/* The chain m_1 .. m_k (k >= 1) under scenario s: a query goes to the first agent that answers;
 * the last always answers (its forced answer if it rejected). utility = accuracy - alpha * cost. */
void sa_chain_eval(const struct sa_agent_eval *agents, int k, const double *costs, int scenario,
                   struct sa_chain_result *r);

#endif
