/* libFuzzer entry point for the GGUF reader and the model loader: any byte string must either
 * load or be refused with a message, never crash, leak or read out of bounds; a tokenizer that
 * loads encodes, decodes and renders its chat template.
 *   make fuzz && build-fuzz/fuzz_gguf -max_total_time=60 build-fuzz/corpus tests/fuzz/corpus
 * (the seed corpus is a few tiny valid files; see tests/fuzz/README). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/tensor.h"
#include "model/gguf.h"
#include "model/model_io.h"
#include "model/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int quiet;
    if (!quiet) {
        log_set_level(LOG_QUIET);
        quiet = 1;
    }
    struct gguf_file *f;
    if (gguf_open_memory(&f, data, size, "fuzz") < 0) return 0;
    char buf[256];
    for (int64_t i = 0; i < gguf_n_kv(f); i++)
        gguf_kv_format(f, i, buf, sizeof buf);
    volatile unsigned sink = 0;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(f, i);
        if (t->nbytes) sink += ((const unsigned char *)t->data)[t->nbytes - 1];
        /* the first row of any type we compute with, from arbitrary bytes (K-type unpacking) */
        static float row[4096];
        if (dtype_is_supported(t->type) && t->ne[0] <= 4096 && dtype_row_size(t->type, t->ne[0]))
            dequantize_row((enum dtype)t->type, t->data, row, t->ne[0]);
    }
    struct tokenizer *tok;
    if (tokenizer_load_gguf(&tok, f) == 0) {
        int32_t ids[256];
        int n;
        const char text[] =
            "Hello, world! 123 don't <|im_start|>user\n\xff\xc3 \u00e9t\u00e9 \t\r\n";
        tokenizer_encode(tok, text, sizeof text - 1, ids, 256, &n);
        char prompt[1024], decoded[1024];
        size_t len;
        if (tokenizer_encode_full(tok, text, sizeof text - 1, true, ids, 256, &n) == 0)
            tokenizer_decode(tok, ids, n, decoded, sizeof decoded, &len);
        tokenizer_apply_chat(tok, "sys", "user {{ x }}", prompt, sizeof prompt); /* its template */
        tokenizer_free(tok);
    }
    struct model *m;
    if (model_load_gguf(&m, f) == 0) {
        if (m->tokenizer) {
            int32_t ids[64];
            int n;
            const char text[] = "Hello, world! 123 <|im_start|>";
            tokenizer_encode(m->tokenizer, text, strlen(text), ids, 64, &n);
        }
        model_free(m);
    }
    gguf_close(f);
    return 0;
}
