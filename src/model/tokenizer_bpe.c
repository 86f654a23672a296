/* Byte-level BPE, as GGUF's `gpt2` tokenizer model (GPT-2, Qwen2): text is split around special
 * tokens (matched verbatim, longest first), each piece is pre-tokenized with the model's regex
 * (Qwen2 or GPT-2, implemented by hand over UTF-8 code points), and each pre-token's bytes are
 * merged pairwise by merge rank, lowest first, every occurrence of the best pair at once (as
 * GPT-2's reference bpe() does). Symbols are token ids throughout; the merge table maps a pair of
 * ids to (rank, merged id) through an open-addressing hash. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "model/gguf.h"
#include "model/tokenizer_internal.h"

struct merge_entry {
    uint64_t key; /* (left id << 32) | right id; UINT64_MAX = empty */
    int32_t rank;
    int32_t merged;
};

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static const struct merge_entry *merge_find(const struct tokenizer_vocab *b, int32_t l, int32_t r) {
    if (!b->merges) return NULL;
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    uint64_t h = hash_u64(key) & b->merge_mask;
    while (b->merges[h].key != UINT64_MAX) {
        if (b->merges[h].key == key) return &b->merges[h];
        h = (h + 1) & b->merge_mask;
    }
    return NULL;
}

/* ------------------------------------------------------------------------------ merges */

int tokenizer_load_merges(struct tokenizer *t, const struct gguf_file *f) {
    struct tokenizer_vocab *b = t->vocab;
    const struct text_index *ix = &b->ix;
    const char *const *items;
    const uint64_t *lens;
    uint64_t n;
    int st = gguf_get_arr_str(f, "tokenizer.ggml.merges", &items, &lens, &n);
    if (st == DISR_E_NOTFOUND) return DISR_OK;
    DISR_TRY(st);
    if (n > INT32_MAX) return disr_fail(DISR_E_FORMAT, "%s: too many merges", gguf_path(f));
    uint64_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    b->merges = malloc(cap * sizeof *b->merges);
    if (!b->merges) return disr_fail(DISR_E_NOMEM, "tokenizer: out of memory for merges");
    for (uint64_t i = 0; i < cap; i++)
        b->merges[i].key = UINT64_MAX;
    b->merge_mask = cap - 1;
    char *buf = NULL;
    size_t buf_cap = 0;
    uint64_t skipped = 0;
    for (uint64_t r = 0; r < n; r++) {
        const char *s = items[r];
        const char *sp = memchr(s, ' ', lens[r]);
        if (!sp || sp == s || sp == s + lens[r] - 1) {
            free(buf);
            return disr_fail(DISR_E_FORMAT, "%s: merge %llu is not \"A B\"", gguf_path(f),
                             (unsigned long long)r);
        }
        size_t la = (size_t)(sp - s), lb = lens[r] - la - 1;
        int32_t a = text_index_find(ix, s, la), c = text_index_find(ix, sp + 1, lb);
        if (la + lb > buf_cap) {
            buf_cap = 2 * (la + lb);
            char *nb = realloc(buf, buf_cap);
            if (!nb) {
                free(buf);
                return disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
            }
            buf = nb;
        }
        memcpy(buf, s, la);
        memcpy(buf + la, sp + 1, lb);
        int32_t m = text_index_find(ix, buf, la + lb);
        if (a < 0 || c < 0 || m < 0) {
            skipped++;
            continue;
        }
        uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)c;
        uint64_t h = hash_u64(key) & b->merge_mask;
        while (b->merges[h].key != UINT64_MAX && b->merges[h].key != key)
            h = (h + 1) & b->merge_mask;
        if (b->merges[h].key == UINT64_MAX) /* a repeated pair keeps its first (best) rank */
            b->merges[h] = (struct merge_entry){key, (int32_t)r, m};
    }
    free(buf);
    if (skipped)
        log_debug("%s: %llu merges name tokens the vocabulary lacks (ignored)", gguf_path(f),
                  (unsigned long long)skipped);
    return DISR_OK;
}

void tokenizer_free_merges(struct tokenizer_vocab *v) {
    free(v->merges);
    v->merges = NULL;
}

/* ---------------------------------------------------------------------- pre-tokenizers */

