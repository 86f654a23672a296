/* Chat templates: evaluation of the parsed tree with the value semantics of @huggingface/jinja
 * (the reference renderer this module must match): Python-like truthiness, JavaScript-like
 * equality, `+` joining strings, undefined attributes giving undefined rather than failing,
 * strip()/lstrip()/rstrip() trimming whitespace whatever their argument, none and undefined
 * printing nothing, booleans printing as true/false. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "model/chat_template_internal.h"

enum builtin {
    F_RAISE,
    F_RANGE,
    F_NAMESPACE,
    F_STRFTIME,
    F_UPPER,
    F_LOWER,
    F_STRIP,
    F_LSTRIP,
    F_RSTRIP,
    F_TITLE,
    F_CAPITALIZE,
    F_STARTSWITH,
    F_ENDSWITH,
    F_SPLIT,
    F_REPLACE,
    F_GET,
    F_ITEMS,
    F_KEYS,
    F_VALUES,
};

struct scope {
    struct scope *parent;
    struct dict vars;
};

/* A growable string in the arena. */
struct sbuf {
    char *s;
    size_t n, cap;
};

struct ctx {
    struct arena a;
    struct jinja_err err;
    struct sbuf out;
    enum { FLOW_NONE, FLOW_BREAK, FLOW_CONTINUE } flow;
};

static struct value UNDEF = {.t = V_UNDEF}, NONE = {.t = V_NONE}, TRUE = {.t = V_BOOL, .b = true},
                    FALSE = {.t = V_BOOL, .b = false};

#define FAIL(c, ...) jinja_fail(&(c)->err, __VA_ARGS__)

static void *alloc(struct ctx *c, size_t n) {
    void *p = arena_alloc(&c->a, n);
    if (!p) FAIL(c, "out of memory");
    return p;
}

static struct value *new_value(struct ctx *c, enum value_type t) {
    struct value *v = alloc(c, sizeof *v);
    v->t = t;
    return v;
}

static struct value *v_bool(bool b) {
    return b ? &TRUE : &FALSE;
}

static struct value *v_int(struct ctx *c, int64_t i) {
    struct value *v = new_value(c, V_INT);
    v->i = i;
    return v;
}

static struct value *v_float(struct ctx *c, double f) {
    struct value *v = new_value(c, V_FLOAT);
    v->f = f;
    return v;
}

static struct value *v_str(struct ctx *c, const char *s, size_t n) {
    struct value *v = new_value(c, V_STR);
    char *copy = alloc(c, n + 1);
    memcpy(copy, s, n);
    v->s = (struct str){copy, n};
    return v;
}

static struct value *v_list(struct ctx *c, int n) {
    struct value *v = new_value(c, V_LIST);
    v->items = alloc(c, (size_t)(n ? n : 1) * sizeof *v->items);
    v->n_items = n;
    return v;
}

static struct value *v_func(struct ctx *c, enum builtin f, struct value *self) {
    struct value *v = new_value(c, V_FUNC);
    v->fn = (int)f;
    v->self = self;
    return v;
}

static bool str_is(struct str s, const char *lit) {
    return s.n == strlen(lit) && !memcmp(s.s, lit, s.n);
}

static bool str_eq(struct str a, struct str b) {
    return a.n == b.n && !memcmp(a.s, b.s, a.n);
}

/* ---------------------------------------------------------------------------- dicts */

static struct value *dict_get(const struct dict *d, struct str key) {
    for (int i = 0; i < d->n; i++)
        if (str_eq(d->keys[i], key)) return d->vals[i];
    return NULL;
}

static void dict_set(struct ctx *c, struct dict *d, struct str key, struct value *v) {
    for (int i = 0; i < d->n; i++)
        if (str_eq(d->keys[i], key)) {
            d->vals[i] = v;
            return;
        }
    if (d->n == d->cap) {
        int cap = d->cap ? 2 * d->cap : 8;
        struct str *k = alloc(c, (size_t)cap * sizeof *k);
        struct value **vv = alloc(c, (size_t)cap * sizeof *vv);
        if (d->n) {
            memcpy(k, d->keys, (size_t)d->n * sizeof *k);
            memcpy(vv, d->vals, (size_t)d->n * sizeof *vv);
        }
        d->keys = k;
        d->vals = vv;
        d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n++] = v;
}

static struct value *v_dict(struct ctx *c, enum value_type t) {
    struct value *v = new_value(c, t);
    v->d = alloc(c, sizeof *v->d);
    return v;
}

/* ------------------------------------------------------------------------- output */

static void sb_add(struct ctx *c, struct sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *ns = alloc(c, cap);
        if (b->n) memcpy(ns, b->s, b->n);
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}
static void sb_str(struct ctx *c, struct sbuf *b, const char *s) {
    sb_add(c, b, s, strlen(s));
}

/* ------------------------------------------------------------------------ strings */

/* JavaScript's Number.prototype.toString for the usual cases: the shortest digits that read
 * back to the same double. */
static void js_number(double f, char *buf, size_t cap) {
    if (isnan(f)) {
        snprintf(buf, cap, "NaN");
        return;
    }
    if (isinf(f)) {
        snprintf(buf, cap, f > 0 ? "Infinity" : "-Infinity");
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, f);
        if (strtod(buf, NULL) == f) break;
    }
}

static void json_string(struct ctx *c, struct sbuf *b, struct str s) {
    sb_add(c, b, "\"", 1);
    for (size_t i = 0; i < s.n; i++) {
        unsigned char ch = (unsigned char)s.s[i];
        const char *esc = ch == '"'    ? "\\\""
                          : ch == '\\' ? "\\\\"
                          : ch == '\n' ? "\\n"
                          : ch == '\r' ? "\\r"
                          : ch == '\t' ? "\\t"
                          : ch == '\b' ? "\\b"
                          : ch == '\f' ? "\\f"
                                       : NULL;
        char u[8];
        if (!esc && ch < 0x20) {
            snprintf(u, sizeof u, "\\u%04x", ch);
            esc = u;
        }
        if (esc)
            sb_str(c, b, esc);
        else
            sb_add(c, b, s.s + i, 1);
    }
    sb_add(c, b, "\"", 1);
}

