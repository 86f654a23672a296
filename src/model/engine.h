/* engine.h: inference on a loaded model. Owns the run state (activations, logits) and the KV
 * cache of up to `max_seqs` sequences, all allocated once at init (no allocation per token).
 * Two levels:
 *  - one-shot: engine_generate / engine_generate_batch / engine_score, for the CLI, sampling in
 *    self-awareness training and evaluation;
 *  - slots: engine_slot_start + engine_step, for continuous batching in the server: every call
 *    to engine_step decodes one token for every active slot in one batched pass. */
#ifndef MODEL_ENGINE_H
#define MODEL_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"

struct engine;

struct engine_params {
    int max_seqs;  /* sequences decoded together (KV cache slots); default 1 */
    int n_ctx;     /* per-sequence context; 0 = the model's n_ctx */
    int n_threads; /* compute threads, the caller's included; 0 = all cores (on a busy machine
                      one thread can be faster: a parallel step waits for preempted threads) */
};

struct gen_params {
    float temperature; /* 0 = greedy */
    int top_k;         /* 0 = off */
    float top_p;       /* 1 = off */
    uint64_t seed;
    int max_tokens;
    char stop_char; /* stop after emitting this byte (e.g. '\n'); 0 = none. EOS always stops */
};

#define GEN_MAX_TOKEN_LP 1024 /* per-token log probabilities kept (the first this many) */

struct gen_result {
    char text[1024];     /* generated text, NUL-terminated (stop char excluded) */
    int n_tokens;        /* tokens sampled, including a final stop char or EOS */
    float sum_logprob;   /* sum of log P(token) of those tokens under the model (softmax of
                            the raw logits: temperature and truncation do not change it) */
    float first_logprob; /* log P of the first generated token */
    bool truncated;      /* hit max_tokens, the context or the text capacity */
    /* Token i (i < min(n_tokens, GEN_MAX_TOKEN_LP)): its log P, and where its piece ends in
     * text (a stop char or EOS adds no text), so a server can list log probabilities per token. */
    float token_logprob[GEN_MAX_TOKEN_LP];
    uint16_t token_end[GEN_MAX_TOKEN_LP];
};

int engine_init(struct engine **out, struct model *m, const struct engine_params *p);
void engine_free(struct engine *e);
const struct model *engine_model(const struct engine *e);

/* Generates a continuation of `prompt` (raw text; the caller applies any template). No BOS is
 * added (our agents train without one); an empty prompt starts from BOS if the vocabulary has
 * one. A prompt that leaves no room in the context is DISR_E_RANGE. */
int engine_generate(struct engine *e, const char *prompt, const struct gen_params *g,
                    struct gen_result *out);

/* n prompts at once (n may exceed max_seqs: processed in waves); out[i] for prompts[i]. Each
 * sequence i samples with seed g->seed + i so results do not depend on batching. */
int engine_generate_batch(struct engine *e, int n, const char *const *prompts,
                          const struct gen_params *g, struct gen_result *out);

/* `group` samples of each of n prompts (self-awareness sampling and GRPO rollouts): out[i*group
 * + j] is sample j of prompts[i], drawn with seed g->seed + i*group + j as engine_generate_batch
 * would for the expanded list. Each prompt is prefilled once and its KV cache shared by the
 * group's samples (group <= max_seqs), which saves most of the work when answers are short. */
int engine_generate_groups(struct engine *e, int n, const char *const *prompts, int group,
                           const struct gen_params *g, struct gen_result *out);

/* log P(continuation | prompt) summed over the continuation's tokens (teacher forcing). */
int engine_score(struct engine *e, const char *prompt, const char *continuation, float *logprob);

/* Continuous batching. A slot holds one request: start it with a prompt (prefill happens in
 * the next engine_step), then each engine_step appends one token to every active slot; a slot
 * is finished when engine_slot_done says so, and its result is read with engine_slot_result
 * before engine_slot_release. Returns the slot id or DISR_E_STATE when all slots are busy.
 * engine_step returns how many slots are still generating after it (>= 0) or an error. A slot's
 * prompt is prefilled on its own (not packed with other slots' tokens) and decoding uses
 * batch-invariant kernels, so a request's tokens do not depend on what else is running. */
int engine_slot_start(struct engine *e, const char *prompt, const struct gen_params *g);
int engine_step(struct engine *e);
bool engine_slot_done(const struct engine *e, int slot);
int engine_slot_result(const struct engine *e, int slot, struct gen_result *out);
void engine_slot_release(struct engine *e, int slot);

/* ---- token level (tests, scoring tools, custom batching) ----
 * A batch of tokens, each with its KV-cache sequence (0..max_seqs-1; the slot with the same id
 * uses it too, so do not mix with busy slots) and position. Tokens of one sequence must come in
 * position order, and positions 0..pos-1 of that sequence must already be in the cache (from
 * this batch or an earlier one). logits[i] != 0 asks for the logits of token i; they are written
 * in batch order to `logits` ([count][n_vocab]). Any n: split internally into micro-batches. */
struct engine_batch {
    int n;
    const int32_t *token;
    const int32_t *pos;
    const int32_t *seq;
    const int8_t *logits;
};
int engine_decode(struct engine *e, const struct engine_batch *b, float *logits);

/* Memory the engine holds, in bytes: the model's weights (as stored), the KV cache
 * (2 * n_layer * max_seqs * n_ctx * kv_dim * 4) and the activation buffers. */
struct engine_memory {
    size_t weights, kv_cache, activations;
};
void engine_memory_get(const struct engine *e, struct engine_memory *out);
int engine_n_ctx(const struct engine *e);
int engine_max_seqs(const struct engine *e);

#endif
