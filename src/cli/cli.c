#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "disr.h"
#include "model/model.h"
#include "model/tokenizer.h"

static void print_usage(const char *cmd, const struct cli_opt *opts, const char *usage) {
    printf("usage: disr %s %s\n\noptions:\n", cmd, usage);
    for (const struct cli_opt *o = opts; o && o->name; o++) {
        const char *arg = o->kind == OPT_STR     ? " S"
                          : o->kind == OPT_INT   ? " N"
                          : o->kind == OPT_FLOAT ? " X"
                                                 : "";
        char flag[64];
        snprintf(flag, sizeof flag, "%s%s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "",
                 o->name, arg);
        printf("  %-26s %s\n", flag, o->help);
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
    case OPT_INT: {
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end || v < -2147483647L || v > 2147483647L) break;
        *(int *)o->dst = (int)v;
        return 0;
    }
    case OPT_FLOAT: {
        double v = strtod(val, &end);
        if (errno || end == val || *end) break;
        *(double *)o->dst = v;
        return 0;
    }
    case OPT_FLAG:
        *(int *)o->dst = 1;
        return 0;
    }
    fprintf(stderr, "disr %s: option %s expects a %s, got '%s'\n", cmd, o->name,
            o->kind == OPT_INT ? "whole number" : "number", val);
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
            if (o->kind != OPT_FLAG) {
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

int cli_fail(const char *what, int status) {
    const char *detail = disr_last_error();
    fprintf(stderr, "disr: %s: %s\n", what, detail[0] ? detail : disr_strerror(status));
    return 1;
}

int cli_pending(const char *name) {
    fprintf(stderr, "disr %s: not available in this build yet\n", name);
    return 3;
}

int cli_check_chat_template(struct model *m, const char *name) {
    struct tokenizer *t = m->tokenizer;
    if (!t || tokenizer_kind(t) == TOKENIZER_CHAR) {
        if (name) return disr_fail(DISR_E_ARG, "--chat-template: the model has no chat vocabulary");
        return DISR_OK;
    }
    if (name) DISR_TRY(tokenizer_set_chat_template(t, name));
    char buf[4096];
    return tokenizer_apply_chat(t, "system", "user", buf, sizeof buf);
}
