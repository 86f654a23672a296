/* ops.h: the transformer's elementwise and row-wise operations on plain float arrays, as
 * forward/backward pairs (llm.c style: backward functions ACCUMULATE into their gradient
 * outputs). Both the trainer (batched B*T rows with saved activations) and the inference engine
 * (KV cache) call these, so there is one definition of each piece of math. Matrix products live
 * in core/matmul.h. */
#ifndef CORE_OPS_H
#define CORE_OPS_H

#include <stdint.h>

/* out[r] = x[r] / rms(x[r]) * w, for `rows` rows of `n`. rstd (may be NULL) receives 1/rms per
 * row for the backward pass. */
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int rows, int n,
                     float eps);

/* Rotates `n_heads` heads of `head_dim` floats at sequence position `pos` in place.
 * style: 0 = NORMAL (adjacent pairs), 2 = NEOX (halves); matches enum rope_style. */
void rope_forward(float *x, int n_heads, int head_dim, int pos, float base, int style);

/* In-place numerically stable softmax over n floats. */
void softmax_forward(float *x, int n);

/* out[i] = silu(gate[i]) * up[i]. */
void swiglu_forward(float *out, const float *gate, const float *up, int n);

/* log-sum-exp of n logits (for log-probs and cross-entropy). */
float logsumexp(const float *x, int n);

#endif