static int is_l(uint32_t c) {
    return !(c & 0x80000000u) && unicode_is_letter(c);
}
static int is_n(uint32_t c) {
    return !(c & 0x80000000u) && unicode_is_number(c);
}
static int is_s(uint32_t c) {
    return !(c & 0x80000000u) && unicode_is_space(c);
}
static int is_crlf(uint32_t c) {
    return c == '\r' || c == '\n';
}
/* [^\s\p{L}\p{N}] */
static int is_p(uint32_t c) {
    return !is_s(c) && !is_l(c) && !is_n(c);
}
static uint32_t ascii_lower(uint32_t c) {
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* 's 't 're 've 'm 'll 'd at i (optionally case-insensitive); returns the end or 0. */
static size_t match_contraction(const uint32_t *c, size_t i, size_t n, int fold) {
    if (c[i] != '\'' || i + 1 >= n) return 0;
    uint32_t a = fold ? ascii_lower(c[i + 1]) : c[i + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if (i + 2 >= n) return 0;
    uint32_t b = fold ? ascii_lower(c[i + 2]) : c[i + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    return 0;
}

/* The whitespace alternatives shared by both regexes, from a whitespace char at i:
 *   (qwen2 only) \s*[\r\n]+  ends after the last line break of the run;
 *   \s+(?!\S)                the run, minus its last char when a non-space follows;
 *   \s+                      the run. */
static size_t match_space(const uint32_t *c, size_t i, size_t n, int line_breaks) {
    size_t e = i;
    while (e < n && is_s(c[e]))
        e++;
    if (line_breaks) {
        size_t last = SIZE_MAX;
        for (size_t k = i; k < e; k++)
            if (is_crlf(c[k])) last = k;
        if (last != SIZE_MAX) return last + 1;
    }
    if (e == n) return e;
    if (e - i >= 2) return e - 1;
    return e;
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 * \s*[\r\n]+|\s+(?!\S)|\s+ with D = 1 (Qwen2) or 3 (Llama-3). */
static size_t match_qwen2(const uint32_t *c, size_t i, size_t n, size_t digits) {
    size_t j = match_contraction(c, i, n, 1);
    if (j) return j;
    j = i;
    if (!is_crlf(c[j]) && !is_l(c[j]) && !is_n(c[j]) && j + 1 < n && is_l(c[j + 1])) j++;
    if (is_l(c[j])) {
        while (j < n && is_l(c[j]))
            j++;
        return j;
    }
    if (is_n(c[i])) {
        for (j = i + 1; j < n && j < i + digits && is_n(c[j]);)
            j++;
        return j;
    }
    j = i;
    if (c[j] == ' ' && j + 1 < n && is_p(c[j + 1])) j++;
    if (is_p(c[j])) {
        while (j < n && is_p(c[j]))
            j++;
        while (j < n && is_crlf(c[j]))
            j++;
        return j;
    }
    if (is_s(c[i])) return match_space(c, i, n, 1);
    return i + 1;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t match_gpt2(const uint32_t *c, size_t i, size_t n) {
    size_t j = match_contraction(c, i, n, 0);
    if (j) return j;
    int (*classes[3])(uint32_t) = {is_l, is_n, is_p};
    for (int k = 0; k < 3; k++) {
        j = i;
        if (c[j] == ' ' && j + 1 < n && classes[k](c[j + 1])) j++;
        if (classes[k](c[j])) {
            while (j < n && classes[k](c[j]))
                j++;
            return j;
        }
    }
    if (is_s(c[i])) return match_space(c, i, n, 0);
    return i + 1;
}

/* --------------------------------------------------------------------------- encoding */

/* A symbol of the word being merged, doubly linked so a merge is O(1). A candidate merge
 * (merge_cand: key = rank, a/b = the ids seen when it was pushed, c = the merged id) is stale
 * once either side changed; the heap gives the best pair first, leftmost among equals, as
 * llama.cpp and GPT-2's bpe() order them, in O(n log n). */
struct sym {
    int32_t id; /* -1 once merged into its left neighbour */
    int32_t prev, next;
};

struct enc {
    const struct tokenizer *t;
    int32_t *ids;
    int cap, n;
    struct sym *syms;        /* scratch: one per byte of the current piece */
    struct merge_cand *heap; /* scratch: at most 3 candidates per byte */
    size_t n_heap;
    uint32_t *cps; /* scratch: code points of the current run, and their offsets */
    size_t *offs;
};

static int emit(struct enc *e, int32_t id) {
    if (e->n >= e->cap) return disr_fail(DISR_E_RANGE, "tokenizer: more than %d tokens", e->cap);
    e->ids[e->n++] = id;
    return DISR_OK;
}

static void push_merge(struct enc *e, int32_t left) {
    const struct sym *L = &e->syms[left];
    int32_t rid = e->syms[L->next].id;
    const struct merge_entry *m = merge_find(e->t->vocab, L->id, rid);
    if (m)
        merge_heap_push(e->heap, &e->n_heap,
                        (struct merge_cand){m->rank, left, L->id, rid, m->merged});
}

static int bpe_word(struct enc *e, const unsigned char *s, size_t len) {
    struct sym *sy = e->syms;
    for (size_t i = 0; i < len; i++) {
        int32_t id = e->t->byte_to_id[s[i]];
        if (id < 0) return disr_fail(DISR_E_RANGE, "tokenizer: byte 0x%02x has no token", s[i]);
        sy[i] = (struct sym){id, (int32_t)i - 1, i + 1 < len ? (int32_t)i + 1 : -1};
    }
    e->n_heap = 0;
    for (size_t i = 0; i + 1 < len; i++)
        push_merge(e, (int32_t)i);
    while (e->n_heap > 0) {
        struct merge_cand c = merge_heap_pop(e->heap, &e->n_heap);
        struct sym *L = &sy[c.left];
        if (L->id != c.a || L->next < 0 || sy[L->next].id != c.b) continue; /* stale */
        struct sym *R = &sy[L->next];
        L->id = c.c;
        R->id = -1;
        L->next = R->next;
        if (L->next >= 0) sy[L->next].prev = c.left;
        if (L->prev >= 0) push_merge(e, L->prev);
        if (L->next >= 0) push_merge(e, c.left);
    }
    for (int32_t i = len ? 0 : -1; i >= 0; i = sy[i].next)
        DISR_TRY(emit(e, sy[i].id));
    return DISR_OK;
}

/* A pre-token that is itself a token when ignore_merges is set (Llama-3): its bytes in GPT-2's
 * alphabet looked up whole. */
static int32_t whole_token(const struct enc *e, const unsigned char *s, size_t len) {
    if (len > 256) return -1;
    char buf[256 * 2];
    size_t o = 0;
    for (size_t i = 0; i < len; i++)
        o += (size_t)utf8_encode(gpt2_byte_to_cp(s[i]), buf + o);
    return text_index_find(&e->t->vocab->ix, buf, o);
}

static int emit_cb(void *ctx, int32_t id) {
    return emit(ctx, id);
}

/* Pre-tokenizes and encodes a run of text without specials. */
static int encode_plain(void *ctx, const char *s, size_t len) {
    struct enc *e = ctx;
    uint32_t *cps = e->cps;
    size_t *offs = e->offs;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        offs[n] = i;
        i += (size_t)utf8_decode(s + i, len - i, &cps[n]);
        n++;
    }
    offs[n] = len;
    const struct tokenizer_vocab *v = e->t->vocab;
    for (size_t i = 0; i < n;) {
        size_t j = v->pre == PRE_GPT2 ? match_gpt2(cps, i, n)
                                      : match_qwen2(cps, i, n, v->pre == PRE_LLAMA3 ? 3 : 1);
        const unsigned char *w = (const unsigned char *)s + offs[i];
        size_t wlen = offs[j] - offs[i];
        int32_t id = v->ignore_merges ? whole_token(e, w, wlen) : -1;
        DISR_TRY(id >= 0 ? emit(e, id) : bpe_word(e, w, wlen));
        i = j;
    }
    return DISR_OK;
}

int tokenizer_encode_bpe(const struct tokenizer *t, const char *text, size_t len, int32_t *ids,
                         int cap, int *n_out) {
    *n_out = 0;
    if (len > (size_t)INT32_MAX) return disr_fail(DISR_E_RANGE, "tokenizer: text too long");
    struct enc e = {.t = t, .ids = ids, .cap = cap};
    e.cps = malloc((len + 1) * sizeof *e.cps);
    e.offs = malloc((len + 1) * sizeof *e.offs);
    e.syms = malloc((len + 1) * sizeof *e.syms);
    e.heap = malloc(3 * (len + 1) * sizeof *e.heap);
    int st = e.cps && e.offs && e.syms && e.heap
                 ? tokenizer_split_specials(t, text, len, encode_plain, emit_cb, &e)
                 : disr_fail(DISR_E_NOMEM, "tokenizer: out of memory for %zu bytes", len);
    if (st >= 0) *n_out = e.n;
    free(e.cps);
    free(e.offs);
    free(e.syms);
    free(e.heap);
    return st;
}
