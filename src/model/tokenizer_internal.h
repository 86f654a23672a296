/* tokenizer_internal.h: the tokenizer's representation, shared by the char, BPE and GGUF parts
 * of the tokenizer module only. */
#ifndef MODEL_TOKENIZER_INTERNAL_H
#define MODEL_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "model/tokenizer.h"

struct tokenizer_bpe; /* merges, token lookup; defined in tokenizer_bpe.c */

struct tokenizer {
    enum tokenizer_kind kind;
    int n_vocab;
    char **pieces;     /* decoded bytes of each token (NUL-terminated for convenience) */
    size_t *piece_len; /* 0 for specials/control tokens */
    int byte_to_id[256];
    int32_t bos, eos;
    struct tokenizer_bpe *bpe; /* NULL for CHAR */
};

/* Implemented in tokenizer_bpe.c. */
int tokenizer_encode_bpe(const struct tokenizer *t, const char *text, size_t len, int32_t *ids,
                         int cap, int *n_out);
void tokenizer_free_bpe(struct tokenizer *t);

#endif