static struct str to_str(struct ctx *c, const struct value *v);

/* JSON as the reference writes it: ", " and ": " separators; undefined as `undef`. */
static void to_json(struct ctx *c, struct sbuf *b, const struct value *v, const char *undef) {
    char num[64];
    switch (v->t) {
    case V_UNDEF:
        sb_str(c, b, undef);
        return;
    case V_NONE:
        sb_str(c, b, "null");
        return;
    case V_BOOL:
        sb_str(c, b, v->b ? "true" : "false");
        return;
    case V_INT:
        snprintf(num, sizeof num, "%lld", (long long)v->i);
        sb_str(c, b, num);
        return;
    case V_FLOAT:
        js_number(v->f, num, sizeof num);
        sb_str(c, b, num);
        return;
    case V_STR:
        json_string(c, b, v->s);
        return;
    case V_LIST:
        sb_add(c, b, "[", 1);
        for (int i = 0; i < v->n_items; i++) {
            if (i) sb_add(c, b, ", ", 2);
            to_json(c, b, v->items[i], undef);
        }
        sb_add(c, b, "]", 1);
        return;
    case V_DICT:
    case V_NS:
        sb_add(c, b, "{", 1);
        for (int i = 0; i < v->d->n; i++) {
            if (i) sb_add(c, b, ", ", 2);
            json_string(c, b, v->d->keys[i]);
            sb_add(c, b, ": ", 2);
            to_json(c, b, v->d->vals[i], undef);
        }
        sb_add(c, b, "}", 1);
        return;
    case V_FUNC:
        FAIL(c, "a function cannot be written as JSON");
    }
}

static struct str to_str(struct ctx *c, const struct value *v) {
    char num[64];
    struct sbuf b = {0};
    switch (v->t) {
    case V_STR:
        return v->s;
    case V_INT:
        snprintf(num, sizeof num, "%lld", (long long)v->i);
        sb_str(c, &b, num);
        break;
    case V_FLOAT:
        if (v->f == floor(v->f) && fabs(v->f) < 1e21)
            snprintf(num, sizeof num, "%.1f", v->f);
        else
            js_number(v->f, num, sizeof num);
        sb_str(c, &b, num);
        break;
    case V_BOOL:
        return (struct str){v->b ? "true" : "false", v->b ? 4 : 5};
    case V_NONE:
        return (struct str){"null", 4};
    case V_UNDEF:
        return (struct str){"undefined", 9};
    case V_LIST:
    case V_DICT:
    case V_NS:
        to_json(c, &b, v, "undefined");
        break;
    case V_FUNC:
        FAIL(c, "a function cannot be printed");
    }
    return (struct str){b.s ? b.s : "", b.n};
}

/* Length in UTF-16 code units, as JavaScript counts. */
static int64_t utf16_len(struct str s) {
    int64_t n = 0;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char ch = (unsigned char)s.s[i];
        if ((ch & 0xc0) != 0x80) n += ch >= 0xf0 ? 2 : 1;
    }
    return n;
}

static struct str trim(struct str s, bool start, bool end) {
    int k;
    while (start && s.n && (k = jinja_space_len(s.s, s.n)) > 0) {
        s.s += k;
        s.n -= (size_t)k;
    }
    while (end && s.n) {
        size_t k2 = 0;
        for (size_t w = 1; w <= 3 && w <= s.n; w++)
            if (jinja_space_len(s.s + s.n - w, w) == (int)w) k2 = w;
        if (!k2) break;
        s.n -= k2;
    }
    return s;
}

/* upper/lower (ASCII letters), title (a letter after a non-word character), capitalize. */
static struct value *str_case(struct ctx *c, struct str s, enum builtin f) {
    struct value *v = v_str(c, s.s, s.n);
    char *p = (char *)v->s.s;
    for (size_t i = 0; i < s.n; i++) {
        char ch = p[i];
        bool word_before = i > 0 && ((p[i - 1] >= 'a' && p[i - 1] <= 'z') ||
                                     (p[i - 1] >= 'A' && p[i - 1] <= 'Z') ||
                                     (p[i - 1] >= '0' && p[i - 1] <= '9') || p[i - 1] == '_');
        bool up = f == F_UPPER || (f == F_TITLE && !word_before) || (f == F_CAPITALIZE && i == 0);
        if (up && ch >= 'a' && ch <= 'z') p[i] = (char)(ch - 32);
        if (f == F_LOWER && ch >= 'A' && ch <= 'Z') p[i] = (char)(ch + 32);
    }
    return v;
}

/* ------------------------------------------------------------------------- values */

static bool truthy(const struct value *v) {
    switch (v->t) {
    case V_UNDEF:
    case V_NONE:
        return false;
    case V_BOOL:
        return v->b;
    case V_INT:
        return v->i != 0;
    case V_FLOAT:
        return v->f != 0 && !isnan(v->f);
    case V_STR:
        return v->s.n > 0;
    case V_LIST:
        return v->n_items > 0;
    case V_DICT:
        return v->d->n > 0;
    case V_NS:
    case V_FUNC:
        return true;
    }
    return false;
}

static bool is_num(const struct value *v) {
    return v->t == V_INT || v->t == V_FLOAT;
}
static double num(const struct value *v) {
    return v->t == V_INT ? (double)v->i : v->t == V_FLOAT ? v->f : v->t == V_BOOL ? v->b : 0;
}

/* JavaScript's == on the raw values. */
static bool loose_eq(const struct value *a, const struct value *b) {
    bool an = a->t == V_UNDEF || a->t == V_NONE, bn = b->t == V_UNDEF || b->t == V_NONE;
    if (an || bn) return an && bn;
    if (a->t == V_STR && b->t == V_STR) return str_eq(a->s, b->s);
    bool anum = is_num(a) || a->t == V_BOOL, bnum = is_num(b) || b->t == V_BOOL;
    if (anum && bnum) return num(a) == num(b);
    return a == b;
}

