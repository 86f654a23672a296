/* transformer.h: the training forward and backward of the whole decoder over a batch of B
 * sequences x T tokens (llm.c style). Owns the saved activations and the activation-gradient
 * scratch, one allocation each, sized at init from the config and B, T; no allocation per step.
 * Parameters and their gradients are two `struct model_weights` views of the canonical F32
 * block (model_weights_point), so the optimizer sees one flat array.
 *
 * A step: transformer_forward (logits), transformer_loss (weighted cross-entropy),
 * transformer_backward (accumulates parameter gradients; destroys the logits). The dense
 * products go through tf_linear_* (core/gemm.h, on the pool: results independent of the thread
 * count). */
#ifndef MODEL_TRANSFORMER_H
#define MODEL_TRANSFORMER_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* What one layer's forward keeps for its backward. [BT] = B*T rows. */
struct tf_layer_acts {
    float *ln1, *ln1_rstd;  /* [BT][C], [BT]: attention input norm */
    float *q, *k, *v;       /* [BT][C], [BT][KV], [BT][KV]: after bias and RoPE */
    float *att;             /* [B][H][T][T] attention probabilities */
    float *atty;            /* [BT][C] attention output before Wo */
    float *res_mid;         /* [BT][C] residual after attention */
    float *ln2, *ln2_rstd;  /* [BT][C], [BT]: feed-forward input norm */
    float *gate, *up, *act; /* [BT][F] SwiGLU pre-activations and output */
};

struct transformer {
    struct model_config c;
    int B, T;
    float *acts; /* the one activation allocation */
    size_t n_acts;
    float *res[MODEL_MAX_LAYERS + 1]; /* residual stream entering layer l ([L] = final) */
    struct tf_layer_acts layer[MODEL_MAX_LAYERS];
    float *lnf, *lnf_rstd; /* final norm */
    float *logits;         /* [BT][V]; overwritten by dlogits in backward */
    float *losses;         /* [BT] per-token cross-entropy */
    /* gradient scratch, reused by every layer */
    float *dres, *dln, *dq, *dk, *dv, *datty, *dgate, *dup, *dact;
    float *attn_scratch; /* [threads][attention_scratch_floats] */
    float *gemm_scratch; /* the products' packing room */
    float *rope_cs;      /* [T][head_dim] RoPE (cos, sin) per position (rope_angles) */
    struct pool *pool;   /* runs the products, the row-wise ops and attention */
};

/* n_threads: the pool's size (0 = every core this process may use). */
int transformer_init(struct transformer **out, const struct model_config *c, int B, int T,
                     int n_threads);
void transformer_free(struct transformer *tf);

/* Logits for inputs [B*T] (token ids, checked against the vocabulary) into tf->logits. */
int transformer_forward(struct transformer *tf, const struct model_weights *w,
                        const int32_t *inputs);

/* Distillation targets: at positions t with mask[t] != 0 the cross-entropy is taken against
 * the distribution probs[t*V .. t*V+V) (another model's next-token probabilities) instead of
 * the one-hot targets[t]. Both arrays span the whole micro-batch ([B*T] and [B*T*V]). */
struct tf_soft_targets {
    const float *probs;
    const uint8_t *mask;
};

/* Per-token cross-entropy of the forward's logits into tf->losses, and the weighted mean
 *   sum_t w_t CE_t / max(1, count(w_t != 0))   (weights NULL = all 1; soft NULL = none).
 * Writes dlosses[t] = scale * w_t / max(1, count) for the backward (dlosses may be NULL). */
int transformer_loss(struct transformer *tf, const int32_t *targets,
                     const struct tf_soft_targets *soft, const float *weights, float scale,
                     float *dlosses, float *loss);

/* Backward from per-token loss gradients, ACCUMULATING into the gradient views `g`; `soft` must
 * be what the loss was computed with. */
int transformer_backward(struct transformer *tf, const struct model_weights *w,
                         struct model_weights *g, const int32_t *inputs, const int32_t *targets,
                         const struct tf_soft_targets *soft, const float *dlosses);

/* out[N][OC] = inp[N][IC] . W[OC][IC]^T (+ bias), on pool (may be NULL) with scratch of
 * tf_linear_scratch_floats(N, IC, OC, the pool's size) floats. */
void tf_linear_forward(struct pool *pool, float *scratch, float *out, const float *inp,
                       const float *w, const float *bias, int N, int IC, int OC);
/* dinp = dout . W (dinp_add: +=), and accumulates dw += dout^T . inp, dbias += colsum(dout);
 * any may be NULL. */
void tf_linear_backward(struct pool *pool, float *scratch, float *dinp, int dinp_add, float *dw,
                        float *dbias, const float *dout, const float *inp, const float *w, int N,
                        int IC, int OC);
size_t tf_linear_scratch_floats(int N, int IC, int OC, int n_threads);

/* Floating-point operations of one forward+backward over B*T tokens: 6 * (matmul params) *
 * tokens plus the attention products (counted once, causal half). For GFLOPS reports. */
double transformer_flops(const struct model_config *c, int B, int T);

#endif
