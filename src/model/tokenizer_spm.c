/* SentencePiece-style BPE (GGUF `tokenizer.ggml.model = llama`: Llama 2, Mistral, TinyLlama,
 * Gemma). Each run of text between specials gets a leading space when add_space_prefix is set,
 * its spaces become U+2581, and it is split into UTF-8 characters; then, repeatedly, the
 * adjacent pair whose concatenation is a token of the highest score is merged (leftmost among
 * equal scores), as SentencePiece's BPE and llama.cpp do. A final symbol that is no token is
 * written as its bytes' <0xNN> tokens (byte fallback), or the unknown token without them. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "model/tokenizer_internal.h"

struct spm_sym {
    uint32_t off, n; /* bytes of the escaped text; n = 0 once merged into its left neighbour */
    int32_t prev, next;
};

struct spm_enc {
    const struct tokenizer *t;
    int32_t *ids;
    int cap, n;
    char *buf; /* scratch: the escaped run */
    struct spm_sym *syms;
    struct merge_cand *heap; /* key = -score, a = right symbol, b = bytes of the pair */
    size_t n_heap;
};

static int spm_emit(void *ctx, int32_t id) {
    struct spm_enc *e = ctx;
    if (e->n >= e->cap) return disr_fail(DISR_E_RANGE, "tokenizer: more than %d tokens", e->cap);
    e->ids[e->n++] = id;
    return DISR_OK;
}

static void push_pair(struct spm_enc *e, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const struct spm_sym *L = &e->syms[left], *R = &e->syms[right];
    int32_t id = text_index_find(&e->t->vocab->ix, e->buf + L->off, L->n + R->n);
    if (id >= 0)
        merge_heap_push(e->heap, &e->n_heap,
                        (struct merge_cand){-(double)e->t->vocab->scores[id], left, right,
                                            (int32_t)(L->n + R->n), 0});
}

static int emit_symbol(struct spm_enc *e, const struct spm_sym *s) {
    const struct tokenizer_vocab *v = e->t->vocab;
    int32_t id = text_index_find(&v->ix, e->buf + s->off, s->n);
    if (id >= 0) return spm_emit(e, id);
    for (uint32_t k = 0; k < s->n; k++) {
        unsigned char b = (unsigned char)e->buf[s->off + k];
        id = v->byte_tok[b] >= 0 ? v->byte_tok[b] : v->unk;
        if (id < 0)
            return disr_fail(DISR_E_RANGE,
                             "tokenizer: byte 0x%02x has no token (no <0x%02X>, no unknown token)",
                             b, b);
        DISR_TRY(spm_emit(e, id));
        if (v->byte_tok[b] < 0) break; /* one unknown token for the whole character */
    }
    return DISR_OK;
}

static int spm_plain(void *ctx, const char *s, size_t len) {
    struct spm_enc *e = ctx;
    size_t o = 0;
    if (e->t->vocab->add_space_prefix) {
        memcpy(e->buf, "\xe2\x96\x81", 3);
        o = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ') {
            memcpy(e->buf + o, "\xe2\x96\x81", 3);
            o += 3;
        } else {
            e->buf[o++] = s[i];
        }
    }
    int32_t n = 0;
    for (size_t i = 0; i < o; n++) {
        uint32_t cp;
        int k = utf8_decode(e->buf + i, o - i, &cp);
        e->syms[n] =
            (struct spm_sym){(uint32_t)i, (uint32_t)k, n - 1, i + (size_t)k < o ? n + 1 : -1};
        i += (size_t)k;
    }
    e->n_heap = 0;
    for (int32_t i = 1; i < n; i++)
        push_pair(e, i - 1, i);
    while (e->n_heap > 0) {
        struct merge_cand c = merge_heap_pop(e->heap, &e->n_heap);
        struct spm_sym *L = &e->syms[c.left], *R = &e->syms[c.a];
        if (L->n == 0 || R->n == 0 || L->n + R->n != (uint32_t)c.b || L->next != c.a) continue;
        L->n += R->n;
        R->n = 0;
        L->next = R->next;
        if (R->next >= 0) e->syms[R->next].prev = c.left;
        push_pair(e, L->prev, c.left);
        push_pair(e, c.left, L->next);
    }
    for (int32_t i = n ? 0 : -1; i >= 0; i = e->syms[i].next)
        DISR_TRY(emit_symbol(e, &e->syms[i]));
    return DISR_OK;
}

int tokenizer_encode_spm(const struct tokenizer *t, const char *text, size_t len, int32_t *ids,
                         int cap, int *n_out) {
    *n_out = 0;
    if (len > (size_t)INT32_MAX / 4) return disr_fail(DISR_E_RANGE, "tokenizer: text too long");
    size_t room = 3 * len + 4; /* every space becomes 3 bytes, plus the leading one */
    struct spm_enc e = {.t = t, .ids = ids, .cap = cap};
    e.buf = malloc(room);
    e.syms = malloc(room * sizeof *e.syms);
    e.heap = malloc(3 * room * sizeof *e.heap);
    int st = e.buf && e.syms && e.heap
                 ? tokenizer_split_specials(t, text, len, spm_plain, spm_emit, &e)
                 : disr_fail(DISR_E_NOMEM, "tokenizer: out of memory for %zu bytes", len);
    if (st >= 0) *n_out = e.n;
    free(e.buf);
    free(e.syms);
    free(e.heap);
    return st;
}
