/* Tokenizers: the char-level vocabulary of the built-in agents (here) and, in tokenizer_bpe.c,
 * GGUF byte-level BPE. GGUF load/save of the vocabulary lives in tokenizer_gguf.c. */
#include "model/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "model/tokenizer_internal.h"

int tokenizer_init_char(struct tokenizer **out, const char *corpus, size_t len) {
    *out = NULL;
    int present[256] = {0};
    for (int b = 32; b < 127; b++)
        present[b] = 1;
    present['\n'] = 1;
    for (size_t i = 0; i < len; i++)
        present[(unsigned char)corpus[i]] = 1;
    struct tokenizer *t = calloc(1, sizeof *t);
    if (!t) return disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
    t->kind = TOKENIZER_CHAR;
    for (int b = 0; b < 256; b++)
        t->byte_to_id[b] = -1;
    /* Specials first so their ids are stable whatever the corpus holds. */
    t->bos = 0;
    t->eos = 1;
    int n = 2;
    for (int b = 0; b < 256; b++)
        if (present[b]) t->byte_to_id[b] = n++;
    t->n_vocab = n;
    t->pieces = calloc((size_t)n, sizeof *t->pieces);
    t->piece_len = calloc((size_t)n, sizeof *t->piece_len);
    if (!t->pieces || !t->piece_len) {
        tokenizer_free(t);
        return disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
    }
    t->pieces[0] = strdup("<s>");
    t->pieces[1] = strdup("</s>");
    for (int b = 0; b < 256; b++) {
        int id = t->byte_to_id[b];
        if (id < 0) continue;
        t->pieces[id] = malloc(2);
        if (t->pieces[id]) {
            t->pieces[id][0] = (char)b;
            t->pieces[id][1] = '\0';
        }
        t->piece_len[id] = 1;
    }
    for (int i = 0; i < n; i++)
        if (!t->pieces[i]) {
            tokenizer_free(t);
            return disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
        }
    *out = t;
    return DISR_OK;
}

void tokenizer_free(struct tokenizer *t) {
    if (!t) return;
    if (t->pieces)
        for (int i = 0; i < t->n_vocab; i++)
            free(t->pieces[i]);
    free(t->pieces);
    free(t->piece_len);
    tokenizer_free_bpe(t);
    free(t);
}

enum tokenizer_kind tokenizer_kind(const struct tokenizer *t) {
    return t->kind;
}
int tokenizer_n_vocab(const struct tokenizer *t) {
    return t->n_vocab;
}
int32_t tokenizer_bos(const struct tokenizer *t) {
    return t->bos;
}
int32_t tokenizer_eos(const struct tokenizer *t) {
    return t->eos;
}

static int encode_char(const struct tokenizer *t, const char *text, size_t len, int32_t *ids,
                       int cap, int *n_out) {
    if (len > (size_t)cap)
        return disr_fail(DISR_E_RANGE, "tokenizer: %zu tokens do not fit in %d", len, cap);
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)text[i];
        if (t->byte_to_id[b] < 0)
            return disr_fail(DISR_E_RANGE,
                             "tokenizer: byte 0x%02x at offset %zu is not in the vocabulary", b, i);
        ids[i] = t->byte_to_id[b];
    }
    *n_out = (int)len;
    return DISR_OK;
}

int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len, int32_t *ids, int cap,
                     int *n_out) {
    *n_out = 0;
    if (t->kind == TOKENIZER_CHAR) return encode_char(t, text, len, ids, cap, n_out);
    return tokenizer_encode_bpe(t, text, len, ids, cap, n_out);
}

const char *tokenizer_piece(const struct tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab || t->piece_len[id] == 0) {
        *len = 0;
        return "";
    }
    *len = t->piece_len[id];
    return t->pieces[id];
}

int tokenizer_apply_chat(const struct tokenizer *t, const char *system, const char *user, char *buf,
                         size_t cap) {
    if (t->kind == TOKENIZER_BPE) return tokenizer_apply_chat_bpe(t, system, user, buf, cap);
    /* Built-in agents are prompted with the scenario's plain prompt (world/scenario.h); they
     * have no system turn. */
    size_t n = strlen(user);
    if (n + 1 > cap)
        return disr_fail(DISR_E_RANGE, "tokenizer: prompt of %zu bytes does not fit in %zu", n,
                         cap);
    memcpy(buf, user, n + 1);
    return DISR_OK;
}
