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

/* Parses the number that starts at p (a digit): digits with optional ',' thousands separators
 * and an optional fraction, negative if a '-' stands right before it. Returns where it ends. */
static const char *parse_number(const char *s, const char *p, double *out) {
    bool neg = p > s && p[-1] == '-';
    char buf[64];
    size_t n = 0;
    for (; *p; p++) {
        if (isdigit((unsigned char)*p)) {
            if (n + 1 < sizeof buf) buf[n++] = *p;
        } else if (*p == ',' && isdigit((unsigned char)p[1])) {
            continue; /* thousands separator */
        } else if (*p == '.' && isdigit((unsigned char)p[1]) && !memchr(buf, '.', n)) {
            if (n + 1 < sizeof buf) buf[n++] = '.';
        } else {
            break;
        }
    }
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    if (neg) *out = -*out;
    return p;
}

/* The last number in s (false if s holds no digit). The last, not the first: a worked answer
 * ("0078+4165=04243") or a sentence ("The sum of 78 and 4165 is 4243.") ends with its result. */
static bool last_number(const char *s, double *out) {
    bool found = false;
    for (const char *p = s; *p;) {
        if (isdigit((unsigned char)*p)) {
            p = parse_number(s, p, out);
            found = true;
        } else {
            p++;
        }
    }
    return found;
}

static bool check_number(const char *expected, const char *got) {
    double want, have;
    if (!last_number(expected, &want) || !last_number(got, &have)) return false;
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