/* JavaScript's === on the raw values (membership in a list). */
static bool strict_eq(const struct value *a, const struct value *b) {
    if (is_num(a) && is_num(b)) return num(a) == num(b);
    if (a->t != b->t) return false;
    switch (a->t) {
    case V_UNDEF:
    case V_NONE:
        return true;
    case V_BOOL:
        return a->b == b->b;
    case V_STR:
        return str_eq(a->s, b->s);
    default:
        return a == b;
    }
}

static struct value *concat(struct ctx *c, struct str a, struct str b) {
    struct value *v = new_value(c, V_STR);
    char *s = alloc(c, a.n + b.n + 1);
    memcpy(s, a.s, a.n);
    memcpy(s + a.n, b.s, b.n);
    v->s = (struct str){s, a.n + b.n};
    return v;
}

static const char *type_name(const struct value *v) {
    static const char *const names[] = {"undefined", "none", "boolean", "integer",   "float",
                                        "string",    "list", "mapping", "namespace", "function"};
    return names[v->t];
}

static struct value *arith(struct ctx *c, enum op op, const struct value *l,
                           const struct value *r) {
    double a = num(l), b = num(r);
    bool fl = l->t == V_FLOAT || r->t == V_FLOAT;
    switch (op) {
    case OP_ADD:
        return fl ? v_float(c, a + b) : v_int(c, l->i + r->i);
    case OP_SUB:
        return fl ? v_float(c, a - b) : v_int(c, l->i - r->i);
    case OP_MUL:
        return fl ? v_float(c, a * b) : v_int(c, l->i * r->i);
    case OP_DIV:
        return v_float(c, a / b);
    case OP_FLOORDIV:
        if (!fl && r->i == 0) FAIL(c, "integer division by zero");
        return fl ? v_float(c, floor(a / b)) : v_int(c, (int64_t)floor(a / b));
    case OP_MOD:
        if (!fl && r->i == 0) FAIL(c, "modulo by zero");
        return fl ? v_float(c, fmod(a, b)) : v_int(c, l->i % r->i);
    case OP_LT:
        return v_bool(a < b);
    case OP_GT:
        return v_bool(a > b);
    case OP_LE:
        return v_bool(a <= b);
    case OP_GE:
        return v_bool(a >= b);
    default:
        return NULL;
    }
}

static bool str_contains(struct str hay, struct str needle) {
    if (needle.n == 0) return true;
    for (size_t i = 0; i + needle.n <= hay.n; i++)
        if (!memcmp(hay.s + i, needle.s, needle.n)) return true;
    return false;
}

static struct value *binary_values(struct ctx *c, enum op op, struct value *l, struct value *r) {
    if (op == OP_EQ) return v_bool(loose_eq(l, r));
    if (op == OP_NE) return v_bool(!loose_eq(l, r));
    if (is_num(l) && is_num(r) && op != OP_CONCAT && op != OP_POW) {
        struct value *v = arith(c, op, l, r);
        if (v) return v;
    } else if (l->t == V_UNDEF || r->t == V_UNDEF) {
        if (r->t == V_UNDEF && (op == OP_IN || op == OP_NOT_IN)) return v_bool(op == OP_NOT_IN);
        if (op == OP_CONCAT && l->t != V_NONE && r->t != V_NONE)
            return concat(c, l->t == V_UNDEF ? (struct str){"", 0} : to_str(c, l),
                          r->t == V_UNDEF ? (struct str){"", 0} : to_str(c, r));
        FAIL(c, "an operation on an undefined value");
    } else if (l->t == V_NONE || r->t == V_NONE) {
        FAIL(c, "an operation on none");
    } else if (op == OP_CONCAT) {
        return concat(c, to_str(c, l), to_str(c, r));
    } else if (l->t == V_LIST && r->t == V_LIST && op == OP_ADD) {
        struct value *v = v_list(c, l->n_items + r->n_items);
        if (l->n_items) memcpy(v->items, l->items, (size_t)l->n_items * sizeof *v->items);
        if (r->n_items)
            memcpy(v->items + l->n_items, r->items, (size_t)r->n_items * sizeof *v->items);
        return v;
    } else if (r->t == V_LIST && (op == OP_IN || op == OP_NOT_IN)) {
        bool found = false;
        for (int i = 0; i < r->n_items && !found; i++)
            found = strict_eq(r->items[i], l);
        return v_bool(found == (op == OP_IN));
    }
    if ((l->t == V_STR || r->t == V_STR) && op == OP_ADD)
        return concat(c, to_str(c, l), to_str(c, r));
    if (l->t == V_STR && r->t == V_STR && (op == OP_IN || op == OP_NOT_IN))
        return v_bool(str_contains(r->s, l->s) == (op == OP_IN));
    if (l->t == V_STR && r->t == V_DICT && (op == OP_IN || op == OP_NOT_IN))
        return v_bool((dict_get(r->d, l->s) != NULL) == (op == OP_IN));
    FAIL(c, "an operator that does not apply to %s and %s", type_name(l), type_name(r));
}

/* -------------------------------------------------------------------- attributes */

static struct value *builtin_attr(struct ctx *c, struct value *obj, struct str name) {
    static const struct {
        const char *name;
        enum builtin f;
    } STR_METHODS[] = {{"upper", F_UPPER},           {"lower", F_LOWER},
                       {"strip", F_STRIP},           {"lstrip", F_LSTRIP},
                       {"rstrip", F_RSTRIP},         {"title", F_TITLE},
                       {"capitalize", F_CAPITALIZE}, {"startswith", F_STARTSWITH},
                       {"endswith", F_ENDSWITH},     {"split", F_SPLIT},
                       {"replace", F_REPLACE}},
      DICT_METHODS[] = {{"get", F_GET}, {"items", F_ITEMS}, {"keys", F_KEYS}, {"values", F_VALUES}};
    if (obj->t == V_STR) {
        if (str_is(name, "length")) return v_int(c, utf16_len(obj->s));
        for (size_t k = 0; k < sizeof STR_METHODS / sizeof *STR_METHODS; k++)
            if (str_is(name, STR_METHODS[k].name)) return v_func(c, STR_METHODS[k].f, obj);
    } else if (obj->t == V_LIST) {
        if (str_is(name, "length")) return v_int(c, obj->n_items);
    } else if (obj->t == V_DICT) {
        for (size_t k = 0; k < sizeof DICT_METHODS / sizeof *DICT_METHODS; k++)
            if (str_is(name, DICT_METHODS[k].name)) return v_func(c, DICT_METHODS[k].f, obj);
    }
    return &UNDEF;
}

