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

enum pre_kind { PRE_GPT2 = 0, PRE_QWEN2 = 1 };

struct merge_entry {
    uint64_t key; /* (left id << 32) | right id; UINT64_MAX = empty */
    int32_t rank;
    int32_t merged;
};

struct special {
    const char *text; /* the token's raw text (tokenizer->pieces) */
    size_t len;
    int32_t id;
};

struct tokenizer_bpe {
    enum pre_kind pre;
    struct merge_entry *merges;
    uint64_t merge_mask;
    struct special *specials; /* longest first */
    int n_specials;
    struct gguf_writer *kvs; /* every tokenizer.* key of the source file, for saving */
};

/* ------------------------------------------------------------------------- hash tables */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

/* Token text -> id, used while loading only. */
struct text_index {
    int32_t *slots;
    uint64_t mask;
    const char *const *texts;
    const uint64_t *lens;
};

static int text_index_build(struct text_index *ix, const char *const *texts, const uint64_t *lens,
                            uint64_t n) {
    uint64_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    ix->slots = malloc(cap * sizeof *ix->slots);
    if (!ix->slots) return disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
    memset(ix->slots, 0xff, cap * sizeof *ix->slots);
    ix->mask = cap - 1;
    ix->texts = texts;
    ix->lens = lens;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t h = hash_bytes(texts[i], lens[i]) & ix->mask;
        int dup = 0;
        while (ix->slots[h] >= 0) {
            int32_t j = ix->slots[h];
            if (lens[j] == lens[i] && !memcmp(texts[j], texts[i], lens[i])) {
                dup = 1; /* first occurrence wins */
                break;
            }
            h = (h + 1) & ix->mask;
        }
        if (!dup) ix->slots[h] = (int32_t)i;
    }
    return DISR_OK;
}

static int32_t text_index_find(const struct text_index *ix, const char *s, size_t n) {
    uint64_t h = hash_bytes(s, n) & ix->mask;
    while (ix->slots[h] >= 0) {
        int32_t j = ix->slots[h];
        if (ix->lens[j] == n && !memcmp(ix->texts[j], s, n)) return j;
        h = (h + 1) & ix->mask;
    }
    return -1;
}

static const struct merge_entry *merge_find(const struct tokenizer_bpe *b, int32_t l, int32_t r) {
    if (!b->merges) return NULL;
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    uint64_t h = hash_u64(key) & b->merge_mask;
    while (b->merges[h].key != UINT64_MAX) {
        if (b->merges[h].key == key) return &b->merges[h];
        h = (h + 1) & b->merge_mask;
    }
    return NULL;
}

/* ------------------------------------------------------------------------------ loading */

static int cmp_special(const void *a, const void *b) {
    const struct special *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Decodes a GGUF token text in GPT-2's alphabet back to bytes (code points outside the
 * alphabet are kept as their UTF-8). */
