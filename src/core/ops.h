/* ops.h: the transformer's elementwise and row-wise operations on plain float arrays, as
 * forward/backward pairs (llm.c style: backward functions ACCUMULATE into their gradient
 * outputs). Both the trainer (batched B*T rows with saved activations) and the inference engine
 * (KV cache) call these, so there is one definition of each piece of math. Matrix products live
 * in core/matmul.h. */
#ifndef CORE_OPS_H
#define CORE_OPS_H

#include <stddef.h>
#include <stdint.h>

/* out[r] = x[r] / rms(x[r]) * w, for `rows` rows of `n`. rstd (may be NULL) receives 1/rms per
 * row for the backward pass. */
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int rows, int n,
                     float eps);

/* Rotates `n_heads` heads of `head_dim` floats at sequence position `pos` in place.
 * style: 0 = NORMAL (adjacent pairs), 2 = NEOX (halves); matches enum rope_style. */
void rope_forward(float *x, int n_heads, int head_dim, int pos, float base, int style);

/* The rotation of position `pos` as (cos, sin) pairs: cs[2i], cs[2i+1] for i < head_dim/2. A
 * table of rows for every position lets the _cached variants skip the transcendentals; they
 * give bit-identical results to rope_forward / rope_backward. */
void rope_angles(float *cs, int head_dim, int pos, float base);
/* The same with pair i's angle divided by factors[i] (Llama 3.1+'s rope scaling, ggml's
 * freq_factors: the `rope_freqs.weight` tensor of its GGUF files). */
void rope_angles_scaled(float *cs, int head_dim, int pos, float base, const float *factors);
void rope_forward_cached(float *x, int n_heads, int head_dim, const float *cs, int style);

/* In-place numerically stable softmax over n floats. */
void softmax_forward(float *x, int n);

/* out[i] = silu(gate[i]) * up[i]. */
void swiglu_forward(float *out, const float *gate, const float *up, int n);

/* log-sum-exp of n logits (for log-probs and cross-entropy). */
float logsumexp(const float *x, int n);

/* ---- backward passes (training). Unless said otherwise they ACCUMULATE (+=) into their
 * gradient outputs, so callers zero those first; the saved forward values are inputs. ---- */

/* Gradient of rmsnorm_forward for `rows` rows of `n`: dx += d/dx, dw += d/dw, given the
 * forward input x, gain w, and the rstd the forward saved. */
void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                      const float *rstd, int rows, int n);

/* Gradient of rope_forward, IN PLACE: a rotation's Jacobian is the rotation itself, so the
 * gradient w.r.t. the input is the output gradient rotated back by -theta. */
void rope_backward(float *dx, int n_heads, int head_dim, int pos, float base, int style);
void rope_backward_cached(float *dx, int n_heads, int head_dim, const float *cs, int style);

/* Gradient of softmax_forward: dx += y * (dy - dot(dy, y)), y = the forward's output. */
void softmax_backward(float *dx, const float *dy, const float *y, int n);

/* Gradient of swiglu_forward: dgate = dout * up * silu'(gate), dup = dout * silu(gate); these
 * two OVERWRITE (they are a product's whole input gradient). */
void swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                     const float *up, int n);

/* Causal multi-head attention of one sequence of T tokens, grouped-query: query head h reads
 * key/value head h / (n_head / n_head_kv). q is [T][q_stride] with head h at column h*hd, k and
 * v are [T][kv_stride]; out is [T][q_stride]. att receives the probabilities [n_head][T][T]
 * (row t only filled up to t; the rest is zeroed) for the backward pass; scale = 1/sqrt(hd).
 * scratch holds attention_scratch_floats(T, hd) floats. */
size_t attention_scratch_floats(int T, int hd);
void attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                       int T, int n_head, int n_head_kv, int hd, int q_stride, int kv_stride,
                       float *scratch);

/* Gradient of attention_forward: dq, dk, dv accumulate; scratch as for the forward. */
void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                        const float *q, const float *k, const float *v, int T, int n_head,
                        int n_head_kv, int hd, int q_stride, int kv_stride, float *scratch);

/* Cross-entropy per row: losses[r] = logsumexp(logits[r]) - logits[r][targets[r]]. */
void crossentropy_forward(float *losses, const float *logits, const int32_t *targets, int rows,
                          int V);

/* Fused softmax + cross-entropy gradient: dlogits[r] = (softmax(logits[r]) - onehot(target))
 * * dlosses[r], given the forward's losses (so the log-sum-exp is not computed again:
 * lse = loss + logit[target]). OVERWRITES (does not accumulate) so it can run in place
 * (dlogits == logits), which lets the trainer keep one [B*T][V] buffer. A weight of 0 gives a
 * zero row. */
void crossentropy_softmax_backward(float *dlogits, const float *logits, const int32_t *targets,
                                   const float *losses, const float *dlosses, int rows, int V);

/* The same against target distributions (distillation): probs[r] holds V probabilities summing
 * to 1, losses[r] = logsumexp(logits[r]) - sum_i probs[r][i] * logits[r][i], and the gradient
 * is (softmax(logits[r]) - probs[r]) * dlosses[r], overwriting, safe in place. */
void crossentropy_soft_forward(float *losses, const float *logits, const float *probs, int rows,
                               int V);
void crossentropy_soft_softmax_backward(float *dlogits, const float *logits, const float *probs,
                                        const float *dlosses, int rows, int V);

#endif