/* The code points of a string, as one-character strings. */
static struct value *chars(struct ctx *c, struct str s) {
    int n = 0;
    for (size_t i = 0; i < s.n; i++)
        n += ((unsigned char)s.s[i] & 0xc0) != 0x80;
    struct value *v = v_list(c, n);
    for (size_t i = 0, k = 0; i < s.n; k++) {
        size_t j = i + 1;
        while (j < s.n && ((unsigned char)s.s[j] & 0xc0) == 0x80)
            j++;
        v->items[k] = v_str(c, s.s + i, j - i);
        i = j;
    }
    return v;
}

static struct value *index_value(struct ctx *c, struct value *obj, struct value *key) {
    if (obj->t == V_DICT || obj->t == V_NS) {
        if (key->t != V_STR) FAIL(c, "a mapping indexed by a %s", type_name(key));
        struct value *v = dict_get(obj->d, key->s);
        return v ? v : obj->t == V_DICT ? builtin_attr(c, obj, key->s) : &UNDEF;
    }
    if (obj->t == V_LIST || obj->t == V_STR) {
        if (key->t == V_STR) return builtin_attr(c, obj, key->s);
        if (key->t != V_INT) FAIL(c, "a %s indexed by a %s", type_name(obj), type_name(key));
        struct value *list = obj->t == V_LIST ? obj : chars(c, obj->s);
        int64_t i = key->i < 0 ? key->i + list->n_items : key->i;
        return i >= 0 && i < list->n_items ? list->items[i] : &UNDEF;
    }
    if (key->t != V_STR) FAIL(c, "a %s indexed by a %s", type_name(obj), type_name(key));
    return builtin_attr(c, obj, key->s);
}

/* Python's slice rules, as the reference applies them (to code points for strings). */
static struct value *slice_value(struct ctx *c, struct value *obj, struct value *a, struct value *b,
                                 struct value *s) {
    if (obj->t != V_LIST && obj->t != V_STR) FAIL(c, "a slice of a %s", type_name(obj));
    for (struct value *p[3] = {a, b, s}, **q = p; q < p + 3; q++)
        if ((*q)->t != V_INT && (*q)->t != V_UNDEF) FAIL(c, "a slice bound that is no integer");
    struct value *list = obj->t == V_LIST ? obj : chars(c, obj->s);
    int64_t n = list->n_items, step = s->t == V_INT ? s->i : 1, start, stop;
    if (step == 0) FAIL(c, "a slice step of zero");
    if (step > 0) {
        start = a->t == V_INT ? a->i : 0;
        stop = b->t == V_INT ? b->i : n;
        start = start < 0 ? (n + start > 0 ? n + start : 0) : (start < n ? start : n);
        stop = stop < 0 ? (n + stop > 0 ? n + stop : 0) : (stop < n ? stop : n);
    } else {
        start = a->t == V_INT ? a->i : n - 1;
        stop = b->t == V_INT ? b->i : -1;
        start = start < 0 ? (n + start > -1 ? n + start : -1) : (start < n - 1 ? start : n - 1);
        stop = stop < -1 ? (n + stop > -1 ? n + stop : -1) : (stop < n - 1 ? stop : n - 1);
    }
    int64_t count = 0;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
        count++;
    struct value *out = v_list(c, (int)count);
    int64_t k = 0;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
        out->items[k++] = list->items[i];
    if (obj->t == V_LIST) return out;
    struct sbuf sb = {0};
    for (int64_t i = 0; i < count; i++)
        sb_add(c, &sb, out->items[i]->s.s, out->items[i]->s.n);
    return v_str(c, sb.s ? sb.s : "", sb.n);
}

/* -------------------------------------------------------------------------- calls */

struct args {
    struct value **pos;
    int n;
    struct dict kw;
};

static struct value *arg(const struct args *a, int i, const char *kw) {
    if (i < a->n) return a->pos[i];
    struct value *v = kw ? dict_get(&a->kw, (struct str){kw, strlen(kw)}) : NULL;
    return v ? v : NULL;
}

static struct value *str_arg(struct ctx *c, const struct args *a, int i, const char *what) {
    struct value *v = arg(a, i, NULL);
    if (!v || v->t != V_STR) FAIL(c, "%s needs a string argument", what);
    return v;
}

static struct value *dict_list(struct ctx *c, const struct dict *d, int which) {
    struct value *v = v_list(c, d->n);
    for (int i = 0; i < d->n; i++) {
        struct value *k = new_value(c, V_STR);
        k->s = d->keys[i];
        if (which == 0) {
            v->items[i] = k;
        } else if (which == 1) {
            v->items[i] = d->vals[i];
        } else {
            struct value *pair = v_list(c, 2);
            pair->items[0] = k;
            pair->items[1] = d->vals[i];
            v->items[i] = pair;
        }
    }
    return v;
}

static bool affix(struct str s, struct str p, bool end) {
    return p.n <= s.n && !memcmp(end ? s.s + s.n - p.n : s.s, p.s, p.n);
}

static struct value *call_affix(struct ctx *c, struct str s, const struct args *a, bool end) {
    struct value *p = arg(a, 0, NULL);
    if (p && p->t == V_STR) return v_bool(affix(s, p->s, end));
    if (p && p->t == V_LIST) {
        for (int i = 0; i < p->n_items; i++) {
            if (p->items[i]->t != V_STR) FAIL(c, "startswith/endswith of a non-string");
            if (affix(s, p->items[i]->s, end)) return &TRUE;
        }
        return &FALSE;
    }
    FAIL(c, "startswith/endswith needs a string or a tuple of strings");
}

