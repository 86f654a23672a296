/* sampler.h: choosing the next token from logits. Greedy (temperature 0), or temperature then
 * top-k then top-p (nucleus) then a draw from the renormalized distribution, in that order (as
 * Hugging Face and vLLM apply them). Each sampler owns its RNG stream (core/rng.h), so a seed
 * reproduces a generation exactly whatever else runs in the same batch. The caller provides the
 * work buffer (sampler_work_size) so sampling allocates nothing per token. */
#ifndef MODEL_SAMPLER_H
#define MODEL_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"

struct sampler {
    float temperature; /* <= 0: greedy */
    int top_k;         /* <= 0 or >= n_vocab: off */
    float top_p;       /* >= 1: off */
    struct rng rng;
};

void sampler_init(struct sampler *s, float temperature, int top_k, float top_p, uint64_t seed);

/* Bytes of work buffer for a vocabulary of n tokens. */
size_t sampler_work_size(int n_vocab);

/* Picks a token from logits[n] (which it overwrites). *logprob (may be NULL) receives
 * log P(token) under the model's own distribution (softmax of the raw logits, before
 * temperature and truncation), which is what confidence decisions need. Ties in greedy go to the
 * lowest id. */
int32_t sampler_sample(struct sampler *s, float *logits, int n, void *work, float *logprob);

#endif
