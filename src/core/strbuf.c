#include "core/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/* Room for `more` bytes and the NUL after them. */
static int strbuf_reserve(struct strbuf *b, size_t more) {
    if (b->oom) return DISR_E_NOMEM;
    if (b->n + more + 1 <= b->cap) return DISR_OK;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return disr_fail(DISR_E_NOMEM, "text buffer of %zu bytes", cap);
    }
    b->p = p, b->cap = cap;
    return DISR_OK;
}

int strbuf_put(struct strbuf *b, const void *s, size_t n) {
    DISR_TRY(strbuf_reserve(b, n));
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return DISR_OK;
}

int strbuf_puts(struct strbuf *b, const char *s) {
    return strbuf_put(b, s, strlen(s));
}

int strbuf_printf(struct strbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return disr_fail(DISR_E_ARG, "bad format '%s'", fmt);
    DISR_TRY(strbuf_reserve(b, (size_t)n));
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
    return DISR_OK;
}

char *strbuf_take(struct strbuf *b) {
    if (b->oom) {
        strbuf_free(b);
        disr_fail(DISR_E_NOMEM, "text buffer: out of memory");
        return NULL;
    }
    char *p = b->p ? b->p : calloc(1, 1);
    *b = (struct strbuf){0};
    if (!p) disr_fail(DISR_E_NOMEM, "text buffer: out of memory");
    return p;
}

void strbuf_free(struct strbuf *b) {
    free(b->p);
    *b = (struct strbuf){0};
}

uint64_t str_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}
