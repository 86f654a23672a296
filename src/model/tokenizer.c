/* Tokenizers: the char-level vocabulary of the built-in agents (here) and, in tokenizer_bpe.c,
 * GGUF byte-level BPE. GGUF load/save of the vocabulary lives in tokenizer_gguf.c. */
#include "model/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "model/chat_template.h"
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
    tokenizer_free_vocab(t);
    chat_template_free(t->chat);
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
    if (t->kind == TOKENIZER_SPM) return tokenizer_encode_spm(t, text, len, ids, cap, n_out);
    return tokenizer_encode_bpe(t, text, len, ids, cap, n_out);
}

bool tokenizer_add_bos(const struct tokenizer *t) {
    return t->add_bos;
}
bool tokenizer_add_eos(const struct tokenizer *t) {
    return t->add_eos;
}

int tokenizer_encode_full(const struct tokenizer *t, const char *text, size_t len, bool add_eos,
                          int32_t *ids, int cap, int *n_out) {
    *n_out = 0;
    int lead = t->add_bos ? 1 : 0, n = 0;
    if (cap < lead) return disr_fail(DISR_E_RANGE, "tokenizer: more than %d tokens", cap);
    if (lead) ids[0] = t->bos;
    DISR_TRY(tokenizer_encode(t, text, len, ids + lead, cap - lead, &n));
    n += lead;
    if (add_eos && t->add_eos) {
        if (n >= cap) return disr_fail(DISR_E_RANGE, "tokenizer: more than %d tokens", cap);
        ids[n++] = t->eos;
    }
    *n_out = n;
    return DISR_OK;
}

int tokenizer_decode(const struct tokenizer *t, const int32_t *ids, int n, char *buf, size_t cap,
                     size_t *len_out) {
    size_t o = 0;
    /* SentencePiece's leading-space rule, undone: the space the encoder put before the text
     * (one, on the first piece that is text) is not part of it. */
    bool strip = t->kind == TOKENIZER_SPM && t->vocab->add_space_prefix;
    for (int i = 0; i < n; i++) {
        size_t len;
        const char *p = tokenizer_piece(t, ids[i], &len);
        if (strip && len) {
            strip = false;
            if (p[0] == ' ') {
                p++;
                len--;
            }
        }
        if (o + len + 1 > cap)
            return disr_fail(DISR_E_RANGE, "tokenizer: decoded text does not fit in %zu bytes",
                             cap);
        memcpy(buf + o, p, len);
        o += len;
    }
    if (cap) buf[o] = '\0';
    *len_out = o;
    return DISR_OK;
}

const char *tokenizer_piece(const struct tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab || t->piece_len[id] == 0) {
        *len = 0;
        return "";
    }
    *len = t->piece_len[id];
    return t->pieces[id];
}

int tokenizer_set_chat_template(struct tokenizer *t, const char *name) {
    const char *src = chat_template_builtin(name);
    if (!src)
        return disr_fail(DISR_E_ARG, "unknown chat template '%s' (built-in: %s)", name,
                         chat_template_builtin_names());
    struct chat_template *ct;
    DISR_TRY(chat_template_parse(&ct, src));
    chat_template_free(t->chat);
    t->chat = ct;
    t->chat_error[0] = '\0';
    return DISR_OK;
}

static const char *special_text(const struct tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab ? t->pieces[id] : NULL;
}

int tokenizer_render_chat(const struct tokenizer *t, const struct chat_message *messages, int n,
                          bool add_generation_prompt, char **out) {
    *out = NULL;
    if (!t->chat)
        return disr_fail(DISR_E_UNSUPPORTED, "%s; name a built-in one with --chat-template (%s)",
                         t->chat_error[0] ? t->chat_error
                                          : "the model has no chat template "
                                            "(tokenizer.chat_template)",
                         chat_template_builtin_names());
    return chat_template_render(t->chat, messages, n, add_generation_prompt,
                                special_text(t, t->bos), special_text(t, t->eos), out);
}

static int copy_prompt(const char *s, char *buf, size_t cap) {
    size_t n = strlen(s);
    if (n + 1 > cap)
        return disr_fail(DISR_E_RANGE, "tokenizer: prompt of %zu bytes does not fit in %zu", n,
                         cap);
    memcpy(buf, s, n + 1);
    return DISR_OK;
}

int tokenizer_apply_chat(const struct tokenizer *t, const char *system, const char *user, char *buf,
                         size_t cap) {
    /* Built-in agents are prompted with the scenario's plain prompt (world/scenario.h); they
     * have no system turn. */
    if (t->kind == TOKENIZER_CHAR) return copy_prompt(user, buf, cap);
    struct chat_message m[2] = {{"system", system ? system : ""}, {"user", user}};
    bool has_system = system && system[0];
    char *text = NULL;
    int st = tokenizer_render_chat(t, has_system ? m : m + 1, has_system ? 2 : 1, true, &text);
    if (st == DISR_E_FORMAT && has_system) {
        /* A template that refuses a system turn (Mistral's) gets it as the user turn's start. */
        size_t n = strlen(system) + strlen(user) + 3;
        char *joined = malloc(n);
        if (!joined) return disr_fail(DISR_E_NOMEM, "tokenizer: out of memory");
        snprintf(joined, n, "%s\n\n%s", system, user);
        struct chat_message u = {"user", joined};
        st = tokenizer_render_chat(t, &u, 1, true, &text);
        free(joined);
    }
    if (st >= 0) st = copy_prompt(text, buf, cap);
    free(text);
    return st;
}
