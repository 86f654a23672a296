/* Byte-level BPE (GGUF `gpt2` model). Placeholder until the BPE encoder lands: refuses clearly. */
#include "core/err.h"
#include "model/gguf.h"
#include "model/tokenizer_internal.h"

int tokenizer_encode_bpe(const struct tokenizer *t, const char *text, size_t len, int32_t *ids,
                         int cap, int *n_out) {
    (void)t, (void)text, (void)len, (void)ids, (void)cap;
    *n_out = 0;
    return disr_fail(DISR_E_UNSUPPORTED, "tokenizer: BPE encoding is not available yet");
}

void tokenizer_free_bpe(struct tokenizer *t) {
    (void)t;
}

int tokenizer_load_bpe(struct tokenizer **out, const struct gguf_file *f) {
    *out = NULL;
    return disr_fail(DISR_E_UNSUPPORTED, "%s: BPE tokenizers are not available yet", gguf_path(f));
}

int tokenizer_save_bpe(const struct tokenizer *t, struct gguf_writer *w) {
    (void)t, (void)w;
    return disr_fail(DISR_E_UNSUPPORTED, "tokenizer: BPE tokenizers cannot be saved yet");
}

int tokenizer_apply_chat_bpe(const struct tokenizer *t, const char *system, const char *user,
                             char *buf, size_t cap) {
    (void)t, (void)system, (void)user, (void)buf, (void)cap;
    return disr_fail(DISR_E_UNSUPPORTED, "tokenizer: ChatML is not available yet");
}