/* Python's str.split(sep=None, maxsplit=-1). */
static struct value *call_split(struct ctx *c, struct str s, const struct args *a) {
    struct value *sep = arg(a, 0, "sep"), *maxv = arg(a, 1, "maxsplit");
    int64_t max = maxv && maxv->t == V_INT ? maxv->i : -1;
    struct value **parts = alloc(c, (s.n + 2) * sizeof *parts);
    int n = 0;
    if (!sep || sep->t == V_NONE) {
        struct str rest = trim(s, true, false);
        while (rest.n) {
            if (max >= 0 && n >= max) {
                parts[n++] = v_str(c, rest.s, rest.n);
                break;
            }
            size_t k = 0;
            while (k < rest.n && !jinja_space_len(rest.s + k, rest.n - k))
                k++;
            parts[n++] = v_str(c, rest.s, k);
            rest.s += k;
            rest.n -= k;
            rest = trim(rest, true, false);
        }
    } else {
        if (sep->t != V_STR || sep->s.n == 0) FAIL(c, "split needs a non-empty string separator");
        size_t start = 0;
        for (size_t i = 0; i + sep->s.n <= s.n;) {
            if ((max < 0 || n < max) && !memcmp(s.s + i, sep->s.s, sep->s.n)) {
                parts[n++] = v_str(c, s.s + start, i - start);
                i += sep->s.n;
                start = i;
            } else {
                i++;
            }
        }
        parts[n++] = v_str(c, s.s + start, s.n - start);
    }
    struct value *v = v_list(c, n);
    memcpy(v->items, parts, (size_t)n * sizeof *parts);
    return v;
}

static struct value *call_replace(struct ctx *c, struct str s, const struct args *a) {
    struct value *old = str_arg(c, a, 0, "replace"), *new = str_arg(c, a, 1, "replace");
    struct value *cnt = arg(a, 2, "count");
    int64_t max = cnt && cnt->t == V_INT ? cnt->i : -1;
    if (old->s.n == 0) FAIL(c, "replace of an empty string");
    struct sbuf b = {0};
    int64_t done = 0;
    for (size_t i = 0; i < s.n;) {
        if ((max < 0 || done < max) && affix((struct str){s.s + i, s.n - i}, old->s, false)) {
            sb_add(c, &b, new->s.s, new->s.n);
            i += old->s.n;
            done++;
        } else {
            sb_add(c, &b, s.s + i++, 1);
        }
    }
    return v_str(c, b.s ? b.s : "", b.n);
}

static struct value *call_global(struct ctx *c, enum builtin f, const struct args *a) {
    if (f == F_RAISE) {
        struct value *m = arg(a, 0, NULL);
        struct str s = m ? to_str(c, m) : (struct str){"", 0};
        FAIL(c, "the template raised an exception: %.*s", (int)(s.n > 200 ? 200 : s.n), s.s);
    }
    if (f == F_RANGE) {
        int64_t v[3] = {0, 0, 1};
        if (a->n < 1 || a->n > 3) FAIL(c, "range takes 1 to 3 integers");
        for (int i = 0; i < a->n; i++) {
            if (a->pos[i]->t != V_INT) FAIL(c, "range takes integers");
            v[a->n == 1 ? 1 : i] = a->pos[i]->i;
        }
        if (v[2] == 0) FAIL(c, "range step of zero");
        int64_t n = 0;
        for (int64_t i = v[0]; v[2] > 0 ? i < v[1] : i > v[1]; i += v[2])
            if (++n > 1000000) FAIL(c, "range too long");
        struct value *l = v_list(c, (int)n);
        for (int64_t i = v[0], k = 0; k < n; i += v[2], k++)
            l->items[k] = v_int(c, i);
        return l;
    }
    if (f == F_NAMESPACE) {
        struct value *ns = v_dict(c, V_NS);
        if (a->n > 1) FAIL(c, "namespace takes at most one positional argument");
        if (a->n == 1 && a->pos[0]->t == V_DICT)
            for (int i = 0; i < a->pos[0]->d->n; i++)
                dict_set(c, ns->d, a->pos[0]->d->keys[i], a->pos[0]->d->vals[i]);
        for (int i = 0; i < a->kw.n; i++)
            dict_set(c, ns->d, a->kw.keys[i], a->kw.vals[i]);
        return ns;
    }
    /* F_STRFTIME */
    struct value *fmt = str_arg(c, a, 0, "strftime_now");
    char buf[256], cfmt[128];
    snprintf(cfmt, sizeof cfmt, "%.*s", (int)(fmt->s.n < 127 ? fmt->s.n : 127), fmt->s.s);
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    size_t n = strftime(buf, sizeof buf, cfmt, &tm);
    return v_str(c, buf, n);
}

static struct value *call_function(struct ctx *c, struct value *fn, const struct args *a) {
    enum builtin f = (enum builtin)fn->fn;
    struct value *self = fn->self;
    switch (f) {
    case F_UPPER:
    case F_LOWER:
    case F_TITLE:
    case F_CAPITALIZE:
        return str_case(c, self->s, f);
    case F_STRIP:
    case F_LSTRIP:
    case F_RSTRIP: {
        struct str t = trim(self->s, f != F_RSTRIP, f != F_LSTRIP);
        return v_str(c, t.s, t.n);
    }
    case F_STARTSWITH:
    case F_ENDSWITH:
        return call_affix(c, self->s, a, f == F_ENDSWITH);
    case F_SPLIT:
        return call_split(c, self->s, a);
    case F_REPLACE:
        return call_replace(c, self->s, a);
    case F_GET: {
        struct value *k = arg(a, 0, NULL), *dflt = arg(a, 1, NULL);
        if (!k || k->t != V_STR) FAIL(c, "get needs a string key");
        struct value *v = dict_get(self->d, k->s);
        return v ? v : dflt ? dflt : &NONE;
    }
    case F_ITEMS:
        return dict_list(c, self->d, 2);
    case F_KEYS:
        return dict_list(c, self->d, 0);
    case F_VALUES:
        return dict_list(c, self->d, 1);
    default:
        return call_global(c, f, a);
    }
}

