/* loop.h: the one training loop of pretraining (train_run), self-awareness SFT and RL. It owns
 * what every run shares: resuming from a checkpoint, stopping early (checkpointed), periodic
 * checkpoints and the progress line; the caller's callbacks do the steps themselves.
 *
 * Checkpoints are the trainer's (model GGUF + "<path>.opt"), written at step k after k steps.
 * A failed periodic checkpoint (full disk) costs resumability, not the run: it is logged and the
 * run goes on; the checkpoint of a stop (or of the end, with checkpoint_at_end) must succeed. */
#ifndef TRAIN_LOOP_H
#define TRAIN_LOOP_H

#include <stdbool.h>
#include <stddef.h>

#include "train/trainer.h"

struct train_loop {
    struct trainer *trainer; /* whose state is checkpointed and resumed */
    int steps;               /* the run's length in optimizer steps */
    const char *label;       /* progress and log label */
    const char *checkpoint;  /* checkpoint path; NULL = none */
    int checkpoint_every;    /* steps between periodic checkpoints (0 = none) */
    bool resume;             /* continue from `checkpoint` if it exists */
    bool checkpoint_at_end;  /* also write the checkpoint when the run ends */
    /* Early stop, checkpointed (to test resuming); 0 = off. stop_after counts the steps of this
     * call; stop_at is the step count at which to stop, ignored once a resume has passed it. */
    int stop_after, stop_at;
    /* Called once the start step is known (0, or the resumed step): replays what the steps
     * before it consumed, builds what reads the resumed weights. May be NULL. */
    int (*begin)(void *ctx, int start);
    /* One optimizer step. */
    int (*step)(void *ctx, int step);
    /* The progress line's text after `step` (final: the run is over). */
    void (*describe)(void *ctx, int step, bool final, char *buf, size_t cap);
};

struct train_loop_result {
    int first_step; /* 0, or the step a resume started from */
    int end_step;   /* the step count reached */
    int steps_done; /* steps run by this call */
};

/* Runs l->step for each step from the start to the end (or the stop). Fails with the first
 * failing callback's or checkpoint's status. */
int train_loop_run(const struct train_loop *l, void *ctx, struct train_loop_result *r);

#endif
