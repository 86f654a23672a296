/* backend_engine.h: the embedded-model backend (see backend.h) with continuous batching: one
 * inference thread steps every active request together through engine_step. */
#ifndef ROUTE_BACKEND_ENGINE_H
#define ROUTE_BACKEND_ENGINE_H

#include <stdbool.h>

#include "route/backend.h"

struct model;

/* `max_seqs` requests decode together (KV-cache slots); more wait in a queue. `n_threads` = 0
 * uses all cores but one (left to HTTP). With take_model the backend frees the model. */
int backend_engine_create(struct backend **out, struct model *m, bool take_model, int max_seqs,
                          int n_threads);

/* The prompt an engine agent is given for (query, scenario): the built-in agents' format for a
 * char-level model, the file's chat template with the scenario's system prompt for a BPE model.
 * *stop_char is the byte that ends an answer ('\n' for the built-in agents, 0 = EOS only).
 * Returns the prompt's length or a negative status. */
int backend_engine_prompt(const struct model *m, const char *query, enum scenario s, char *buf,
                          size_t cap, char *stop_char);

struct engine_backend_stats {
    unsigned long steps;      /* engine_step calls */
    unsigned long slot_steps; /* sum over steps of active slots (slot_steps/steps = mean batch) */
    unsigned long max_batch;  /* most slots active in one step */
};
int backend_engine_stats(const struct backend *b, struct engine_backend_stats *s);

#endif
