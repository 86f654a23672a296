/* tokenizer.h: text <-> token ids. Two kinds, both stored in (and loaded from) GGUF metadata:
 *  - CHAR: the built-in agents' character-level vocabulary (one token per byte value that
 *    occurs in the corpus, plus specials), written as a `gpt2`-model vocabulary with no merges
 *    so llama.cpp tokenizes it the same way;
 *  - BPE: GGUF `gpt2` byte-level BPE with merges and the GPT-2, Qwen2 or Llama-3 pre-tokenizer
 *    (Qwen2/2.5/3, Llama-3, GPT-2 vocabularies);
 *  - SPM: GGUF `llama` SentencePiece-style BPE: merges by score, byte fallback, the leading-space
 *    rule (Llama 2, Mistral, TinyLlama, Gemma).
 * Also the model's chat template (model/chat_template.h), applied to a conversation. */
#ifndef MODEL_TOKENIZER_H
#define MODEL_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tokenizer;
struct gguf_file;
struct gguf_writer;
struct chat_message;

enum tokenizer_kind { TOKENIZER_CHAR = 0, TOKENIZER_BPE = 1, TOKENIZER_SPM = 2 };

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
int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len, int32_t *ids, int cap,
                     int *n_out);

/* Whether the file asks for BOS before / EOS after a text (tokenizer.ggml.add_bos_token,
 * add_eos_token; llama.cpp's defaults when absent: BOS for SentencePiece and Llama-3). */
bool tokenizer_add_bos(const struct tokenizer *t);
bool tokenizer_add_eos(const struct tokenizer *t);

/* tokenizer_encode with the file's rules, as Hugging Face's add_special_tokens and llama.cpp do:
 * BOS first when add_bos (even if the text starts with the BOS token), EOS last when add_eos and
 * `add_eos` (a prompt to continue takes none). */
int tokenizer_encode_full(const struct tokenizer *t, const char *text, size_t len, bool add_eos,
                          int32_t *ids, int cap, int *n_out);

/* The text of ids: pieces concatenated (control tokens give nothing), less the leading space a
 * SentencePiece encoder adds. NUL-terminated in buf; the length in *len_out. */
int tokenizer_decode(const struct tokenizer *t, const int32_t *ids, int n, char *buf, size_t cap,
                     size_t *len_out);

/* The bytes of one token (not NUL-terminated; length in *len). Specials decode to "". */
const char *tokenizer_piece(const struct tokenizer *t, int32_t id, size_t *len);

/* Replaces the file's chat template by a built-in one (chat_template_builtin_names()). */
int tokenizer_set_chat_template(struct tokenizer *t, const char *name);

/* Renders a conversation with the model's chat template (tokenizer.chat_template, or the one set
 * above), with the vocabulary's BOS/EOS texts as bos_token / eos_token. A file without a usable
 * template fails with DISR_E_UNSUPPORTED and a message naming the built-in ones. *out is
 * malloc'ed. */
int tokenizer_render_chat(const struct tokenizer *t, const struct chat_message *messages, int n,
                          bool add_generation_prompt, char **out);

/* The prompt for one system + one user message with the assistant turn opened: the chat
 * template for BPE and SentencePiece models (a template that refuses a system turn gets the
 * system text at the start of the user turn); CHAR models use the plain prompt unchanged.
 * Writes a NUL-terminated string into buf; DISR_E_RANGE if cap is too small. */
int tokenizer_apply_chat(const struct tokenizer *t, const char *system, const char *user, char *buf,
                         size_t cap);

#endif
