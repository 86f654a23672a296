#include "world/grader.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *grader_name(enum grader g) {
    static const char *const names[GRADER_COUNT] = {"exact", "number", "choice"};
    return (g >= 0 && g < GRADER_COUNT) ? names[g] : "?";
}

int grader_parse(const char *name) {
    for (int g = 0; g < GRADER_COUNT; g++)
        if (!strcmp(name, grader_name((enum grader)g))) return g;
    return -1;
}

/* [*b, *e) of s without surrounding white space and one trailing '.'. */
static void trim(const char *s, const char **b, const char **e) {
    const char *p = s, *q = s + strlen(s);
    while (p < q && isspace((unsigned char)*p))
        p++;
    while (q > p && isspace((unsigned char)q[-1]))
        q--;
    if (q > p && q[-1] == '.') q--;
    while (q > p && isspace((unsigned char)q[-1]))
        q--;
    *b = p, *e = q;
}

static bool check_exact(const char *expected, const char *got) {
    const char *eb, *ee, *gb, *ge;
    trim(expected, &eb, &ee);
    trim(got, &gb, &ge);
    if (ee - eb != ge - gb) return false;
    for (; eb < ee; eb++, gb++)
        if (tolower((unsigned char)*eb) != tolower((unsigned char)*gb)) return false;
    return true;
}

/* Parses the first number in s: optional '-', digits with optional ',' thousands separators,
 * optional fraction. Returns false if s holds no digit. */
static bool first_number(const char *s, double *out) {
    const char *p = s;
    while (*p && !isdigit((unsigned char)*p))
        p++;
    if (!*p) return false;
    bool neg = p > s && p[-1] == '-';
    char buf[64];
    size_t n = 0;
    for (; *p && n + 1 < sizeof buf; p++) {
        if (isdigit((unsigned char)*p))
            buf[n++] = *p;
        else if (*p == ',' && isdigit((unsigned char)p[1]))
            continue; /* thousands separator */
        else if (*p == '.' && isdigit((unsigned char)p[1]) && !memchr(buf, '.', n))
            buf[n++] = '.';
        else
            break;
    }
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    if (neg) *out = -*out;
    return true;
}

static bool check_number(const char *expected, const char *got) {
    double want, have;
    if (!first_number(expected, &want) || !first_number(got, &have)) return false;
    double tol = 1e-9 * (fabs(want) > 1 ? fabs(want) : 1);
    return have - want <= tol && want - have <= tol;
}

/* The first option letter in s: an ASCII letter with no letter or digit on either side (so
 * "Answer: B" gives B, not A). Upper case only, except when the whole reply is one letter. */
static int first_choice(const char *s) {
    const char *b, *e;
    trim(s, &b, &e);
    if (e - b == 1 && isalpha((unsigned char)*b)) return toupper((unsigned char)*b);
    for (const char *p = b; p < e; p++) {
        if (!isupper((unsigned char)*p)) continue;
        bool left = p > b && isalnum((unsigned char)p[-1]);
        bool right = p + 1 < e && isalnum((unsigned char)p[1]);
        if (!left && !right) return *p;
    }
    return -1;
}

static bool check_choice(const char *expected, const char *got) {
    int want = first_choice(expected);
    return want >= 0 && first_choice(got) == want;
}

bool grader_check(enum grader g, const char *expected, const char *got) {
    if (!expected || !got) return false;
    switch (g) {
    case GRADER_EXACT:
        return check_exact(expected, got);
    case GRADER_NUMBER:
        return check_number(expected, got);
    case GRADER_CHOICE:
        return check_choice(expected, got);
    }
    return false;
}
