/* tokenizer_internal.h: the tokenizer's representation, shared by the char, BPE, SentencePiece
 * and GGUF parts of the tokenizer module only. */
#ifndef MODEL_TOKENIZER_INTERNAL_H
#define MODEL_TOKENIZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/tokenizer.h"

struct gguf_file;
struct gguf_writer;

/* GGUF token types (tokenizer.ggml.token_type). */
enum token_type {
    TOKEN_TYPE_NORMAL = 1,
    TOKEN_TYPE_UNKNOWN = 2,
    TOKEN_TYPE_CONTROL = 3,
    TOKEN_TYPE_USER_DEFINED = 4,
    TOKEN_TYPE_UNUSED = 5,
    TOKEN_TYPE_BYTE = 6,
};

/* The BPE pre-tokenizers (tokenizer.ggml.pre): GPT-2's regex, and the Qwen2 / Llama-3 regex,
 * which differ only in how many digits a number pre-token holds. */
enum pre_kind { PRE_GPT2 = 0, PRE_QWEN2 = 1, PRE_LLAMA3 = 2 };

/* Token text -> id over the vocabulary's stored texts (open addressing, first id wins). */
struct text_index {
    int32_t *slots;
    uint64_t mask;
    const char *const *texts;
    const uint64_t *lens;
};
int text_index_build(struct text_index *ix, const char *const *texts, const uint64_t *lens,
                     uint64_t n);
int32_t text_index_find(const struct text_index *ix, const char *s, size_t n);

struct merge_entry;

struct special {
    const char *text; /* the token's raw text */
    size_t len;
    int32_t id;
};

/* A GGUF vocabulary (BPE or SentencePiece): its texts as stored, the specials matched in text,
 * the merges (BPE) or scores (SentencePiece), and every tokenizer.* key for saving. */
struct tokenizer_vocab {
    char **raw; /* the token texts as the file stores them */
    uint64_t *raw_len;
    struct text_index ix;
    struct special *specials; /* control and user-defined tokens, by first byte, longest first */
    int n_specials;
    int first_special[256]; /* 1 + index of the first special starting with that byte; 0 none */
    /* BPE */
    enum pre_kind pre;
    bool ignore_merges; /* a pre-token that is a whole token is not merged (Llama-3) */
    struct merge_entry *merges;
    uint64_t merge_mask;
    /* SentencePiece */
    float *scores;
    int32_t byte_tok[256]; /* <0xNN>, -1 if absent */
    int32_t unk;
    bool add_space_prefix;
    struct gguf_writer *kvs; /* every tokenizer.* key of the source file, for saving */
};

struct tokenizer {
    enum tokenizer_kind kind;
    int n_vocab;
    char **pieces;     /* decoded bytes of each token (NUL-terminated for convenience) */
    size_t *piece_len; /* 0 for specials/control tokens */
    int byte_to_id[256];
    int32_t bos, eos;
    bool add_bos, add_eos;
    struct tokenizer_vocab *vocab; /* NULL for CHAR */
    struct chat_template *chat;    /* the file's (or a named built-in) chat template, or NULL */
    char chat_error[256];          /* why the file's template did not parse */
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

/* Builds a BPE (model "gpt2") or SentencePiece (model "llama", spm = true) tokenizer from GGUF
 * `tokenizer.ggml.*` metadata (tokenizer_vocab.c). */
int tokenizer_load_vocab(struct tokenizer **out, const struct gguf_file *f, bool spm);
void tokenizer_free_vocab(struct tokenizer *t);
/* Writes the vocabulary back: every tokenizer.* key the file had. */
int tokenizer_save_vocab(const struct tokenizer *t, struct gguf_writer *w);

/* Encodes text with the specials of the vocabulary matched first (longest at a position);
 * `plain` encodes each non-empty run of text between them. */
typedef int (*encode_plain_fn)(void *ctx, const char *s, size_t len);
typedef int (*emit_fn)(void *ctx, int32_t id);
int tokenizer_split_specials(const struct tokenizer *t, const char *text, size_t len,
                             encode_plain_fn plain, emit_fn emit, void *ctx);

/* A candidate merge of the symbol at `left` with its right neighbour, in a min-heap on (key,
 * left): the best pair first, leftmost among equals. BPE keys are merge ranks, SentencePiece
 * keys negated scores; a, b, c hold what each needs to tell a stale candidate and merge it.
 * (tokenizer_vocab.c) */
struct merge_cand {
    double key;
    int32_t left, a, b, c;
};
void merge_heap_push(struct merge_cand *heap, size_t *n, struct merge_cand c);
struct merge_cand merge_heap_pop(struct merge_cand *heap, size_t *n);

/* BPE (tokenizer_bpe.c): merges from GGUF, and encoding. */
int tokenizer_load_merges(struct tokenizer *t, const struct gguf_file *f);
void tokenizer_free_merges(struct tokenizer_vocab *v);
int tokenizer_encode_bpe(const struct tokenizer *t, const char *text, size_t len, int32_t *ids,
                         int cap, int *n_out);
/* SentencePiece (tokenizer_spm.c). */
int tokenizer_encode_spm(const struct tokenizer *t, const char *text, size_t len, int32_t *ids,
                         int cap, int *n_out);

#endif
