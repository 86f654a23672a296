/* Tokenizer <-> GGUF metadata, and the alphabets both tokenizer kinds share (GPT-2 byte to
 * unicode, UTF-8). The CHAR vocabulary is written as a merge-less `gpt2` vocabulary in GPT-2's
 * byte alphabet: llama.cpp then splits text into bytes and finds one token per byte, exactly
 * what our encoder does, so the same file tokenizes identically in both engines. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "model/gguf.h"
#include "model/tokenizer_internal.h"

#define KEY_MODEL  "tokenizer.ggml.model"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_TYPES  "tokenizer.ggml.token_type"
#define KEY_BOS    "tokenizer.ggml.bos_token_id"
#define KEY_EOS    "tokenizer.ggml.eos_token_id"
#define KEY_DISR   "disr.tokenizer"

/* ------------------------------------------------------------------------------ alphabets */

/* Bytes that are printable in Latin-1 (except the soft hyphen) stand for themselves; the other
 * 68 take code points 256.. in byte order. */
static int gpt2_is_direct(unsigned b) {
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

uint32_t gpt2_byte_to_cp(unsigned char b) {
    if (gpt2_is_direct(b)) return b;
    uint32_t n = 0;
    for (unsigned k = 0; k < b; k++)
        n += !gpt2_is_direct(k);
    return 256 + n;
}

int gpt2_cp_to_byte(uint32_t cp) {
    if (cp < 256) return gpt2_is_direct(cp) ? (int)cp : -1;
    uint32_t n = cp - 256;
    for (unsigned k = 0; k < 256; k++)
        if (!gpt2_is_direct(k) && n-- == 0) return (int)k;
    return -1;
}

int utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | ((cp >> 18) & 0x07));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

int utf8_decode(const char *s, size_t len, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    unsigned char c = u[0];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 1) {
        *cp = c;
        return 1;
    }
    if (n == 0 || (size_t)n > len) goto bad;
    uint32_t v = c & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((u[i] & 0xc0) != 0x80) goto bad;
        v = (v << 6) | (u[i] & 0x3f);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are not characters. */
    if ((n == 2 && v < 0x80) || (n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10ffff ||
        (v >= 0xd800 && v <= 0xdfff))
        goto bad;
    *cp = v;
    return n;
bad:
    *cp = 0x80000000u | c;
    return 1;
}

/* ------------------------------------------------------------------------------- CHAR I/O */

