/* features.h: the text features the central baselines see. A central router cannot look inside
 * the agents, so it gets what RouteLLM / FORC-style routers get: a fixed embedding of the query
 * text. We use hashed bags of character n-grams (1..3) and whole words, L2-normalized: no
 * download, deterministic, and strong on the synthetic world's templated queries (the family and
 * the entity name are both visible to it). */
#ifndef EVAL_FEATURES_H
#define EVAL_FEATURES_H

#include <stdint.h>

/* Adds the hashed n-gram and word counts of `text` into dst[0..dim) (dim a power of two);
 * `salt` separates feature spaces (e.g. query vs answer). Does not normalize. */
void feat_add_text(float *dst, int dim, const char *text, uint32_t salt);

/* Scales dst[0..n) to unit L2 norm (left as is if all zero). */
void feat_normalize(float *dst, int n);

#endif
