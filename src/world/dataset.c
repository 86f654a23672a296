#include "world/dataset.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"
#include "core/file.h"
#include "core/strbuf.h"

void qa_set_init(struct qa_set *s) {
    memset(s, 0, sizeof *s);
}

static void item_free(struct qa_item *it) {
    free(it->id), free(it->family), free(it->query), free(it->answer);
}

void qa_set_free(struct qa_set *s) {
    for (int i = 0; i < s->n; i++)
        item_free(&s->items[i]);
    free(s->items);
    qa_set_init(s);
}

int qa_set_add(struct qa_set *s, const char *id, const char *family, const char *query,
               const char *answer, enum grader g) {
    if (!id || !family || !query || !answer)
        return disr_fail(DISR_E_ARG, "qa_set_add: a field is NULL");
    if (strchr(answer, '\n') || !answer[0])
        return disr_fail(DISR_E_ARG, "item %s: the answer is empty or contains a newline", id);
    if (g < 0 || g >= GRADER_COUNT) return disr_fail(DISR_E_ARG, "item %s: bad grader", id);
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 256;
        struct qa_item *items = realloc(s->items, (size_t)cap * sizeof *items);
        if (!items) return disr_fail(DISR_E_NOMEM, "data set of %d items", cap);
        s->items = items, s->cap = cap;
    }
    struct qa_item it = {strdup(id), strdup(family), strdup(query), strdup(answer), g, 0};
    if (!it.id || !it.family || !it.query || !it.answer) {
        item_free(&it);
        return disr_fail(DISR_E_NOMEM, "copying item %s", id);
    }
    s->items[s->n++] = it;
    return DISR_OK;
}

static const char *string_field(const cJSON *obj, const char *key, const char *name, int line,
                                int *st) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        *st = disr_fail(DISR_E_FORMAT, "%s line %d: missing field \"%s\"", name, line, key);
        return NULL;
    }
    if (!cJSON_IsString(v)) {
        *st =
            disr_fail(DISR_E_FORMAT, "%s line %d: field \"%s\" must be a string", name, line, key);
        return NULL;
    }
    return v->valuestring;
}

static int parse_line(struct qa_set *s, const char *line, size_t len, const char *name,
                      int lineno) {
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (!obj) return disr_fail(DISR_E_FORMAT, "%s line %d: bad JSON", name, lineno);
    int st = DISR_OK;
    for (const char *p = end; p < line + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r') {
            st = disr_fail(DISR_E_FORMAT, "%s line %d: bad JSON (text after the object)", name,
                           lineno);
            goto out;
        }
    if (!cJSON_IsObject(obj)) {
        st = disr_fail(DISR_E_FORMAT, "%s line %d: expected a JSON object", name, lineno);
        goto out;
    }
    const char *f[5];
    static const char *const keys[5] = {"id", "family", "query", "answer", "grader"};
    for (int k = 0; k < 5; k++)
        if (!(f[k] = string_field(obj, keys[k], name, lineno, &st))) goto out;
    int g = grader_parse(f[4]);
    if (g < 0) {
        st = disr_fail(DISR_E_FORMAT,
                       "%s line %d: unknown grader \"%s\" (expected exact, number or choice)", name,
                       lineno, f[4]);
        goto out;
    }
    if (strchr(f[3], '\n') || !f[3][0]) {
        st = disr_fail(DISR_E_FORMAT, "%s line %d: the answer is empty or contains a newline", name,
                       lineno);
        goto out;
    }
    /* "difficulty" is optional (a user's data set may have none): an integer level >= 1. */
    int level = 0;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(obj, "difficulty");
    if (d && !cJSON_IsNull(d)) {
        if (!cJSON_IsNumber(d) || d->valuedouble != (double)(int)d->valuedouble ||
            d->valuedouble < 1 || d->valuedouble > QA_MAX_DIFFICULTY) {
            st = disr_fail(DISR_E_FORMAT, "%s line %d: \"difficulty\" must be an integer 1 .. %d",
                           name, lineno, QA_MAX_DIFFICULTY);
            goto out;
        }
        level = (int)d->valuedouble;
    }
    st = qa_set_add(s, f[0], f[1], f[2], f[3], (enum grader)g);
    if (st == DISR_OK) s->items[s->n - 1].difficulty = level;
out:
    cJSON_Delete(obj);
    return st;
}

int qa_set_parse(struct qa_set *s, const char *text, size_t len, const char *name) {
    int lineno = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lineno++;
        const char *q = p;
        while (q < le && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        if (q < le) {
            if (memchr(p, '\0', (size_t)(le - p))) {
                qa_set_free(s);
                return disr_fail(DISR_E_FORMAT, "%s line %d: NUL byte", name, lineno);
            }
            int st = parse_line(s, p, (size_t)(le - p), name, lineno);
            if (st < 0) {
                qa_set_free(s);
                return st;
            }
        }
        p = nl ? nl + 1 : end;
    }
    return DISR_OK;
}

int qa_set_load(struct qa_set *s, const char *path) {
    char *text;
    size_t len;
    DISR_TRY(file_read_all(path, &text, &len));
    int st = qa_set_parse(s, text, len, path);
    free(text);
    return st;
}

/* One JSONL line per item in schema order, plus "reply" and "correct" where given. */
static int save_items(const struct qa_set *s, const char *const *replies, const bool *correct,
                      const char *path) {
    struct strbuf b = {0};
    int st = DISR_OK;
    for (int i = 0; i < s->n && st == DISR_OK; i++) {
        const struct qa_item *it = &s->items[i];
        cJSON *obj = cJSON_CreateObject();
        if (!obj || !cJSON_AddStringToObject(obj, "id", it->id) ||
            !cJSON_AddStringToObject(obj, "family", it->family) ||
            !cJSON_AddStringToObject(obj, "query", it->query) ||
            !cJSON_AddStringToObject(obj, "answer", it->answer) ||
            !cJSON_AddStringToObject(obj, "grader", grader_name(it->grader)) ||
            (it->difficulty > 0 && !cJSON_AddNumberToObject(obj, "difficulty", it->difficulty)) ||
            (replies && !cJSON_AddStringToObject(obj, "reply", replies[i] ? replies[i] : "")) ||
            (correct && !cJSON_AddBoolToObject(obj, "correct", correct[i]))) {
            cJSON_Delete(obj);
            st = disr_fail(DISR_E_NOMEM, "encoding item %s", it->id);
            break;
        }
        char *line = cJSON_PrintUnformatted(obj);
        cJSON_Delete(obj);
        if (!line) {
            st = disr_fail(DISR_E_NOMEM, "encoding item %s", it->id);
            break;
        }
        st = strbuf_puts(&b, line);
        if (st == DISR_OK) st = strbuf_puts(&b, "\n");
        cJSON_free(line);
    }
    if (st == DISR_OK) st = file_write_atomic(path, b.p ? b.p : "", b.n);
    strbuf_free(&b);
    return st;
}

int qa_set_save(const struct qa_set *s, const char *path) {
    return save_items(s, NULL, NULL, path);
}

int qa_set_save_graded(const struct qa_set *s, const char *const *replies, const bool *correct,
                       const char *path) {
    return save_items(s, replies, correct, path);
}

int qa_set_families(const struct qa_set *s, const char **out, int cap) {
    int n = 0;
    for (int i = 0; i < s->n; i++) {
        int k = 0;
        while (k < n && strcmp(out[k], s->items[i].family))
            k++;
        if (k == n && n < cap) out[n++] = s->items[i].family;
    }
    return n;
}
