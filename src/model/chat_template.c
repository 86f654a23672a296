/* Chat templates: the lexer and parser of the Jinja subset (see chat_template.h), following the
 * whitespace rules of @huggingface/jinja (its `preprocess` and tokenizer) so that text comes out
 * byte for byte the same; the built-in templates. Evaluation: chat_template_eval.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "model/chat_template_internal.h"

/* ---------------------------------------------------------------------------- arena */

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *arena_alloc(struct arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    struct arena_block *b = a->head;
    if (!b || b->used + n > b->cap) {
        size_t cap = n > 65536 ? n : 65536;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

void arena_free(struct arena *a) {
    for (struct arena_block *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    a->head = NULL;
}

_Noreturn void jinja_fail(struct jinja_err *e, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    longjmp(e->jump, 1);
}

/* JavaScript's \s: ASCII \t\n\v\f\r and space, NBSP, U+1680, U+2000..200A, U+2028, U+2029,
 * U+202F, U+205F, U+3000, U+FEFF. */
int jinja_space_len(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0) return 0;
    if (u[0] == ' ' || (u[0] >= 9 && u[0] <= 13)) return 1;
    if (n >= 2 && u[0] == 0xc2 && u[1] == 0xa0) return 2;
    if (n < 3) return 0;
    unsigned cp = ((u[0] & 0x0fu) << 12) | ((u[1] & 0x3fu) << 6) | (u[2] & 0x3fu);
    if ((u[0] & 0xf0) != 0xe0) return 0;
    if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
        cp == 0x202f || cp == 0x205f || cp == 0x3000 || cp == 0xfeff)
        return 3;
    return 0;
}

/* ------------------------------------------------------------------------ preprocess */

/* A trailing newline goes; spaces and tabs before a {% or {# that starts a line go
 * (lstrip_blocks); the newline right after %}, #} or -} goes (trim_blocks). */
static char *preprocess(struct arena *a, const char *src, size_t *len) {
    size_t n = strlen(src);
    if (n && src[n - 1] == '\n') n--;
    char *tmp = arena_alloc(a, n + 1), *out = arena_alloc(a, n + 1);
    if (!tmp || !out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (i == 0 || src[i - 1] == '\n' || src[i - 1] == '\r') {
            size_t j = i;
            while (j < n && (src[j] == ' ' || src[j] == '\t'))
                j++;
            if (j + 1 < n && src[j] == '{' &&
                (src[j + 1] == '#' || src[j + 1] == '%' || src[j + 1] == '-'))
                i = j;
        }
        if (i < n) tmp[o++] = src[i++];
    }
    size_t m = 0;
    for (size_t i = 0; i < o; i++) {
        out[m++] = tmp[i];
        if (tmp[i] == '}' && i > 0 &&
            (tmp[i - 1] == '#' || tmp[i - 1] == '%' || tmp[i - 1] == '-') && i + 1 < o &&
            tmp[i + 1] == '\n')
            i++;
    }
    out[m] = '\0';
    *len = m;
    return out;
}

/* --------------------------------------------------------------------------- lexer */

enum tok_type {
    T_TEXT,
    T_OPEN_STMT,
    T_CLOSE_STMT,
    T_OPEN_EXPR,
    T_CLOSE_EXPR,
    T_NUM,
    T_STR,
    T_IDENT,
    T_OP,
    T_COMMENT,
    T_EOF
};

struct tok {
    enum tok_type t;
    struct str s;
    size_t off;
};

struct lexer {
    struct arena *a;
    struct jinja_err *err;
    const char *src;
    size_t n, i;
    struct tok *toks;
    int n_toks, cap;
    int depth; /* open { of dict literals inside a tag */
};

static void push_tok(struct lexer *L, enum tok_type t, const char *s, size_t n, size_t off) {
    if (L->n_toks == L->cap) {
        int cap = L->cap ? 2 * L->cap : 256;
        struct tok *nt = arena_alloc(L->a, (size_t)cap * sizeof *nt);
        if (!nt) jinja_fail(L->err, "out of memory");
        if (L->n_toks) memcpy(nt, L->toks, (size_t)L->n_toks * sizeof *nt);
        L->toks = nt;
        L->cap = cap;
    }
    L->toks[L->n_toks++] = (struct tok){t, {s, n}, off};
}

/* {%- and {{- strip the whitespace that ends the text before them. */
static void strip_text_end(struct lexer *L) {
    if (!L->n_toks || L->toks[L->n_toks - 1].t != T_TEXT) return;
    struct str *s = &L->toks[L->n_toks - 1].s;
    for (;;) {
        size_t k = 0;
        for (size_t w = 1; w <= 3 && w <= s->n; w++)
            if (jinja_space_len(s->s + s->n - w, w) == (int)w) k = w;
        if (!k) break;
        s->n -= k;
    }
    if (s->n == 0) L->n_toks--;
}

static void skip_space(struct lexer *L) {
    int k;
    while (L->i < L->n && (k = jinja_space_len(L->src + L->i, L->n - L->i)) > 0)
        L->i += (size_t)k;
}

static void lex_text(struct lexer *L) {
    size_t end = L->i;
    while (end < L->n) {
        if (L->src[end] == '{' && end + 1 < L->n &&
            (L->src[end + 1] == '%' || L->src[end + 1] == '{' || L->src[end + 1] == '#'))
            break;
        end++;
    }
    if (end > L->i) push_tok(L, T_TEXT, L->src + L->i, end - L->i, L->i);
    L->i = end;
}

static void lex_comment(struct lexer *L) {
    size_t start = L->i;
    L->i += 2;
    bool strip_before = L->i < L->n && L->src[L->i] == '-';
    const char *end = strstr(L->src + L->i, "#}");
    if (!end) jinja_fail(L->err, "offset %zu: a comment {# is never closed", start);
    bool strip_after = end > L->src + L->i && end[-1] == '-';
    if (strip_before) strip_text_end(L);
    L->i = (size_t)(end - L->src) + 2;
    push_tok(L, T_COMMENT, "", 0, start);
    if (strip_after) skip_space(L);
}

static char *lex_string(struct lexer *L, char quote, size_t *len) {
    char *out = arena_alloc(L->a, L->n - L->i + 1);
    if (!out) jinja_fail(L->err, "out of memory");
    size_t o = 0, start = L->i - 1;
    while (L->i < L->n && L->src[L->i] != quote) {
        char c = L->src[L->i++];
        if (c != '\\') {
            out[o++] = c;
            continue;
        }
        if (L->i >= L->n) break;
        char e = L->src[L->i++];
        const char *from = "ntrbfv'\"\\", *to = "\n\t\r\b\f\v'\"\\";
        const char *p = strchr(from, e);
        if (p && e) {
            out[o++] = to[p - from];
        } else if (e == 'x' || e == 'u') {
            int digits = e == 'x' ? 2 : 4;
            unsigned v = 0;
            for (int k = 0; k < digits; k++, L->i++) {
                char h = L->i < L->n ? L->src[L->i] : 0;
                int d = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                               : -1;
                if (d < 0) jinja_fail(L->err, "offset %zu: bad \\%c escape", L->i, e);
                v = v * 16 + (unsigned)d;
            }
            if (v < 0x80) {
                out[o++] = (char)v;
            } else if (v < 0x800) {
                out[o++] = (char)(0xc0 | (v >> 6));
                out[o++] = (char)(0x80 | (v & 0x3f));
            } else {
                out[o++] = (char)(0xe0 | (v >> 12));
                out[o++] = (char)(0x80 | ((v >> 6) & 0x3f));
                out[o++] = (char)(0x80 | (v & 0x3f));
            }
        } else {
            jinja_fail(L->err, "offset %zu: unknown escape \\%c", L->i - 1, e);
        }
    }
    if (L->i >= L->n) jinja_fail(L->err, "offset %zu: a string is never closed", start);
    L->i++;
    *len = o;
    return out;
}

static int is_word(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* One token inside {% %} or {{ }}. */
static void lex_tag_token(struct lexer *L) {
    const char *s = L->src + L->i;
    size_t left = L->n - L->i, at = L->i;
    if (left >= 3 && s[0] == '-' && s[2] == '}' && (s[1] == '%' || s[1] == '}')) {
        push_tok(L, s[1] == '%' ? T_CLOSE_STMT : T_CLOSE_EXPR, s + 1, 2, at);
        L->i += 3;
        skip_space(L);
        return;
    }
    if (left >= 2 && ((s[0] == '%' && s[1] == '}') || (s[0] == '}' && s[1] == '}' && !L->depth))) {
        push_tok(L, s[0] == '%' ? T_CLOSE_STMT : T_CLOSE_EXPR, s, 2, at);
        L->i += 2;
        return;
    }
    if (s[0] == '\'' || s[0] == '"') {
        L->i++;
        size_t len;
        char *str = lex_string(L, s[0], &len);
        push_tok(L, T_STR, str, len, at);
        return;
    }
    if (s[0] >= '0' && s[0] <= '9') {
        size_t k = 0;
        while (k < left && s[k] >= '0' && s[k] <= '9')
            k++;
        if (k + 1 < left && s[k] == '.' && s[k + 1] >= '0' && s[k + 1] <= '9')
            for (k++; k < left && s[k] >= '0' && s[k] <= '9';)
                k++;
        push_tok(L, T_NUM, s, k, at);
        L->i += k;
        return;
    }
    if (is_word(s[0])) {
        size_t k = 0;
        while (k < left && is_word(s[k]))
            k++;
        push_tok(L, T_IDENT, s, k, at);
        L->i += k;
        return;
    }
    static const char *const OPS[] = {"<=", ">=", "==", "!=", "**", "//", "(", ")", "{",
                                      "}",  "[",  "]",  ",",  ".",  ":",  "|", "<", ">",
                                      "+",  "-",  "~",  "*",  "/",  "%",  "=", NULL};
    for (int k = 0; OPS[k]; k++) {
        size_t len = strlen(OPS[k]);
        if (left >= len && !memcmp(s, OPS[k], len)) {
            if (s[0] == '{') L->depth++;
            if (s[0] == '}') L->depth--;
            push_tok(L, T_OP, s, len, at);
            L->i += len;
            return;
        }
    }
    jinja_fail(L->err, "offset %zu: unexpected character '%c'", at, s[0]);
}

static void lex(struct lexer *L) {
    while (L->i < L->n) {
        enum tok_type last = L->n_toks ? L->toks[L->n_toks - 1].t : T_EOF;
        if (last == T_EOF || last == T_CLOSE_STMT || last == T_CLOSE_EXPR || last == T_TEXT ||
            last == T_COMMENT) {
            if (last != T_TEXT) lex_text(L);
            if (L->i >= L->n) break;
            const char *s = L->src + L->i;
            if (s[1] == '#') {
                lex_comment(L);
                continue;
            }
            bool strip = s[2] == '-';
            if (strip) strip_text_end(L);
            push_tok(L, s[1] == '%' ? T_OPEN_STMT : T_OPEN_EXPR, s, 2, L->i);
            L->i += strip ? 3 : 2;
            L->depth = 0;
            continue;
        }
        skip_space(L);
        if (L->i >= L->n) jinja_fail(L->err, "the template ends inside a tag");
        lex_tag_token(L);
    }
    push_tok(L, T_EOF, "", 0, L->n);
}

/* -------------------------------------------------------------------------- parser */

struct parser {
    struct arena *a;
    struct jinja_err *err;
    struct tok *toks;
    int i;
};

static struct node *expression(struct parser *P);
static struct node *expression_sequence(struct parser *P);

static struct node *new_node(struct parser *P, enum node_kind k) {
    struct node *n = arena_alloc(P->a, sizeof *n);
    if (!n) jinja_fail(P->err, "out of memory");
    n->kind = k;
    return n;
}

static const struct tok *peek(const struct parser *P) {
    return &P->toks[P->i];
}

static bool is_op(const struct parser *P, const char *op) {
    const struct tok *t = peek(P);
    return t->t == T_OP && t->s.n == strlen(op) && !memcmp(t->s.s, op, t->s.n);
}

static bool is_ident(const struct parser *P, int ahead, const char *name) {
    const struct tok *t = &P->toks[P->i + ahead];
    if (ahead && P->toks[P->i].t == T_EOF) return false;
    return t->t == T_IDENT && t->s.n == strlen(name) && !memcmp(t->s.s, name, t->s.n);
}

static _Noreturn void unexpected(struct parser *P, const char *wanted) {
    const struct tok *t = peek(P);
    jinja_fail(P->err, "offset %zu: expected %s, found '%.*s'", t->off, wanted,
               t->t == T_EOF ? 3 : (int)(t->s.n > 20 ? 20 : t->s.n),
               t->t == T_EOF ? "end" : t->s.s);
}

static void expect_op(struct parser *P, const char *op) {
    if (!is_op(P, op)) unexpected(P, op);
    P->i++;
}

static void expect_type(struct parser *P, enum tok_type t, const char *what) {
    if (peek(P)->t != t) unexpected(P, what);
    P->i++;
}

/* A growable list of nodes in the arena. */
struct nodes {
    struct node **v;
    int n, cap;
};
static void nodes_push(struct parser *P, struct nodes *l, struct node *x) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 8;
        struct node **nv = arena_alloc(P->a, (size_t)cap * sizeof *nv);
        if (!nv) jinja_fail(P->err, "out of memory");
        if (l->n) memcpy(nv, l->v, (size_t)l->n * sizeof *nv);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = x;
}

static struct value *literal(struct parser *P, enum value_type t) {
    struct value *v = arena_alloc(P->a, sizeof *v);
    if (!v) jinja_fail(P->err, "out of memory");
    v->t = t;
    return v;
}

/* (args, name=value) after the callee; the open parenthesis is next. */
static void call_args(struct parser *P, struct node *n) {
    struct nodes pos = {0}, kwv = {0};
    struct str *names = NULL;
    int cap = 0;
    expect_op(P, "(");
    while (!is_op(P, ")")) {
        if (peek(P)->t == T_IDENT && P->toks[P->i + 1].t == T_OP && P->toks[P->i + 1].s.n == 1 &&
            P->toks[P->i + 1].s.s[0] == '=') {
            if (kwv.n == cap) {
                cap = cap ? 2 * cap : 4;
                struct str *nn = arena_alloc(P->a, (size_t)cap * sizeof *nn);
                if (!nn) jinja_fail(P->err, "out of memory");
                if (kwv.n) memcpy(nn, names, (size_t)kwv.n * sizeof *nn);
                names = nn;
            }
            names[kwv.n] = peek(P)->s;
            P->i += 2;
            nodes_push(P, &kwv, expression(P));
        } else {
            if (kwv.n) unexpected(P, "a keyword argument (positional ones come first)");
            nodes_push(P, &pos, expression(P));
        }
        if (is_op(P, ","))
            P->i++;
        else if (!is_op(P, ")"))
            unexpected(P, "',' or ')'");
    }
    P->i++;
    n->items = pos.v;
    n->n_items = pos.n;
    n->values = kwv.v;
    n->kw_names = names;
    n->n_kw = kwv.n;
}

/* [a], [a:b], [::-1] after an object. */
static struct node *subscript(struct parser *P, struct node *obj) {
    struct node *parts[3] = {0};
    int k = 0;
    bool slice = false;
    while (!is_op(P, "]")) {
        if (is_op(P, ":")) {
            if (++k > 2) unexpected(P, "']' (a slice has at most three parts)");
            slice = true;
            P->i++;
        } else {
            parts[k] = expression(P);
        }
    }
    P->i++;
    struct node *n = new_node(P, slice ? N_SLICE : N_INDEX);
    n->a = obj;
    n->b = parts[0];
    n->c = parts[1];
    n->d = parts[2];
    if (!slice && !parts[0]) unexpected(P, "an index");
    return n;
}

static struct node *primary(struct parser *P) {
    const struct tok *t = peek(P);
    P->i++;
    if (t->t == T_NUM) {
        struct node *n = new_node(P, N_LIT);
        bool is_float = memchr(t->s.s, '.', t->s.n) != NULL;
        n->lit = literal(P, is_float ? V_FLOAT : V_INT);
        char buf[64];
        snprintf(buf, sizeof buf, "%.*s", (int)(t->s.n < 63 ? t->s.n : 63), t->s.s);
        if (is_float)
            n->lit->f = strtod(buf, NULL);
        else
            n->lit->i = strtoll(buf, NULL, 10);
        return n;
    }
    if (t->t == T_STR) { /* adjacent strings join */
        size_t len = t->s.n;
        for (int k = P->i; P->toks[k].t == T_STR; k++)
            len += P->toks[k].s.n;
        char *s = arena_alloc(P->a, len + 1);
        if (!s) jinja_fail(P->err, "out of memory");
        memcpy(s, t->s.s, t->s.n);
        size_t o = t->s.n;
        for (; peek(P)->t == T_STR; P->i++) {
            memcpy(s + o, peek(P)->s.s, peek(P)->s.n);
            o += peek(P)->s.n;
        }
        struct node *n = new_node(P, N_LIT);
        n->lit = literal(P, V_STR);
        n->lit->s = (struct str){s, len};
        return n;
    }
    if (t->t == T_IDENT) {
        struct node *n = new_node(P, N_NAME);
        n->name = t->s;
        return n;
    }
    P->i--;
    if (is_op(P, "(")) {
        P->i++;
        struct node *e = expression_sequence(P);
        expect_op(P, ")");
        return e;
    }
    if (is_op(P, "[") || is_op(P, "{")) {
        bool dict = is_op(P, "{");
        const char *close = dict ? "}" : "]";
        P->i++;
        struct nodes keys = {0}, vals = {0};
        while (!is_op(P, close)) {
            nodes_push(P, &keys, expression(P));
            if (dict) {
                expect_op(P, ":");
                nodes_push(P, &vals, expression(P));
            }
            if (is_op(P, ","))
                P->i++;
            else if (!is_op(P, close))
                unexpected(P, dict ? "',' or '}'" : "',' or ']'");
        }
        P->i++;
        struct node *n = new_node(P, dict ? N_DICT : N_LIST);
        n->items = keys.v;
        n->n_items = keys.n;
        n->values = vals.v;
        return n;
    }
    unexpected(P, "a value");
}

static struct node *member(struct parser *P, struct node *obj) {
    for (;;) {
        if (is_op(P, ".")) {
            P->i++;
            const struct tok *t = peek(P);
            if (t->t != T_IDENT && t->t != T_NUM) unexpected(P, "a name after '.'");
            P->i++;
            struct node *n = new_node(P, t->t == T_IDENT ? N_ATTR : N_INDEX);
            n->a = obj;
            n->name = t->s;
            if (t->t == T_NUM) {
                P->i--;
                n->b = primary(P);
            }
            obj = n;
        } else if (is_op(P, "[")) {
            P->i++;
            obj = subscript(P, obj);
        } else if (is_op(P, "(")) {
            struct node *n = new_node(P, N_CALL);
            n->a = obj;
            call_args(P, n);
            obj = n;
        } else {
            return obj;
        }
    }
}

static struct node *unary_sign(struct parser *P) {
    if (is_op(P, "-") || is_op(P, "+")) {
        struct node *n = new_node(P, N_UNARY);
        n->op = is_op(P, "-") ? OP_NEG : OP_POS;
        P->i++;
        n->a = unary_sign(P);
        return n;
    }
    return member(P, primary(P));
}

static struct node *filtered(struct parser *P) {
    struct node *e = unary_sign(P);
    while (is_op(P, "|")) {
        P->i++;
        if (peek(P)->t != T_IDENT) unexpected(P, "a filter name");
        struct node *n = new_node(P, N_FILTER);
        n->a = e;
        n->name = peek(P)->s;
        P->i++;
        if (is_op(P, "(")) call_args(P, n);
        e = n;
    }
    return e;
}

static struct node *tested(struct parser *P) {
    struct node *e = filtered(P);
    while (is_ident(P, 0, "is")) {
        P->i++;
        struct node *n = new_node(P, N_TEST);
        if (is_ident(P, 0, "not")) {
            n->negate = true;
            P->i++;
        }
        if (peek(P)->t != T_IDENT) unexpected(P, "a test name");
        n->name = peek(P)->s;
        P->i++;
        n->a = e;
        e = n;
    }
    return e;
}

static struct node *binary(struct parser *P, enum op op, struct node *l, struct node *r) {
    struct node *n = new_node(P, N_BINARY);
    n->op = op;
    n->a = l;
    n->b = r;
    return n;
}

/* One level of left-associative binary operators: `next (op next)*`. */
struct level_op {
    const char *text;
    bool word; /* and, or: names, not symbols */
    enum op op;
};
static struct node *left_assoc(struct parser *P, struct node *(*next)(struct parser *),
                               const struct level_op *ops) {
    struct node *e = next(P);
    for (;;) {
        const struct level_op *o = ops;
        while (o->text && !(o->word ? is_ident(P, 0, o->text) : is_op(P, o->text)))
            o++;
        if (!o->text) return e;
        P->i++;
        e = binary(P, o->op, e, next(P));
    }
}

static struct node *power(struct parser *P) {
    static const struct level_op ops[] = {{"**", false, OP_POW}, {0}};
    return left_assoc(P, tested, ops);
}

static struct node *multiplicative(struct parser *P) {
    static const struct level_op ops[] = {{"*", false, OP_MUL},
                                          {"/", false, OP_DIV},
                                          {"//", false, OP_FLOORDIV},
                                          {"%", false, OP_MOD},
                                          {0}};
    return left_assoc(P, power, ops);
}

static struct node *additive(struct parser *P) {
    static const struct level_op ops[] = {
        {"+", false, OP_ADD}, {"-", false, OP_SUB}, {"~", false, OP_CONCAT}, {0}};
    return left_assoc(P, multiplicative, ops);
}

static struct node *comparison(struct parser *P) {
    struct node *e = additive(P);
    for (;;) {
        enum op op;
        if (is_ident(P, 0, "not") && is_ident(P, 1, "in")) {
            op = OP_NOT_IN;
            P->i++;
        } else if (is_ident(P, 0, "in")) {
            op = OP_IN;
        } else {
            op = is_op(P, "==")   ? OP_EQ
                 : is_op(P, "!=") ? OP_NE
                 : is_op(P, "<")  ? OP_LT
                 : is_op(P, ">")  ? OP_GT
                 : is_op(P, "<=") ? OP_LE
                 : is_op(P, ">=") ? OP_GE
                                  : OP_NOT;
            if (op == OP_NOT) return e;
        }
        P->i++;
        e = binary(P, op, e, additive(P));
    }
}

static struct node *negation(struct parser *P) {
    if (is_ident(P, 0, "not")) {
        P->i++;
        struct node *n = new_node(P, N_UNARY);
        n->op = OP_NOT;
        n->a = negation(P);
        return n;
    }
    return comparison(P);
}

static struct node *logical_and(struct parser *P) {
    static const struct level_op ops[] = {{"and", true, OP_AND}, {0}};
    return left_assoc(P, negation, ops);
}

static struct node *logical_or(struct parser *P) {
    static const struct level_op ops[] = {{"or", true, OP_OR}, {0}};
    return left_assoc(P, logical_and, ops);
}

/* a if test else b; `a if test` alone selects (undefined when false). */
static struct node *expression(struct parser *P) {
    struct node *a = logical_or(P);
    if (!is_ident(P, 0, "if")) return a;
    P->i++;
    struct node *n = new_node(P, N_SELECT);
    n->a = logical_or(P);
    n->b = a;
    if (is_ident(P, 0, "else")) {
        P->i++;
        n->kind = N_TERNARY;
        n->c = expression(P);
    }
    return n;
}

static struct node *expression_sequence(struct parser *P) {
    struct node *e = expression(P);
    if (!is_op(P, ",")) return e;
    struct nodes items = {0};
    nodes_push(P, &items, e);
    while (is_op(P, ",")) {
        P->i++;
        nodes_push(P, &items, expression(P));
    }
    struct node *n = new_node(P, N_TUPLE);
    n->items = items.v;
    n->n_items = items.n;
    return n;
}

/* ------------------------------------------------------------------------ statements */

static struct node *statement(struct parser *P);

/* Statements up to a {% word %} in `ends` (space-separated); returns which word ended it. */
static struct str block(struct parser *P, const char *ends, struct nodes *out) {
    for (;;) {
        const struct tok *t = peek(P);
        if (t->t == T_EOF) jinja_fail(P->err, "the template ends before {%% %s %%}", ends);
        if (t->t == T_OPEN_STMT && P->toks[P->i + 1].t == T_IDENT) {
            struct str w = P->toks[P->i + 1].s;
            for (const char *e = ends; *e;) {
                size_t len = strcspn(e, " ");
                if (len == w.n && !memcmp(e, w.s, len)) {
                    P->i += 2;
                    return w;
                }
                e += len + (e[len] == ' ');
            }
        }
        struct node *s = statement(P);
        if (s) nodes_push(P, out, s);
    }
}

static struct node *with_blocks(struct node *n, const struct nodes *body, const struct nodes *alt) {
    n->body = body->v;
    n->n_body = body->n;
    n->alt = alt->v;
    n->n_alt = alt->n;
    return n;
}

static struct node *if_statement(struct parser *P) {
    struct node *n = new_node(P, N_IF);
    n->a = expression(P);
    expect_type(P, T_CLOSE_STMT, "%}");
    struct nodes body = {0}, alt = {0};
    struct str end = block(P, "elif else endif", &body);
    if (end.n == 4 && !memcmp(end.s, "elif", 4)) {
        nodes_push(P, &alt, if_statement(P));
    } else if (end.n == 4) {
        expect_type(P, T_CLOSE_STMT, "%}");
        block(P, "endif", &alt);
        expect_type(P, T_CLOSE_STMT, "%}");
    } else {
        expect_type(P, T_CLOSE_STMT, "%}");
    }
    return with_blocks(n, &body, &alt);
}

static struct node *for_statement(struct parser *P) {
    struct node *n = new_node(P, N_FOR);
    for (;;) {
        if (peek(P)->t != T_IDENT || n->n_names == 2) unexpected(P, "one or two loop variables");
        n->names[n->n_names++] = peek(P)->s;
        P->i++;
        if (!is_op(P, ",")) break;
        P->i++;
    }
    if (!is_ident(P, 0, "in")) unexpected(P, "'in'");
    P->i++;
    struct node *it = expression(P);
    if (it->kind == N_SELECT) { /* for x in items if test */
        n->a = it->b;
        n->b = it->a;
    } else {
        n->a = it;
    }
    expect_type(P, T_CLOSE_STMT, "%}");
    struct nodes body = {0}, alt = {0};
    struct str end = block(P, "else endfor", &body);
    expect_type(P, T_CLOSE_STMT, "%}");
    if (end.n == 4) {
        block(P, "endfor", &alt);
        expect_type(P, T_CLOSE_STMT, "%}");
    }
    return with_blocks(n, &body, &alt);
}

static struct node *set_statement(struct parser *P) {
    struct node *n = new_node(P, N_SET);
    n->a = expression_sequence(P);
    if (n->a->kind != N_NAME && n->a->kind != N_ATTR && n->a->kind != N_TUPLE)
        unexpected(P, "a name, name.attribute or names to set");
    if (is_op(P, "=")) {
        P->i++;
        n->b = expression_sequence(P);
        expect_type(P, T_CLOSE_STMT, "%}");
        return n;
    }
    expect_type(P, T_CLOSE_STMT, "%}"); /* {% set x %}...{% endset %} */
    struct nodes body = {0};
    block(P, "endset", &body);
    expect_type(P, T_CLOSE_STMT, "%}");
    n->body = body.v;
    n->n_body = body.n;
    return n;
}

static struct node *statement(struct parser *P) {
    const struct tok *t = peek(P);
    P->i++;
    if (t->t == T_COMMENT) return NULL;
    if (t->t == T_TEXT) {
        struct node *n = new_node(P, N_TEXT);
        n->name = t->s;
        return n;
    }
    if (t->t == T_OPEN_EXPR) {
        struct node *n = new_node(P, N_OUTPUT);
        n->a = expression(P);
        expect_type(P, T_CLOSE_EXPR, "}}");
        return n;
    }
    if (t->t != T_OPEN_STMT) {
        P->i--;
        unexpected(P, "text, {{ or {%");
    }
    const struct tok *w = peek(P);
    if (w->t != T_IDENT) unexpected(P, "a statement name");
    P->i++;
#define KW(lit) (w->s.n == sizeof lit - 1 && !memcmp(w->s.s, lit, sizeof lit - 1))
    if (KW("if")) return if_statement(P);
    if (KW("for")) return for_statement(P);
    if (KW("set")) return set_statement(P);
    if (KW("break") || KW("continue")) {
        struct node *n = new_node(P, KW("break") ? N_BREAK : N_CONTINUE);
        expect_type(P, T_CLOSE_STMT, "%}");
        return n;
    }
#undef KW
    jinja_fail(P->err, "offset %zu: {%% %.*s %%} is not supported by this template interpreter",
               w->off, (int)(w->s.n > 20 ? 20 : w->s.n), w->s.s);
}

int chat_template_parse(struct chat_template **out, const char *source) {
    *out = NULL;
    struct chat_template *t = calloc(1, sizeof *t);
    if (!t) return disr_fail(DISR_E_NOMEM, "chat template: out of memory");
    struct jinja_err err;
    if (setjmp(err.jump)) {
        arena_free(&t->arena);
        free(t);
        return disr_fail(DISR_E_FORMAT, "chat template: %s", err.msg);
    }
    struct lexer L = {.a = &t->arena, .err = &err};
    L.src = preprocess(&t->arena, source, &L.n);
    if (!L.src) jinja_fail(&err, "out of memory");
    lex(&L);
    struct parser P = {&t->arena, &err, L.toks, 0};
    struct nodes body = {0};
    while (peek(&P)->t != T_EOF) {
        struct node *s = statement(&P);
        if (s) nodes_push(&P, &body, s);
    }
    t->body = body.v;
    t->n_body = body.n;
    *out = t;
    return DISR_OK;
}

void chat_template_free(struct chat_template *t) {
    if (!t) return;
    arena_free(&t->arena);
    free(t);
}

/* ------------------------------------------------------------------------ built-ins */

/* The templates the model families publish (their tokenizer_config.json), for files that carry
 * none or a template this interpreter cannot run. */
static const struct {
    const char *name, *source;
} BUILTINS[] = {
    {"chatml",
     "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
     " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant"
     "\\n' }}{% endif %}"},
    {"llama3",
     "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|s"
     "tart_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim "
     "+ '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif"
     " %}{{ content }}{% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"},
    {"llama2",
     "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set "
     "system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set "
     "system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] "
     "== 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
     "user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message "
     "!= "
     "false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + "
     "message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if "
     "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% "
     "elif "
     "message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% "
     "endfor %}"},
    {"mistral",
     "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != "
     "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
     "user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ "
     "'[INST] "
     "' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ "
     "message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles "
     "are supported!') }}{% endif %}{% endfor %}"},
    {"gemma",
     "{{ bos_token }}\n{%- if messages[0]['role'] == 'system' -%}\n    {%- if messages[0]['cont"
     "ent'] is string -%}\n        {%- set first_user_prefix = messages[0]['content'] + '\n\n' "
     "-%}\n    {%- else -%}\n        {%- set first_user_prefix = messages[0]['content'][0]['tex"
     "t'] + '\n\n' -%}\n    {%- endif -%}\n    {%- set loop_messages = messages[1:] -%}\n{%- el"
     "se -%}\n    {%- set first_user_prefix = \"\" -%}\n    {%- set loop_messages = messages -%"
     "}\n{%- endif -%}\n{%- for message in loop_messages -%}\n    {%- if (message['role'] == 'u"
     "ser') != (loop.index0 % 2 == 0) -%}\n        {{ raise_exception(\"Conversation roles must"
     " alternate user/assistant/user/assistant/...\") }}\n    {%- endif -%}\n    {%- if (messag"
     "e['role'] == 'assistant') -%}\n        {%- set role = \"model\" -%}\n    {%- else -%}\n  "
     "      {%- set role = message['role'] -%}\n    {%- endif -%}\n    {{ '<start_of_turn>' + r"
     "ole + '\n' + (first_user_prefix if loop.first else \"\") }}\n    {%- if message['content'"
     "] is string -%}\n        {{ message['content'] | trim }}\n    {%- elif message['content']"
     " is iterable -%}\n        {%- for item in message['content'] -%}\n            {%- if item"
     "['type'] == 'image' -%}\n                {{ '<start_of_image>' }}\n            {%- elif i"
     "tem['type'] == 'text' -%}\n                {{ item['text'] | trim }}\n            {%- end"
     "if -%}\n        {%- endfor -%}\n    {%- else -%}\n        {{ raise_exception(\"Invalid co"
     "ntent type\") }}\n    {%- endif -%}\n    {{ '<end_of_turn>\n' }}\n{%- endfor -%}\n{%- if "
     "add_generation_prompt -%}\n    {{'<start_of_turn>model\n'}}\n{%- endif -%}\n"},
    {"phi3",
     "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + "
     "message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\\n' + "
     "message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'assistant' %}"
     "{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}{% if "
     "add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"},
};

const char *chat_template_builtin(const char *name) {
    for (size_t i = 0; i < sizeof BUILTINS / sizeof *BUILTINS; i++)
        if (!strcmp(BUILTINS[i].name, name)) return BUILTINS[i].source;
    return NULL;
}

const char *chat_template_builtin_names(void) {
    return "chatml, llama3, llama2, mistral, gemma, phi3";
}
