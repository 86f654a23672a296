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

/* GGUF token types (tokenizer.ggml.token_type). */
enum token_type {
    TOKEN_TYPE_NORMAL = 1,
    TOKEN_TYPE_UNKNOWN = 2,
    TOKEN_TYPE_CONTROL = 3,
    TOKEN_TYPE_USER_DEFINED = 4,
    TOKEN_TYPE_UNUSED = 5,
    TOKEN_TYPE_BYTE = 6,
};

/* GPT-2's byte-level alphabet: every byte is one printable code point (space -> U+0120 'Ġ',
 * '\n' -> U+010A 'Ċ'), so byte strings can be stored as text in vocabularies and merges. */
uint32_t gpt2_byte_to_cp(unsigned char b);
int gpt2_cp_to_byte(uint32_t cp); /* -1 if cp is not in the alphabet */

/* UTF-8: encodes cp into out (1..4 bytes, returns the count); decodes one code point from s
 * (returns bytes consumed; an invalid or truncated sequence decodes as 1 byte with cp = the
 * byte | 0x80000000, so callers can treat it as a lone byte). */
int utf8_encode(uint32_t cp, char out[4]);
int utf8_decode(const char *s, size_t len, uint32_t *cp);

/* Unicode classes for the pre-tokenizers (tokenizer_unicode.c, generated): \p{L}, \p{N} and
 * White_Space (\s). */
int unicode_is_letter(uint32_t cp);
int unicode_is_number(uint32_t cp);
int unicode_is_space(uint32_t cp);

/* Reads a special token id key (any integer type); *out = -1 when absent; DISR_E_FORMAT when
 * it is not an id of a vocabulary of n tokens. (tokenizer_gguf.c) */
int tokenizer_special_id(const struct gguf_file *f, const char *key, int n, int32_t *out);

/* Implemented in tokenizer_bpe.c. */
int tokenizer_encode_bpe(const struct tokenizer *t, const char *text, size_t len, int32_t *ids,
                         int cap, int *n_out);
void tokenizer_free_bpe(struct tokenizer *t);
/* Builds a BPE tokenizer from GGUF `tokenizer.ggml.*` metadata (model "gpt2"). */
int tokenizer_load_bpe(struct tokenizer **out, const struct gguf_file *f);
/* Writes a BPE tokenizer's vocabulary, types, merges, pre-tokenizer and special ids. */
int tokenizer_save_bpe(const struct tokenizer *t, struct gguf_writer *w);
/* ChatML (or plain text) for BPE models. */
int tokenizer_apply_chat_bpe(const struct tokenizer *t, const char *system, const char *user,
                             char *buf, size_t cap);

#endif