static int save_char(const struct tokenizer *t, struct gguf_writer *w) {
    int n = t->n_vocab, st = DISR_OK;
    char **texts = calloc((size_t)n, sizeof *texts);
    int32_t *types = malloc((size_t)n * sizeof *types);
    if (!texts || !types) {
        st = disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (t->piece_len[i] == 0) { /* special: stored by name, as a control token */
            texts[i] = strdup(t->pieces[i]);
            types[i] = TOKEN_TYPE_CONTROL;
        } else {
            texts[i] = calloc(1, 5);
            if (texts[i]) utf8_encode(gpt2_byte_to_cp((unsigned char)t->pieces[i][0]), texts[i]);
            types[i] = TOKEN_TYPE_NORMAL;
        }
        if (!texts[i]) {
            st = disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
            goto done;
        }
    }
    if ((st = gguf_writer_set_str(w, KEY_MODEL, "gpt2")) < 0 ||
        (st = gguf_writer_set_str(w, "tokenizer.ggml.pre", "default")) < 0 ||
        (st = gguf_writer_set_arr_str(w, KEY_TOKENS, (const char *const *)texts, NULL,
                                      (uint64_t)n)) < 0 ||
        (st = gguf_writer_set_arr_i32(w, KEY_TYPES, types, (uint64_t)n)) < 0 ||
        (st = gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", NULL, NULL, 0)) < 0 ||
        (st = gguf_writer_set_u32(w, KEY_BOS, (uint32_t)t->bos)) < 0 ||
        (st = gguf_writer_set_u32(w, KEY_EOS, (uint32_t)t->eos)) < 0 ||
        (st = gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", false)) < 0 ||
        (st = gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false)) < 0 ||
        (st = gguf_writer_set_str(w, KEY_DISR, "char")) < 0)
        goto done;
done:
    if (texts)
        for (int i = 0; i < n; i++)
            free(texts[i]);
    free(texts);
    free(types);
    return st;
}

int tokenizer_special_id(const struct gguf_file *f, const char *key, int n, int32_t *out) {
    uint64_t v;
    int st = gguf_get_uint(f, key, &v);
    if (st == DISR_E_NOTFOUND) {
        *out = -1;
        return DISR_OK;
    }
    DISR_TRY(st);
    if (v >= (uint64_t)n)
        return disr_fail(DISR_E_FORMAT, "%s: %s = %llu is not a token id (vocabulary of %d)",
                         gguf_path(f), key, (unsigned long long)v, n);
    *out = (int32_t)v;
    return DISR_OK;
}

static int load_char(struct tokenizer **out, const struct gguf_file *f) {
    const char *const *texts;
    const uint64_t *lens;
    uint64_t n;
    DISR_TRY(gguf_get_arr_str(f, KEY_TOKENS, &texts, &lens, &n));
    if (n < 1 || n > 258)
        return disr_fail(DISR_E_FORMAT, "%s: a char vocabulary has %llu tokens (1..258)",
                         gguf_path(f), (unsigned long long)n);
    const void *tv = NULL;
    uint64_t nt = 0;
    DISR_TRY(gguf_get_arr(f, KEY_TYPES, GGUF_TYPE_INT32, &tv, &nt));
    if (nt != n)
        return disr_fail(DISR_E_FORMAT, "%s: %llu token types for %llu tokens", gguf_path(f),
                         (unsigned long long)nt, (unsigned long long)n);
    const int32_t *types = tv;
    struct tokenizer *t = calloc(1, sizeof *t);
    if (!t) return disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
    t->kind = TOKENIZER_CHAR;
    t->n_vocab = (int)n;
    for (int b = 0; b < 256; b++)
        t->byte_to_id[b] = -1;
    t->pieces = calloc(n, sizeof *t->pieces);
    t->piece_len = calloc(n, sizeof *t->piece_len);
    int st = DISR_OK;
    if (!t->pieces || !t->piece_len) {
        st = disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
        goto fail;
    }
    for (uint64_t i = 0; i < n; i++) {
        if (types[i] == TOKEN_TYPE_CONTROL) {
            t->pieces[i] = strdup(texts[i]);
        } else {
            uint32_t cp;
            int k = lens[i] ? utf8_decode(texts[i], lens[i], &cp) : 0;
            int b = k > 0 && (uint64_t)k == lens[i] ? gpt2_cp_to_byte(cp) : -1;
            if (b < 0) {
                st = disr_fail(DISR_E_FORMAT,
                               "%s: char token %llu is not one byte in GPT-2's alphabet",
                               gguf_path(f), (unsigned long long)i);
                goto fail;
            }
            if (t->byte_to_id[b] >= 0) {
                st = disr_fail(DISR_E_FORMAT, "%s: byte 0x%02x has two tokens (%d and %llu)",
                               gguf_path(f), b, t->byte_to_id[b], (unsigned long long)i);
                goto fail;
            }
            t->byte_to_id[b] = (int)i;
            t->pieces[i] = malloc(2);
            if (t->pieces[i]) {
                t->pieces[i][0] = (char)b;
                t->pieces[i][1] = '\0';
            }
            t->piece_len[i] = 1;
        }
        if (!t->pieces[i]) {
            st = disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
            goto fail;
        }
    }
    if ((st = tokenizer_special_id(f, KEY_BOS, (int)n, &t->bos)) < 0 ||
        (st = tokenizer_special_id(f, KEY_EOS, (int)n, &t->eos)) < 0)
        goto fail;
    *out = t;
    return DISR_OK;
fail:
    tokenizer_free(t);
    return st;
}

int tokenizer_load_gguf(struct tokenizer **out, const struct gguf_file *f) {
    *out = NULL;
    const char *model, *kind = NULL;
    int st = gguf_get_str(f, KEY_MODEL, &model, NULL);
    if (st == DISR_E_NOTFOUND)
        return disr_fail(DISR_E_NOTFOUND, "%s: no tokenizer (key %s absent)", gguf_path(f),
                         KEY_MODEL);
    DISR_TRY(st);
    if (gguf_find_key(f, KEY_DISR) >= 0) DISR_TRY(gguf_get_str(f, KEY_DISR, &kind, NULL));
    if (!strcmp(model, "llama")) return tokenizer_load_vocab(out, f, true);
    if (strcmp(model, "gpt2") != 0)
        return disr_fail(DISR_E_UNSUPPORTED,
                         "%s: tokenizer model '%s' is not supported (gpt2: byte-level BPE; "
                         "llama: SentencePiece-style BPE)",
                         gguf_path(f), model);
    if (kind && !strcmp(kind, "char")) return load_char(out, f);
    return tokenizer_load_vocab(out, f, false);
}

int tokenizer_save_gguf(const struct tokenizer *t, struct gguf_writer *w) {
    return t->kind == TOKENIZER_CHAR ? save_char(t, w) : tokenizer_save_vocab(t, w);
}
