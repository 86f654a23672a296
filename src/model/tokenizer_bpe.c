/* Byte-level BPE (GGUF `gpt2` model). Placeholder until the BPE encoder lands: refuses clearly. */
#include "core/err.h"
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