static char *decode_text(const char *s, uint64_t n, size_t *out_len) {
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (uint64_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_decode(s + i, (size_t)(n - i), &cp);
        int b = cp & 0x80000000u ? -1 : gpt2_cp_to_byte(cp);
        if (b >= 0) {
            out[o++] = (char)b;
        } else {
            memcpy(out + o, s + i, (size_t)k);
            o += (size_t)k;
        }
        i += (uint64_t)k;
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

static int load_merges(struct tokenizer *t, const struct gguf_file *f,
                       const struct text_index *ix) {
    struct tokenizer_bpe *b = t->bpe;
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

int tokenizer_load_bpe(struct tokenizer **out, const struct gguf_file *f) {
    *out = NULL;
    const char *const *texts;
    const uint64_t *lens;
    uint64_t n;
    DISR_TRY(gguf_get_arr_str(f, "tokenizer.ggml.tokens", &texts, &lens, &n));
    if (n < 1 || n > (1u << 21))
        return disr_fail(DISR_E_FORMAT, "%s: %llu tokens (1..%u supported)", gguf_path(f),
                         (unsigned long long)n, 1u << 21);
    const int32_t *types = NULL;
    if (gguf_find_key(f, "tokenizer.ggml.token_type") >= 0) {
        const void *tv;
        uint64_t nt;
        DISR_TRY(gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &tv, &nt));
        if (nt != n)
            return disr_fail(DISR_E_FORMAT, "%s: %llu token types for %llu tokens", gguf_path(f),
                             (unsigned long long)nt, (unsigned long long)n);
        types = tv;
    }
    enum pre_kind pre = PRE_GPT2;
    if (gguf_find_key(f, "tokenizer.ggml.pre") >= 0) {
        const char *p;
        DISR_TRY(gguf_get_str(f, "tokenizer.ggml.pre", &p, NULL));
        if (!strcmp(p, "qwen2") || !strcmp(p, "deepseek-r1-qwen"))
            pre = PRE_QWEN2;
        else if (strcmp(p, "gpt2") && strcmp(p, "default"))
            return disr_fail(DISR_E_UNSUPPORTED,
                             "%s: pre-tokenizer '%s' is not supported (qwen2, gpt2, default)",
                             gguf_path(f), p);
    }

    struct tokenizer *t = calloc(1, sizeof *t);
    struct text_index ix = {0};
    int st = DISR_OK;
    if (!t) return disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
    t->kind = TOKENIZER_BPE;
    t->n_vocab = (int)n;
    t->pieces = calloc(n, sizeof *t->pieces);
    t->piece_len = calloc(n, sizeof *t->piece_len);
    t->bpe = calloc(1, sizeof *t->bpe);
    if (!t->pieces || !t->piece_len || !t->bpe) {
        st = disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
        goto fail;
    }
    t->bpe->pre = pre;
    int n_special = 0;
    for (uint64_t i = 0; i < n; i++) {
        int type = types ? types[i] : TOKEN_TYPE_NORMAL;
        if (type == TOKEN_TYPE_CONTROL || type == TOKEN_TYPE_USER_DEFINED) {
            /* Stored as raw text; control tokens decode to nothing. */
            t->pieces[i] = malloc(lens[i] + 1);
            if (t->pieces[i]) {
                memcpy(t->pieces[i], texts[i], lens[i]);
                t->pieces[i][lens[i]] = '\0';
            }
            t->piece_len[i] = type == TOKEN_TYPE_CONTROL ? 0 : lens[i];
            n_special += lens[i] > 0;
        } else {
            t->pieces[i] = decode_text(texts[i], lens[i], &t->piece_len[i]);
        }
        if (!t->pieces[i]) {
            st = disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
            goto fail;
        }
    }
    t->bpe->specials = calloc((size_t)n_special + 1, sizeof *t->bpe->specials);
    if (!t->bpe->specials) {
        st = disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
        goto fail;
    }
    for (uint64_t i = 0; i < n; i++) {
        int type = types ? types[i] : TOKEN_TYPE_NORMAL;
        if ((type == TOKEN_TYPE_CONTROL || type == TOKEN_TYPE_USER_DEFINED) && lens[i] > 0)
            t->bpe->specials[t->bpe->n_specials++] =
                (struct special){t->pieces[i], lens[i], (int32_t)i};
    }
    qsort(t->bpe->specials, (size_t)t->bpe->n_specials, sizeof *t->bpe->specials, cmp_special);

    if ((st = text_index_build(&ix, texts, lens, n)) < 0) goto fail;
    for (int b = 0; b < 256; b++) {
        char u[4];
        int k = utf8_encode(gpt2_byte_to_cp((unsigned char)b), u);
        t->byte_to_id[b] = text_index_find(&ix, u, (size_t)k);
    }
    if ((st = load_merges(t, f, &ix)) < 0) goto fail;
    if ((st = tokenizer_special_id(f, "tokenizer.ggml.bos_token_id", (int)n, &t->bos)) < 0 ||
        (st = tokenizer_special_id(f, "tokenizer.ggml.eos_token_id", (int)n, &t->eos)) < 0)
        goto fail;
    /* Keep every tokenizer.* key (template, flags, extra ids) so saving loses nothing. */
    if ((st = gguf_writer_init(&t->bpe->kvs)) < 0) goto fail;
    for (int64_t i = 0; i < gguf_n_kv(f); i++)
        if (!strncmp(gguf_kv_key(f, i), "tokenizer.", 10) &&
            (st = gguf_writer_set_kv_from(t->bpe->kvs, f, i)) < 0)
            goto fail;
    free(ix.slots);
    *out = t;
    return DISR_OK;
fail:
    free(ix.slots);
    tokenizer_free(t);
    return st;
}

void tokenizer_free_bpe(struct tokenizer *t) {
    if (!t->bpe) return;
    free(t->bpe->merges);
    free(t->bpe->specials);
    gguf_writer_free(t->bpe->kvs);
    free(t->bpe);
    t->bpe = NULL;
}

int tokenizer_save_bpe(const struct tokenizer *t, struct gguf_writer *w) {
    return gguf_writer_set_all_from(w, t->bpe->kvs);
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

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 * \s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t match_qwen2(const uint32_t *c, size_t i, size_t n) {
    size_t j = match_contraction(c, i, n, 1);
    if (j) return j;
    j = i;
    if (!is_crlf(c[j]) && !is_l(c[j]) && !is_n(c[j]) && j + 1 < n && is_l(c[j + 1])) j++;
    if (is_l(c[j])) {
        while (j < n && is_l(c[j]))
            j++;
        return j;
    }
    if (is_n(c[i])) return i + 1;
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

/* A symbol of the word being merged (doubly linked so a merge is O(1)) and a candidate merge
 * of the symbol at `left` with its right neighbour, valid only if both still hold the ids seen
 * when it was pushed. The candidates form a min-heap on (rank, position): the best pair first,
 * leftmost among equals, as llama.cpp and GPT-2's bpe() order them, in O(n log n). */
struct sym {
    int32_t id; /* -1 once merged into its left neighbour */
    int32_t prev, next;
};
struct cand {
    int32_t rank, left, lid, rid, merged;
};

struct enc {
    const struct tokenizer *t;
    int32_t *ids;
    int cap, n;
    struct sym *syms;  /* scratch: one per byte of the current piece */
    struct cand *heap; /* scratch: at most 3 candidates per byte */
    size_t n_heap;
};

static int emit(struct enc *e, int32_t id) {
    if (e->n >= e->cap) return disr_fail(DISR_E_RANGE, "tokenizer: more than %d tokens", e->cap);
    e->ids[e->n++] = id;
    return DISR_OK;
}

static int cand_less(const struct cand *a, const struct cand *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(struct enc *e, int32_t left) {
    const struct sym *L = &e->syms[left];
    const struct merge_entry *m = merge_find(e->t->bpe, L->id, e->syms[L->next].id);
    if (!m) return;
    size_t i = e->n_heap++;
    struct cand c = {m->rank, left, L->id, e->syms[L->next].id, m->merged};
    while (i > 0 && cand_less(&c, &e->heap[(i - 1) / 2])) {
        e->heap[i] = e->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    e->heap[i] = c;
}

static struct cand heap_pop(struct enc *e) {
    struct cand top = e->heap[0], last = e->heap[--e->n_heap];
    size_t i = 0, n = e->n_heap;
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= n) break;
        if (k + 1 < n && cand_less(&e->heap[k + 1], &e->heap[k])) k++;
        if (!cand_less(&e->heap[k], &last)) break;
        e->heap[i] = e->heap[k];
        i = k;
    }
    if (n) e->heap[i] = last;
    return top;
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
        heap_push(e, (int32_t)i);
    while (e->n_heap > 0) {
        struct cand c = heap_pop(e);
        struct sym *L = &sy[c.left];
        if (L->id != c.lid || L->next < 0 || sy[L->next].id != c.rid) continue; /* stale */
        struct sym *R = &sy[L->next];
        L->id = c.merged;
        R->id = -1;
        L->next = R->next;
        if (L->next >= 0) sy[L->next].prev = c.left;
        if (L->prev >= 0) heap_push(e, L->prev);
        if (L->next >= 0) heap_push(e, c.left);
    }
    for (int32_t i = len ? 0 : -1; i >= 0; i = sy[i].next)
        DISR_TRY(emit(e, sy[i].id));
    return DISR_OK;
}

/* Pre-tokenizes and encodes text without specials. */
static int encode_plain(struct enc *e, const char *s, size_t len, uint32_t *cps, size_t *offs) {
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        offs[n] = i;
        i += (size_t)utf8_decode(s + i, len - i, &cps[n]);
        n++;
    }
    offs[n] = len;
    int qwen = e->t->bpe->pre == PRE_QWEN2;
    for (size_t i = 0; i < n;) {
        size_t j = qwen ? match_qwen2(cps, i, n) : match_gpt2(cps, i, n);
        DISR_TRY(bpe_word(e, (const unsigned char *)s + offs[i], offs[j] - offs[i]));
        i = j;
    }
    return DISR_OK;
}

int tokenizer_encode_bpe(const struct tokenizer *t, const char *text, size_t len, int32_t *ids,
                         int cap, int *n_out) {
    *n_out = 0;
    if (len > (size_t)INT32_MAX) return disr_fail(DISR_E_RANGE, "tokenizer: text too long");
    uint32_t *cps = malloc((len + 1) * sizeof *cps);
    size_t *offs = malloc((len + 1) * sizeof *offs);
    struct sym *syms = malloc((len + 1) * sizeof *syms);
    struct cand *heap = malloc(3 * (len + 1) * sizeof *heap);
    struct enc e = {t, ids, cap, 0, syms, heap, 0};
    int st = DISR_OK;
    if (!cps || !offs || !syms || !heap) {
        st = disr_fail(DISR_E_NOMEM, "tokenizer: out of memory for %zu bytes", len);
        goto done;
    }
    const struct tokenizer_bpe *b = t->bpe;
    size_t start = 0;
    for (size_t i = 0; i < len && st >= 0;) {
        const struct special *hit = NULL;
        for (int k = 0; k < b->n_specials; k++) {
            const struct special *sp = &b->specials[k];
            if (sp->len <= len - i && text[i] == sp->text[0] &&
                !memcmp(text + i, sp->text, sp->len)) {
                hit = sp;
                break;
            }
        }
        if (!hit) {
            i++;
            continue;
        }
        st = encode_plain(&e, text + start, i - start, cps, offs);
        if (st >= 0) st = emit(&e, hit->id);
        i += hit->len;
        start = i;
    }
    if (st >= 0) st = encode_plain(&e, text + start, len - start, cps, offs);
    if (st >= 0) *n_out = e.n;
done:
    free(cps);
    free(offs);
    free(syms);
    free(heap);
    return st;
}

int tokenizer_apply_chat_bpe(const struct tokenizer *t, const char *system, const char *user,
                             char *buf, size_t cap) {
    (void)t;
    int k;
    if (system && system[0])
        k = snprintf(buf, cap,
                     "<|im_start|>system\n%s<|im_end|>\n<|im_start|>user\n%s<|im_end|>\n"
                     "<|im_start|>assistant\n",
                     system, user);
    else
        k = snprintf(buf, cap, "<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n", user);
    if (k < 0 || (size_t)k >= cap)
        return disr_fail(DISR_E_RANGE, "tokenizer: chat prompt does not fit in %zu bytes", cap);
    return DISR_OK;
}
