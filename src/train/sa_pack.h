/* sa_pack.h: lays prompt + response sequences into the trainer's fixed B x T micro-batch rows
 * for fine-tuning and policy gradient. Whole sequences only (never split across rows), one after
 * another in a row the way QA examples follow each other in the pretraining stream, the first
 * at position 0 like a prompt at inference; the rest of a row is padding with weight 0.
 *
 * A row is a stream of T+1 tokens s[0..T]: inputs = s[0..T-1], targets = s[1..T]. A sequence
 * placed at stream offset `off` puts token j at s[off+j], so the weight of predicting token j
 * (j >= n_prompt: response tokens only) sits at index off+j-1. Callers that need per-token
 * log-probs of a sequence (RL) read them back at the same indices. */
#ifndef TRAIN_SA_PACK_H
#define TRAIN_SA_PACK_H

#include <stdint.h>

struct tokenizer;

struct sa_pack {
    int T, cap_rows;
    int rows; /* rows started so far (the last one may be partly filled) */
    int fill; /* stream tokens used in the last row */
    int32_t pad;
    int32_t *inputs, *targets; /* [cap_rows * T] */
    float *weights;            /* [cap_rows * T] */
    uint8_t *distill;          /* [cap_rows * T]: 1 where the target is a teacher's
                                  distribution (tf_soft_targets.mask), 0 elsewhere */
};

int sa_pack_init(struct sa_pack *p, int T, int cap_rows, int32_t pad);
void sa_pack_free(struct sa_pack *p);
/* Empties every row (padding, weight 0). */
void sa_pack_reset(struct sa_pack *p);

/* Places tok[0..n) with response weights w[0 .. n-n_prompt) (NULL: all 1). *row, *off (may be
 * NULL) receive where it went. DISR_E_RANGE if the sequence is longer than a row (T+1 tokens) or
 * n_prompt is not in [1, n]; DISR_E_NOMEM (no message change needed by callers: check
 * sa_pack_fits first) when the rows are full. */
int sa_pack_add(struct sa_pack *p, const int32_t *tok, int n, int n_prompt, const float *w,
                int *row, int *off);

/* sa_pack_add for a sequence whose response is distilled: its positions are marked in
 * p->distill, so their targets become a teacher's distributions instead of the tokens. */
int sa_pack_add_distilled(struct sa_pack *p, const int32_t *tok, int n, int n_prompt,
                          const float *w);

/* True if a sequence of n tokens can still be added without exceeding cap_rows. */
int sa_pack_fits(const struct sa_pack *p, int n);

/* The index of the token among ids[0..n) that holds byte `at` of their decoded text; -1 if `at`
 * is negative or past the text. */
int sa_pack_token_at(const struct tokenizer *t, const int32_t *ids, int n, int at);

/* Tokens of prompt + response, each encoded on its own so the prompt's tokens are exactly those
 * the engine sees at inference: *n_prompt receives the prompt's count, *n the total.
 * DISR_E_RANGE if more than cap tokens. */
int sa_pack_encode(const struct tokenizer *t, const char *prompt, const char *response,
                   int32_t *ids, int cap, int *n, int *n_prompt);

#endif
