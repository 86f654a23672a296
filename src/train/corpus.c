#include "train/corpus.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/file.h"
#include "core/rng.h"
#include "model/tokenizer.h"
#include "world/scenario.h"
#include "world/dataset.h"

int corpus_init(struct corpus **out, bool answer_only) {
    *out = calloc(1, sizeof **out);
    if (!*out) return disr_fail(DISR_E_NOMEM, "corpus: out of memory");
    (*out)->answer_only = answer_only;
    return DISR_OK;
}

void corpus_free(struct corpus *c) {
    if (!c) return;
    free(c->text);
    free(c->docs);
    free(c->tokens);
    free(c->weights);
    free(c->starts);
    free(c);
}

/* Grows *buf (of *cap elements of `size` bytes) to hold at least `need`. */
static int grow(void **buf, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return DISR_OK;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *p = realloc(*buf, n * size);
    if (!p) return disr_fail(DISR_E_NOMEM, "corpus: out of memory (%zu items)", n);
    *buf = p;
    *cap = n;
    return DISR_OK;
}

int corpus_add(struct corpus *c, const char *text, size_t len, size_t split) {
    if (split > len) return disr_fail(DISR_E_ARG, "corpus: prompt longer than its document");
    DISR_TRY(grow((void **)&c->text, &c->text_cap, c->text_len + len + 1, 1));
    size_t dcap = (size_t)c->docs_cap;
    DISR_TRY(grow((void **)&c->docs, &dcap, (size_t)c->n_docs + 1, sizeof *c->docs));
    c->docs_cap = (int)dcap;
    memcpy(c->text + c->text_len, text, len);
    c->docs[c->n_docs++] = (struct corpus_doc){c->text_len, len, split};
    c->text_len += len;
    c->text[c->text_len] = 0;
    return DISR_OK;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* One JSONL line: {"text"} or {"query","answer"}. */
static int add_json_line(struct corpus *c, const char *path, int lineno, const char *line,
                         size_t len) {
    cJSON *j = cJSON_ParseWithLength(line, len);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return disr_fail(DISR_E_FORMAT, "%s:%d: not a JSON object", path, lineno);
    }
    int st;
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "text");
    const cJSON *query = cJSON_GetObjectItemCaseSensitive(j, "query");
    const cJSON *answer = cJSON_GetObjectItemCaseSensitive(j, "answer");
    if (cJSON_IsString(text)) {
        st = corpus_add(c, text->valuestring, strlen(text->valuestring), 0);
    } else if (cJSON_IsString(query) && cJSON_IsString(answer)) {
        size_t qn = strlen(query->valuestring), an = strlen(answer->valuestring);
        size_t cap = qn + an + 64;
        char *buf = malloc(cap);
        if (!buf) {
            cJSON_Delete(j);
            return disr_fail(DISR_E_NOMEM, "corpus: out of memory");
        }
        int plen = scenario_format_prompt(buf, cap, query->valuestring, SCENARIO_NONE);
        if (plen < 0) {
            free(buf);
            cJSON_Delete(j);
            return plen;
        }
        memcpy(buf + plen, answer->valuestring, an);
        buf[plen + an] = '\n';
        st = corpus_add(c, buf, (size_t)plen + an + 1, (size_t)plen);
        free(buf);
    } else {
        st = disr_fail(DISR_E_FORMAT,
                       "%s:%d: expected a string \"text\", or string \"query\" and \"answer\"",
                       path, lineno);
    }
    cJSON_Delete(j);
    return st;
}

/* A text file under answer_only: each QA block in the built-in prompt format ("[x] Q: query\n[x]
 * A: answer\n", as a world's pretraining stream holds them) becomes a document whose prompt carries
 * no loss, and the text between blocks (fact statements) documents that carry full loss. So the
 * model spends no capacity on predicting which random name or number a question asks about. */
static int add_qa_text(struct corpus *c, const char *t, size_t len) {
    size_t pos = 0, plain = 0; /* plain: where the pending non-QA text starts */
    while (pos < len) {
        const char *nl = memchr(t + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - t) + 1 : len;
        size_t prefix = scenario_is_prompt_line(t + pos, end - pos)
                            ? scenario_answer_prefix(t + end, len - end)
                            : 0;
        if (prefix) {
            const char *anl = memchr(t + end, '\n', len - end);
            size_t aend = anl ? (size_t)(anl - t) + 1 : len;
            if (pos > plain) DISR_TRY(corpus_add(c, t + plain, pos - plain, 0));
            DISR_TRY(corpus_add(c, t + pos, aend - pos, end + prefix - pos));
            pos = plain = aend;
        } else {
            pos = end;
        }
    }
    return len > plain ? corpus_add(c, t + plain, len - plain, 0) : DISR_OK;
}

