/* chat_template_internal.h: the template interpreter's syntax tree, values and arena, shared by
 * its parser (chat_template.c) and evaluator (chat_template_eval.c) only. */
#ifndef MODEL_CHAT_TEMPLATE_INTERNAL_H
#define MODEL_CHAT_TEMPLATE_INTERNAL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/chat_template.h"

/* Every allocation of a parse or a render comes from an arena freed at once, so an error can
 * leave through longjmp without leaking. */
struct arena {
    struct arena_block *head;
};
void *arena_alloc(struct arena *a, size_t n); /* zeroed; NULL when out of memory */
void arena_free(struct arena *a);

struct str {
    const char *s;
    size_t n;
};

enum node_kind {
    /* statements */
    N_TEXT,
    N_OUTPUT,
    N_IF,
    N_FOR,
    N_SET,
    N_BREAK,
    N_CONTINUE,
    /* expressions */
    N_LIT,
    N_NAME,
    N_ATTR,
    N_INDEX,
    N_SLICE,
    N_CALL,
    N_FILTER,
    N_TEST,
    N_BINARY,
    N_UNARY,
    N_TERNARY,
    N_SELECT,
    N_LIST,
    N_DICT,
    N_TUPLE,
};

/* Binary and unary operators. */
enum op {
    OP_ADD,
    OP_SUB,
    OP_CONCAT,
    OP_MUL,
    OP_DIV,
    OP_FLOORDIV,
    OP_MOD,
    OP_POW,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_GT,
    OP_LE,
    OP_GE,
    OP_IN,
    OP_NOT_IN,
    OP_AND,
    OP_OR,
    OP_NOT,
    OP_NEG,
    OP_POS,
};

struct value;

/* One node; which fields hold what depends on the kind:
 *   TEXT: name (the text)            OUTPUT: a
 *   IF: a test, body, alt            FOR: names[0..n_names) targets, a iterable, b select test,
 *                                         body, alt (the else block)
 *   SET: a target (NAME/ATTR/TUPLE), b value or body     LIT: lit
 *   NAME: name    ATTR: a.name    INDEX: a[b]    SLICE: a[b:c:d] (NULL = absent)
 *   CALL: a(items..., kw names = values)    FILTER: a | name(items..., kw)    TEST: a is [not] name
 *   BINARY/UNARY: op, a, b    TERNARY: b if a else c    SELECT: b if a    LIST/TUPLE: items
 *   DICT: items (keys), values */
struct node {
    enum node_kind kind;
    enum op op;
    bool negate;
    struct str name;
    struct node *a, *b, *c, *d;
    struct node **items, **values;
    struct str *kw_names;
    int n_items, n_kw;
    struct node **body, **alt;
    int n_body, n_alt;
    struct str names[2];
    int n_names;
    struct value *lit;
};

struct chat_template {
    struct arena arena;
    struct node **body;
    int n_body;
};

enum value_type { V_UNDEF, V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_LIST, V_DICT, V_NS, V_FUNC };

struct dict {
    struct str *keys;
    struct value **vals;
    int n, cap;
};

struct value {
    enum value_type t;
    bool b;
    int64_t i;
    double f;
    struct str s;
    struct value **items; /* LIST */
    int n_items;
    struct dict *d;     /* DICT, NS */
    int fn;             /* FUNC: which builtin */
    struct value *self; /* FUNC: the bound object of a method */
};

/* Raises a parse or render error: formats the message and jumps back to the entry point. */
struct jinja_err {
    jmp_buf jump;
    char msg[256];
};
_Noreturn void jinja_fail(struct jinja_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Whitespace as JavaScript's \s knows it, on the code point at s (0 if none; else its length). */
int jinja_space_len(const char *s, size_t n);

#endif
