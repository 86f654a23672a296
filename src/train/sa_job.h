/* sa_job.h: the two self-awareness training jobs, from files to files, as `disr sa-sft` and
 * `disr sa-rl` run them (the commands only parse options into these structs and print the
 * reports). A job loads its agent, trains it with sa_sft_train / sa_rl_train (sa.h), writes the
 * trained GGUF and removes its finished checkpoint; a job stopped early (stop_after) leaves the
 * checkpoint and says so in its report.
 *
 *  - SFT: every `holdout`-th query is held out; the rest are sampled (cached next to the output,
 *    so a resumed job skips the pass), balanced and trained on, with forced-answer anchors (from
 *    `anchor_data` if given) distilled from a frozen copy of the agent. The held-out queries then
 *    check that each scenario's answer rate follows its label (p̂ >= 1 - alpha).
 *  - RL: GRPO from the SFT model, which is also the frozen reference of the KL term; the last
 *    agent is copied unchanged (it never rejects). */
#ifndef TRAIN_SA_JOB_H
#define TRAIN_SA_JOB_H

#include <stdbool.h>

#include "train/sa.h"

/* ---- Stage 1: SFT ----------------------------------------------------------------------- */

struct sa_sft_job {
    const char *agent, *data, *out; /* required: GGUF (all F32), SA-train JSONL, GGUF written */
    const char *anchor_data;        /* queries whose own greedy (or anchor_temp) answers are the
                                       anchors; NULL: the training queries */
    float anchor_temp;              /* temperature of those answers (<= 0: greedy) */
    bool distill;                   /* anchors learn the untrained agent's whole distribution */
    int holdout;                    /* every N-th query checks the result (0: none) */
    const char *samples_cache;      /* NULL: OUT.samples.jsonl */
    /* train.seed also seeds the sampling (train.gen.seed is set from it); train.checkpoint
     * NULL: OUT.ckpt */
    struct sa_sft_config train;
};
/* quick: tiny settings for tests and the quick demo (explicit options then override them). */
void sa_sft_job_default(struct sa_sft_job *j, bool quick);
/* DISR_E_ARG naming the first missing path or out-of-range setting. */
int sa_sft_job_check(const struct sa_sft_job *j);

struct sa_sft_report {
    int n_train, n_check;  /* training queries and held-out ones */
    int n_anchor_queries;  /* anchor-only queries from anchor_data */
    double sample_seconds; /* the sampling pass (as cached when reused) */
    struct sa_sft_summary train;
    bool finished;         /* every step done and `out` written; else checkpointed */
    char checkpoint[4096]; /* the checkpoint path used */
    /* the held-out check, per scenario (when n_check > 0 and finished): the share of queries
     * whose label is "answer", the share the model answers, their agreement, its precision */
    double label_rate[3], answer_rate[3], agreement[3], precision[3];
    double forced_before, forced_after; /* forced-answer accuracy on the held-out queries */
};

int sa_sft_job_run(const struct sa_sft_job *j, struct sa_sft_report *r);

/* ---- Stage 2: RL (GRPO) ----------------------------------------------------------------- */

struct sa_rl_job {
    const char *agent, *data, *out; /* required: the SFT agent, SA-train JSONL, GGUF written */
    const char *ref;                /* the KL term's reference (NULL: agent) */
    const char *anchor_data;        /* queries the anchors draw from (NULL: data) */
    const char *anchor_model;       /* whose forced answers the anchors replay (NULL: ref) */
    /* train.seed also seeds the rollouts; train.checkpoint NULL: OUT.ckpt; train.anchor_data and
     * train.anchor_model are the job's, loaded from the paths above */
    struct sa_rl_config train;
};
void sa_rl_job_default(struct sa_rl_job *j, bool quick);
int sa_rl_job_check(const struct sa_rl_job *j);

struct sa_rl_report {
    bool copied;   /* the last agent: copied unchanged, nothing trained */
    bool finished; /* every step done and `out` written; else checkpointed */
    char checkpoint[4096];
    struct sa_rl_summary train;
};

int sa_rl_job_run(const struct sa_rl_job *j, struct sa_rl_report *r);

#endif
