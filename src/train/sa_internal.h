/* sa_internal.h: helpers shared by the sa_*.c files only (not part of the library's API). */
#ifndef TRAIN_SA_INTERNAL_H
#define TRAIN_SA_INTERNAL_H

#include <stdint.h>

#include "model/engine.h"
#include "model/tokenizer.h"
#include "train/sa.h"

/* Generates one reply per (item[i], scen[i]) with the built-in prompt format; sequence i samples
 * with seed `seed + i` (engine_generate_batch's rule), so a fixed seed reproduces a batch. */
int sa_generate(struct engine *e, const struct qa_set *data, const int *item, const int *scen,
                int n, const struct sa_gen_config *g, float temperature, uint64_t seed,
                struct gen_result *res);

/* n prompts (item[i], scen[i]), `group` samples each, prefilled once per prompt: res[i*group+j]
 * uses seed `seed + i*group + j`. group must not exceed the engine's max_seqs. */
int sa_generate_groups(struct engine *e, const struct qa_set *data, const int *item,
                       const int *scen, int n, int group, const struct sa_gen_config *g,
                       float temperature, uint64_t seed, struct gen_result *res);

int sa_engine_init(struct model *m, const struct sa_gen_config *g, struct engine **e);

/* Allocates the per-query arrays of a sampling record (zeroed). */
int sa_samples_alloc(struct sa_samples *s, int n_queries, int n_samples);

#endif
