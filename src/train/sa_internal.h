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

int sa_engine_init(struct model *m, const struct sa_gen_config *g, struct engine **e);

/* Tokens of prompt + response as the engine sees them (so training matches inference):
 * *n_prompt receives the prompt's token count. DISR_E_RANGE if more than cap tokens. */
int sa_encode(const struct tokenizer *t, const char *prompt, const char *response, int32_t *ids,
              int cap, int *n, int *n_prompt);

#endif