/* ------------------------------------------------------------------ filters, tests */

static struct value *list_filter(struct ctx *c, struct value *v, struct str f,
                                 const struct args *a) {
    if (str_is(f, "list")) return v;
    if (str_is(f, "first")) return v->n_items ? v->items[0] : &UNDEF;
    if (str_is(f, "last")) return v->n_items ? v->items[v->n_items - 1] : &UNDEF;
    if (str_is(f, "length") || str_is(f, "count")) return v_int(c, v->n_items);
    if (str_is(f, "reverse")) {
        struct value *r = v_list(c, v->n_items);
        for (int i = 0; i < v->n_items; i++)
            r->items[i] = v->items[v->n_items - 1 - i];
        return r;
    }
    if (str_is(f, "join")) {
        struct value *sep = arg(a, 0, "d");
        struct sbuf b = {0};
        for (int i = 0; i < v->n_items; i++) {
            struct str s = to_str(c, v->items[i]);
            if (i && sep) sb_add(c, &b, to_str(c, sep).s, to_str(c, sep).n);
            sb_add(c, &b, s.s, s.n);
        }
        return v_str(c, b.s ? b.s : "", b.n);
    }
    if (str_is(f, "string")) {
        struct str s = to_str(c, v);
        return v_str(c, s.s, s.n);
    }
    return NULL;
}

static struct value *str_filter(struct ctx *c, struct value *v, struct str f) {
    if (str_is(f, "length") || str_is(f, "count")) return v_int(c, utf16_len(v->s));
    if (str_is(f, "upper")) return str_case(c, v->s, F_UPPER);
    if (str_is(f, "lower")) return str_case(c, v->s, F_LOWER);
    if (str_is(f, "title")) return str_case(c, v->s, F_TITLE);
    if (str_is(f, "capitalize")) return str_case(c, v->s, F_CAPITALIZE);
    if (str_is(f, "trim")) {
        struct str t = trim(v->s, true, true);
        return v_str(c, t.s, t.n);
    }
    if (str_is(f, "string") || str_is(f, "join")) return v;
    if (str_is(f, "int")) return v_int(c, strtoll(v->s.s, NULL, 10));
    if (str_is(f, "float")) return v_float(c, strtod(v->s.s, NULL));
    return NULL;
}

static struct value *apply_filter(struct ctx *c, struct value *v, struct str f,
                                  const struct args *a) {
    if (str_is(f, "safe")) return v;
    if (str_is(f, "tojson")) {
        struct sbuf b = {0};
        to_json(c, &b, v, "null");
        return v_str(c, b.s, b.n);
    }
    if (str_is(f, "default") || str_is(f, "d")) {
        struct value *dflt = arg(a, 0, "default_value"), *flag = arg(a, 1, "boolean");
        bool use = v->t == V_UNDEF || (flag && truthy(flag) && !truthy(v));
        return use ? (dflt ? dflt : v_str(c, "", 0)) : v;
    }
    struct value *r = NULL;
    if (v->t == V_LIST)
        r = list_filter(c, v, f, a);
    else if (v->t == V_STR)
        r = str_filter(c, v, f);
    else if (is_num(v) || v->t == V_BOOL) {
        if (str_is(f, "abs"))
            r = v->t == V_FLOAT ? v_float(c, fabs(v->f)) : v_int(c, llabs(v->i));
        else if (str_is(f, "int"))
            r = v_int(c, (int64_t)num(v));
        else if (str_is(f, "float"))
            r = v_float(c, num(v));
        else if (str_is(f, "string")) {
            struct str s = to_str(c, v);
            r = v_str(c, s.s, s.n);
        }
    } else if (v->t == V_DICT) {
        if (str_is(f, "items"))
            r = dict_list(c, v->d, 2);
        else if (str_is(f, "length") || str_is(f, "count"))
            r = v_int(c, v->d->n);
    }
    if (!r) FAIL(c, "the filter '%.*s' on a %s is not supported", (int)f.n, f.s, type_name(v));
    return r;
}

static bool apply_test(struct ctx *c, const struct value *v, struct str t) {
    if (str_is(t, "defined")) return v->t != V_UNDEF;
    if (str_is(t, "undefined")) return v->t == V_UNDEF;
    if (str_is(t, "none")) return v->t == V_NONE;
    if (str_is(t, "string")) return v->t == V_STR;
    if (str_is(t, "number")) return is_num(v);
    if (str_is(t, "integer")) return v->t == V_INT;
    if (str_is(t, "boolean")) return v->t == V_BOOL;
    if (str_is(t, "true")) return v->t == V_BOOL && v->b;
    if (str_is(t, "false")) return v->t == V_BOOL && !v->b;
    if (str_is(t, "iterable")) return v->t == V_LIST || v->t == V_STR;
    if (str_is(t, "mapping")) return v->t == V_DICT;
    if (str_is(t, "sequence")) return v->t == V_LIST || v->t == V_DICT || v->t == V_STR;
    if (str_is(t, "callable")) return v->t == V_FUNC;
    if (str_is(t, "odd") || str_is(t, "even")) {
        if (v->t != V_INT) FAIL(c, "odd/even of a %s", type_name(v));
        return (v->i % 2 != 0) == str_is(t, "odd");
    }
    FAIL(c, "the test '%.*s' is not supported", (int)t.n, t.s);
}

/* ---------------------------------------------------------------------- evaluation */

static struct value *eval(struct ctx *c, struct scope *sc, const struct node *n);

static struct value *lookup(struct scope *sc, struct str name) {
    for (; sc; sc = sc->parent) {
        struct value *v = dict_get(&sc->vars, name);
        if (v) return v;
    }
    return &UNDEF;
}

