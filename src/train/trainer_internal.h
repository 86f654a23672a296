/* trainer_internal.h: the trainer's state, shared by the files of src/train/ that implement
 * trainer.h (optimizer, checkpoints). Not for other layers: they use trainer.h. */
#ifndef TRAIN_TRAINER_INTERNAL_H
#define TRAIN_TRAINER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "model/transformer.h"
#include "train/trainer.h"

/* A span of one tensor in the flat parameter block; AdamW decays 2-D weights only. */
struct train_segment {
    size_t off, n;
    bool decay;
};

struct trainer {
    struct model *m; /* not owned */
    struct train_config cfg;
    struct transformer *tf;
    float *grads, *mom_m, *mom_v; /* one allocation of 3 * n_params, canonical layout; NULL
                                     for a forward-only trainer */
    struct model_weights gw;      /* gradient views into `grads` */
    struct train_segment *segs;   /* tensors cut into pieces of bounded size */
    int n_segs;
    double *partial; /* [n_segs] per-piece sums of squares (summed in order: deterministic) */
    float *dlosses;  /* [B*T] per-token loss gradients */
    int n_micro;     /* micro-batches accumulated since the last update */
};

/* DISR_OK, or DISR_E_STATE naming `what` for a forward-only trainer (trainer_init_frozen). */
int trainer_check_learns(const struct trainer *t, const char *what);

#endif