int corpus_load(struct corpus **out, const char *path, bool answer_only) {
    *out = NULL;
    char *data;
    size_t len;
    DISR_TRY(file_read_all(path, &data, &len));
    struct corpus *c;
    int st = corpus_init(&c, answer_only);
    if (st < 0) {
        free(data);
        return st;
    }
    if (ends_with(path, ".jsonl")) {
        int lineno = 0;
        for (size_t pos = 0; pos < len && st >= 0;) {
            const char *nl = memchr(data + pos, '\n', len - pos);
            size_t end = nl ? (size_t)(nl - data) : len;
            lineno++;
            size_t a = pos;
            while (a < end && (data[a] == ' ' || data[a] == '\t' || data[a] == '\r'))
                a++;
            if (a < end) st = add_json_line(c, path, lineno, data + a, end - a);
            pos = end + 1;
        }
    } else if (answer_only) {
        st = add_qa_text(c, data, len);
    } else {
        st = corpus_add(c, data, len, 0);
    }
    free(data);
    if (st >= 0 && c->n_docs == 0) st = disr_fail(DISR_E_FORMAT, "%s: no documents", path);
    if (st < 0) {
        corpus_free(c);
        return st;
    }
    *out = c;
    return DISR_OK;
}

int corpus_tokenize(struct corpus *c, const struct tokenizer *tok) {
    if (!(c->prompt_weight >= 0 && c->prompt_weight <= 1))
        return disr_fail(DISR_E_RANGE, "corpus: prompt weight %g (0 .. 1)",
                         (double)c->prompt_weight);
    free(c->tokens), free(c->weights), free(c->starts);
    c->tokens = NULL, c->weights = NULL, c->starts = NULL, c->n_tokens = 0;
    /* Every tokenizer here yields at most one token per byte; +1 per document for EOS. */
    size_t cap = c->text_len + (size_t)c->n_docs + 1;
    if (cap > (size_t)INT32_MAX) return disr_fail(DISR_E_RANGE, "corpus: too large (%zu)", cap);
    c->tokens = malloc(cap * sizeof *c->tokens);
    c->weights = malloc(cap * sizeof *c->weights);
    c->starts = malloc(((size_t)c->n_docs + 1) * sizeof *c->starts);
    if (!c->tokens || !c->weights || !c->starts)
        return disr_fail(DISR_E_NOMEM, "corpus: cannot allocate %zu tokens", cap);
    const int32_t eos = tokenizer_eos(tok);
    const float prompt_w = c->answer_only ? c->prompt_weight : 1.0f;
    size_t n = 0;
    for (int d = 0; d < c->n_docs; d++) {
        const struct corpus_doc *doc = &c->docs[d];
        const char *p = c->text + doc->off;
        c->starts[d] = n;
        /* Prompt and answer are tokenized apart so the weight boundary is a token boundary. */
        size_t parts[2][2] = {{0, doc->split}, {doc->split, doc->len}};
        for (int k = 0; k < 2; k++) {
            size_t a = parts[k][0], b = parts[k][1];
            if (b == a) continue;
            int got;
            int st = tokenizer_encode(tok, p + a, b - a, c->tokens + n, (int)(cap - n), &got);
            if (st < 0) return disr_fail(st, "corpus: document %d: %s", d + 1, disr_last_error());
            for (int i = 0; i < got; i++)
                c->weights[n + i] = k == 0 ? prompt_w : 1.0f;
            n += (size_t)got;
        }
        if (eos >= 0) {
            c->tokens[n] = eos;
            c->weights[n] = prompt_w;
            n++;
        }
    }
    if (n < 2) return disr_fail(DISR_E_FORMAT, "corpus: only %zu tokens", n);
    c->n_tokens = n;
    return DISR_OK;
}

int corpus_sample(const struct corpus *c, uint64_t seed, int64_t index, int B, int T,
                  int32_t *inputs, int32_t *targets, float *weights) {
    if (c->n_tokens < 2) return disr_fail(DISR_E_STATE, "corpus: not tokenized");
    struct rng r;
    rng_init(&r, rng_derive_seed(seed, (uint64_t)index));
    const size_t n = c->n_tokens;
    for (int b = 0; b < B; b++) {
        size_t s = c->n_docs > 1 ? c->starts[rng_below(&r, (uint64_t)c->n_docs)]
                                 : (size_t)rng_below(&r, n);
        for (int t = 0; t < T; t++) {
            size_t i = (s + (size_t)t) % n, j = (s + (size_t)t + 1) % n;
            inputs[b * T + t] = c->tokens[i];
            targets[b * T + t] = c->tokens[j];
            weights[b * T + t] = c->weights[j];
        }
    }
    return DISR_OK;
}

double corpus_unigram_entropy(const struct corpus *c) {
    int32_t max = 0;
    for (size_t i = 0; i < c->n_tokens; i++)
        if (c->tokens[i] > max) max = c->tokens[i];
    size_t *count = calloc((size_t)max + 1, sizeof *count);
    if (!count || !c->n_tokens) {
        free(count);
        return 0;
    }
    for (size_t i = 0; i < c->n_tokens; i++)
        count[c->tokens[i]]++;
    double h = 0, n = (double)c->n_tokens;
    for (int32_t v = 0; v <= max; v++)
        if (count[v]) h -= (double)count[v] / n * log((double)count[v] / n);
    free(count);
    return h;
}
