/* tokenizer.h: text <-> token ids. Two kinds, both stored in (and loaded from) GGUF metadata:
 *  - CHAR: the built-in agents' character-level vocabulary (one token per byte value that
 *    occurs in the corpus, plus specials), written as a `gpt2`-model vocabulary with no merges
 *    so llama.cpp tokenizes it the same way;
 *  - BPE: GGUF `gpt2` byte-level BPE with merges, including the Qwen2 pre-tokenizer, so a real
 *    Qwen2.5 GGUF tokenizes correctly.
 * Also the chat templates (ChatML for Qwen-style models). */
#ifndef MODEL_TOKENIZER_H
#define MODEL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

struct tokenizer;
struct gguf_file;
struct gguf_writer;

enum tokenizer_kind { TOKENIZER_CHAR = 0, TOKENIZER_BPE = 1 };

/* A char-level tokenizer over the bytes that occur in `corpus` (plus every printable ASCII
 * byte, '\n', and the specials BOS, EOS). Deterministic: ids are in byte order. */
int tokenizer_init_char(struct tokenizer **out, const char *corpus, size_t len);
void tokenizer_free(struct tokenizer *t);

/* Reads the tokenizer from GGUF metadata (tokenizer.ggml.*) / writes it there. */
int tokenizer_load_gguf(struct tokenizer **out, const struct gguf_file *f);
int tokenizer_save_gguf(const struct tokenizer *t, struct gguf_writer *w);

enum tokenizer_kind tokenizer_kind(const struct tokenizer *t);
int tokenizer_n_vocab(const struct tokenizer *t);
int32_t tokenizer_bos(const struct tokenizer *t); /* -1 if none */
int32_t tokenizer_eos(const struct tokenizer *t);

/* Encodes `text` (len bytes, not NUL-terminated necessarily) into at most `cap` ids; the count
 * is stored in *n_out. No BOS is added. DISR_E_RANGE if `cap` is too small; a byte the CHAR
 * vocabulary lacks is DISR_E_RANGE too (with the byte in the message). */
int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len, int32_t *ids,
                     int cap, int *n_out);

/* The bytes of one token (not NUL-terminated; length in *len). Specials decode to "". */
const char *tokenizer_piece(const struct tokenizer *t, int32_t id, size_t *len);

/* Applies the model's chat template to one system + one user message and opens the assistant
 * turn (ChatML for BPE models: "<|im_start|>system\n...<|im_end|>\n<|im_start|>user\n..."
 * "<|im_end|>\n<|im_start|>assistant\n"). CHAR models use the plain prompt unchanged.
 * Writes a NUL-terminated string into buf; DISR_E_RANGE if cap is too small. */
int tokenizer_apply_chat(const struct tokenizer *t, const char *system, const char *user,
                         char *buf, size_t cap);

#endif
