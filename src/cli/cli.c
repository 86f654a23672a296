#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "disr.h"

/* The help of o with "{}" replaced by the value o->dst holds (its default). */
static void format_help(const struct cli_opt *o, char *buf, size_t size) {
    const char *at = strstr(o->help, "{}");
    if (!at) {
        snprintf(buf, size, "%s", o->help);
        return;
    }
    char v[64];
    switch (o->kind) {
    case OPT_STR:
        snprintf(v, sizeof v, "%s", *(const char **)o->dst ? *(const char **)o->dst : "none");
        break;
    case OPT_INT:
    case OPT_FLAG:
        snprintf(v, sizeof v, "%d", *(const int *)o->dst);
        break;
    case OPT_FLOAT:
        snprintf(v, sizeof v, "%g", *(const double *)o->dst);
        break;
    case OPT_F32:
        snprintf(v, sizeof v, "%g", (double)*(const float *)o->dst);
        break;
    case OPT_BOOL:
        snprintf(v, sizeof v, "%s", *(const bool *)o->dst ? "on" : "off");
        break;
    case OPT_U64:
        snprintf(v, sizeof v, "%llu", (unsigned long long)*(const uint64_t *)o->dst);
        break;
    }
    snprintf(buf, size, "%.*s%s%s", (int)(at - o->help), o->help, v, at + 2);
}

static void print_usage(const char *cmd, const struct cli_opt *opts, const char *usage) {
    printf("usage: disr %s %s\n\noptions:\n", cmd, usage);
    for (const struct cli_opt *o = opts; o && o->name; o++) {
        const char *arg = o->kind == OPT_STR                           ? " S"
                          : o->kind == OPT_INT || o->kind == OPT_U64   ? " N"
                          : o->kind == OPT_FLOAT || o->kind == OPT_F32 ? " X"
                                                                       : "";
        char flag[64];
        snprintf(flag, sizeof flag, "%s%s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "",
                 o->name, arg);
        char help[1024];
        format_help(o, help, sizeof help);
        printf("  %-26s %s\n", flag, help);
    }
    printf("  %-26s %s\n", "-h, --help", "show this help");
}

static int set_value(const char *cmd, const struct cli_opt *o, const char *val) {
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case OPT_STR:
        *(const char **)o->dst = val;
        return 0;
    case OPT_INT:
    case OPT_U64: {
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end || v < -2147483647L || v > 2147483647L) break;
        if (o->kind == OPT_U64)
            *(uint64_t *)o->dst = (uint64_t)v; /* as the int options did: -1 wraps */
        else
            *(int *)o->dst = (int)v;
        return 0;
    }
    case OPT_FLOAT:
    case OPT_F32: {
        double v = strtod(val, &end);
        if (errno || end == val || *end) break;
        if (o->kind == OPT_F32)
            *(float *)o->dst = (float)v;
        else
            *(double *)o->dst = v;
        return 0;
    }
    case OPT_FLAG:
        *(int *)o->dst = 1;
        return 0;
    case OPT_BOOL:
        *(bool *)o->dst = true;
        return 0;
    }
    fprintf(stderr, "disr %s: option %s expects a %s, got '%s'\n", cmd, o->name,
            o->kind == OPT_INT || o->kind == OPT_U64 ? "whole number" : "number", val);
    return 2;
}

int cli_parse(int argc, char **argv, const struct cli_opt *opts, const char *usage,
              const char **pos, int max_pos, int *n_pos) {
    int np = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_usage(argv[0], opts, usage);
            return 1;
        }
        if (a[0] == '-' && a[1] != '\0' && !(a[1] >= '0' && a[1] <= '9')) {
            const char *eq = strchr(a, '=');
            size_t name_len = eq ? (size_t)(eq - a) : strlen(a);
            const struct cli_opt *o = opts;
            for (; o && o->name; o++)
                if ((strlen(o->name) == name_len && !strncmp(o->name, a, name_len)) ||
                    (o->alias && strlen(o->alias) == name_len && !strncmp(o->alias, a, name_len)))
                    break;
            if (!o || !o->name) {
                fprintf(stderr, "disr %s: unknown option '%s' (see disr %s --help)\n", argv[0], a,
                        argv[0]);
                return 2;
            }
            const char *val = NULL;
            if (o->kind != OPT_FLAG && o->kind != OPT_BOOL) {
                if (eq)
                    val = eq + 1;
                else if (i + 1 < argc)
                    val = argv[++i];
                else {
                    fprintf(stderr, "disr %s: option %s needs a value\n", argv[0], o->name);
                    return 2;
                }
            }
            if (set_value(argv[0], o, val)) return 2;
            continue;
        }
        if (np >= max_pos) {
            fprintf(stderr, "disr %s: unexpected argument '%s' (see disr %s --help)\n", argv[0], a,
                    argv[0]);
            return 2;
        }
        pos[np++] = a;
    }
    if (n_pos) *n_pos = np;
    return 0;
}

bool cli_has_flag(int argc, char **argv, const char *name) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], name)) return true;
    return false;
}

int cli_fail(const char *what, int status) {
    const char *detail = disr_last_error();
    fprintf(stderr, "disr: %s: %s\n", what, detail[0] ? detail : disr_strerror(status));
    return 1;
}

int cli_fail_settings(const char *what, int status) {
    cli_fail(what, status);
    return 2;
}

int cli_pending(const char *name) {
    fprintf(stderr, "disr %s: not available in this build yet\n", name);
    return 3;
}
