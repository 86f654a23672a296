/* strbuf.h: the one growable text buffer, for building a file or a reply in memory, and the one
 * string hash. The first
 * failed allocation sticks: later appends do nothing and strbuf_take reports it, so building
 * code appends straight and checks once. */
#ifndef CORE_STRBUF_H
#define CORE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf {
    char *p;    /* the text, NUL-terminated once anything was appended */
    size_t n;   /* its length */
    size_t cap; /* bytes allocated */
    bool oom;   /* an allocation failed */
};

/* Appends n bytes / a string / printf-style text. Return DISR_OK or DISR_E_NOMEM (sticky). */
int strbuf_put(struct strbuf *b, const void *s, size_t n);
int strbuf_puts(struct strbuf *b, const char *s);
int strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text (owned by the caller, "" when empty), leaving b empty; NULL (with the error set) if
 * an allocation failed, the buffer then freed. */
char *strbuf_take(struct strbuf *b);
void strbuf_free(struct strbuf *b);

/* FNV-1a of a NUL-terminated string: what the name tables (GGUF keys and tensors, query ids)
 * hash with. */
uint64_t str_hash(const char *s);

#endif
