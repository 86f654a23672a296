/* train_run.h: the training loop other layers call (disr train, the agent zoo, self-awareness
 * SFT) and the training speed benchmark (disr bench).
 *
 * train_run: `steps` optimizer steps of `accum` micro-batches each from a tokenized corpus,
 * with the progress line (step, loss, lr, tokens/s, ETA), optional periodic checkpoints, and
 * exact resume (batches depend only on seed and step, and the optimizer state is restored). */
#ifndef TRAIN_TRAIN_RUN_H
#define TRAIN_TRAIN_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "model/model.h"
#include "train/corpus.h"
#include "train/trainer.h"

struct train_run_opts {
    const char *checkpoint; /* checkpoint path (model GGUF + "<path>.opt"); NULL = none */
    int checkpoint_every;   /* steps between checkpoints (0 = only at the end) */
    bool resume;            /* continue from `checkpoint` if it exists */
    const char *label;      /* progress label; NULL = "train" */
    int stop_after;         /* run at most this many steps in this call (0 = to the end); the
                               checkpoint is then written at the step reached */
    float *losses;          /* optional [config steps]: each step's mean micro-batch loss */
};

struct train_run_result {
    int first_step;   /* 0, or the step a resume started from */
    int steps_done;   /* steps run by this call */
    float first_loss; /* loss of the first step run */
    float final_loss; /* mean loss of the last min(10, steps) steps */
    double seconds;
    double tokens_per_s;
};

/* Trains `m` in place on `c` (already tokenized with m's tokenizer). o and res may be NULL. */
int train_run(struct model *m, const struct corpus *c, const struct train_config *cfg,
              const struct train_run_opts *o, struct train_run_result *res);

/* Training speed on random weights and tokens: one warm-up step, then `steps` timed steps of
 * forward + backward + AdamW at batch B x T. gflops counts transformer_flops per step. */
struct train_bench_result {
    size_t n_params;
    double sec_per_step; /* median over the timed steps */
    double cpu_per_step; /* median process CPU time (user + sys, all threads) per step: the
                            work a step costs whatever else the machine is running */
    double tokens_per_s;
    double gflops;
};
/* threads: compute threads (0 = every core this process may use). */
int train_bench(const struct model_config *c, int B, int T, int steps, int threads,
                struct train_bench_result *out);

/* The benchmark's reference shape: GPT-2 124M-like Llama (C 768, 12 layers, 12 heads, ff 3072,
 * vocab 50304, tied), as llm.c's CPU trainer ran here at 4.7 s/step for B=4, T=64. */
void train_bench_config_gpt2(struct model_config *c);

#endif