static void eval_args(struct ctx *c, struct scope *sc, const struct node *n, struct args *a) {
    a->n = n->n_items;
    a->pos = alloc(c, (size_t)(n->n_items + 1) * sizeof *a->pos);
    for (int i = 0; i < n->n_items; i++)
        a->pos[i] = eval(c, sc, n->items[i]);
    for (int i = 0; i < n->n_kw; i++)
        dict_set(c, &a->kw, n->kw_names[i], eval(c, sc, n->values[i]));
}

static struct value *eval_collection(struct ctx *c, struct scope *sc, const struct node *n) {
    if (n->kind == N_DICT) {
        struct value *d = v_dict(c, V_DICT);
        for (int i = 0; i < n->n_items; i++) {
            struct value *k = eval(c, sc, n->items[i]);
            if (k->t != V_STR) FAIL(c, "a mapping key that is no string");
            dict_set(c, d->d, k->s, eval(c, sc, n->values[i]));
        }
        return d;
    }
    struct value *l = v_list(c, n->n_items);
    for (int i = 0; i < n->n_items; i++)
        l->items[i] = eval(c, sc, n->items[i]);
    return l;
}

static struct value *eval_unary(struct ctx *c, struct scope *sc, const struct node *n) {
    struct value *v = eval(c, sc, n->a);
    if (n->op == OP_NOT) return v_bool(!truthy(v));
    if (!is_num(v) && v->t != V_BOOL) FAIL(c, "a sign before a %s", type_name(v));
    double sign = n->op == OP_NEG ? -1 : 1;
    if (v->t == V_FLOAT) return v_float(c, sign * v->f);
    return v_int(c, (int64_t)sign * (v->t == V_BOOL ? v->b : v->i));
}

static struct value *eval(struct ctx *c, struct scope *sc, const struct node *n) {
    struct args a = {0};
    switch (n->kind) {
    case N_LIT:
        return n->lit;
    case N_NAME:
        return lookup(sc, n->name);
    case N_ATTR: {
        struct value *key = new_value(c, V_STR);
        key->s = n->name;
        return index_value(c, eval(c, sc, n->a), key);
    }
    case N_INDEX:
        return index_value(c, eval(c, sc, n->a), eval(c, sc, n->b));
    case N_SLICE:
        return slice_value(c, eval(c, sc, n->a), n->b ? eval(c, sc, n->b) : &UNDEF,
                           n->c ? eval(c, sc, n->c) : &UNDEF, n->d ? eval(c, sc, n->d) : &UNDEF);
    case N_CALL: {
        eval_args(c, sc, n, &a);
        struct value *fn = eval(c, sc, n->a);
        if (fn->t != V_FUNC) FAIL(c, "a call of a %s", type_name(fn));
        return call_function(c, fn, &a);
    }
    case N_FILTER: {
        struct value *v = eval(c, sc, n->a);
        eval_args(c, sc, n, &a);
        return apply_filter(c, v, n->name, &a);
    }
    case N_TEST:
        return v_bool(apply_test(c, eval(c, sc, n->a), n->name) != n->negate);
    case N_BINARY: {
        struct value *l = eval(c, sc, n->a);
        if (n->op == OP_AND) return truthy(l) ? eval(c, sc, n->b) : l;
        if (n->op == OP_OR) return truthy(l) ? l : eval(c, sc, n->b);
        return binary_values(c, n->op, l, eval(c, sc, n->b));
    }
    case N_UNARY:
        return eval_unary(c, sc, n);
    case N_TERNARY:
        return truthy(eval(c, sc, n->a)) ? eval(c, sc, n->b) : eval(c, sc, n->c);
    case N_SELECT:
        return truthy(eval(c, sc, n->a)) ? eval(c, sc, n->b) : &UNDEF;
    case N_LIST:
    case N_TUPLE:
    case N_DICT:
        return eval_collection(c, sc, n);
    default:
        FAIL(c, "a statement where a value was expected");
    }
}

/* ---------------------------------------------------------------------- statements */

static void render(struct ctx *c, struct scope *sc, struct node *const *body, int n);

static void assign(struct ctx *c, struct scope *sc, const struct node *target, struct value *v) {
    if (target->kind == N_NAME) {
        dict_set(c, &sc->vars, target->name, v);
    } else if (target->kind == N_ATTR) {
        struct value *obj = eval(c, sc, target->a);
        if (obj->t != V_NS)
            FAIL(c, "set of an attribute of a %s (only a namespace)", type_name(obj));
        dict_set(c, obj->d, target->name, v);
    } else {
        if (v->t != V_LIST || v->n_items != target->n_items)
            FAIL(c, "set unpacks %d names from a %s", target->n_items, type_name(v));
        for (int i = 0; i < target->n_items; i++) {
            if (target->items[i]->kind != N_NAME) FAIL(c, "set unpacks into names only");
            dict_set(c, &sc->vars, target->items[i]->name, v->items[i]);
        }
    }
}

static void bind_loop_vars(struct ctx *c, struct scope *sc, const struct node *n, struct value *v) {
    if (n->n_names == 1) {
        dict_set(c, &sc->vars, n->names[0], v);
        return;
    }
    if (v->t != V_LIST || v->n_items != 2)
        FAIL(c, "a loop unpacks two names from a %s", type_name(v));
    dict_set(c, &sc->vars, n->names[0], v->items[0]);
    dict_set(c, &sc->vars, n->names[1], v->items[1]);
}

static struct value *loop_value(struct ctx *c, struct value *const *items, int i, int n) {
    struct value *l = v_dict(c, V_DICT);
    struct {
        const char *k;
        struct value *v;
    } e[] = {{"index", v_int(c, i + 1)},
             {"index0", v_int(c, i)},
             {"revindex", v_int(c, n - i)},
             {"revindex0", v_int(c, n - i - 1)},
             {"first", v_bool(i == 0)},
             {"last", v_bool(i == n - 1)},
             {"length", v_int(c, n)},
             {"previtem", i > 0 ? items[i - 1] : &UNDEF},
             {"nextitem", i < n - 1 ? items[i + 1] : &UNDEF}};
    for (size_t k = 0; k < sizeof e / sizeof *e; k++)
        dict_set(c, l->d, (struct str){e[k].k, strlen(e[k].k)}, e[k].v);
    return l;
}

