/* trainer.h: training a model in place (llm.c style). The trainer owns the activations, the
 * gradients and the AdamW moments, each one allocation sized from the model config and the
 * batch shape (B sequences x T tokens) fixed at init.
 *
 * The loss is a weighted cross-entropy, which covers every use in this project:
 *   loss = sum_t w_t * CE(logits_t, target_t) / max(1, count(w_t != 0))
 * pretraining: w = 1 everywhere; fine-tuning: w = 1 on answer tokens, 0 on the prompt;
 * policy gradient: w = the (group-normalized) advantage of the rollout, which can be negative. */
#ifndef TRAIN_TRAINER_H
#define TRAIN_TRAINER_H

#include <stdint.h>

#include "model/model.h"
#include "model/transformer.h"

struct train_config {
    int batch;          /* B: sequences per micro-batch */
    int seq;            /* T: tokens per sequence (<= model n_ctx) */
    int accum;          /* micro-batches per optimizer step (gradient accumulation) */
    int steps;          /* optimizer steps in a run */
    float lr;           /* peak learning rate */
    float min_lr_frac;  /* cosine decays to lr * min_lr_frac */
    int warmup;         /* linear warmup steps */
    float weight_decay; /* AdamW decoupled decay (applied to 2-D weights only) */
    float beta1, beta2, eps;
    float grad_clip; /* global L2 norm clip; 0 = off */
    uint64_t seed;
    /* > 0 and != 1: the model trained and scored is the tempered softmax(logits / T): losses,
     * gradients, log-probs and distributions all of it (RL whose rollouts sample at T stays
     * on-policy; the greedy answer is the same at every T). 0 or 1: plain. */
    float logit_temperature;
    int threads; /* compute threads (0 = every core this process may use) */
};

/* Sensible defaults for a tiny model (lr 1e-3, warmup 5 %, cosine to 10 %, wd 0.1, clip 1).
 * warmup < 0 means 5 % of `steps`. */
void train_config_default(struct train_config *c);

struct trainer;

/* Fails with DISR_E_STATE if the model is not all-F32 (a quantized model cannot be trained). */
int trainer_init(struct trainer **out, struct model *m, const struct train_config *c);
/* A forward-only trainer for a model that learns nothing (RL's reference, a distillation
 * teacher): token log-probs and next-token distributions on the same rows as a training one,
 * without the gradient and optimizer state (3 x the parameters). Accumulating, updating,
 * checkpointing or resuming it fails with DISR_E_STATE. */
int trainer_init_frozen(struct trainer **out, struct model *m, const struct train_config *c);
void trainer_free(struct trainer *t);

/* Forward + backward of one micro-batch, accumulating gradients. inputs/targets/weights are
 * [B*T]; weights may be NULL (all 1). *loss receives the micro-batch's loss. The gradient is
 * scaled by 1/accum, so `accum` calls then one trainer_update equal one batch of accum*B. */
int trainer_accumulate(struct trainer *t, const int32_t *inputs, const int32_t *targets,
                       const float *weights, float *loss);

/* trainer_accumulate with distillation targets at the positions soft->mask marks (see
 * transformer.h); soft NULL is trainer_accumulate. */
int trainer_accumulate_soft(struct trainer *t, const int32_t *inputs, const int32_t *targets,
                            const struct tf_soft_targets *soft, const float *weights, float *loss);

/* The accumulated gradients (views into the trainer's canonical F32 gradient block). */
const struct model_weights *trainer_grads(const struct trainer *t);

/* Clips, applies one AdamW update at the scheduled learning rate for step `step` (0-based),
 * zeroes the gradients. *grad_norm (may be NULL) receives the pre-clip global norm. */
int trainer_update(struct trainer *t, int step, float *grad_norm);

/* Forward only: out[b*T+i] = log P(targets[b*T+i] | inputs[b*T .. b*T+i]). */
int trainer_token_logprobs(struct trainer *t, const int32_t *inputs, const int32_t *targets,
                           float *out);

/* Forward only: probs[(b*T+i)*V ..] = the model's next-token distribution after
 * inputs[b*T .. b*T+i] (the teacher's side of distillation). */
int trainer_next_token_probs(struct trainer *t, const int32_t *inputs, float *probs);

/* The same distributions from the forward pass just run (trainer_token_logprobs or
 * trainer_next_token_probs) without running it again; not after trainer_accumulate, whose
 * backward overwrites the logits. */
void trainer_last_forward_probs(const struct trainer *t, float *probs);

/* The learning rate at `step` under warmup + cosine. */
float train_lr_at(const struct train_config *c, int step);

/* Saves the model and the optimizer state (moments, step) to a GGUF checkpoint so a run can
 * resume exactly; trainer_resume restores them (the model must match the file's config). */
int trainer_save_checkpoint(const struct trainer *t, const char *path, int step);
int trainer_resume(struct trainer *t, const char *path, int *step);

#endif
