/* GGUF vocabularies of real models, shared by byte-level BPE (`tokenizer.ggml.model = gpt2`) and
 * SentencePiece-style BPE (`llama`): token texts and types, the specials matched in text, the
 * begin/end-of-text rules, and every tokenizer.* key kept for saving. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "model/chat_template.h"
#include "model/gguf.h"
#include "model/tokenizer_internal.h"

/* ---------------------------------------------------------------------- text index */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

int text_index_build(struct text_index *ix, const char *const *texts, const uint64_t *lens,
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

int32_t text_index_find(const struct text_index *ix, const char *s, size_t n) {
    uint64_t h = hash_bytes(s, n) & ix->mask;
    while (ix->slots[h] >= 0) {
        int32_t j = ix->slots[h];
        if (ix->lens[j] == n && !memcmp(ix->texts[j], s, n)) return j;
        h = (h + 1) & ix->mask;
    }
    return -1;
}

/* ------------------------------------------------------------------------- pieces */

/* A BPE token text in GPT-2's alphabet back to bytes (code points outside the alphabet are kept
 * as their UTF-8). */
static size_t decode_gpt2(const char *s, uint64_t n, char *out) {
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
    return o;
}

/* `<0xNN>` -> NN, or -1. */
static int spm_byte_value(const char *s, uint64_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* A SentencePiece token text: U+2581 stands for a space; byte tokens are one byte. */
static size_t decode_spm(const char *s, uint64_t n, int type, char *out) {
    if (type == TOKEN_TYPE_BYTE && spm_byte_value(s, n) >= 0) {
        out[0] = (char)spm_byte_value(s, n);
        return 1;
    }
    size_t o = 0;
    for (uint64_t i = 0; i < n;) {
        if (i + 3 <= n && !memcmp(s + i, "\xe2\x96\x81", 3)) {
            out[o++] = ' ';
            i += 3;
        } else {
            out[o++] = s[i++];
        }
    }
    return o;
}

static int is_special_type(int type) {
    return type == TOKEN_TYPE_CONTROL || type == TOKEN_TYPE_USER_DEFINED;
}

/* Control, unknown and unused tokens decode to nothing; user-defined ones to their text. */
static int set_piece(struct tokenizer *t, uint64_t i, const char *s, uint64_t n, int type,
                     bool spm) {
    char *p = malloc(n + 1);
    if (!p) return disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
    size_t len;
    if (type == TOKEN_TYPE_CONTROL || type == TOKEN_TYPE_UNKNOWN || type == TOKEN_TYPE_UNUSED) {
        memcpy(p, s, n);
        len = n;
        t->piece_len[i] = 0;
    } else if (type == TOKEN_TYPE_USER_DEFINED && !spm) {
        memcpy(p, s, n);
        len = t->piece_len[i] = n;
    } else {
        len = t->piece_len[i] = spm ? decode_spm(s, n, type, p) : decode_gpt2(s, n, p);
    }
    p[len] = '\0';
    t->pieces[i] = p;
    return DISR_OK;
}

/* ------------------------------------------------------------------------- loading */

/* By first byte, then longest first, so a match is the longest special at that position. */
static int cmp_special(const void *a, const void *b) {
    const struct special *x = a, *y = b;
    unsigned char fx = (unsigned char)x->text[0], fy = (unsigned char)y->text[0];
    if (fx != fy) return fx < fy ? -1 : 1;
    if (x->len != y->len) return x->len < y->len ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int read_flag(const struct gguf_file *f, const char *key, bool *flag) {
    if (gguf_find_key(f, key) < 0) return DISR_OK;
    return gguf_get_bool(f, key, flag);
}

static int read_pre(const struct gguf_file *f, enum pre_kind *pre) {
    *pre = PRE_GPT2;
    if (gguf_find_key(f, "tokenizer.ggml.pre") < 0) return DISR_OK;
    const char *p;
    DISR_TRY(gguf_get_str(f, "tokenizer.ggml.pre", &p, NULL));
    if (!strcmp(p, "qwen2") || !strcmp(p, "deepseek-r1-qwen"))
        *pre = PRE_QWEN2;
    else if (!strcmp(p, "llama-bpe") || !strcmp(p, "llama3") || !strcmp(p, "llama-v3"))
        *pre = PRE_LLAMA3;
    else if (strcmp(p, "gpt2") && strcmp(p, "gpt-2") && strcmp(p, "default"))
        return disr_fail(DISR_E_UNSUPPORTED,
                         "%s: pre-tokenizer '%s' is not supported (qwen2, llama-bpe, gpt-2, "
                         "default)",
                         gguf_path(f), p);
    return DISR_OK;
}

static int read_types(const struct gguf_file *f, uint64_t n, const int32_t **types) {
    *types = NULL;
    if (gguf_find_key(f, "tokenizer.ggml.token_type") < 0) return DISR_OK;
    const void *tv;
    uint64_t nt;
    DISR_TRY(gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &tv, &nt));
    if (nt != n)
        return disr_fail(DISR_E_FORMAT, "%s: %llu token types for %llu tokens", gguf_path(f),
                         (unsigned long long)nt, (unsigned long long)n);
    *types = tv;
    return DISR_OK;
}

static int read_scores(const struct gguf_file *f, uint64_t n, struct tokenizer_vocab *v) {
    const void *sv;
    uint64_t ns;
    int st = gguf_get_arr(f, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, &sv, &ns);
    if (st == DISR_E_NOTFOUND)
        return disr_fail(DISR_E_FORMAT,
                         "%s: a SentencePiece vocabulary without "
                         "tokenizer.ggml.scores",
                         gguf_path(f));
    DISR_TRY(st);
    if (ns != n)
        return disr_fail(DISR_E_FORMAT, "%s: %llu scores for %llu tokens", gguf_path(f),
                         (unsigned long long)ns, (unsigned long long)n);
    v->scores = malloc(n * sizeof *v->scores);
    if (!v->scores) return disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
    memcpy(v->scores, sv, n * sizeof *v->scores);
    return DISR_OK;
}

/* Texts, pieces and specials of every token. */
static int load_tokens(struct tokenizer *t, const char *const *texts, const uint64_t *lens,
                       const int32_t *types, bool spm) {
    struct tokenizer_vocab *v = t->vocab;
    uint64_t n = (uint64_t)t->n_vocab;
    int n_special = 0;
    for (uint64_t i = 0; i < n; i++) {
        int type = types ? types[i] : TOKEN_TYPE_NORMAL;
        v->raw[i] = malloc(lens[i] + 1);
        if (!v->raw[i]) return disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
        memcpy(v->raw[i], texts[i], lens[i]);
        v->raw[i][lens[i]] = '\0';
        v->raw_len[i] = lens[i];
        DISR_TRY(set_piece(t, i, texts[i], lens[i], type, spm));
        n_special += is_special_type(type) && lens[i] > 0;
        if (spm && type == TOKEN_TYPE_BYTE && spm_byte_value(texts[i], lens[i]) >= 0 &&
            v->byte_tok[spm_byte_value(texts[i], lens[i])] < 0)
            v->byte_tok[spm_byte_value(texts[i], lens[i])] = (int32_t)i;
    }
    v->specials = calloc((size_t)n_special + 1, sizeof *v->specials);
    if (!v->specials) return disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
    for (uint64_t i = 0; i < n; i++)
        if (types && is_special_type(types[i]) && lens[i] > 0)
            v->specials[v->n_specials++] = (struct special){v->raw[i], lens[i], (int32_t)i};
    qsort(v->specials, (size_t)v->n_specials, sizeof *v->specials, cmp_special);
    for (int k = v->n_specials - 1; k >= 0; k--)
        v->first_special[(unsigned char)v->specials[k].text[0]] = k + 1;
    return text_index_build(&v->ix, (const char *const *)v->raw, v->raw_len, n);
}

/* Ids and the begin/end-of-text rules; llama.cpp's defaults when the keys are absent. */
static int load_rules(struct tokenizer *t, const struct gguf_file *f, bool spm) {
    struct tokenizer_vocab *v = t->vocab;
    int n = t->n_vocab;
    DISR_TRY(tokenizer_special_id(f, "tokenizer.ggml.bos_token_id", n, &t->bos));
    DISR_TRY(tokenizer_special_id(f, "tokenizer.ggml.eos_token_id", n, &t->eos));
    DISR_TRY(tokenizer_special_id(f, "tokenizer.ggml.unknown_token_id", n, &v->unk));
    t->add_bos = spm || v->pre == PRE_LLAMA3;
    t->add_eos = false;
    v->add_space_prefix = spm;
    DISR_TRY(read_flag(f, "tokenizer.ggml.add_bos_token", &t->add_bos));
    DISR_TRY(read_flag(f, "tokenizer.ggml.add_eos_token", &t->add_eos));
    DISR_TRY(read_flag(f, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix));
    if (t->add_bos && t->bos < 0)
        return disr_fail(DISR_E_FORMAT, "%s: add_bos_token is set but there is no BOS token",
                         gguf_path(f));
    if (t->add_eos && t->eos < 0)
        return disr_fail(DISR_E_FORMAT, "%s: add_eos_token is set but there is no EOS token",
                         gguf_path(f));
    if (!spm) {
        for (int b = 0; b < 256; b++) {
            char u[4];
            int k = utf8_encode(gpt2_byte_to_cp((unsigned char)b), u);
            t->byte_to_id[b] = text_index_find(&v->ix, u, (size_t)k);
        }
    }
    return DISR_OK;
}

/* A template that does not parse leaves the model usable for raw prompts; the reason is kept
 * for the error a chat request then gets. */
static void load_chat_template(struct tokenizer *t, const struct gguf_file *f) {
    const char *src;
    if (gguf_find_key(f, "tokenizer.chat_template") < 0 ||
        gguf_get_str(f, "tokenizer.chat_template", &src, NULL) < 0)
        return;
    if (chat_template_parse(&t->chat, src) < 0)
        snprintf(t->chat_error, sizeof t->chat_error, "%s: %s", gguf_path(f), disr_last_error());
}

static int keep_keys(struct tokenizer_vocab *v, const struct gguf_file *f) {
    DISR_TRY(gguf_writer_init(&v->kvs));
    for (int64_t i = 0; i < gguf_n_kv(f); i++)
        if (!strncmp(gguf_kv_key(f, i), "tokenizer.", 10))
            DISR_TRY(gguf_writer_set_kv_from(v->kvs, f, i));
    return DISR_OK;
}

int tokenizer_load_vocab(struct tokenizer **out, const struct gguf_file *f, bool spm) {
    *out = NULL;
    const char *const *texts;
    const uint64_t *lens;
    uint64_t n;
    DISR_TRY(gguf_get_arr_str(f, "tokenizer.ggml.tokens", &texts, &lens, &n));
    if (n < 1 || n > (1u << 21))
        return disr_fail(DISR_E_FORMAT, "%s: %llu tokens (1..%u supported)", gguf_path(f),
                         (unsigned long long)n, 1u << 21);
    const int32_t *types;
    DISR_TRY(read_types(f, n, &types));
    enum pre_kind pre = PRE_GPT2;
    if (!spm) DISR_TRY(read_pre(f, &pre));

    struct tokenizer *t = calloc(1, sizeof *t);
    if (!t) return disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
    t->kind = spm ? TOKENIZER_SPM : TOKENIZER_BPE;
    t->n_vocab = (int)n;
    for (int b = 0; b < 256; b++)
        t->byte_to_id[b] = -1;
    t->pieces = calloc(n, sizeof *t->pieces);
    t->piece_len = calloc(n, sizeof *t->piece_len);
    struct tokenizer_vocab *v = t->vocab = calloc(1, sizeof *t->vocab);
    int st = DISR_OK;
    if (!t->pieces || !t->piece_len || !v || !(v->raw = calloc(n, sizeof *v->raw)) ||
        !(v->raw_len = calloc(n, sizeof *v->raw_len))) {
        st = disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
        goto fail;
    }
    v->pre = pre;
    v->ignore_merges = pre == PRE_LLAMA3;
    for (int b = 0; b < 256; b++)
        v->byte_tok[b] = -1;
    if ((st = load_tokens(t, texts, lens, types, spm)) < 0 ||
        (spm && (st = read_scores(f, n, v)) < 0) ||
        (!spm && (st = tokenizer_load_merges(t, f)) < 0) || (st = load_rules(t, f, spm)) < 0 ||
        (st = keep_keys(v, f)) < 0)
        goto fail;
    load_chat_template(t, f);
    *out = t;
    return DISR_OK;
fail:
    tokenizer_free(t);
    return st;
}

void tokenizer_free_vocab(struct tokenizer *t) {
    struct tokenizer_vocab *v = t->vocab;
    if (!v) return;
    if (v->raw)
        for (int i = 0; i < t->n_vocab; i++)
            free(v->raw[i]);
    free(v->raw);
    free(v->raw_len);
    free(v->ix.slots);
    free(v->specials);
    free(v->scores);
    tokenizer_free_merges(v);
    gguf_writer_free(v->kvs);
    free(v);
    t->vocab = NULL;
}

int tokenizer_save_vocab(const struct tokenizer *t, struct gguf_writer *w) {
    return gguf_writer_set_all_from(w, t->vocab->kvs);
}

/* ------------------------------------------------------------------------ merge heap */

static bool cand_before(const struct merge_cand *x, const struct merge_cand *y) {
    return x->key < y->key || (x->key == y->key && x->left < y->left);
}

void merge_heap_push(struct merge_cand *heap, size_t *n, struct merge_cand c) {
    size_t i = (*n)++;
    while (i > 0 && cand_before(&c, &heap[(i - 1) / 2])) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = c;
}

struct merge_cand merge_heap_pop(struct merge_cand *heap, size_t *n) {
    struct merge_cand top = heap[0], last = heap[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= m) break;
        if (k + 1 < m && cand_before(&heap[k + 1], &heap[k])) k++;
        if (!cand_before(&heap[k], &last)) break;
        heap[i] = heap[k];
        i = k;
    }
    if (m) heap[i] = last;
    return top;
}

/* ------------------------------------------------------------------ special tokens */

static const struct special *special_at(const struct tokenizer_vocab *v, const char *s,
                                        size_t left) {
    int k = v->first_special[(unsigned char)s[0]];
    if (!k) return NULL;
    for (k--; k < v->n_specials && v->specials[k].text[0] == s[0]; k++) {
        const struct special *sp = &v->specials[k];
        if (sp->len <= left && !memcmp(s, sp->text, sp->len)) return sp;
    }
    return NULL;
}

int tokenizer_split_specials(const struct tokenizer *t, const char *text, size_t len,
                             encode_plain_fn plain, emit_fn emit, void *ctx) {
    const struct tokenizer_vocab *v = t->vocab;
    size_t start = 0;
    for (size_t i = 0; i < len;) {
        const struct special *hit = special_at(v, text + i, len - i);
        if (!hit) {
            i++;
            continue;
        }
        if (i > start) DISR_TRY(plain(ctx, text + start, i - start));
        DISR_TRY(emit(ctx, hit->id));
        i += hit->len;
        start = i;
    }
    if (len > start) DISR_TRY(plain(ctx, text + start, len - start));
    return DISR_OK;
}
