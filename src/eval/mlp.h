/* mlp.h: the small multi-output classifier the central baselines train: a one-hidden-layer MLP
 * (in -> hidden ReLU -> out logits) with independent sigmoid outputs and binary cross-entropy,
 * trained by AdamW on minibatches. llm.c style: one allocation for parameters, gradients and
 * Adam moments; explicit forward and backward over caller-sized batches (sgemm via OpenBLAS).
 * The MLP router predicts every agent's correctness from the query (out = K); the FrugalGPT-style
 * scorer predicts one agent's correctness from (query, answer) (out = 1). */
#ifndef EVAL_MLP_H
#define EVAL_MLP_H

#include <stdint.h>

struct mlp {
    int n_in, n_hidden, n_out, max_batch;
    float *params; /* w1[in x hidden], b1[hidden], w2[hidden x out], b2[out] */
    float *grads, *m, *v;
    int64_t n_params;
    float *w1, *b1, *w2, *b2;
    float *gw1, *gb1, *gw2, *gb2;
    float *hidden;  /* [max_batch x hidden] post-ReLU activations */
    float *dhidden; /* [max_batch x hidden] */
    float *dlogits; /* [max_batch x out] */
    int step;
};

struct mlp_train_config {
    int epochs, batch;
    float lr, weight_decay;
    uint64_t seed;
};

int mlp_init(struct mlp *n, int n_in, int n_hidden, int n_out, int max_batch, uint64_t seed);
void mlp_free(struct mlp *n);

/* logits[b x out] for inputs x[b x in]; keeps the hidden activations for backward. */
int mlp_forward(struct mlp *n, const float *x, int b, float *logits);
/* Mean binary cross-entropy of sigmoid(logits) against targets y[b x out] in [0, 1]; entries
 * with mask 0 (mask may be NULL) are ignored. Writes the gradient w.r.t. logits into
 * n->dlogits. Returns the loss. */
float mlp_bce_loss(struct mlp *n, const float *logits, const float *y, const float *mask, int b);
/* Accumulates parameter gradients (zeroed first) from n->dlogits and x. Call after forward. */
void mlp_backward(struct mlp *n, const float *x, int b);
/* One AdamW step on the accumulated gradients. */
void mlp_adamw_step(struct mlp *n, float lr, float weight_decay);

/* Trains on x[rows x in], y[rows x out] (mask optional) with shuffled minibatches. Shows a
 * progress line labelled `label`. Returns the final epoch's mean loss in *loss (may be NULL). */
int mlp_train(struct mlp *n, const float *x, const float *y, const float *mask, int rows,
              const struct mlp_train_config *c, const char *label, float *loss);
/* probs[rows x out] = sigmoid(forward(x)), in batches. */
int mlp_predict(struct mlp *n, const float *x, int rows, float *probs);

#endif