static void render_for(struct ctx *c, struct scope *parent, const struct node *n) {
    struct scope *sc = alloc(c, sizeof *sc);
    sc->parent = parent;
    struct value *it = eval(c, sc, n->a);
    if (it->t == V_DICT) it = dict_list(c, it->d, 0);
    if (it->t != V_LIST) FAIL(c, "a for loop over a %s", type_name(it));
    struct value **items = alloc(c, (size_t)(it->n_items + 1) * sizeof *items);
    int m = 0;
    for (int i = 0; i < it->n_items; i++) {
        if (n->b) { /* for x in items if test */
            struct scope *t = alloc(c, sizeof *t);
            t->parent = sc;
            bind_loop_vars(c, t, n, it->items[i]);
            if (!truthy(eval(c, t, n->b))) continue;
        }
        items[m++] = it->items[i];
    }
    /* As in the reference, break and continue drop the text their iteration had made, and
     * the else block runs when no iteration ran to its end. */
    bool ran = false;
    for (int i = 0; i < m; i++) {
        dict_set(c, &sc->vars, (struct str){"loop", 4}, loop_value(c, items, i, m));
        bind_loop_vars(c, sc, n, items[i]);
        size_t mark = c->out.n;
        render(c, sc, n->body, n->n_body);
        if (c->flow == FLOW_NONE) {
            ran = true;
            continue;
        }
        c->out.n = mark;
        bool stop = c->flow == FLOW_BREAK;
        c->flow = FLOW_NONE;
        if (stop) break;
    }
    if (!ran) render(c, sc, n->alt, n->n_alt);
}

static void render(struct ctx *c, struct scope *sc, struct node *const *body, int n) {
    for (int i = 0; i < n && c->flow == FLOW_NONE; i++) {
        const struct node *s = body[i];
        switch (s->kind) {
        case N_TEXT:
            sb_add(c, &c->out, s->name.s, s->name.n);
            break;
        case N_OUTPUT: {
            struct value *v = eval(c, sc, s->a);
            if (v->t != V_NONE && v->t != V_UNDEF) {
                struct str t = to_str(c, v);
                sb_add(c, &c->out, t.s, t.n);
            }
            break;
        }
        case N_IF:
            if (truthy(eval(c, sc, s->a)))
                render(c, sc, s->body, s->n_body);
            else
                render(c, sc, s->alt, s->n_alt);
            break;
        case N_FOR:
            render_for(c, sc, s);
            break;
        case N_SET:
            if (s->b) {
                assign(c, sc, s->a, eval(c, sc, s->b));
            } else { /* {% set x %}body{% endset %}: the body's text */
                size_t mark = c->out.n;
                render(c, sc, s->body, s->n_body);
                struct value *v = v_str(c, c->out.s + mark, c->out.n - mark);
                c->out.n = mark;
                assign(c, sc, s->a, v);
            }
            break;
        case N_BREAK:
            c->flow = FLOW_BREAK;
            break;
        case N_CONTINUE:
            c->flow = FLOW_CONTINUE;
            break;
        default:
            FAIL(c, "an expression where a statement was expected");
        }
    }
}

/* --------------------------------------------------------------------------- entry */

static void set_global(struct ctx *c, struct scope *g, const char *name, struct value *v) {
    dict_set(c, &g->vars, (struct str){name, strlen(name)}, v);
}

static struct value *message_value(struct ctx *c, const struct chat_message *m) {
    struct value *d = v_dict(c, V_DICT);
    dict_set(c, d->d, (struct str){"role", 4}, v_str(c, m->role, strlen(m->role)));
    dict_set(c, d->d, (struct str){"content", 7}, v_str(c, m->content, strlen(m->content)));
    return d;
}

int chat_template_render(const struct chat_template *t, const struct chat_message *messages,
                         int n_messages, bool add_generation_prompt, const char *bos_token,
                         const char *eos_token, char **out) {
    *out = NULL;
    struct ctx c = {0};
    if (setjmp(c.err.jump)) {
        arena_free(&c.a);
        return disr_fail(DISR_E_FORMAT, "chat template: %s", c.err.msg);
    }
    struct scope *g = alloc(&c, sizeof *g);
    struct value *msgs = v_list(&c, n_messages);
    for (int i = 0; i < n_messages; i++)
        msgs->items[i] = message_value(&c, &messages[i]);
    set_global(&c, g, "messages", msgs);
    set_global(&c, g, "add_generation_prompt", v_bool(add_generation_prompt));
    if (bos_token) set_global(&c, g, "bos_token", v_str(&c, bos_token, strlen(bos_token)));
    if (eos_token) set_global(&c, g, "eos_token", v_str(&c, eos_token, strlen(eos_token)));
    const char *consts[] = {"true", "false", "none", "True", "False", "None"};
    struct value *vals[] = {&TRUE, &FALSE, &NONE, &TRUE, &FALSE, &NONE};
    for (int i = 0; i < 6; i++)
        set_global(&c, g, consts[i], vals[i]);
    set_global(&c, g, "raise_exception", v_func(&c, F_RAISE, NULL));
    set_global(&c, g, "range", v_func(&c, F_RANGE, NULL));
    set_global(&c, g, "namespace", v_func(&c, F_NAMESPACE, NULL));
    set_global(&c, g, "strftime_now", v_func(&c, F_STRFTIME, NULL));
    sb_add(&c, &c.out, "", 0);
    render(&c, g, t->body, t->n_body);
    *out = malloc(c.out.n + 1);
    if (*out) {
        memcpy(*out, c.out.s, c.out.n);
        (*out)[c.out.n] = '\0';
    }
    arena_free(&c.a);
    return *out ? DISR_OK : disr_fail(DISR_E_NOMEM, "chat template: out of memory");
}
